"""Supervisors' actions: 督办 orders (issue, reply, list) and the result recorded on an alert.

An order goes to the department holding the case's first open task; every department holding an
open task of the case is told. That department (or a supervisor) replies once, by a deadline in
working days. Both steps are recorded on the case's timeline.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Alert, Case, Notification, SupervisionOrder, User, WorkItem
from app.models.base import utcnow
from app.models.org import Actor
from app.services.cases import deadlines
from app.services.cases.runtime import CaseRun
from app.services.supervision.reports import Page, paged
from app.taskforms.formats import has_control_characters

MAX_TEXT_CHARS = 2000
MAX_RESULT_CHARS = Alert.result.type.length
DEFAULT_REPLY_WORKING_DAYS = 3
MAX_REPLY_WORKING_DAYS = 30
ORDER_STATUSES = ("open", "replied")


def _text(value: object, field: str, limit: int, missing: str) -> str:
    """Required, storable text; ValidationFailed naming the field otherwise."""
    text = value.strip() if isinstance(value, str) else ""
    problem = None
    if not text:
        problem = missing
    elif has_control_characters(text):
        problem = _("Contains control characters that cannot be stored.")
    elif len(text) > limit:
        problem = _("Must be at most %(n)s characters.", n=limit)
    if problem:
        raise ValidationFailed(_("Please correct the highlighted fields."), {field: problem})
    return text


def _reply_days(value: object) -> int:
    """Working days to reply: a whole number 1–30 (JSON number or form text); absent means the default."""
    if value is None or value == "":
        return DEFAULT_REPLY_WORKING_DAYS
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    # JSON true is an int to Python; a number of days it is not.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REPLY_WORKING_DAYS:
        raise ValidationFailed(_("Please correct the highlighted fields."), {
            "reply_working_days": _("Enter whole working days from 1 to %(n)s.", n=MAX_REPLY_WORKING_DAYS)})
    return value


def issue_order(case_no: str, user: Actor, content: object, reply_working_days: object = None) -> SupervisionOrder:
    """督办: order the department holding the case to act, and tell every department holding it."""
    if not user.has_role("supervisor"):
        raise Forbidden(_("Only a supervisor can issue a supervision order."))
    case = db.session.scalar(select(Case).where(Case.case_no == case_no))
    if case is None:
        raise NotFound(_("Case not found."))
    content = _text(content, "content", MAX_TEXT_CHARS, _("Write what the department is ordered to do."))
    days = _reply_days(reply_working_days)
    if case.is_finished:
        raise Conflict(_("The case has already ended; there is nothing left to supervise."))
    run = CaseRun.of_case_id(case.id, user)
    open_items = run.open_items
    if not open_items:
        raise Conflict(_("No department holds an open task of this case."))
    # One notice per department, pointing at the first of its open tasks.
    first_by_department: dict[str, WorkItem] = {}
    for item in open_items:
        first_by_department.setdefault(item.department_code, item)
    now = utcnow()
    order = SupervisionOrder(case_id=case.id, department_code=open_items[0].department_code,
                             issued_by_id=user.id, issued_at=now, content=content, status="open",
                             reply_due_at=deadlines.deadline(now, days, "working_day"))
    db.session.add(order)
    db.session.flush()
    for item in first_by_department.values():
        run.notify_department(item, "supervision_order", content)
    run.record("supervision_ordered", opinion=content, details={
        "order": order.id, "department": order.department_code, "notified": list(first_by_department),
        "reply_due_at": order.reply_due_at.isoformat(), "reply_working_days": days})
    run.save()
    return order


def can_reply(order_department: str | None, user: Actor) -> bool:
    """Supervisors, and members of the department the order is addressed to."""
    return user.has_role("supervisor") or (order_department is not None and order_department in user.department_codes)


def reply_to_order(order_id: int, user: Actor, reply: object) -> SupervisionOrder:
    """The department's one reply to an order; the issuing supervisor is told."""
    # Locked so two members of the department cannot both send the one reply.
    order = db.session.execute(
        select(SupervisionOrder).where(SupervisionOrder.id == order_id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if order is None:
        raise NotFound(_("No such supervision order."))
    if not can_reply(order.department_code, user):
        raise Forbidden(_("Only the department the order is addressed to can reply to it."))
    reply = _text(reply, "reply", MAX_TEXT_CHARS, _("Write the department's reply."))
    if order.status == "replied":
        raise Conflict(_("This order has already been replied to."))
    now = utcnow()
    order.status, order.reply, order.replied_at, order.replied_by_id = "replied", reply, now, user.id
    if order.issued_by_id != user.id:
        db.session.add(Notification(user_id=order.issued_by_id, kind="supervision_replied",
                                    case_id=order.case_id, text=reply))
    run = CaseRun.of_case_id(order.case_id, user)
    run.record("supervision_replied", opinion=reply, details={
        "order": order.id, "department": order.department_code, "late": now > order.reply_due_at})
    run.save()
    return order


def parse_order_status(args: Mapping[str, str]) -> str | None:
    """The order list's optional status filter: open or replied, or 422."""
    status = (args.get("status") or "").strip() or None
    if status and status not in ORDER_STATUSES:
        message = _("`status` must be one of: %(values)s.", values=", ".join(ORDER_STATUSES))
        raise ValidationFailed(message, {"status": message})
    return status


def order_page(user: Actor, status: str | None, page: int, per_page: int, now: datetime | None = None) -> Page:
    """Orders, open first by reply deadline, then replied newest first; flagged when the reply is late."""
    now = now or utcnow()
    issuer, replier = aliased(User), aliased(User)
    where = []
    # Supervisors see every order; anyone else only those addressed to their departments, to reply.
    if not user.has_role("supervisor"):
        where.append(SupervisionOrder.department_code.in_(user.department_codes))
    if status:
        where.append(SupervisionOrder.status == status)
    is_open = SupervisionOrder.status == "open"
    query = (select(SupervisionOrder.id, Case.case_no, SupervisionOrder.department_code, SupervisionOrder.issued_at,
                    issuer.username.label("issued_by"), issuer.display_name.label("issued_by_name"),
                    SupervisionOrder.content, SupervisionOrder.reply_due_at, SupervisionOrder.status,
                    SupervisionOrder.reply, SupervisionOrder.replied_at,
                    replier.username.label("replied_by"), replier.display_name.label("replied_by_name"))
             .join(Case, Case.id == SupervisionOrder.case_id)
             .join(issuer, issuer.id == SupervisionOrder.issued_by_id)
             .outerjoin(replier, replier.id == SupervisionOrder.replied_by_id)
             .where(*where)
             # 'open' sorts before 'replied'; within replied orders the CASE is NULL, so the id decides.
             .order_by(SupervisionOrder.status.asc(),
                       sql_case((is_open, SupervisionOrder.reply_due_at)).asc().nulls_last(),
                       SupervisionOrder.id.desc()))
    result = paged(query, select(func.count(SupervisionOrder.id)).where(*where), page, per_page)
    for row in result.items:
        row["overdue"] = row["status"] == "open" and row["reply_due_at"] < now
        row["replied_late"] = row["status"] == "replied" and row["replied_at"] > row["reply_due_at"]
        row["can_reply"] = row["status"] == "open" and can_reply(row["department_code"], user)
    return result


def record_alert_result(alert_id: int, user: Actor, result: object) -> Alert:
    """What came of an alert (handled, dismissed …), written by a supervisor; a later one replaces it."""
    if not user.has_role("supervisor"):
        raise Forbidden(_("Only a supervisor can record the result of an alert."))
    alert = db.session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(_("No such alert."))
    alert.result = _text(result, "result", MAX_RESULT_CHARS, _("Write what came of the alert."))
    db.session.flush()
    return alert
