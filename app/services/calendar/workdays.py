"""Chinese working-day calendar (public holidays and 调休 make-up days) and deadline arithmetic.

Inside a Flask app context the calendar is the database's (calendar.store, edited by admins);
without one, the shipped files in calendar.files.CALENDAR_DIR, so these stay plain functions in tests.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import has_app_context

from app.services.calendar import store
from app.services.calendar.files import YearCalendar, file_calendar

UNITS = ("working_day", "calendar_day", "hour")
_SATURDAY = 5


def calendar_for(year: int) -> YearCalendar | None:
    """The year's calendar: the database's in an app context, else the shipped file; None when unknown."""
    if has_app_context():
        return store.year_calendar(year)
    return file_calendar(year)


def is_working_day(d: date) -> bool:
    """True on make-up days and on Mon-Fri that are not holidays; plain Mon-Fri for years without a file."""
    # A datetime is a date subclass, but it never equals a date, so set look-ups would silently miss.
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"expected a date, got {type(d).__name__}")
    calendar = calendar_for(d.year)
    if calendar is not None:
        if d in calendar.makeup_workdays:
            return True
        if d in calendar.holidays:
            return False
    return d.weekday() < _SATURDAY


def add_working_days(start: date, n: int) -> date:
    """The n-th working day after start (start itself not counted); start when n is 0."""
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    day = start
    while n:
        day += timedelta(days=1)
        if is_working_day(day):
            n -= 1
    return day


def working_days_between(a: date, b: date) -> int:
    """How many working days d satisfy a < d <= b; 0 when b <= a."""
    count, day = 0, a
    while day < b:
        day += timedelta(days=1)
        count += is_working_day(day)
    return count


def _local_date(moment: datetime, zone: ZoneInfo) -> date:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("instants must be timezone-aware")
    return moment.astimezone(zone).date()


def working_days_between_instants(a: datetime, b: datetime, tz: str | ZoneInfo = "Asia/Shanghai") -> int:
    """How many working days d satisfy local_date(a) < d <= local_date(b) in tz; 0 when b is not later."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    # Whole local days, not elapsed hours: a pause from Friday 17:00 to Monday 09:00 costs Monday.
    return working_days_between(_local_date(a, zone), _local_date(b, zone))


def deadline(
    start: datetime, value: int, unit: str, tz: str = "Asia/Shanghai", end_of_day: time = time(23, 59, 59)
) -> datetime:
    """The UTC deadline value units after the aware start; day units end at end_of_day local time in tz."""
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; expected one of {UNITS}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"value must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"value must not be negative, got {value}")
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")
    if unit == "hour":
        # Elapsed time: added in UTC so a DST change in tz cannot stretch or shrink it.
        return start.astimezone(UTC) + timedelta(hours=value)
    zone = ZoneInfo(tz)
    # Days are counted on the local calendar: 01:00 in Beijing is already the next day there.
    local_day = start.astimezone(zone).date()
    if unit == "working_day":
        day = add_working_days(local_day, value)
    else:
        day = local_day + timedelta(days=value)
        # 民法典 第203条: a period whose last day is a holiday ends on the next working day.
        while not is_working_day(day):
            day += timedelta(days=1)
    return datetime.combine(day, end_of_day.replace(tzinfo=None), tzinfo=zone).astimezone(UTC)
