"""Work on routed tasks: claim, release, assign and complete, one winner under concurrency; inbox lists."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import joinedload

from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Case, Department, ServiceItem, User, WorkItem
from app.models.base import utcnow
from app.models.org import Actor
from app.services.cases.runtime import CaseRun
from app.services.processes import catalogue
from app.services.query_args import QueryArgs
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


def open_task(work_item_id: int, user: Actor, *, statuses: tuple[str, ...] = ("in_progress",),
              must_hold: bool = False) -> tuple[CaseRun, WorkItem]:
    """Open the run of the item's case and check, under its lock, that the item is open in one of the
    user's departments (and, with must_hold, held by nobody else) and that its case is running."""
    run = CaseRun.of_work_item(work_item_id, user)
    if run is None:
        raise NotFound(_("Task not found."))
    # Read under the lock: another request may have just finished this task.
    item = run.open_item(work_item_id) or db.session.get(WorkItem, work_item_id, populate_existing=True)
    if item.department_code not in user.department_codes:
        raise Forbidden(_("This task belongs to a department you are not a member of."))
    if item.state != "open":
        raise Conflict(_("This task has already been completed or withdrawn."))
    if must_hold and item.claimed_by_id not in (None, user.id):
        raise Conflict(_("This task is already held by %(name)s.", name=item.claimed_by.display_name))
    if run.case.status not in statuses:
        if run.case.status == "suspended":
            raise Conflict(_("The case is suspended; its tasks are paused."))
        raise Conflict(_("The case is not in progress; its tasks are paused."))
    return run, item


def claim_task(work_item_id: int, user: Actor) -> WorkItem:
    """Take a pooled task as one's own (签收)."""
    run, item = open_task(work_item_id, user, must_hold=True)
    if item.claimed_by_id is None:
        item.claimed_by_id = user.id
        run.record("task_claimed", work_item=item)
        run.save()
    return item


def release_task(work_item_id: int, user: Actor) -> WorkItem:
    """Put one's claimed task back into the department pool."""
    run, item = open_task(work_item_id, user)
    if item.claimed_by_id != user.id:
        raise Conflict(_("You do not hold this task."))
    item.claimed_by_id = None
    run.record("task_released", work_item=item)
    run.save()
    return item


def return_claims_to_pool(holder: User, actor: Actor, reason: str, departments: set[str] | None = None) -> int:
    """Put the open tasks a user holds (in these departments, or all) back in their departments' pools,
    recorded on each case: their holder was deactivated or left the department."""
    claimed = db.session.scalars(select(WorkItem.id).where(
        WorkItem.claimed_by_id == holder.id, WorkItem.state == "open",
        *([WorkItem.department_code.in_(departments)] if departments is not None else []))).all()
    released = 0
    for work_item_id in claimed:
        run = CaseRun.of_work_item(work_item_id, actor)
        item = run.open_item(work_item_id)
        if item is None or item.claimed_by_id != holder.id:
            continue  # finished or released while we waited for the lock
        item.claimed_by_id = None
        run.record("task_released", work_item=item, opinion=reason, details={"holder": holder.username})
        run.save()
        released += 1
    return released


def checked_opinion(opinion: object) -> str | None:
    """An opinion sent beside the form data: trimmed, storable, not too long."""
    opinion = opinion.strip() if isinstance(opinion, str) else None
    if opinion and has_control_characters(opinion):
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"opinion": _("Contains control characters that cannot be stored.")})
    if opinion and len(opinion) > MAX_OPINION_CHARS:
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"opinion": _("Must be at most %(n)s characters.", n=MAX_OPINION_CHARS)})
    return opinion


