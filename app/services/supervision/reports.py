"""Read-side of supervision (电子监察): traffic lights, the overdue list, alert history and on-time rates.

Every query here reads columns with SQL (aggregates where possible) and never loads a workflow.
Items of a paused case (suspended, or waiting for a supplement) are counted apart: their clock is
stopped, so calling them late would blame a department for time the law does not count.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, and_, func, not_, or_, select

from app.extensions import db
from app.models import Alert, Case, ServiceItem, User, WorkItem
from app.models.base import utcnow
from app.models.supervision import ALERT_LEVELS
from app.services.cases.tasks import DUE_SOON_WITHIN
from app.services.org.departments import department_names
from app.services.query_args import Page, QueryArgs

# Case statuses whose clock is stopped (the same set the case page marks as paused).
PAUSED_CASE_STATUSES = ("suspended", "pending_supplement")
# Cases that were decided (办结): a grant or a refusal after review. Withdrawn and returned cases
# were never decided, and a refusal at intake (不予受理) has no accepted_at, so no clock to meet.
DECIDED_CASE_STATUSES = ("completed", "refused")
# Rule ids are short codes written by the alert jobs; anything else cannot match one.
RULE_FORMAT = re.compile(r"[A-Za-z0-9_.:-]{1,40}")
MAX_PER_PAGE = 500


def paged(query: Select, count_query: Select, page: int, per_page: int) -> Page:
    """Run a column query for one page, with the total from its own COUNT."""
    total = db.session.scalar(count_query) or 0
    rows = db.session.execute(query.limit(per_page).offset((page - 1) * per_page))
    return Page([row._asdict() for row in rows], total, page, per_page)


@dataclass(frozen=True)
class Paging:
    page: int
    per_page: int


def parse_paging(args: Mapping[str, str], per_page: int, allow_per_page: bool = False) -> Paging:
    """`page` (and for the API `per_page`, at most MAX_PER_PAGE) as positive whole numbers, or 422."""
    reader = QueryArgs(args)
    page = reader.positive_int("page", 1)
    if allow_per_page:
        per_page = reader.positive_int("per_page", per_page, MAX_PER_PAGE)
    reader.done()
    return Paging(page, per_page)


def _tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def local_today() -> date:
    """Today in the service centre's time zone."""
    return utcnow().astimezone(_tz()).date()


def _local_midnight(day: date) -> datetime:
    """Start of a local day as an aware datetime (timestamps are stored in UTC)."""
    return datetime.combine(day, time.min, tzinfo=_tz())


def _english() -> bool:
    """Whether names are shown in English (department and item names have both)."""
    return str(get_locale() or "zh").startswith("en")


def _running() -> ColumnElement[bool]:
    """The case's clock runs (not suspended, not waiting for a supplement)."""
    return Case.status.not_in(PAUSED_CASE_STATUSES)


# ---- Traffic lights -------------------------------------------------------------------------

def department_lights(now: datetime | None = None) -> list[dict]:
    """Open steps per department: green, yellow (due within 24 h), red (overdue), and paused."""
    # Yellow is the inbox's "due soon" window, so the board and the inbox's due filter agree.
    now = now or utcnow()
    soon = now + DUE_SOON_WITHIN
    running = _running()
    counts = {row.department_code: row for row in db.session.execute(
        select(WorkItem.department_code,
               func.count().filter(running, or_(WorkItem.due_at.is_(None), WorkItem.due_at >= soon)).label("green"),
               func.count().filter(running, WorkItem.due_at >= now, WorkItem.due_at < soon).label("yellow"),
               func.count().filter(running, WorkItem.due_at < now).label("red"),
               func.count().filter(not_(running)).label("paused"))
        .join(Case, Case.id == WorkItem.case_id)
        .where(WorkItem.state == "open")
        .group_by(WorkItem.department_code))}
    names = department_names(_english())
    # Every department is listed, also one with nothing open: a zero is news on this board.
    rows = []
    for code in sorted(set(names) | set(counts)):
        row = counts.get(code)
        rows.append({"code": code, "name": names.get(code, code),
                     "green": row.green if row else 0, "yellow": row.yellow if row else 0,
                     "red": row.red if row else 0, "paused": row.paused if row else 0})
    return rows


