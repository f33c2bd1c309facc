"""Public progress query (公众查询): case number + query password, no account, guarded against guessing."""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.errors import Forbidden, NotFound, ServiceError
from app.extensions import db
from app.labels import STATUS_LABELS, SUSPENSION_LABELS
from app.models import Case, CaseEvent, CaseRating, Department, QueryGuard, WorkItem
from app.models.base import utcnow
from app.services.cases.documents import SPECIAL_PROCEDURES
from app.services.cases.intake import check_query_code

QUERY_CODE_LENGTH = 6


class TooManyAttempts(ServiceError):
    """The case's query is locked after too many wrong passwords (查询锁定)."""

    status = 429

    def __init__(self, message: str, locked_until: datetime):
        super().__init__(message)
        self.locked_until = locked_until

    @property
    def retry_after(self) -> int:
        """Whole seconds until the lock lifts, for the Retry-After header."""
        return max(1, math.ceil((self.locked_until - utcnow()).total_seconds()))


class WrongQueryCode(Forbidden):
    """A wrong query password; its failure count is flushed and must be committed by the caller."""


def mask_name(name: str | None, applicant_type: str = "person") -> str:
    """A name as the public may see it: 张三 → 张*, an organisation keeps its first two characters."""
    name = (name or "").strip()
    if not name:
        return ""
    if applicant_type == "org":
        return (name[:2] if len(name) > 2 else name[:1]) + "***"
    # A one-character name would otherwise be shown whole.
    if len(name) == 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


def _is_well_formed(code: str | None) -> bool:
    """Six ASCII digits, the only shape a query password has."""
    return isinstance(code, str) and len(code) == QUERY_CODE_LENGTH and code.isascii() and code.isdigit()


