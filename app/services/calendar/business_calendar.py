"""The business calendar in the database: imports and admin edits (the cached view lives in store)."""
from __future__ import annotations

import csv
import io
import logging
import re
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import CalendarDay, CalendarYear, User
from app.models.base import utcnow
from app.models.calendar import DAY_KINDS
from app.services.calendar import store
from app.services.calendar.files import CALENDAR_DIR
from app.services.calendar.workdays import working_days_between

log = logging.getLogger(__name__)
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_FILE_BYTES = 256 * 1024  # a year is at most 366 lines; anything far larger is not a calendar
NOTE_MAX = 100  # CalendarDay.note
_SATURDAY = 5
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TOML_KEYS = {"year", "holidays", "makeup_workdays"}


@dataclass(frozen=True)
class DayEntry:
    """One exception day as given by a file, a form or the API."""

    day: date
    kind: str
    note: str | None = None


@dataclass(frozen=True)
class YearSummary:
    """A stored year as the admin list shows it."""

    year: int
    source: str | None
    updated_at: object
    updated_by: str | None
    holidays: int
    workdays: int
    working_days: int


# Validation


def _refuse(problems: dict[str, str]) -> ValidationFailed:
    """One refusal naming every offending date (the first few in the message, all in fields)."""
    ordered = [problems[key] for key in sorted(problems)]
    message = "; ".join(ordered[:5])
    if len(ordered) > 5:
        message += " " + _("(and %(count)d more)", count=len(ordered) - 5)
    return ValidationFailed(message, fields=dict(sorted(problems.items())))


def check_year(year: int) -> int:
    """The year if the calendar can hold it, else ValidationFailed."""
    if isinstance(year, bool) or not isinstance(year, int) or not MIN_YEAR <= year <= MAX_YEAR:
        raise ValidationFailed(_("The year must be between %(min)d and %(max)d.", min=MIN_YEAR, max=MAX_YEAR))
    return year


def parse_day(value: object) -> date | None:
    """A YYYY-MM-DD string (or a plain date) as a date; None when it is neither."""
    if type(value) is date:  # a datetime is a date subclass but not a day
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def check_days(year: int, entries: list[DayEntry]) -> list[DayEntry]:
    """The entries sorted and without repeats; ValidationFailed naming each date that breaks a rule."""
    check_year(year)
    kinds: dict[date, set[str]] = {}
    for entry in entries:
        kinds.setdefault(entry.day, set()).add(entry.kind)
    problems: dict[str, str] = {}
    kept: dict[date, DayEntry] = {}
    for entry in entries:
        name = entry.day.isoformat()
        if name in problems:
            continue
        if entry.kind not in DAY_KINDS:
            problems[name] = _("%(date)s: the kind must be holiday or workday, not %(kind)s.",
                               date=name, kind=str(entry.kind or "—"))
        elif entry.day.year != year:
            problems[name] = _("%(date)s is not in %(year)d.", date=name, year=year)
        elif len(kinds[entry.day]) > 1:
            problems[name] = _("%(date)s is listed both as a holiday and as a working day.", date=name)
        elif entry.kind == "workday" and entry.day.weekday() < _SATURDAY:
            # A make-up working day (调休) replaces a weekend day; a weekday is worked anyway. Holidays
            # on weekends are normal (the notices list whole blocks), so they are not refused.
            problems[name] = _("%(date)s is a weekday; a make-up working day must be a Saturday or Sunday.",
                               date=name)
        elif entry.note and len(entry.note.strip()) > NOTE_MAX:
            problems[name] = _("%(date)s: the note is longer than %(max)d characters.", date=name, max=NOTE_MAX)
        elif entry.day not in kept or (entry.note and not kept[entry.day].note):
            # The same day twice with the same kind is harmless; the first note given wins.
            kept[entry.day] = DayEntry(entry.day, entry.kind, (entry.note or "").strip() or None)
    if problems:
        raise _refuse(problems)
    return [kept[day] for day in sorted(kept)]


# Reading files


