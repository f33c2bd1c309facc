"""The shipped calendar files (one TOML file per year under app/data/calendar), read and checked."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

CALENDAR_DIR = Path(__file__).resolve().parents[2] / "data" / "calendar"
_SATURDAY = 5


@dataclass(frozen=True)
class YearCalendar:
    """The days off and the worked weekend days of one year."""

    holidays: frozenset[date]
    makeup_workdays: frozenset[date]


def _dates(path: Path, year: int, values: object) -> frozenset[date]:
    """Parse a list of YYYY-MM-DD strings (or TOML dates) that must all fall in the file's year."""
    if not isinstance(values, list):
        raise ValueError(f"{path.name}: expected a list of dates")
    days = set()
    for value in values:
        # TOML also has native dates; a TOML datetime (a date subclass) is not a day and is refused.
        if type(value) is date:
            day = value
        elif isinstance(value, str):
            day = date.fromisoformat(value)
        else:
            day = None
        if day is None or day.year != year:
            raise ValueError(f"{path.name}: {value!r} is not a date in {year}")
        days.add(day)
    return frozenset(days)


def load_calendar_file(path: Path, year: int) -> YearCalendar:
    """Read and check one year's TOML file; ValueError when it contradicts itself."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    if data.get("year") != year:
        raise ValueError(f"{path.name}: year = {data.get('year')!r}, expected {year}")
    holidays = _dates(path, year, data.get("holidays", []))
    makeup = _dates(path, year, data.get("makeup_workdays", []))
    # A make-up day on a weekday or inside a holiday is a typo in the file, not a calendar rule.
    wrong = sorted(d.isoformat() for d in makeup if d.weekday() < _SATURDAY or d in holidays)
    if wrong:
        raise ValueError(f"{path.name}: make-up working days must be weekend days outside holidays: {wrong}")
    return YearCalendar(holidays, makeup)


@cache
def file_calendar(year: int) -> YearCalendar | None:
    """The year's calendar from CALENDAR_DIR, read once per process; None when there is no file."""
    path = CALENDAR_DIR / f"{year}.toml"
    return load_calendar_file(path, year) if path.is_file() else None