def _locked_guard(case_id: int) -> QueryGuard:
    """The case's guard row, created if missing, locked FOR UPDATE so concurrent guesses queue up."""
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # An upsert, not a read-then-insert: two first guesses at once must not both try to create it.
    db.session.execute(insert(QueryGuard).values(case_id=case_id, failures=0)
                       .on_conflict_do_nothing(index_elements=["case_id"]))
    return db.session.execute(
        select(QueryGuard).where(QueryGuard.case_id == case_id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def _local(value: datetime) -> str:
    """A UTC time as the service centre's local wall-clock time."""
    return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).strftime("%Y-%m-%d %H:%M")


def _count_failure(guard: QueryGuard, now: datetime) -> None:
    """Count one wrong password in the current window and lock the case when there are too many."""
    config = current_app.config
    window = timedelta(minutes=config["QUERY_FAILURE_WINDOW_MINUTES"])
    if guard.window_started_at is None or guard.window_started_at <= now - window:
        guard.failures, guard.window_started_at = 0, now
    guard.failures += 1
    if guard.failures >= config["QUERY_MAX_FAILURES"]:
        guard.locked_until = now + timedelta(minutes=config["QUERY_LOCK_MINUTES"])


def authenticate(case_no: str, query_code: str | None) -> Case:
    """The case if the password is right; else NotFound, TooManyAttempts or WrongQueryCode (caller commits)."""
    case = db.session.scalar(select(Case).where(Case.case_no == (case_no or "").strip()))
    code = query_code.strip() if isinstance(query_code, str) else None
    if case is None:
        raise NotFound(_("No case with this number."))
    guard = _locked_guard(case.id)
    now = utcnow()
    if guard.locked_until is not None:
        if guard.locked_until > now:
            raise TooManyAttempts(_("Too many wrong query passwords for this case. Try again after %(time)s.",
                                    time=_local(guard.locked_until)), guard.locked_until)
        # The lock has run out: the next guesses start a fresh window.
        guard.locked_until, guard.failures, guard.window_started_at = None, 0, None
    # Malformed codes are failures too, and skip the slow hash.
    if not (_is_well_formed(code) and check_query_code(case, code)):
        _count_failure(guard, now)
        db.session.flush()
        raise WrongQueryCode(_("The query password is wrong."))
    guard.failures, guard.window_started_at = 0, None
    db.session.flush()
    return case


def _iso(value: datetime | None) -> str | None:
    """ISO 8601 with offset, or None."""
    return value.isoformat() if value else None


def _current_steps(case: Case, english: bool) -> list[dict]:
    """Open steps with their department's display name."""
    rows = db.session.execute(
        select(WorkItem.name, WorkItem.department_code, Department.name, Department.name_en)
        .outerjoin(Department, Department.code == WorkItem.department_code)
        .where(WorkItem.case_id == case.id, WorkItem.state == "open").order_by(WorkItem.id)
    )
    return [{"name": name, "department": (name_en if english and name_en else dept_name) or code}
            for name, code, dept_name, name_en in rows]


def _ratings(case: Case) -> list[CaseRating]:
    """The case's ratings, oldest first."""
    return list(db.session.scalars(select(CaseRating).where(CaseRating.case_id == case.id)
                                   .order_by(CaseRating.id)))


def special_procedures(case: Case) -> list[dict]:
    """The case's special procedures (第45条) from its record: what, why, the notice, when it began and
    ended, the working days it took and its result (the note given when the case resumed)."""
    events = db.session.execute(
        select(CaseEvent.action, CaseEvent.at, CaseEvent.opinion, CaseEvent.details)
        .where(CaseEvent.case_id == case.id,
               CaseEvent.action.in_(("case_suspended", "case_resumed", "document_issued")))
        .order_by(CaseEvent.id)).all()
    procedures: list[dict] = []
    for action, at, opinion, details in events:
        details = details or {}
        if action == "case_suspended" and details.get("type") in SPECIAL_PROCEDURES:
            procedures.append({"type": details["type"], "type_label": str(SUSPENSION_LABELS[details["type"]]),
                               "reason": opinion, "started_at": _iso(at),
                               "expected_end": details.get("expected_end"), "notice_no": None,
                               "ended_at": None, "working_days_used": None, "result": None})
        elif action == "document_issued" and details.get("kind") == "special_procedure_notice" and procedures:
            procedures[-1]["notice_no"] = details.get("doc_no")
        elif action == "case_resumed" and procedures and procedures[-1]["ended_at"] is None \
                and details.get("type") == procedures[-1]["type"]:
            procedures[-1].update(ended_at=_iso(at), working_days_used=details.get("paused_working_days"),
                                  result=opinion)
    return procedures


def public_view(case: Case) -> dict:
    """What the applicant may see of a case: progress and dates, a masked name, no personal data."""
    english = str(get_locale() or "zh").startswith("en")
    ratings = _ratings(case)
    finished = case.is_finished
    return {
        "case_no": case.case_no,
        "item_code": case.item.code,
        "item_name": case.item.name,
        "item_name_en": case.item.name_en,
        "status": case.status,
        "status_label": str(STATUS_LABELS.get(case.status, case.status)),
        "current_steps": [] if finished else _current_steps(case, english),
        "submitted_at": _iso(case.created_at),
        "accepted_at": _iso(case.accepted_at),
        "deemed_accepted_at": _iso(case.deemed_accepted_at),
        "committed_due_at": _iso(case.committed_due_at),
        "supplement_due_at": _iso(case.supplement_due_at),
        "completed_at": _iso(case.completed_at),
        "result": case.result,
        "result_reason": case.result_reason if finished and case.result != "granted" else None,
        "applicant_name": mask_name(case.applicant_name, case.applicant_type),
        "can_rate": finished and not any(r.channel == "online" for r in ratings),
        "ratings": [{"channel": r.channel, "code": r.code, "rated_at": _iso(r.rated_at)} for r in ratings],
        "special_procedures": special_procedures(case),
    }


def query_case(case_no: str, query_code: str | None) -> dict:
    """The public view of the case, once the query password is checked."""
    return public_view(authenticate(case_no, query_code))