def _parse_toml(text: str) -> tuple[int, list[DayEntry]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationFailed(_("The file is not valid TOML: %(reason)s", reason=str(exc))) from None
    unknown = sorted(set(data) - _TOML_KEYS)
    if unknown:
        # A misspelt key would silently drop every make-up day; refuse instead.
        raise ValidationFailed(_("Unknown keys in the file: %(keys)s. Expected year, holidays and makeup_workdays.",
                                 keys=", ".join(unknown)))
    year = data.get("year")
    if isinstance(year, bool) or not isinstance(year, int):
        raise ValidationFailed(_("The file must give the year, e.g. year = 2026."))
    check_year(year)
    entries, problems = [], {}
    for key, kind in (("holidays", "holiday"), ("makeup_workdays", "workday")):
        values = data.get(key, [])
        if not isinstance(values, list):
            raise ValidationFailed(_("%(key)s must be a list of dates.", key=key))
        for value in values:
            day = parse_day(value)
            if day is None:
                problems[str(value)] = _("%(value)s is not a date (YYYY-MM-DD).", value=str(value))
            else:
                entries.append(DayEntry(day, kind))
    if problems:
        raise _refuse(problems)
    return year, entries


def _decode(data: bytes) -> str:
    # Spreadsheets on Chinese Windows save CSV as GB18030/GBK; UTF-8 (with or without BOM) first.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed(_("The file is neither UTF-8 nor GB18030 text."))


def _parse_csv(text: str, year: int | None, filename: str) -> tuple[int, list[DayEntry]]:
    entries, problems = [], {}
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if rows and rows[0][0].strip().lower() == "date":
        rows = rows[1:]  # a header line
    for row in rows:
        cells = [cell.strip() for cell in row]
        while len(cells) > 2 and not cells[-1]:
            cells.pop()
        day = parse_day(cells[0])
        if day is None:
            problems[cells[0]] = _("%(value)s is not a date (YYYY-MM-DD).", value=cells[0])
        elif len(cells) not in (2, 3):
            problems[cells[0]] = _("%(date)s: a line must be date,kind or date,kind,note.", date=cells[0])
        else:
            entries.append(DayEntry(day, cells[1].lower(), cells[2] if len(cells) == 3 else None))
    if problems:
        raise _refuse(problems)
    if year is None:
        stem = Path(filename).stem
        # 2026.csv names its year; otherwise the first date does, and the others must agree.
        year = int(stem) if stem.isdigit() and len(stem) == 4 else (entries[0].day.year if entries else None)
    if year is None:
        raise ValidationFailed(_("The file lists no days and its name gives no year."))
    return year, entries


def parse_file(filename: str, data: bytes, year: int | None = None) -> tuple[int, list[DayEntry]]:
    """(year, checked entries) of a .toml or .csv calendar file; the file must be for `year` if given."""
    if len(data) > MAX_FILE_BYTES:
        raise ValidationFailed(_("The file is too large for a calendar."))
    suffix = Path(filename or "").suffix.lower()
    if suffix == ".toml":
        file_year, entries = _parse_toml(_decode(data))
        if year is not None and file_year != year:
            raise ValidationFailed(_("The file is for %(file_year)d, not %(year)d.", file_year=file_year, year=year))
    elif suffix == ".csv":
        file_year, entries = _parse_csv(_decode(data), year, filename)
    else:
        raise ValidationFailed(_("Choose a .toml or .csv file."))
    return file_year, check_days(file_year, entries)


def entries_from_json(payload: object) -> list[DayEntry]:
    """The days of an API body {"days": [{"date", "kind", "note"}]}; ValidationFailed when malformed."""
    days = payload.get("days") if isinstance(payload, dict) else None
    if not isinstance(days, list):
        raise ValidationFailed(_("The body must be an object with a list of days."))
    entries, problems = [], {}
    for position, item in enumerate(days):
        value = item.get("date") if isinstance(item, dict) else None
        day = parse_day(value)
        note = item.get("note") if isinstance(item, dict) else None
        if day is None:
            key = str(value) if value is not None else f"#{position + 1}"
            problems[key] = _("%(value)s is not a date (YYYY-MM-DD).", value=key)
        elif not isinstance(item.get("kind"), str) or not (note is None or isinstance(note, str)):
            problems[day.isoformat()] = _("%(date)s: kind and note must be text.", date=day.isoformat())
        else:
            entries.append(DayEntry(day, item["kind"], note))
    if problems:
        raise _refuse(problems)
    return entries


# Writing


def _lock_year(year: int, source: str) -> CalendarYear:
    """The year's row locked for this transaction, created when missing."""
    store.mark_changed()  # before the first write: no uncommitted row may reach the shared cache
    row = db.session.scalars(
        select(CalendarYear).where(CalendarYear.year == year).with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        row = CalendarYear(year=year, source=source)
        db.session.add(row)
        try:
            with db.session.begin_nested():
                db.session.flush()
        except IntegrityError:
            raise Conflict(_("Someone else changed this calendar at the same moment. Reload and try again.")) from None
    return row


def _touch(row: CalendarYear, user: User | None, source: str | None = None) -> None:
    """Record who changed the year and when; the stamp must move on every save."""
    now = utcnow()
    # Other processes notice a change by updated_at: it must differ even for two saves within one
    # microsecond or under a frozen clock (`flask jobs run --at`).
    if row.updated_at is not None and now <= row.updated_at:
        now = row.updated_at + timedelta(microseconds=1)
    row.updated_at, row.updated_by_id = now, user.id if user is not None else None
    if source:
        row.source = source
    store.mark_changed()


def replace_year(year: int, entries: list[DayEntry], user: User | None, source: str) -> CalendarYear:
    """Make the year's exception days exactly `entries` (checked first); unchanged rows stay."""
    wanted = {entry.day: entry for entry in check_days(year, entries)}
    row = _lock_year(year, source)
    existing = {d.day: d for d in db.session.scalars(select(CalendarDay).where(CalendarDay.year == year))}
    for day, stored in existing.items():
        if day not in wanted:
            db.session.delete(stored)
    for day, entry in wanted.items():
        stored = existing.get(day)
        if stored is None:
            db.session.add(CalendarDay(day=day, year=year, kind=entry.kind, note=entry.note))
        else:
            stored.kind, stored.note = entry.kind, entry.note
    _touch(row, user, source)
    db.session.flush()
    return row


def import_file(filename: str, data: bytes, user: User | None, year: int | None = None) -> CalendarYear:
    """Replace a year's days with a .toml or .csv file's (the file's year, which must be `year` if given)."""
    file_year, entries = parse_file(filename, data, year)
    return replace_year(file_year, entries, user, source=Path(filename).name[:200])


def set_day(year: int, day: date, kind: str, note: str | None, user: User | None) -> CalendarDay:
    """Add a day to the year or change its kind and note."""
    (entry,) = check_days(year, [DayEntry(day, kind, note)])
    row = _lock_year(year, "manual")
    stored = db.session.get(CalendarDay, day)
    if stored is None:
        stored = CalendarDay(day=day, year=year, kind=entry.kind, note=entry.note)
        db.session.add(stored)
    else:
        stored.kind, stored.note = entry.kind, entry.note
    _touch(row, user)
    db.session.flush()
    return stored


def remove_day(year: int, day: date, user: User | None) -> None:
    """Take a day out of the year's exceptions: it follows the Monday-to-Friday rule again."""
    stored = db.session.get(CalendarDay, day)
    if stored is None or stored.year != year:
        raise NotFound(_("%(date)s is not an exception day of %(year)d.", date=day.isoformat(), year=year))
    row = _lock_year(year, "manual")
    db.session.delete(stored)
    _touch(row, user)
    db.session.flush()


def seed_shipped_years(directory: Path = CALENDAR_DIR) -> list[int]:
    """Import the shipped <year>.toml files whose year the database does not have yet."""
    stored = set(db.session.scalars(select(CalendarYear.year)))
    imported = []
    for path in sorted(directory.glob("*.toml")):
        if path.stem.isdigit() and int(path.stem) not in stored:
            import_file(path.name, path.read_bytes(), None, int(path.stem))
            imported.append(int(path.stem))
    return imported


# Reading


def days_of(year: int) -> list[CalendarDay]:
    """The year's exception days in date order."""
    return list(db.session.scalars(select(CalendarDay).where(CalendarDay.year == year).order_by(CalendarDay.day)))


def get_year(year: int) -> CalendarYear | None:
    """The stored year, or None (then the year counts Monday to Friday)."""
    return db.session.get(CalendarYear, year)


def working_days_in(year: int) -> int:
    """Working days of the year under the current calendar."""
    return working_days_between(date(year - 1, 12, 31), date(year, 12, 31))


def year_summaries() -> list[YearSummary]:
    """Every stored year, newest first."""
    rows = db.session.execute(
        select(CalendarYear, User.display_name).outerjoin(User, User.id == CalendarYear.updated_by_id)
        .order_by(CalendarYear.year.desc())
    ).all()
    summaries = []
    for row, updated_by in rows:
        kinds = [d.kind for d in days_of(row.year)]
        summaries.append(YearSummary(row.year, row.source, row.updated_at, updated_by, kinds.count("holiday"),
                                     kinds.count("workday"), working_days_in(row.year)))
    return summaries


def year_json(year: int) -> dict:
    """The API's view of a year; a year not stored has no days and counts Monday to Friday."""
    check_year(year)
    row = get_year(year)
    return {
        "year": year,
        "working_days": working_days_in(year),
        "source": row.source if row else None,
        "updated_at": row.updated_at.isoformat() if row and row.updated_at else None,
        "days": [{"date": d.day.isoformat(), "kind": d.kind, "note": d.note} for d in days_of(year)],
    }