def complete_task(work_item_id: int, user: Actor, data: dict, opinion: str | None = None) -> Case:
    """Validate the step's form, run the engine on, and route what comes next."""
    run, item = open_task(work_item_id, user, must_hold=True)
    data = dict(data or {})
    opinion = checked_opinion(opinion)
    if item.form_key:
        form = get_registry().get(item.form_key)
        data = form.restrict(data)
        errors = form.validate(data)
        if errors:
            raise ValidationFailed(_("Please correct the highlighted fields."), errors)
    run.complete(item, data, data.get("opinion") or opinion or None)
    run.save()
    return run.case


# ---------------------------------------------------------------------------------------------
# Inbox lists (per user and per department head). They read SQL only: no workflow is loaded.

# mine: open items I hold; pool: open unclaimed items of my departments; handled: items I completed;
# department: every open item of my departments (department heads); all: the API's default list.
VIEWS = ("mine", "pool", "handled", "department")
DUE_STATES = ("overdue", "due_soon", "on_time", "no_due")
SORTS = ("due", "-due", "created", "-created", "completed", "-completed")
# Pages count up to this many rows, beyond which they read "10000+": counting a department's
# hundred thousand open items on every page view cost more than the rest of the page. Handled
# work is always counted so (it grows without end); the API counts open work exactly.
COUNT_CAP = 10_000
# Items whose deadline falls within this window from now count as due soon.
DUE_SOON_WITHIN = timedelta(hours=24)
# Filter values are codes and step names; anything longer is not a value we could match.
MAX_FILTER_CHARS = 200


@dataclass(frozen=True)
class InboxFilters:
    """What an inbox list is narrowed and ordered by; empty fields do not filter."""

    service_item: str | None = None  # 实施编码 of the service item (事项), not a work item
    step: str | None = None
    due: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    department: str | None = None
    sort: str | None = None  # None: the view's own order

    def as_args(self) -> dict[str, str]:
        """The filters as query-string arguments, for links that must keep them."""
        args = {"item": self.service_item, "step": self.step, "due": self.due, "department": self.department,
                "sort": self.sort,
                "from": self.created_from.isoformat() if self.created_from else None,
                "to": self.created_to.isoformat() if self.created_to else None}
        return {key: value for key, value in args.items() if value}

    @property
    def is_empty(self) -> bool:
        """True when nothing narrows the list (the order does not count)."""
        return not any(value for key, value in self.as_args().items() if key != "sort")


def parse_inbox_filters(args: Mapping[str, str]) -> InboxFilters:
    """Read the filters of an inbox request; refuse unknown or malformed values (422)."""
    reader = QueryArgs(args)
    due, sort = reader.choice("due", DUE_STATES), reader.choice("sort", SORTS)
    created_from, created_to = reader.period()
    filters = InboxFilters(service_item=reader.text("item", MAX_FILTER_CHARS), step=reader.text("step", MAX_FILTER_CHARS),
                           due=due, created_from=created_from, created_to=created_to,
                           department=reader.text("department", MAX_FILTER_CHARS), sort=sort)
    reader.done()
    return filters


def is_department_head(user: Actor) -> bool:
    """Department heads (科室负责人) see and assign every open item of their departments."""
    return user.has_role("dept_head")


def check_view(view: str, user: Actor) -> str:
    """The view if it exists and the user may see it: 422 for an unknown view, 403 for department."""
    if view not in VIEWS:
        raise ValidationFailed(_("`view` must be one of: %(values)s.", values=", ".join(VIEWS)),
                               {"view": _("Unknown view.")})
    if view == "department" and not is_department_head(user):
        raise Forbidden(_("Only a department head sees every task of the department."))
    return view


def _view_conditions(user: Actor, view: str) -> list:
    """WHERE clauses of one view; counts and lists share them so badges match lists."""
    codes = list(user.department_codes)
    if view == "mine":
        # Not limited to my departments: what I hold stays visible to me if I change department.
        return [WorkItem.claimed_by_id == user.id, WorkItem.state == "open"]
    if view == "pool":
        return [WorkItem.department_code.in_(codes), WorkItem.state == "open", WorkItem.claimed_by_id.is_(None)]
    if view == "handled":
        return [WorkItem.completed_by_id == user.id, WorkItem.state == "completed"]
    # department and the API's default: open items of my departments, whoever holds them.
    return [WorkItem.department_code.in_(codes), WorkItem.state == "open"]


