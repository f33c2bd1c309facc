"""Identifier checks, masking and the format checker."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.taskforms.formats import (
    FORMAT_CHECKER,
    ID_TYPES,
    PERSON_ID_TYPES,
    is_cn_id_number,
    is_cn_mobile,
    is_cn_uscc,
    is_hk_macao_permit,
    is_identity_number,
    is_passport_number,
    is_taiwan_permit,
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


def _with_check_char(body: str) -> str:
    """Append the GB 11643 check character, so a test can make only the birth date wrong."""
    total = sum(int(digit) * (2 ** (17 - i) % 11) for i, digit in enumerate(body))
    return body + "10X98765432"[total % 11]


def test_check_char_helper_matches_known_ids():
    assert [_with_check_char(v[:17]) for v in VALID_IDS] == VALID_IDS


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


def test_wrong_check_char_alone_fails():
    assert _with_check_char("11010519491231002") != "110105194912310021"
    assert not is_cn_id_number("110105194912310021")


@pytest.mark.parametrize("birth", ["19490230", "19490229", "19491301", "19490001", "19490100", "18991231"])
def test_id_number_fails_when_only_the_birth_date_is_wrong(birth):
    assert not is_cn_id_number(_with_check_char("110105" + birth + "002"))


def test_id_number_birth_date_may_be_today_but_not_tomorrow():
    today, tomorrow = date.today(), date.today() + timedelta(days=1)
    assert is_cn_id_number(_with_check_char("110105" + today.strftime("%Y%m%d") + "002"))
    assert not is_cn_id_number(_with_check_char("110105" + tomorrow.strftime("%Y%m%d") + "002"))


def test_id_number_earliest_birth_year_is_1900():
    assert is_cn_id_number(_with_check_char("11010519000101002"))


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


def test_credit_code_ligature_does_not_upper_case_into_a_valid_code():
    # 'ﬀ'.upper() == 'FF': a 17-character non-ASCII string would otherwise become a valid 18-character code.
    assert is_cn_uscc("91310230FF1K314J7J")
    assert not is_cn_uscc("91310230\ufb001K314J7J")


@pytest.mark.parametrize(
    "value", ["E12345678", "EA1234567", "G12345678", "e12345678", "K1234", "123456789", "AB1234567CD12345Z"]
)
def test_valid_passport_numbers(value):
    assert is_passport_number(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "E123",  # 4 characters
        "AB1234567CD12345ZZ",  # 18 characters
        "EABCDEFGH",  # no digit
        "E1234-5678",
        "E 12345678",
        " E12345678",
        "E12345678\n",
        "Ｅ12345678",  # full-width letter
        "E１2345678",  # full-width digit
        "\u0131123456",  # dotless i upper-cases to ASCII 'I'
        "E12345678\u00df",  # sharp s upper-cases to 'SS'
        None,
        12345678,
    ],
)
def test_invalid_passport_numbers(value):
    assert not is_passport_number(value)


@pytest.mark.parametrize("value", ["H12345678", "M12345678", "H1234567801", "h12345678"])
def test_valid_hk_macao_permits(value):
    assert is_hk_macao_permit(value)


@pytest.mark.parametrize(
    "value",
    ["", "H1234567", "H123456789", "H123456789012", "A12345678", "12345678", "HH12345678", "H12345678\n",
     "H１2345678", "Ｈ12345678", None, 12345678],
)
def test_invalid_hk_macao_permits(value):
    assert not is_hk_macao_permit(value)


@pytest.mark.parametrize("value", ["12345678", "1234567890"])
def test_valid_taiwan_permits(value):
    assert is_taiwan_permit(value)


@pytest.mark.parametrize(
    "value", ["", "1234567", "123456789", "12345678901", "T12345678", "12345678\n", "１2345678", None, 12345678]
)
def test_invalid_taiwan_permits(value):
    assert not is_taiwan_permit(value)


def test_identity_types_in_order():
    assert PERSON_ID_TYPES == ("resident_id", "passport", "hk_macao_permit", "taiwan_permit")
    assert ID_TYPES["resident_id"] is is_cn_id_number


@pytest.mark.parametrize(
    ("id_type", "good", "bad"),
    [
        ("resident_id", "11010519491231002X", "110105194912310021"),
        ("passport", "E12345678", "E1"),
        ("hk_macao_permit", "H12345678", "A12345678"),
        ("taiwan_permit", "12345678", "123456789"),
    ],
)
def test_identity_number_dispatch(id_type, good, bad):
    assert is_identity_number(id_type, good)
    assert not is_identity_number(id_type, bad)


@pytest.mark.parametrize("id_type", ["", "driving_licence", "RESIDENT_ID", None, ["passport"]])
def test_identity_number_unknown_type_fails(id_type):
    assert not is_identity_number(id_type, "E12345678")


def test_credit_code_check_value_zero_is_written_as_zero():
    # "9", fifteen "0"s, then the character whose weight-28 term makes the sum a multiple of 31:
    # 31 - 0 = 31, which the standard writes as '0'.
    last = next(c for c in USCC_CHARS if (9 * 1 + USCC_CHARS.index(c) * 28) % 31 == 0)
    body = "9" + "0" * 15 + last
    assert is_cn_uscc(body + "0")
    assert not is_cn_uscc(body + "1")


@pytest.mark.parametrize("value", ["13800138000", "19912345678", "16612345678"])
def test_valid_mobiles(value):
    assert is_cn_mobile(value)


@pytest.mark.parametrize(
    "value", ["23800138000", "1380013800", "138001380001", "138-0013-800", "１3800138000", "", None,
              "10000000000", "11012345678", "12012345678"]
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
        ("passport", "EA1234567", "EABCDEFGH"),
        ("hk-macao-permit", "M12345678", "M1234567"),
        ("taiwan-permit", "12345678", "1234567"),
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
    assert set(FORMAT_CHECKER.checkers) == {
        "cn-id-number", "cn-uscc", "cn-mobile", "passport", "hk-macao-permit", "taiwan-permit", "date", "email",
    }


def _with_uscc_check_char(body: str) -> str:
    values = {char: value for value, char in enumerate(USCC_CHARS)}
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    return body + USCC_CHARS[(31 - sum(values[c] * w for c, w in zip(body, weights, strict=True)) % 31) % 31]


@pytest.mark.parametrize("province", ["00", "10", "16", "20", "39", "47", "60", "70", "80", "83", "99"])
def test_id_numbers_from_no_province_are_refused(province):
    assert not is_cn_id_number(_with_check_char(province + "0105194912310" + "02"))


@pytest.mark.parametrize("region", ["110103", "710000", "810000", "820000", "652901", "542121"])
def test_id_numbers_of_abolished_counties_and_other_provinces_stay_valid(region):
    # 110103 was Chongwen district of Beijing, merged into Dongcheng in 2010: its IDs are still valid.
    assert is_cn_id_number(_with_check_char(region + "19491231002"))


@pytest.mark.parametrize("authority", list("BCDEFGHJKLMPQRTUWX0"))
def test_uscc_from_no_registration_authority_is_refused(authority):
    assert not is_cn_uscc(_with_uscc_check_char(authority + "1350100M000100Y4"))


@pytest.mark.parametrize("authority", list("123456789ANY"))
def test_uscc_of_every_registration_authority_is_accepted(authority):
    assert is_cn_uscc(_with_uscc_check_char(authority + "1350100M000100Y4"))
