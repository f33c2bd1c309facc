"""The business calendar as stored in the database, cached per process for deadline arithmetic.

Each process keeps the years it has read. A save marks its session; while that transaction runs it
reads its own (uncommitted) calendar, never the shared cache, and when the transaction ends
(commit, rollback or close) the shared cache is dropped. Saves made by other processes (another
web worker, `flask calendar import`) are noticed by comparing the (year, updated_at) list of
calendar_year at most every CALENDAR_CACHE_SECONDS.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import CalendarDay, CalendarYear
from app.services.calendar.files import YearCalendar, file_calendar

log = logging.getLogger(__name__)
DEFAULT_CACHE_SECONDS = 30
_CHANGED = "calendar_changed"  # session.info: this transaction saved calendar rows
_OWN_VIEW = "calendar_own_view"  # session.info: the years as this transaction sees them


def mark_changed() -> None:
    """This transaction now reads its own calendar; the shared cache goes when it ends."""
    session = db.session()
    session.info[_CHANGED] = True
    session.info.pop(_OWN_VIEW, None)


@dataclass
class _Cache:
    stamp: tuple | None = None
    checked_at: float = float("-inf")
    years: dict[int, YearCalendar | None] = field(default_factory=dict)


_shared = _Cache()
_lock = threading.Lock()


def invalidate() -> None:
    """Forget every year this process has cached; the next look-up reads the database."""
    global _shared
    with _lock:
        _shared = _Cache()


def _load(year: int) -> YearCalendar | None:
    # No autoflush: deadlines are computed while a case is half built, and its pending rows must
    # not be flushed by a calendar look-up (calendar saves flush themselves).
    with db.session.no_autoflush:
        if db.session.get(CalendarYear, year) is None:
            if file_calendar(year) is not None:
                # Deadlines now ignore that year's holidays: the database was never given the shipped file.
                log.warning("calendar year %s is not in the database (a file ships with the app): counting "
                            "Monday to Friday; run `flask calendar seed`", year)
            return None
        days = db.session.execute(select(CalendarDay.day, CalendarDay.kind).where(CalendarDay.year == year)).all()
    return YearCalendar(holidays=frozenset(d for d, kind in days if kind == "holiday"),
                        makeup_workdays=frozenset(d for d, kind in days if kind == "workday"))


def _stamp() -> tuple:
    with db.session.no_autoflush:
        return tuple(db.session.execute(select(CalendarYear.year, CalendarYear.updated_at)
                                        .order_by(CalendarYear.year)))


def _current_cache() -> _Cache:
    """The shared cache, dropped first when calendar_year changed since the last look (at most every N s)."""
    global _shared
    cache = _shared
    if time.monotonic() - cache.checked_at < current_app.config.get("CALENDAR_CACHE_SECONDS", DEFAULT_CACHE_SECONDS):
        return cache
    stamp = _stamp()
    with _lock:
        if _shared is cache:
            if stamp != cache.stamp:
                _shared = _Cache(stamp=stamp)
            _shared.checked_at = time.monotonic()
        return _shared


def year_calendar(year: int) -> YearCalendar | None:
    """The year's holidays and make-up days from the database (cached); None when the year is not stored."""
    session = db.session()
    if session.info.get(_CHANGED):
        # This transaction saved calendar rows: its arithmetic follows them at once, but nothing
        # uncommitted may reach the cache other requests read.
        own = session.info.setdefault(_OWN_VIEW, {})
        if year not in own:
            own[year] = _load(year)
        return own[year]
    cache = _current_cache()
    if year not in cache.years:
        cache.years[year] = _load(year)
    return cache.years[year]


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction) -> None:
    """Once a transaction that saved calendar rows ends, every reader gets the database's calendar."""
    if not session.info.get(_CHANGED):
        return
    session.info.pop(_OWN_VIEW, None)  # a rolled-back savepoint may have changed what this session sees
    if transaction.parent is None:
        session.info.pop(_CHANGED, None)
        invalidate()
