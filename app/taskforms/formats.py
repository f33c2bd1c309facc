"""Chinese identifier and travel-document checks, masking, and the JSON Schema format checker."""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from types import MappingProxyType

from jsonschema import FormatChecker

# GB 11643-1999: the check character is indexed by the weighted digit sum mod 11.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
# Explicit ASCII classes: str.isdigit() would also accept full-width and other Unicode digits.
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
# The province part of the region code (digits 1-2): the region code is the one at issue time, and
# counties merge and lose their codes while the IDs stay valid, so only the province is checked.
# 71, 81 and 82 are Taiwan, Hong Kong and Macao.
_ID_PROVINCES = frozenset({*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55),
                           *range(61, 66), 71, 81, 82})
_EARLIEST_BIRTH_YEAR = 1900

# GB 32100-2015: I, O, S, V and Z are left out so they cannot be mistaken for 1, 0, 5, U and 2.
_USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = {char: value for value, char in enumerate(_USCC_CHARSET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# The registration authority (登记管理部门码, first character): 1 机构编制, 2 外交, 3 司法行政, 4 文化,
# 5 民政, 6 旅游, 7 宗教, 8 工会, 9 市场监管 (工商), A 军队编制, N 农业, Y 其他.
_USCC_AUTHORITIES = frozenset("123456789ANY")

# Passports of any country: ICAO 9303 allows up to 9 characters in the MRZ, but national formats vary,
# so the bounds are loose; requiring a digit rejects names typed into the number field.
_PASSPORT_SHAPE = re.compile(r"[A-Z0-9]{5,17}")
_HAS_DIGIT = re.compile(r"[0-9]")
# 港澳居民来往内地通行证: H (Hong Kong) or M (Macao), 8 digits, plus 2 issue-count digits on old cards.
_HK_MACAO_PERMIT_SHAPE = re.compile(r"[HM][0-9]{8}(?:[0-9]{2})?")
# 台湾居民来往大陆通行证: 8 digits now, 10 digits on older cards.
_TAIWAN_PERMIT_SHAPE = re.compile(r"[0-9]{8}(?:[0-9]{2})?")

# Mainland mobile numbers: 11 digits, 13x to 19x (no number starts 10, 11 or 12).
_MOBILE_SHAPE = re.compile(r"1[3-9][0-9]{9}")
_DATE_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Deliberately loose: the only reliable e-mail check is sending a message.
_EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def normalise_code(s: str) -> str:
    """Strip and upper-case an ID number or credit code so a typed 'x' is stored as 'X'."""
    return s.strip().upper()


def _ascii_upper(s: object) -> str | None:
    """Upper-case an ASCII string, or None for anything else."""
    # Checked before upper-casing: 'ß', 'ı' and ligatures such as 'ﬀ' upper-case to ASCII letters.
    if not isinstance(s, str) or not s.isascii():
        return None
    return s.upper()


def _parse_yyyymmdd(digits: str) -> date | None:
    """Parse yyyyMMdd, returning None when it is not a calendar date."""
    try:
        return date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def is_cn_id_number(s: object) -> bool:
    """True for a well-formed 18-character citizen ID number (居民身份证号码, GB 11643)."""
    s = _ascii_upper(s)
    if s is None or not _ID_SHAPE.fullmatch(s) or int(s[:2]) not in _ID_PROVINCES:
        return False
    born = _parse_yyyymmdd(s[6:14])
    if born is None or born.year < _EARLIEST_BIRTH_YEAR or born > date.today():
        return False
    total = sum(int(digit) * weight for digit, weight in zip(s[:17], _ID_WEIGHTS, strict=True))
    return s[17] == _ID_CHECK_CHARS[total % 11]


def is_cn_uscc(s: object) -> bool:
    """True for a well-formed unified social credit code (统一社会信用代码, GB 32100)."""
    s = _ascii_upper(s)
    if s is None or len(s) != 18 or any(char not in _USCC_VALUES for char in s) or s[0] not in _USCC_AUTHORITIES:
        return False
    total = sum(_USCC_VALUES[char] * weight for char, weight in zip(s[:17], _USCC_WEIGHTS, strict=True))
    # The standard says check = 31 - (sum mod 31), where a result of 31 is written as '0'.
    return _USCC_VALUES[s[17]] == (31 - total % 31) % 31


def is_passport_number(s: object) -> bool:
    """True for a plausible passport number of any country: 5-17 ASCII letters or digits, one digit at least."""
    s = _ascii_upper(s)
    return s is not None and _PASSPORT_SHAPE.fullmatch(s) is not None and _HAS_DIGIT.search(s) is not None


def is_hk_macao_permit(s: object) -> bool:
    """True for a home-return permit number (港澳居民来往内地通行证): H or M and 8 or 10 digits."""
    s = _ascii_upper(s)
    return s is not None and _HK_MACAO_PERMIT_SHAPE.fullmatch(s) is not None


def is_taiwan_permit(s: object) -> bool:
    """True for a Taiwan compatriot permit number (台湾居民来往大陆通行证): 8 or 10 digits."""
    return isinstance(s, str) and _TAIWAN_PERMIT_SHAPE.fullmatch(s) is not None


# Identity document type code -> check, in the order forms offer them. resident_id also covers the
# residence permits for Hong Kong, Macao and Taiwan residents (港澳台居民居住证), which use the same
# 18-character GB 11643 numbers.
ID_TYPES: Mapping[str, Callable[[object], bool]] = MappingProxyType({
    "resident_id": is_cn_id_number,
    "passport": is_passport_number,
    "hk_macao_permit": is_hk_macao_permit,
    "taiwan_permit": is_taiwan_permit,
})
PERSON_ID_TYPES = tuple(ID_TYPES)


def is_identity_number(id_type: object, s: object) -> bool:
    """True when s is a valid number for the identity document type; False for unknown types."""
    check = ID_TYPES.get(id_type) if isinstance(id_type, str) else None
    return check is not None and check(s)


def is_cn_mobile(s: object) -> bool:
    """True for an 11-digit mainland mobile number starting 13 to 19."""
    return isinstance(s, str) and _MOBILE_SHAPE.fullmatch(s) is not None


def is_iso_date(s: object) -> bool:
    """True for a real calendar date written as YYYY-MM-DD."""
    if not isinstance(s, str) or not _DATE_SHAPE.fullmatch(s):
        return False
    return _parse_yyyymmdd(s.replace("-", "")) is not None


def is_email(s: object) -> bool:
    """True for something shaped like an e-mail address."""
    return isinstance(s, str) and _EMAIL_SHAPE.fullmatch(s) is not None


def _mask(s: str | None, keep_start: int, keep_end: int) -> str:
    """Replace the middle of s with asterisks, hiding everything when s is too short to keep ends."""
    if not s:
        return ""
    if len(s) <= keep_start + keep_end:
        return "*" * len(s)
    return s[:keep_start] + "*" * (len(s) - keep_start - keep_end) + s[len(s) - keep_end:]


def mask_id_number(s: str | None) -> str:
    """Mask an ID number for lists and exports: 110105********002X."""
    return _mask(s, 6, 4)


def mask_phone(s: str | None) -> str:
    """Mask a phone number for lists and exports: 138****5678."""
    return _mask(s, 3, 4)


# Only the formats listed here are asserted; a schema naming any other format is refused when loaded
# (see registry) so a typo cannot silently switch a check off.
FORMAT_CHECKER = FormatChecker(formats=())


def _strings_only(check: Callable[[str], bool]) -> Callable[[object], bool]:
    """JSON Schema formats apply to strings only; other types are the `type` keyword's business."""
    return lambda instance: not isinstance(instance, str) or check(instance)


for _name, _check in (
    ("cn-id-number", is_cn_id_number),
    ("cn-uscc", is_cn_uscc),
    ("cn-mobile", is_cn_mobile),
    ("passport", is_passport_number),
    ("hk-macao-permit", is_hk_macao_permit),
    ("taiwan-permit", is_taiwan_permit),
    ("date", is_iso_date),
    ("email", is_email),
):
    FORMAT_CHECKER.checks(_name)(_strings_only(_check))


# Tabs and line breaks are text; other C0 controls (NUL above all) are refused by PostgreSQL or
# invisible on paper.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control_characters(text: str) -> bool:
    """True when the text holds control characters other than tab and line breaks."""
    return bool(_CONTROL_CHARACTERS.search(text))