def _due_condition(due: str, now: datetime):
    """One due state as SQL; a deadline is compared with now, also for handled items."""
    if due == "no_due":
        return WorkItem.due_at.is_(None)
    if due == "overdue":
        return WorkItem.due_at < now
    if due == "due_soon":
        return and_(WorkItem.due_at >= now, WorkItem.due_at < now + DUE_SOON_WITHIN)
    return WorkItem.due_at >= now + DUE_SOON_WITHIN  # on_time


def due_state(item: WorkItem, now: datetime) -> str:
    """The due state of one item as the filters define it."""
    if item.due_at is None:
        return "no_due"
    if item.due_at < now:
        return "overdue"
    return "due_soon" if item.due_at < now + DUE_SOON_WITHIN else "on_time"


def _local_midnight(day: date) -> datetime:
    """Start of a local (service centre) day as an aware datetime; created_at is stored in UTC."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(current_app.config["TIMEZONE"]))


def _order_by(sort: str) -> list:
    """ORDER BY of one sort key."""
    # The id breaks ties so pages never overlap or skip rows between requests.
    return {
        "due": [WorkItem.due_at.asc().nulls_last(), WorkItem.id.asc()],
        "-due": [WorkItem.due_at.desc().nulls_last(), WorkItem.id.desc()],
        "created": [WorkItem.created_at.asc(), WorkItem.id.asc()],
        "-created": [WorkItem.created_at.desc(), WorkItem.id.desc()],
        # Closed items always have completed_at; plain ASC/DESC lets the handled index serve the order.
        "completed": [WorkItem.completed_at.asc(), WorkItem.id.asc()],
        "-completed": [WorkItem.completed_at.desc(), WorkItem.id.desc()],
    }[sort]


def default_sort(view: str) -> str:
    """Open work is ordered by urgency; handled work newest first."""
    return "-completed" if view == "handled" else "due"


def inbox_query(user: Actor, view: str, filters: InboxFilters, now: datetime | None = None) -> Select:
    """The SELECT of one inbox view with its filters and order, eager-loading what rows show."""
    query = select(WorkItem).where(*_view_conditions(user, view))
    if filters.department:
        query = query.where(WorkItem.department_code == filters.department)
    if filters.service_item:
        # EXISTS rather than a join, so the eager loads below stay the only joins to case and item.
        query = query.where(WorkItem.case.has(Case.item.has(ServiceItem.code == filters.service_item)))
    if filters.step:
        query = query.where(or_(WorkItem.bpmn_id == filters.step, WorkItem.name == filters.step))
    if filters.due:
        query = query.where(_due_condition(filters.due, now or utcnow()))
    if filters.created_from:
        query = query.where(WorkItem.created_at >= _local_midnight(filters.created_from))
    if filters.created_to:
        query = query.where(WorkItem.created_at < _local_midnight(filters.created_to + timedelta(days=1)))
    return query.order_by(*_order_by(filters.sort or default_sort(view))).options(
        # Rows show the holder's name, not their departments: skip User's selectin of those.
        joinedload(WorkItem.claimed_by).lazyload(User.departments),
        joinedload(WorkItem.completed_by).lazyload(User.departments),
        joinedload(WorkItem.case).joinedload(Case.item),
    )


def _capped_count(query: Select) -> int:
    """How many rows, counting no further than COUNT_CAP + 1 (shown as 'cap+')."""
    rows = query.with_only_columns(WorkItem.id).order_by(None).limit(COUNT_CAP + 1).subquery()
    return db.session.scalar(select(func.count()).select_from(rows))


def inbox_page(user: Actor, view: str, filters: InboxFilters, *, page: int = 1, per_page: int = 50,
               now: datetime | None = None, total: int | None = None, capped: bool = False):
    """One page of an inbox view with the total count (given if known; capped for handled work, and
    for every view with `capped`)."""
    query = inbox_query(user, view, filters, now)
    if total is not None:
        pagination = db.paginate(query, page=page, per_page=per_page, error_out=False, count=False)
        pagination.total = total
        return pagination
    if view != "handled" and not capped:
        return db.paginate(query, page=page, per_page=per_page, error_out=False, count=True)
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False, count=False)
    pagination.total = _capped_count(query)
    return pagination


def inbox_counts(user: Actor, capped: bool = False) -> dict[str, int]:
    """Unfiltered totals per view in one statement (handled capped, every view with `capped`);
    department only for heads."""
    views = ["mine", "pool", "handled"] + (["department"] if is_department_head(user) else [])
    counts = []
    for view in views:
        rows = select(WorkItem.id).where(*_view_conditions(user, view))
        if view == "handled" or capped:
            rows = rows.limit(COUNT_CAP + 1)
        counts.append(select(func.count()).select_from(rows.subquery()).scalar_subquery().label(view))
    return dict(db.session.execute(select(*counts)).one()._mapping)


def department_inbox(user: Actor, *, page: int = 1, per_page: int = 50, department: str | None = None):
    """Open work items of the user's departments, soonest due first (reads SQL only)."""
    return inbox_page(user, "all", InboxFilters(department=department), page=page, per_page=per_page)


