"""Identifier checks, masking and the format checker."""
from __future__ import annotations

import pytest

from app.taskforms.formats import (
    FORMAT_CHECKER,
    is_cn_id_number,
    is_cn_mobile,
    is_cn_uscc,
    mask_id_number,
    mask_phone,
    normalise_code,
)

VALID_IDS = ["11010519491231002X", "110105195001010039"]
VALID_USCCS = ["91350100M000100Y43", "91310230MA1K314J7C"]
ID_CHARS = "0123456789X"
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _next_char(char: str, alphabet: str) -> str:
    return alphabet[(alphabet.index(char) + 1) % len(alphabet)]


@pytest.mark.parametrize("value", VALID_IDS + ["11010519491231002x", "110105194802290021"])
def test_valid_id_numbers(value):
    assert is_cn_id_number(value)


@pytest.mark.parametrize("value", VALID_IDS)
@pytest.mark.parametrize("step", [1, -1])
def test_id_number_with_wrong_check_char_fails(value, step):
    wrong = ID_CHARS[(ID_CHARS.index(value[-1]) + step) % len(ID_CHARS)]
    assert not is_cn_id_number(value[:-1] + wrong)


@pytest.mark.parametrize(
    "value",
    [
        "110105194902310026",  # 31 February 1949, check char correct for the digits
        "110105194902290029",  # 29 February in a non-leap year
        "110105194912320025",  # 32 December
        "110105189912310023",  # before 1900
        "110105209912310029",  # in the future
    ],
)
def test_id_number_with_impossible_birth_date_fails(value):
    assert not is_cn_id_number(value)


@pytest.mark.parametrize(
    "value",
    ["", "11010519491231002", "11010519491231002XX", "1101051949123100ZX", "11010519491231002Ｘ",
     "１10105195001010039", " 11010519491231002X", None, 110105195001010039],
)
def test_malformed_id_numbers_fail(value):
    assert not is_cn_id_number(value)


@pytest.mark.parametrize("value", VALID_USCCS + ["91310230ma1k314j7c"])
def test_valid_credit_codes(value):
    assert is_cn_uscc(value)


@pytest.mark.parametrize("value", VALID_USCCS)
def test_credit_code_with_wrong_check_char_fails(value):
    assert not is_cn_uscc(value[:-1] + _next_char(value[-1], USCC_CHARS))


@pytest.mark.parametrize("letter", "IOSVZ")
@pytest.mark.parametrize("position", [8, 17])
def test_credit_code_with_forbidden_letter_fails(letter, position):
    value = VALID_USCCS[1]
    assert not is_cn_uscc(value[:position] + letter + value[position + 1:])


@pytest.mark.parametrize("value", ["", "91350100M000100Y4", "91350100M000100Y433", None, 91350100])
def test_malformed_credit_codes_fail(value):
    assert not is_cn_uscc(value)


def test_credit_code_check_value_zero_is_written_as_zero():
    # "9", fifteen "0"s, then the character whose weight-28 term makes the sum a multiple of 31:
    # 31 - 0 = 31, which the standard writes as '0'.
    last = next(c for c in USCC_CHARS if (9 * 1 + USCC_CHARS.index(c) * 28) % 31 == 0)
    body = "9" + "0" * 15 + last
    assert is_cn_uscc(body + "0")
    assert not is_cn_uscc(body + "1")


@pytest.mark.parametrize("value", ["13800138000", "19912345678", "10000000000"])
def test_valid_mobiles(value):
    assert is_cn_mobile(value)


@pytest.mark.parametrize(
    "value", ["23800138000", "1380013800", "138001380001", "138-0013-800", "１3800138000", "", None]
)
def test_invalid_mobiles(value):
    assert not is_cn_mobile(value)


def test_masks():
    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_id_number("") == mask_phone(None) == ""
    assert mask_phone("1234567") == "*******"  # too short to keep both ends: hide everything


def test_normalise_code():
    assert normalise_code(" 11010519491231002x ") == "11010519491231002X"


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("cn-id-number", "11010519491231002X", "110105194902310026"),
        ("cn-uscc", "91350100M000100Y43", "91350100M000100Y44"),
        ("cn-mobile", "13800138000", "23800138000"),
        ("date", "2024-02-29", "2023-02-29"),
        ("email", "someone@example.cn", "someone@"),
    ],
)
def test_format_checker(fmt, good, bad):
    assert FORMAT_CHECKER.conforms(good, fmt)
    assert not FORMAT_CHECKER.conforms(bad, fmt)
    # Formats only constrain strings; other types are the `type` keyword's concern.
    assert FORMAT_CHECKER.conforms(12, fmt)


def test_format_checker_knows_only_listed_formats():
    assert set(FORMAT_CHECKER.checkers) == {"cn-id-number", "cn-uscc", "cn-mobile", "date", "email"}
