"""Back-office routing actions on a task: return (退回), transfer (转办), suspend (挂起 / 特别程序) and
resume, supplement during handling (补正), and withdrawal at the applicant's request (撤件).

Every action is a run of the case runtime (which locks the case and reads its open items under the
lock) and records an event with the actor, the reason and the time.
"""
from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from app.engine import TaskNotReady
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import Case, Department, WorkItem
from app.models.base import utcnow
from app.models.org import Actor
from app.services.calendar import workdays
from app.services.cases import deadlines, documents
from app.services.cases.runtime import CaseRun
from app.services.cases.tasks import open_task
from app.taskforms.formats import has_control_characters

# 特别程序 and 挂起 types (domain brief §2); the clock pauses for all of them.
SUSPENSION_TYPES = ("hearing", "testing", "appraisal", "expert_review", "public_notice", "site_check", "other")
MAX_REASON_CHARS = 2000


def _reason(reason: object, field: str = "reason") -> str:
    """A required, storable reason."""
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise ValidationFailed(_("Please correct the highlighted fields."), {field: _("A reason is required.")})
    if has_control_characters(text):
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {field: _("Contains control characters that cannot be stored.")})
    if len(text) > MAX_REASON_CHARS:
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {field: _("Must be at most %(n)s characters.", n=MAX_REASON_CHARS)})
    return text


def return_targets(item: WorkItem) -> list[WorkItem]:
    """Earlier back-office steps of the case this task can be returned to, latest first."""
    steps = db.session.scalars(
        select(WorkItem).where(WorkItem.case_id == item.case_id, WorkItem.state == "completed",
                               WorkItem.form_key != item.case.item.intake_form)
        .order_by(WorkItem.completed_at.desc(), WorkItem.id.desc()))
    latest: dict[str, WorkItem] = {}
    for step in steps:  # one entry per engine task: its latest completion
        latest.setdefault(step.task_id, step)
    return [step for step in latest.values() if step.task_id != item.task_id]


def return_task(work_item_id: int, user: Actor, reason: object, target_id: int | None = None) -> Case:
    """退回: send the case back to the previous human step, or to a chosen earlier one."""
    reason = _reason(reason)
    run, item = open_task(work_item_id, user, must_hold=True)
    targets = return_targets(item)
    target = targets[0] if target_id is None and targets else next((t for t in targets if t.id == target_id), None)
    if target is None:
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"target": _("There is no earlier step of this case to return it to.")})
    try:
        run.reopen(target.task_id)
    except TaskNotReady:
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"target": _("That step cannot be worked again.")}) from None
    run.close(item)
    run.record("task_returned", work_item=item, opinion=reason,
               details={"to": target.name, "to_department": target.department_code})
    run.save(arrival="returned", note=reason)
    return run.case


def transfer_task(work_item_id: int, user: Actor, department: object, reason: object) -> WorkItem:
    """转办: hand the task to another department, which finds it in its pool."""
    reason = _reason(reason)
    code = department.strip() if isinstance(department, str) else ""
    run, item = open_task(work_item_id, user, must_hold=True)
    if not db.session.scalar(select(Department.id).where(Department.code == code, Department.is_active)):
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"department": _("Unknown or deactivated department.")})
    if code == item.department_code:
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"department": _("The task is already in this department.")})
    previous = item.department_code
    item.department_code, item.claimed_by_id = code, None
    item.arrived_via, item.note = "transferred", reason
    run.record("task_transferred", work_item=item, opinion=reason, details={"from": previous, "to": code})
    run.notify_department(item, "task_transferred", reason)
    run.save()
    return item


def _local_today() -> date:
    return utcnow().astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()


def suspend_case(work_item_id: int, user: Actor, kind: object, reason: object, expected_end: object) -> Case:
    """挂起 / 特别程序: pause the case (its tasks stay where they are, visibly paused)."""
    reason = _reason(reason)
    if kind not in SUSPENSION_TYPES:
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"type": _("Choose the kind of special procedure.")})
    try:
        end = date.fromisoformat(expected_end) if isinstance(expected_end, str) else None
    except ValueError:
        end = None
    if end is None or end < _local_today():
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"expected_end": _("Enter the expected end as a date that is not in the past.")})
    run, item = open_task(work_item_id, user, must_hold=True)
    case = run.case
    run.pause("suspended")
    case.suspension_type, case.suspension_reason = kind, reason
    case.suspended_at, case.suspension_expected_end = run.now, end
    run.record("case_suspended", work_item=item, opinion=reason,
               details={"type": kind, "expected_end": end.isoformat()})
    if kind in documents.SPECIAL_PROCEDURES:
        # 第45条: the applicant is told in writing what is done and how long it is expected to take.
        days = workdays.working_days_between(_local_today(), end)
        body = documents.special_procedure_content(case, user, run.now, kind, reason, end, days)
        notice = documents.issue_document(case, "special_procedure_notice", body, user)
        run.record("document_issued", details={"kind": "special_procedure_notice", "doc_no": notice.doc_no})
    run.save()
    return case


def resume_case(work_item_id: int, user: Actor, note: object = None) -> Case:
    """End a suspension: the paused tasks can be worked again."""
    run, item = open_task(work_item_id, user, statuses=("in_progress", "suspended"))
    case = run.case
    if case.status != "suspended":
        raise Conflict(_("The case is not suspended."))
    text = note.strip() if isinstance(note, str) and note.strip() else None
    paused = run.resume()
    # The note is the procedure's result (结果), kept with the working days it took.
    run.record("case_resumed", work_item=item, opinion=text,
               details={"type": case.suspension_type, "paused_working_days": paused,
                        "suspended_at": case.suspended_at.isoformat() if case.suspended_at else None})
    case.suspension_type = case.suspension_reason = None
    case.suspended_at = case.suspension_expected_end = None
    run.save()
    return case


def request_supplement(work_item_id: int, user: Actor, reason: object) -> Case:
    """补正 during handling: the case waits for materials; the front desk's registration resumes it."""
    reason = _reason(reason)
    run, item = open_task(work_item_id, user, must_hold=True)
    run.pause("pending_supplement")
    run.record("supplement_requested", work_item=item, opinion=reason)
    run.save()
    return run.case


MAX_EXTENSION_DAYS = 60


def extend_limit(work_item_id: int, user: Actor, days: object, reason: object) -> Case:
    """延长审批: an approved extension adds working days to the case's committed and statutory limits."""
    reason = _reason(reason)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_EXTENSION_DAYS:
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"days": _("Enter whole working days from 1 to %(n)s.", n=MAX_EXTENSION_DAYS)})
    run, item = open_task(work_item_id, user, must_hold=True)
    case = run.case
    if case.accepted_at is None:
        raise Conflict(_("The case has not been accepted; it has no time limit to extend."))
    deadlines.extend_clock(case, days, run.open_items)
    run.record("limit_extended", work_item=item, opinion=reason,
               details={"working_days": days, "committed_due_at": case.committed_due_at.isoformat()})
    run.save()
    return case


def withdraw_case(case_no: str, user: Actor, reason: object) -> Case:
    """撤件 at the applicant's request: the workflow is cancelled and the case ends withdrawn."""
    reason = _reason(reason)
    run = CaseRun.of_case_no(case_no, user)
    if run is None:
        raise NotFound(_("Case not found."))
    if run.case.is_finished:
        raise Conflict(_("The case has already ended."))
    run.cancel(reason)
    run.save()
    return run.case
