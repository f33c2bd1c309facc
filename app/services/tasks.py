"""Work on routed tasks: claim, release and complete, one winner under concurrency."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Case, WorkItem
from app.models.base import utcnow
from app.models.org import Actor
from app.services.case_runtime import (
    load_workflow,
    lock_case_of_work_item,
    open_work_items,
    record_event,
    run_task,
    save_workflow,
)
from app.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.taskforms import get_registry
from app.taskforms.formats import has_control_characters

# An opinion sent beside the form data (API) is kept to the length a form's opinion field allows.
MAX_OPINION_CHARS = 2000


def get_visible_item(work_item_id: int, user: Actor) -> WorkItem:
    """The work item if it exists and belongs to one of the user's departments."""
    item = db.session.get(WorkItem, work_item_id)
    if item is None:
        raise NotFound(_("Task not found."))
    if item.department_code not in user.department_codes and not user.has_role("supervisor"):
        raise Forbidden(_("This task belongs to a department you are not a member of."))
    return item


def _lock_open_item(work_item_id: int, user: Actor) -> tuple[WorkItem, Case, list[WorkItem]]:
    """Lock the item's case and return the item with the case's open items, all read under the lock."""
    case = lock_case_of_work_item(work_item_id)
    if case is None:
        raise NotFound(_("Task not found."))
    # Read under the lock: another request may have just finished this task.
    open_items = open_work_items(case.id)
    item = next((i for i in open_items if i.id == work_item_id), None) or db.session.get(
        WorkItem, work_item_id, populate_existing=True)
    if item.department_code not in user.department_codes:
        raise Forbidden(_("This task belongs to a department you are not a member of."))
    if item.state != "open":
        raise Conflict(_("This task has already been completed or withdrawn."))
    if case.status != "in_progress":
        raise Conflict(_("The case is not in progress; its tasks are paused."))
    return item, case, open_items


def claim_task(work_item_id: int, user: Actor) -> WorkItem:
    """Take a pooled task as one's own (签收)."""
    item, case, _open = _lock_open_item(work_item_id, user)
    if item.claimed_by_id not in (None, user.id):
        raise Conflict(_("This task is already held by %(name)s.", name=item.claimed_by.display_name))
    if item.claimed_by_id is None:
        item.claimed_by_id = user.id
        record_event(case, user, "task_claimed", work_item=item)
    return item


def release_task(work_item_id: int, user: Actor) -> WorkItem:
    """Put one's claimed task back into the department pool."""
    item, case, _open = _lock_open_item(work_item_id, user)
    if item.claimed_by_id != user.id:
        raise Conflict(_("You do not hold this task."))
    item.claimed_by_id = None
    record_event(case, user, "task_released", work_item=item)
    return item


def complete_task(work_item_id: int, user: Actor, data: dict, opinion: str | None = None) -> Case:
    """Validate the step's form, run the engine on, and route what comes next."""
    item, case, open_items = _lock_open_item(work_item_id, user)
    if item.claimed_by_id not in (None, user.id):
        raise Conflict(_("This task is already held by %(name)s.", name=item.claimed_by.display_name))
    data = dict(data or {})
    opinion = opinion.strip() if isinstance(opinion, str) else None
    if opinion and has_control_characters(opinion):
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"opinion": _("Contains control characters that cannot be stored.")})
    if opinion and len(opinion) > MAX_OPINION_CHARS:
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"opinion": _("Must be at most %(n)s characters.", n=MAX_OPINION_CHARS)})
    if item.form_key:
        form = get_registry().get(item.form_key)
        data = form.restrict(data)
        errors = form.validate(data)
        if errors:
            raise ValidationFailed(_("Please correct the highlighted fields."), errors)
    wf = load_workflow(case)
    run_task(wf, item.task_id, data)
    now = utcnow()
    item.state = "completed"
    item.claimed_by_id = user.id
    item.completed_by_id = user.id
    item.completed_at = now
    item.data = data
    item.opinion = data.get("opinion") or opinion or None
    record_event(case, user, "task_completed", work_item=item, opinion=item.opinion)
    save_workflow(case, wf, user, now, open_items)
    return case


def department_inbox(user: Actor, *, page: int = 1, per_page: int = 50, department: str | None = None):
    """Open work items of the user's departments, soonest due first (reads SQL only)."""
    codes = user.department_codes
    if department:
        codes = [c for c in codes if c == department]
    query = (
        select(WorkItem)
        .where(WorkItem.department_code.in_(codes), WorkItem.state == "open")
        .order_by(WorkItem.due_at.asc().nulls_last(), WorkItem.id)
        .options(joinedload(WorkItem.claimed_by), joinedload(WorkItem.case).joinedload(Case.item))
    )
    return db.paginate(query, page=page, per_page=per_page, error_out=False, count=True)