def step_choices(user: Actor) -> list[tuple[str, str]]:
    """(bpmn_id, name) of the steps the deployed processes route to the user's departments.

    Read from the processes, not from the open items: a DISTINCT over a department's open work
    costs more than the rest of the inbox page together.
    """
    codes = set(user.department_codes)
    steps = set()
    for item in catalogue.active_items():
        version = catalogue.current_version(item.process_id)
        for task in catalogue.user_tasks_of(version) if version else ():
            # A countersign's department comes from the case: it may be any of mine.
            if task.lane in codes or task.department_from:
                steps.add((task.bpmn_id, task.name or task.bpmn_id))
    return sorted(steps, key=lambda step: (step[1], step[0]))


def department_members(codes: list[str]) -> dict[str, list[User]]:
    """Enabled members of each department, by display name: whom a head may assign to."""
    members: dict[str, list[User]] = {code: [] for code in codes}
    users = db.session.scalars(
        select(User).join(User.departments).where(Department.code.in_(codes), User.is_enabled)
        .order_by(User.display_name, User.id).distinct()
    )
    for user in users:
        for code in user.department_codes:
            if code in members:
                members[code].append(user)
    return members


def assign_task(work_item_id: int, user: Actor, assignee_id: int | None) -> WorkItem:
    """A department head gives an open task to a member of its department (指派), also taking it from its holder."""
    if not is_department_head(user):
        raise Forbidden(_("Only a department head can assign tasks."))
    if assignee_id is None:
        raise ValidationFailed(_("Please correct the highlighted fields."), {"user_id": _("Choose a user.")})
    run, item = open_task(work_item_id, user)
    assignee = db.session.get(User, assignee_id)
    if assignee is None or item.department_code not in assignee.department_codes:
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"user_id": _("Not a member of the task's department.")})
    if not assignee.is_enabled:
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"user_id": _("This user account is disabled.")})
    if item.claimed_by_id == assignee.id:
        return item  # already theirs: nothing changes, so nothing is recorded
    # Set both so the item reads right before the flush (serializers look at the id).
    item.claimed_by = assignee
    item.claimed_by_id = assignee.id
    run.record("task_assigned", work_item=item, details={"to": assignee.id, "to_name": assignee.display_name})
    if assignee.id != user.id:  # a head taking a task knows it already
        run.notify_user(assignee.id, item, "task_assigned")
    run.save()
    return item
