"""Working-day calendar and deadlines: plain functions, no Flask app or database."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from app.services.calendar.files import CALENDAR_DIR, load_calendar_file
from app.services.calendar.workdays import (
    add_working_days,
    calendar_for,
    deadline,
    is_working_day,
    working_days_between,
    working_days_between_instants,
)

BEIJING = timezone(timedelta(hours=8))


def _working_days_in(year: int) -> int:
    """Working days in a calendar year, counted independently of working_days_between."""
    days = (date(year, 1, 1) + timedelta(days=i) for i in range(366))
    return sum(is_working_day(d) for d in days if d.year == year)


def test_2026_has_248_working_days():
    assert _working_days_in(2026) == 248
    assert working_days_between(date(2025, 12, 31), date(2026, 12, 31)) == 248


def test_2025_has_248_working_days():
    # The brief expected 250, but the 国办发明电〔2024〕12号 dates give 248: 261 weekdays, 18 of them
    # holidays (Jan 1; Jan 28-31, Feb 3-4; Apr 4; May 1-2, 5; Jun 2; Oct 1-3, 6-8), plus 5 make-up days.
    assert _working_days_in(2025) == 248
    assert working_days_between(date(2024, 12, 31), date(2025, 12, 31)) == 248


@pytest.mark.parametrize(("year", "holidays", "makeup"), [(2025, 28, 5), (2026, 33, 6)])
def test_shipped_year_sizes(year, holidays, makeup):
    calendar = calendar_for(year)
    assert calendar is not None
    assert (len(calendar.holidays), len(calendar.makeup_workdays)) == (holidays, makeup)


def test_every_shipped_calendar_file_loads():
    paths = sorted(CALENDAR_DIR.glob("*.toml"))
    assert paths
    for path in paths:
        load_calendar_file(path, int(path.stem))


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 1, 1), False),  # holiday, Thursday
        (date(2026, 1, 3), False),  # holiday, Saturday
        (date(2026, 1, 4), True),  # make-up Sunday
        (date(2026, 1, 5), True),  # ordinary Monday
        (date(2026, 1, 10), False),  # ordinary Saturday
        (date(2026, 2, 14), True),  # make-up Saturday
        (date(2026, 2, 23), False),  # last day of the Spring Festival
        (date(2026, 10, 10), True),  # make-up Saturday
        (date(2025, 1, 26), True),  # make-up Sunday
        (date(2025, 10, 8), False),  # eighth day of the National Day holiday
        (date(2025, 10, 11), True),  # make-up Saturday
    ],
)
def test_is_working_day(day, working):
    assert is_working_day(day) is working


def test_year_without_a_file_falls_back_to_monday_to_friday():
    assert calendar_for(2099) is None
    assert is_working_day(date(2099, 1, 1))  # a Thursday; New Year's Day unknown without data
    assert not is_working_day(date(2099, 1, 3))  # Saturday
    assert working_days_between(date(2099, 1, 4), date(2099, 1, 11)) == 5


def test_is_working_day_refuses_datetimes():
    with pytest.raises(TypeError):
        is_working_day(datetime(2026, 1, 1, 12, 0))


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 2, 12), 20, date(2026, 3, 18)),
        (date(2026, 9, 28), 5, date(2026, 10, 10)),  # lands on a make-up Saturday
        (date(2026, 9, 30), 1, date(2026, 10, 8)),
        (date(2026, 1, 1), 0, date(2026, 1, 1)),  # n = 0 keeps start even on a holiday
        (date(2026, 1, 2), 1, date(2026, 1, 4)),  # from a holiday to the make-up Sunday
        (date(2025, 12, 31), 1, date(2026, 1, 4)),  # across the year boundary
    ],
)
def test_add_working_days(start, n, expected):
    assert add_working_days(start, n) == expected


def test_add_working_days_refuses_negative_n():
    with pytest.raises(ValueError):
        add_working_days(date(2026, 1, 5), -1)


@pytest.mark.parametrize("start", [date(2025, 12, 25), date(2026, 2, 10), date(2026, 9, 27)])
@pytest.mark.parametrize("n", [0, 1, 5, 20])
def test_add_and_between_agree(start, n):
    assert working_days_between(start, add_working_days(start, n)) == n


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (date(2026, 1, 5), date(2026, 1, 5), 0),
        (date(2026, 1, 9), date(2026, 1, 5), 0),  # b before a
        (date(2026, 1, 2), date(2026, 1, 5), 2),  # make-up Sunday and Monday; a itself excluded
        (date(2026, 2, 13), date(2026, 2, 28), 6),  # Feb 14 and 28 (make-up), Feb 24-27
    ],
)
def test_working_days_between(a, b, expected):
    assert working_days_between(a, b) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # Paused Friday 17:00, resumed Monday 09:00 (Beijing): Monday is lost, the weekend is not.
        (datetime(2026, 3, 6, 17, 0, tzinfo=BEIJING), datetime(2026, 3, 9, 9, 0, tzinfo=BEIJING), 1),
        # Same local day: nothing lost.
        (datetime(2026, 3, 9, 9, 0, tzinfo=BEIJING), datetime(2026, 3, 9, 17, 0, tzinfo=BEIJING), 0),
        # 16:30 UTC is already the next day in Beijing: Feb 13 (Fri) < d <= Feb 14 (make-up Saturday).
        (datetime(2026, 2, 12, 16, 30, tzinfo=UTC), datetime(2026, 2, 14, 1, 0, tzinfo=UTC), 1),
        # Across the Spring Festival: Feb 14 (make-up) only, then Feb 24.
        (datetime(2026, 2, 13, 10, 0, tzinfo=BEIJING), datetime(2026, 2, 24, 10, 0, tzinfo=BEIJING), 2),
        # b before a.
        (datetime(2026, 3, 9, 9, 0, tzinfo=BEIJING), datetime(2026, 3, 2, 9, 0, tzinfo=BEIJING), 0),
    ],
)
def test_working_days_between_instants(a, b, expected):
    assert working_days_between_instants(a, b, "Asia/Shanghai") == expected


def test_working_days_between_instants_uses_the_given_zone():
    a, b = datetime(2026, 2, 12, 16, 30, tzinfo=UTC), datetime(2026, 2, 13, 1, 0, tzinfo=UTC)
    assert working_days_between_instants(a, b, "Asia/Shanghai") == 0  # both on Feb 13 in Beijing
    assert working_days_between_instants(a, b, "UTC") == 1  # Feb 12 to Feb 13 in UTC


def test_working_days_between_instants_refuses_naive_datetimes():
    with pytest.raises(ValueError):
        working_days_between_instants(datetime(2026, 3, 6, 17, 0), datetime(2026, 3, 9, 9, 0, tzinfo=BEIJING))


def test_working_day_deadline_ends_the_day_in_beijing():
    start = datetime(2026, 2, 12, 3, 0, tzinfo=UTC)  # 11:00 in Beijing
    result = deadline(start, 20, "working_day")
    assert result == datetime(2026, 3, 18, 23, 59, 59, tzinfo=BEIJING)
    assert result.tzinfo is UTC
    assert result == datetime(2026, 3, 18, 15, 59, 59, tzinfo=UTC)


def test_working_days_count_from_the_local_date():
    # 16:30 UTC on the 12th is 00:30 on Friday the 13th in Beijing; one working day later is the
    # make-up Saturday, where counting from the UTC date would give Friday.
    start = datetime(2026, 2, 12, 16, 30, tzinfo=UTC)
    assert deadline(start, 1, "working_day") == datetime(2026, 2, 14, 23, 59, 59, tzinfo=BEIJING)
    assert deadline(start, 1, "working_day", tz="UTC") == datetime(2026, 2, 13, 23, 59, 59, tzinfo=UTC)


def test_zero_working_days_is_the_end_of_the_local_day():
    start = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
    assert deadline(start, 0, "working_day") == datetime(2026, 1, 5, 23, 59, 59, tzinfo=BEIJING)


def test_calendar_day_deadline_counts_holidays_but_does_not_end_on_one():
    start = datetime(2026, 2, 12, 16, 30, tzinfo=UTC)  # the 13th in Beijing
    # Holidays count as days; 民法典 第203条: ending on the 16th (春节) it ends on the next working day.
    assert deadline(start, 3, "calendar_day") == datetime(2026, 2, 24, 23, 59, 59, tzinfo=BEIJING)
    # Ending on the make-up Saturday (a working day), it ends that day.
    assert deadline(start, 1, "calendar_day") == datetime(2026, 2, 14, 23, 59, 59, tzinfo=BEIJING)
    # Ending on an ordinary Sunday, it moves to Monday.
    assert deadline(datetime(2026, 3, 5, 2, 0, tzinfo=UTC), 3, "calendar_day") == datetime(
        2026, 3, 9, 23, 59, 59, tzinfo=BEIJING)


def test_custom_end_of_day():
    start = datetime(2026, 9, 28, 1, 0, tzinfo=UTC)
    result = deadline(start, 5, "working_day", end_of_day=time(17, 30))
    assert result == datetime(2026, 10, 10, 9, 30, tzinfo=UTC)


def test_hour_deadline_is_exact_and_in_utc():
    start = datetime(2026, 9, 30, 20, 15, 7, tzinfo=BEIJING)
    result = deadline(start, 48, "hour")
    assert result == start + timedelta(hours=48)
    assert result.tzinfo is UTC


def test_hour_deadline_is_elapsed_time_across_a_dst_change():
    # New York springs forward on 2026-03-08: 24 hours after 07:00 EST is 08:00 EDT, not 07:00.
    start = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    assert deadline(start, 24, "hour", tz="America/New_York") == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "unit"), [(1, "week"), (1, "working_days"), (-1, "working_day"), (-1, "hour"), (-1, "calendar_day")]
)
def test_deadline_refuses_bad_arguments(value, unit):
    with pytest.raises(ValueError):
        deadline(datetime(2026, 1, 5, tzinfo=UTC), value, unit)


def test_deadline_refuses_naive_start():
    with pytest.raises(ValueError):
        deadline(datetime(2026, 1, 5, 9, 0), 1, "working_day")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "2026.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "text",
    [
        'year = 2025\nholidays = []\nmakeup_workdays = []\n',  # year does not match the file
        'year = 2026\nholidays = ["2025-12-31"]\n',  # date outside the year
        'year = 2026\nholidays = ["2026-02-30"]\n',  # impossible date
        'year = 2026\nmakeup_workdays = ["2026-01-05"]\n',  # make-up day on a Monday
        'year = 2026\nholidays = ["2026-01-03"]\nmakeup_workdays = ["2026-01-03"]\n',  # both at once
        'year = 2026\nholidays = "2026-01-01"\n',  # not a list
    ],
)
def test_inconsistent_calendar_file_is_refused(tmp_path, text):
    with pytest.raises(ValueError):
        load_calendar_file(_write(tmp_path, text), 2026)


def test_calendar_file_accepts_toml_dates(tmp_path):
    calendar = load_calendar_file(_write(tmp_path, "year = 2026\nholidays = [2026-01-01]\n"), 2026)
    assert calendar.holidays == {date(2026, 1, 1)}