# ---- Overdue list ---------------------------------------------------------------------------

@dataclass(frozen=True)
class OverdueFilters:
    department: str | None = None

    def as_args(self) -> dict[str, str]:
        return {"department": self.department} if self.department else {}


def _department(reader: QueryArgs) -> str | None:
    """The `department` argument: the code of a department (else an error on the reader), or None."""
    code = reader.text("department", 32)
    if code and code not in department_names(False):
        reader.errors["department"] = _("`department` must be the code of a department.")
        return None
    return code


def parse_overdue_filters(args: Mapping[str, str]) -> OverdueFilters:
    """The overdue list's filter: a known department code, or 422."""
    reader = QueryArgs(args)
    department = _department(reader)
    reader.done()
    return OverdueFilters(department)


def overdue_page(filters: OverdueFilters, page: int, per_page: int, now: datetime | None = None) -> Page:
    """Open items past their due time on running cases, the latest first, with how late each is."""
    now = now or utcnow()
    where = [WorkItem.state == "open", WorkItem.due_at < now, _running()]
    if filters.department:
        where.append(WorkItem.department_code == filters.department)
    query = (select(WorkItem.id.label("work_item_id"), Case.case_no, ServiceItem.code.label("item_code"),
                    ServiceItem.name.label("item_name"), ServiceItem.name_en.label("item_name_en"),
                    WorkItem.name.label("step"), WorkItem.department_code, WorkItem.due_at,
                    Case.committed_due_at, Case.statutory_due_at,
                    User.username.label("holder"), User.display_name.label("holder_name"))
             .join(Case, Case.id == WorkItem.case_id)
             .join(ServiceItem, ServiceItem.id == Case.item_id)
             .outerjoin(User, User.id == WorkItem.claimed_by_id)
             .where(*where)
             # The earliest due is the latest; the id keeps pages stable between requests.
             .order_by(WorkItem.due_at.asc(), WorkItem.id.asc()))
    count = select(func.count()).select_from(WorkItem).join(Case, Case.id == WorkItem.case_id).where(*where)
    result = paged(query, count, page, per_page)
    for row in result.items:
        row["late"] = now - row["due_at"]
    return result


