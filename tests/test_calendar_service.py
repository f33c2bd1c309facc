"""Reading and checking calendar files (TOML and CSV) and API bodies: no Flask app or database."""
from __future__ import annotations

from datetime import date

import pytest

from app.errors import ValidationFailed
from app.services.calendar.business_calendar import DayEntry, check_days, entries_from_json, parse_file
from app.services.calendar.files import CALENDAR_DIR, load_calendar_file


def _refusal(filename: str, text: str | bytes, year: int | None = None) -> ValidationFailed:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(ValidationFailed) as refused:
        parse_file(filename, data, year)
    return refused.value


@pytest.mark.parametrize("year", [2025, 2026])
def test_shipped_files_read_like_the_file_calendar(year):
    path = CALENDAR_DIR / f"{year}.toml"
    parsed_year, entries = parse_file(path.name, path.read_bytes())
    shipped = load_calendar_file(path, year)
    assert parsed_year == year
    assert {e.day for e in entries if e.kind == "holiday"} == shipped.holidays
    assert {e.day for e in entries if e.kind == "workday"} == shipped.makeup_workdays


def test_holidays_on_weekends_are_accepted():
    # 2026-02-15 is a Sunday inside the Spring Festival block, listed as a holiday by the notice.
    year, entries = parse_file("2026.toml", b'year = 2026\nholidays = ["2026-02-15", 2026-02-21]\n')
    assert year == 2026 and [e.day for e in entries] == [date(2026, 2, 15), date(2026, 2, 21)]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('year = 2026\nholidays = ["2026-01-03"]\nmakeup_workdays = ["2026-01-03"]\n', "2026-01-03"),
        ('year = 2026\nholidays = ["2025-12-31"]\n', "2025-12-31"),
        ('year = 2026\nmakeup_workdays = ["2026-01-05"]\n', "2026-01-05"),  # a Monday
        ('year = 2026\nholidays = ["2026-02-30"]\n', "2026-02-30"),
        ('year = 2026\nholidays = ["26-1-1"]\n', "26-1-1"),
        ('year = 2026\nholidays = [2026-01-01T00:00:00]\n', "2026-01-01"),  # a datetime is not a day
    ],
)
def test_toml_refusals_name_the_date(text, named):
    refusal = _refusal("2026.toml", text)
    assert named in refusal.message and refusal.status == 422


def test_both_kinds_is_named_as_such():
    refusal = _refusal("2026.toml", 'year = 2026\nholidays = ["2026-01-03"]\nmakeup_workdays = ["2026-01-03"]\n')
    assert refusal.message == "2026-01-03 is listed both as a holiday and as a working day."


def test_every_offending_date_is_in_the_fields():
    refusal = _refusal("2026.toml", 'year = 2026\nholidays = ["2025-12-30", "2025-12-31"]\n'
                                    'makeup_workdays = ["2026-01-05"]\n')
    assert sorted(refusal.fields) == ["2025-12-30", "2025-12-31", "2026-01-05"]


@pytest.mark.parametrize(
    "text",
    [
        'holidays = ["2026-01-01"]\n',  # no year
        'year = "2026"\n',  # year not a number
        'year = 1900\n',  # out of range
        'year = 2026\nholidays = "2026-01-01"\n',  # not a list
        'year = 2026\nmakeup_workday = ["2026-01-04"]\n',  # misspelt key would drop the make-up days
        'year = 2026\nholidays = [\n',  # not TOML
    ],
)
def test_malformed_toml_is_refused(text):
    assert _refusal("2026.toml", text).message


def test_toml_year_must_match_the_year_asked_for():
    assert "2026" in _refusal("x.toml", 'year = 2026\n', year=2027).message


def test_csv_with_header_notes_and_blank_lines():
    text = "date,kind,note\n2026-01-01,holiday,元旦\n\n2026-01-04,workday,元旦调休\n2026-02-15 , HOLIDAY ,\n"
    year, entries = parse_file("calendar.csv", text.encode())
    assert year == 2026
    assert entries == [DayEntry(date(2026, 1, 1), "holiday", "元旦"), DayEntry(date(2026, 1, 4), "workday", "元旦调休"),
                       DayEntry(date(2026, 2, 15), "holiday", None)]


def test_csv_from_a_chinese_spreadsheet_in_gb18030():
    year, entries = parse_file("2026.csv", "2026-01-04,workday,元旦调休\n".encode("gb18030"))
    assert entries == [DayEntry(date(2026, 1, 4), "workday", "元旦调休")]


def test_csv_year_comes_from_the_name_then_from_the_first_date():
    assert parse_file("2027.csv", b"")[0] == 2027
    assert parse_file("days.csv", b"2027-01-01,holiday\n")[0] == 2027
    assert parse_file("days.csv", b"2027-01-01,holiday\n", year=2027)[0] == 2027
    assert "2027-01-01" in _refusal("2026.csv", "2027-01-01,holiday\n").message
    assert "2027-01-01" in _refusal("days.csv", "2027-01-01,holiday\n", year=2026).message


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("2026-01-03,holiday\n2026-01-03,workday\n", "2026-01-03"),
        ("2026-01-01,holiday\n2025-12-31,holiday\n", "2025-12-31"),
        ("2026-01-06,workday\n", "2026-01-06"),  # a Tuesday
        ("2026-01-01,day-off\n", "2026-01-01"),
        ("2026-13-01,holiday\n", "2026-13-01"),
        ("2026-01-01,holiday,note,extra\n", "2026-01-01"),
        ("2026-01-01\n", "2026-01-01"),
        (f"2026-01-01,holiday,{'长' * 101}\n", "2026-01-01"),
    ],
)
def test_csv_refusals_name_the_date(text, named):
    assert named in _refusal("2026.csv", text).message


def test_other_file_types_are_refused():
    assert _refusal("2026.xlsx", b"PK...").message
    assert _refusal("2026.csv", b"x" * (300 * 1024)).message


def test_same_day_twice_with_the_same_kind_is_kept_once():
    entries = check_days(2026, [DayEntry(date(2026, 1, 1), "holiday"), DayEntry(date(2026, 1, 1), "holiday", "元旦")])
    assert entries == [DayEntry(date(2026, 1, 1), "holiday", "元旦")]


def test_api_body_is_read_and_checked():
    body = {"days": [{"date": "2026-01-04", "kind": "workday", "note": "调休"}, {"date": "2026-01-01", "kind": "holiday"}]}
    assert entries_from_json(body) == [DayEntry(date(2026, 1, 4), "workday", "调休"),
                                       DayEntry(date(2026, 1, 1), "holiday", None)]
    for bad in (None, [], {"days": "x"}, {"days": [{"date": "2026-1-1", "kind": "holiday"}]},
                {"days": [{"date": "2026-01-01", "kind": 1}]}, {"days": ["2026-01-01"]}):
        with pytest.raises(ValidationFailed):
            entries_from_json(bad)
