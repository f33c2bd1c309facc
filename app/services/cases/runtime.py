"""Load → run → save of a case's workflow, keeping work items and events in step."""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import undefer

from app.engine import SERIALIZER_VERSION, TaskNotReady, Workflow, WorkflowError
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import Case, Department, ProcessVersion, WorkItem
from app.models.base import utcnow
from app.models.org import Actor
from app.services.archive.filing import queue_filing
from app.services.cases import deadlines
from app.services.cases.events import record_event
from app.services.notices.notifications import notify_department

# End-event results that are not a grant map to their own case status: 不予受理 and 不予许可 are
# both refusals, 退件 is a return.
_STATUS_BY_RESULT = {"refused": "refused", "not_accepted": "refused", "withdrawn": "withdrawn",
                     "returned": "returned"}
# Results other than a grant need a reason; these are given when no step wrote one.
_DEFAULT_REASONS = {"returned": "补正期满未补正材料,作退件处理。"}


def spec_json_for(process_version_id: int) -> str:
    """The serialized spec of a process version, read from the database once per app and version."""
    # Versions never change once deployed; the engine keeps the parsed objects for this same text.
    cache = current_app.extensions.setdefault("process_spec_json", {})
    spec = cache.get(process_version_id)
    if spec is None:
        spec = cache[process_version_id] = db.session.scalar(
            select(ProcessVersion.spec_json).where(ProcessVersion.id == process_version_id)
        )
    return spec


def lock_case_of_work_item(work_item_id: int) -> Case | None:
    """Lock (SELECT … FOR UPDATE) the case a work item belongs to; None if there is no such item."""
    return db.session.execute(
        select(Case).join(WorkItem, WorkItem.case_id == Case.id).where(WorkItem.id == work_item_id)
        .with_for_update(of=Case)
        # The engine state comes with the lock: whoever locks a case runs its workflow next.
        .options(undefer(Case.workflow_state))
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def load_workflow(case: Case) -> Workflow:
    """The case's workflow, restored against its pinned process version."""
    return Workflow.load(spec_json_for(case.process_version_id), case.workflow_state)


def run_task(wf: Workflow, task_id: str, data: dict) -> None:
    """Complete one engine task; engine failures become clear refusals and nothing is saved."""
    try:
        wf.complete_task(task_id, data)
    except TaskNotReady:
        raise Conflict(_("This task is no longer waiting for completion.")) from None
    except ValueError as exc:
        # The engine only keeps plain JSON data (no NaN, no deep nesting).
        raise ValidationFailed(_("The submitted data cannot be stored: %(reason)s", reason=str(exc))) from exc
    except WorkflowError as exc:
        # A script, condition or depth guard stopped the flow: the caller's transaction rolls back.
        raise ValidationFailed(_("The process could not continue (%(reason)s). Nothing was saved; "
                                 "please tell the process designer.", reason=exc.message)) from exc


def open_work_items(case_id: int) -> list[WorkItem]:
    """The case's open work items as the database has them now (call under the case lock)."""
    return list(db.session.scalars(
        select(WorkItem).where(WorkItem.case_id == case_id, WorkItem.state == "open")
        .execution_options(populate_existing=True)
    ))


def save_workflow(case: Case, wf: Workflow, actor: Actor | None, now: datetime | None = None,
                  open_items: list[WorkItem] | None = None, arrival: str = "routed",
                  note: str | None = None) -> list[WorkItem]:
    """Store the state and mirror READY user tasks as work items; finish the case if the flow ended.

    `open_items` are the case's open work items read under the lock, when the caller has them.
    New items record how they arrived (`routed`, or `returned` with the reason as `note`), and
    their department's members are notified.
    """
    now = now or utcnow()
    case.workflow_state = wf.dump()
    case.serializer_version = SERIALIZER_VERSION
    case.next_timer_at = wf.next_timer_at()
    ready = {task.task_id: task for task in wf.ready_user_tasks()}
    if open_items is None:
        # No autoflush: everything this unit of work changed goes out in one flush at commit.
        with db.session.no_autoflush:
            open_items = open_work_items(case.id)
    open_items = [item for item in open_items if item.state == "open"]  # skip the one just completed
    for item in open_items:
        if item.task_id not in ready:
            # The engine moved on without this step (e.g. a parallel branch ended the case).
            item.state = "cancelled"
            item.completed_at = now
            record_event(case, actor, "task_cancelled", work_item=item)
    known = {item.task_id for item in open_items}
    _check_departments([task for task in ready.values() if task.task_id not in known])
    created = []
    for task in ready.values():
        if task.task_id in known:
            continue
        item = WorkItem(
            case_id=case.id, task_id=task.task_id, bpmn_id=task.bpmn_id, name=task.name or task.bpmn_id,
            department_code=task.lane or "", form_key=task.form_key, created_at=now,
            step_limit=task.properties.get("stepLimit"),
            due_at=deadlines.step_due(case, task.properties.get("stepLimit"), now), arrived_via=arrival, note=note,
        )
        db.session.add(item)
        created.append(item)
    if created:
        db.session.flush()  # the notifications refer to the new items
    for item in created:
        record_event(case, actor, "task_routed", work_item=item, details={"department": item.department_code})
        notify_department(item, "task_returned" if arrival == "returned" else "task_arrived", note,
                          exclude_user_id=actor.id if actor else None)
    if wf.is_completed() and not case.is_finished:
        _finish_case(case, wf, actor, now)
    return created


def _check_departments(tasks) -> None:
    """A department taken from case data (countersign) must exist, or the task would be lost."""
    lanes = {task.lane or "" for task in tasks}
    if not lanes:
        return
    known = set(db.session.scalars(select(Department.code).where(Department.code.in_(lanes))))
    for task in tasks:
        if (task.lane or "") not in known:
            raise ValidationFailed(_("Step %(step)s would go to department %(department)s, which does not exist. "
                                     "Nothing was saved; please tell the process designer.",
                                     step=task.name or task.bpmn_id, department=task.lane or "-"))


def _finish_case(case: Case, wf: Workflow, actor: Actor | None, now: datetime) -> None:
    result = wf.outcome() or "granted"
    case.result = result
    case.status = _STATUS_BY_RESULT.get(result, "completed")
    case.completed_at = now
    if result != "granted":
        # Results other than a grant need a reason: the last opinion given is it.
        case.result_reason = ((wf.last_data() or {}).get("opinion") or case.result_reason
                              or _DEFAULT_REASONS.get(result))
    queue_filing(case, actor)
    record_event(case, actor, "case_finished", opinion=case.result_reason,
                 details={"result": result, "status": case.status})