def lateness(late: timedelta) -> tuple[int, int]:
    """(days, hours) of a lateness, whole hours rounded down."""
    hours = int(late.total_seconds() // 3600)
    return hours // 24, hours % 24


# ---- Alert history --------------------------------------------------------------------------

@dataclass(frozen=True)
class AlertFilters:
    department: str | None = None
    level: str | None = None
    rule: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def as_args(self) -> dict[str, str]:
        args = {"department": self.department, "level": self.level, "rule": self.rule,
                "from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None}
        return {key: value for key, value in args.items() if value}


def parse_alert_filters(args: Mapping[str, str]) -> AlertFilters:
    """Department, level, rule and the local days raised (from/to, inclusive); 422 for bad values."""
    reader = QueryArgs(args)
    department = _department(reader)
    level = reader.choice("level", ALERT_LEVELS)
    rule = reader.text("rule", 40)
    if rule and not RULE_FORMAT.fullmatch(rule):
        reader.errors["rule"] = _("`rule` must be a rule code (letters, digits, _ . : -).")
        rule = None
    start, end = reader.period()
    reader.done()
    return AlertFilters(department, level, rule, start, end)


def alert_page(filters: AlertFilters, page: int, per_page: int) -> Page:
    """Alerts matching the filters, newest first, with the case number and step they concern."""
    where = []
    if filters.department:
        where.append(Alert.department_code == filters.department)
    if filters.level:
        where.append(Alert.level == filters.level)
    if filters.rule:
        where.append(Alert.rule == filters.rule)
    if filters.date_from:
        where.append(Alert.raised_at >= _local_midnight(filters.date_from))
    if filters.date_to:
        where.append(Alert.raised_at < _local_midnight(filters.date_to + timedelta(days=1)))
    query = (select(Alert.id, Alert.raised_at, Alert.level, Alert.rule, Alert.subject, Alert.department_code,
                    Alert.content, Alert.details, Alert.result, Case.case_no, WorkItem.name.label("step"))
             .outerjoin(Case, Case.id == Alert.case_id)
             .outerjoin(WorkItem, WorkItem.id == Alert.work_item_id)
             .where(*where)
             .order_by(Alert.raised_at.desc(), Alert.id.desc()))
    return paged(query, select(func.count(Alert.id)).where(*where), page, per_page)


# ---- On-time rates --------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    date_from: date
    date_to: date

    def as_args(self) -> dict[str, str]:
        return {"from": self.date_from.isoformat(), "to": self.date_to.isoformat()}


def parse_period(args: Mapping[str, str]) -> Period:
    """Local days of completion, both inclusive; by default this month up to today."""
    reader = QueryArgs(args)
    start, end = reader.period()
    today = local_today()
    end = end or today
    start = start or end.replace(day=1)
    if start > end and "to" not in reader.errors:
        reader.errors["from"] = _("`from` must not be later than `to`.")
    reader.done()
    return Period(start, end)


def _days(start, end):
    """Elapsed days between two timestamp columns as SQL (fractional)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start) / 86400.0
    return func.julianday(end) - func.julianday(start)


def _rate(on_time: int, total: int) -> float | None:
    return round(on_time * 100.0 / total, 1) if total else None


def _row(total: int, on_time: int, avg_days) -> dict:
    return {"completed": total, "on_time": on_time, "rate": _rate(on_time, total),
            "average_days": round(float(avg_days), 1) if avg_days is not None else None}


def _overall(rows: list[dict]) -> dict:
    """The sum of rows; the average weighted by each row's count."""
    total = sum(r["completed"] for r in rows)
    on_time = sum(r["on_time"] for r in rows)
    weighted = sum(r["average_days"] * r["completed"] for r in rows if r["average_days"] is not None)
    return _row(total, on_time, weighted / total if total else None)


def on_time_rates(period: Period) -> dict:
    """On-time counts, rates and average days per item (decided cases) and per department (completed steps)."""
    # A case counts when decided within the period; on time when completed_at <= committed_due_at;
    # its days run from acceptance. A step counts when completed within the period; on time when
    # completed_at <= due_at, or when it had no due time (nothing to be late for); days from arrival.
    start, end = _local_midnight(period.date_from), _local_midnight(period.date_to + timedelta(days=1))
    cases = db.session.execute(
        select(ServiceItem.code, ServiceItem.name, ServiceItem.name_en,
               func.count(Case.id).label("total"),
               func.count(Case.id).filter(Case.completed_at <= Case.committed_due_at).label("on_time"),
               func.avg(_days(Case.accepted_at, Case.completed_at)).label("avg_days"))
        .join(ServiceItem, ServiceItem.id == Case.item_id)
        .where(Case.status.in_(DECIDED_CASE_STATUSES), Case.accepted_at.is_not(None),
               Case.completed_at >= start, Case.completed_at < end)
        .group_by(ServiceItem.code, ServiceItem.name, ServiceItem.name_en)
        .order_by(ServiceItem.code))
    english = _english()
    items = [{"code": r.code, "name": r.name_en if english and r.name_en else r.name,
              **_row(r.total, r.on_time, r.avg_days)} for r in cases]
    steps = db.session.execute(
        select(WorkItem.department_code,
               func.count(WorkItem.id).label("total"),
               func.count(WorkItem.id).filter(or_(WorkItem.due_at.is_(None),
                                                  WorkItem.completed_at <= WorkItem.due_at)).label("on_time"),
               func.avg(_days(WorkItem.created_at, WorkItem.completed_at)).label("avg_days"))
        .where(and_(WorkItem.state == "completed", WorkItem.completed_at >= start, WorkItem.completed_at < end))
        .group_by(WorkItem.department_code)
        .order_by(WorkItem.department_code))
    names = department_names(english)
    departments = [{"code": r.department_code, "name": names.get(r.department_code, r.department_code),
                    **_row(r.total, r.on_time, r.avg_days)} for r in steps]
    return {"items": items, "departments": departments,
            "items_total": _overall(items), "departments_total": _overall(departments)}
