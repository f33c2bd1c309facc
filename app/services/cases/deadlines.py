"""The case clock (办理时限): due times in working days that start at acceptance, pause while the
case waits (supplement during handling, suspension, special procedures), move by the working days
paused, and grow with an approved extension (延长审批). Due times live in indexed columns.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app

from app import clock
from app.models import Case, WorkItem
from app.services.calendar import workdays
from app.services.processes.step_limits import parse_step_limit


def _tz() -> str:
    return current_app.config["TIMEZONE"]


def deadline(start: datetime, value: int, unit: str) -> datetime:
    """The deadline `value` units after `start` in the service centre's calendar and time zone."""
    return workdays.deadline(start, value, unit, _tz())


def working_days_ahead(days: int) -> str:
    """ISO deadline `days` working days from now, at the end of that day: offered to BPMN timers,
    so a designer can write an auto-退件 as `<timeDate>working_days_ahead(30)</timeDate>`."""
    return deadline(clock.now(), days, "working_day").isoformat()


def _case_deadline(case: Case, value: int, unit: str) -> datetime:
    if unit == "working_day":
        value += case.paused_working_days + case.extension_working_days
    return deadline(case.accepted_at, value, unit)


def set_case_due_times(case: Case) -> None:
    """Committed and statutory due times from acceptance, pauses and extensions."""
    item = case.item
    case.committed_due_at = _case_deadline(case, item.committed_limit_value, item.committed_limit_unit)
    case.statutory_due_at = _case_deadline(case, item.statutory_limit_value, item.statutory_limit_unit)


def start_clock(case: Case, now: datetime) -> None:
    """Acceptance starts the case clock."""
    case.accepted_at = now
    case.paused_working_days = case.extension_working_days = 0
    case.clock_paused_at = None
    set_case_due_times(case)


def step_due(case: Case, step_limit: str | None, created_at: datetime) -> datetime | None:
    """A step's due time: its own limit from when it arrived, else the case's committed due time."""
    limit = parse_step_limit(step_limit)
    if limit is None or case.accepted_at is None:
        return case.committed_due_at
    return deadline(created_at, *limit)


def pause_clock(case: Case, now: datetime) -> None:
    """The case waits: its clock stops (only once accepted; before that there is no clock)."""
    if case.accepted_at is not None and case.clock_paused_at is None:
        case.clock_paused_at = now


def _shift(moment: datetime | None, days: int) -> datetime | None:
    """The same local time of day, `days` working days later."""
    if moment is None or days == 0:
        return moment
    zone = ZoneInfo(_tz())
    local = moment.astimezone(zone)
    day = workdays.add_working_days(local.date(), days)
    return datetime.combine(day, local.timetz()).astimezone(moment.tzinfo)


def paused_working_days(since: datetime, until: datetime) -> int:
    """Working days lost to a pause: the working days after the pause's day up to the resume's day."""
    zone = ZoneInfo(_tz())
    return workdays.working_days_between(since.astimezone(zone).date(), until.astimezone(zone).date())


def resume_clock(case: Case, now: datetime, open_items: list[WorkItem]) -> int:
    """The clock runs again; every due time moves by the working days paused. Returns them."""
    if case.clock_paused_at is None:
        return 0
    days = paused_working_days(case.clock_paused_at, now)
    case.clock_paused_at = None
    case.paused_working_days += days
    set_case_due_times(case)
    for item in open_items:
        item.due_at = _shift(item.due_at, days) if item.step_limit else case.committed_due_at
    return days


def extend_clock(case: Case, days: int, open_items: list[WorkItem]) -> None:
    """An approved extension adds working days to the case's limits (steps without their own follow)."""
    case.extension_working_days += days
    set_case_due_times(case)
    for item in open_items:
        if not item.step_limit:
            item.due_at = case.committed_due_at

