"""Cards (红牌/黄牌): one per violation, tallied per department and per officer over a week.

Which alerts are violations, and their colour, is `rules.CARD_COLOURS`. A step's violation counts
against its department and the officer who held the step (none while it sat unclaimed in the
pool); a case's violation counts against the department holding the case.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from app.extensions import db
from app.models import Alert, User, WorkItem
from app.models.base import utcnow
from app.services.query_args import QueryArgs
from app.services.supervision.rules import CARD_COLOURS, CASE_OVERDUE, COMPLETED_LATE


@dataclass(frozen=True)
class DepartmentCards:
    department: str
    red: int
    yellow: int


@dataclass(frozen=True)
class OfficerCards:
    department: str
    username: str
    name: str
    red: int
    yellow: int


@dataclass(frozen=True)
class WeekTally:
    week_start: date
    departments: list[DepartmentCards]
    officers: list[OfficerCards]


def last_full_week(today: date) -> date:
    """The Monday of the week before the one `today` is in."""
    return today - timedelta(days=today.weekday() + 7)


def parse_week(args) -> date:
    """The `week` argument (any day of it, YYYY-MM-DD) as its Monday; default the last full week; 422 when malformed."""
    reader = QueryArgs(args)
    day = reader.day("week")
    reader.done()
    if day is None:
        return last_full_week(utcnow().astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date())
    return day - timedelta(days=day.weekday())


def rules_text() -> str:
    """How cards are counted, as the page and the API state it."""
    return _("A card is one violation, counted once: a step crossing its own time limit is a yellow card; a "
             "case crossing its committed or statutory deadline, or refused without a reason, is a red card. "
             "Reminders and warnings before a deadline are not cards. A step's card counts against its "
             "department and the officer holding it; a case's card against the department holding the case.")


def week_tally(week_start: date) -> WeekTally:
    """The cards of the week starting on `week_start` (a local Monday), from the alerts raised in it."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    start = datetime.combine(week_start, datetime.min.time(), tzinfo=zone)
    holder = func.coalesce(WorkItem.completed_by_id, WorkItem.claimed_by_id)
    rows = db.session.execute(
        select(Alert.rule, Alert.subject, Alert.department_code, User.username, User.display_name)
        .outerjoin(WorkItem, WorkItem.id == Alert.work_item_id)
        .outerjoin(User, User.id == holder)
        .where(Alert.raised_at >= start, Alert.raised_at < start + timedelta(days=7),
               Alert.rule.in_(list(CARD_COLOURS)), Alert.department_code.is_not(None))).all()
    late = {subject for rule, subject, *_rest in rows if rule == COMPLETED_LATE}
    carded_already = set(db.session.scalars(select(Alert.subject).where(
        Alert.rule == CASE_OVERDUE, Alert.subject.in_(late)))) if late else set()
    departments: Counter[tuple[str, str]] = Counter()
    officers: Counter[tuple[str, str, str, str]] = Counter()
    for rule, subject, department, username, name in rows:
        if rule == COMPLETED_LATE and subject in carded_already:
            continue
        colour = CARD_COLOURS[rule]
        departments[(department, colour)] += 1
        if username:
            officers[(department, username, name, colour)] += 1
    return WeekTally(
        week_start=week_start,
        departments=[DepartmentCards(code, departments[(code, "red")], departments[(code, "yellow")])
                     for code in sorted({code for code, _colour in departments})],
        officers=[OfficerCards(code, username, name, officers[(code, username, name, "red")],
                               officers[(code, username, name, "yellow")])
                  for code, username, name in sorted({key[:3] for key in officers})])
