"""Reading cases: one case with its steps and timeline, and the case list (SQL only)."""
from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_, select

from app.errors import Forbidden, NotFound
from app.extensions import db
from app.models import Case, CaseEvent, WorkItem
from app.models.base import utcnow
from app.models.org import Actor
from app.taskforms.formats import mask_id_number, mask_phone


def get_case(case_no: str) -> Case:
    """The case with this number, or NotFound."""
    case = db.session.scalar(select(Case).where(Case.case_no == case_no))
    if case is None:
        raise NotFound(_("Case not found."))
    return case


def can_view_case(case: Case, user: Actor) -> bool:
    """Staff see a case when they took it in, supervise, or their department works on it."""
    if user.has_role("supervisor", "front_desk", "archivist"):
        return True
    codes = user.department_codes
    return bool(codes) and db.session.scalar(
        select(WorkItem.id).where(WorkItem.case_id == case.id, WorkItem.department_code.in_(codes)).limit(1)
    ) is not None


def get_case_for(case_no: str, user: Actor) -> Case:
    """The case if this user may see it."""
    case = get_case(case_no)
    if not can_view_case(case, user):
        raise Forbidden(_("You do not have permission to see this case."))
    return case


def case_steps(case: Case) -> list[WorkItem]:
    """Every step of the case in the order it was routed."""
    return list(db.session.scalars(select(WorkItem).where(WorkItem.case_id == case.id).order_by(WorkItem.id)))


def open_work_items(case_id: int) -> list[WorkItem]:
    """The case's open work items, oldest first."""
    return list(db.session.scalars(select(WorkItem).where(WorkItem.case_id == case_id, WorkItem.state == "open")
                                   .order_by(WorkItem.id)))


def case_events(case: Case) -> list[CaseEvent]:
    """The case's audit trail, oldest first."""
    return list(db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)))


def masked_applicant(case: Case) -> dict:
    """Applicant as lists and the API show it: ID number and phone masked."""
    agent = case.agent
    return {
        "type": case.applicant_type, "name": case.applicant_name, "id_type": case.applicant_id_type,
        "id_number": mask_id_number(case.applicant_id_number), "phone": mask_phone(case.applicant_phone),
        "legal_representative": case.applicant_legal_representative, "capacity": case.applicant_capacity,
        "agent": {"kind": agent["kind"], "name": agent["name"], "id_type": agent["id_type"],
                  "id_number": mask_id_number(agent["id_number"]), "phone": mask_phone(agent.get("phone"))}
        if agent else None,
    }


def search_cases(user: Actor, text: str | None, status: str | None, page: int, per_page: int):
    """Cases visible to the user, newest first, optionally filtered by number, name or status."""
    query = select(Case).order_by(Case.id.desc())
    if not user.has_role("supervisor", "front_desk", "archivist"):
        query = query.where(Case.id.in_(select(WorkItem.case_id).where(
            WorkItem.department_code.in_(user.department_codes))))
    if text:
        like = f"%{text.strip()}%"
        query = query.where(or_(Case.case_no.like(like), Case.applicant_name.like(like)))
    if status:
        query = query.where(Case.status == status)
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def todays_cases(user: Actor, limit: int = 50) -> list[Case]:
    """The cases this clerk took in since midnight (the service centre's day), newest first."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    midnight = datetime.combine(utcnow().astimezone(zone).date(), time.min, zone)
    return list(db.session.scalars(select(Case).where(Case.created_by_id == user.id, Case.created_at >= midnight)
                                   .order_by(Case.id.desc()).limit(limit)))
