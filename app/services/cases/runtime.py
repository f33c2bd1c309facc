"""The case runtime: the one door through which a case changes state.

A `CaseRun` is one unit of work on one case. Opening it locks the case row and reads the case's
open work items in the same statement; its verbs run the engine (loaded once, only if a verb needs
it), close and open work items, move the case through the allowed statuses, record events and
queue notifications and the filing; `save()` writes it all. Nothing else locks a case or sets its
status (tests/test_architecture.py holds every module to that).

On PostgreSQL a plain task completion costs five statements: the lock with the open items, the
completed item, the case, the next item, and the events with their notifications in one INSERT.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, bindparam, insert, select, text
from sqlalchemy.orm import aliased, undefer

from app.engine import SERIALIZER_VERSION, TaskNotReady, Workflow, WorkflowError, migrate
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.labels import STATUS_LABELS
from app.models import ArchivePackage, Case, CaseEvent, Department, ProcessVersion, WorkItem
from app.models.base import utcnow
from app.models.case import FINISHED_STATUSES
from app.models.org import Actor
from app.services.cases import deadlines, documents
from app.services.cases.events import chain_event
from app.services.notices.notifications import department_notices, insert_notices, user_notice
from app.shared_cache import cached

# Which statuses may follow which. A finished case changes no more; only the window's decision
# (after a supplement) brings a case back to pre-review.
NEXT_STATUSES = {
    "pre_review": {"in_progress", "pending_supplement", *FINISHED_STATUSES},
    "pending_supplement": {"pre_review", "in_progress", *FINISHED_STATUSES},
    "in_progress": {"suspended", "pending_supplement", *FINISHED_STATUSES},
    "suspended": {"in_progress", *FINISHED_STATUSES},
}
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
            select(ProcessVersion.spec_json).where(ProcessVersion.id == process_version_id))
    return spec


def read_workflow(case: Case) -> Workflow:
    """The case's workflow for looking only (dry runs): nothing read this way is ever saved."""
    return Workflow.load(spec_json_for(case.process_version_id), case.workflow_state)


# The same case row as the statement's snapshot saw it (not locked): see _lock.
_SEEN = aliased(Case, name="seen_case")


@cache
def _lock_statement(by: str, skip_locked: bool):
    """SELECT … FOR UPDATE of one case (by id, number or one of its work items) with its open items,
    built once per shape: constructing it per request cost more than running it."""
    key = bindparam("key")
    where = {"id": Case.id == key, "case_no": Case.case_no == key,
             "work_item": Case.id == select(WorkItem.case_id).where(WorkItem.id == key).scalar_subquery()}[by]
    return (select(Case, WorkItem, _SEEN.lock_version)
            .join(_SEEN, _SEEN.id == Case.id)
            .outerjoin(WorkItem, and_(WorkItem.case_id == Case.id, WorkItem.state == "open"))
            .where(where).order_by(WorkItem.id)
            .with_for_update(of=Case, skip_locked=skip_locked)
            # The engine state comes with the lock: whoever locks a case runs its workflow next.
            .options(undefer(Case.workflow_state))
            .execution_options(populate_existing=True))


def _lock(by: str, key, *, skip_locked: bool = False) -> tuple[Case, list[WorkItem]] | None:
    """Lock one case and read its open work items in the same statement.

    If another transaction changed the case while this one waited for the lock, PostgreSQL hands
    back the newest case row but the items as they were: the case's version seen through a second,
    unlocked alias tells, and the items are read again.
    """
    rows = db.session.execute(_lock_statement(by, skip_locked), {"key": key}).all()
    if not rows:
        return None
    case, seen_version = rows[0][0], rows[0][2]
    items = [item for _case, item, _version in rows if item is not None]
    if seen_version == case.lock_version:
        return case, items
    for item in items:  # read before the wait: what they hold may have changed since
        db.session.expire(item)
    return case, list(db.session.scalars(
        select(WorkItem).where(WorkItem.case_id == case.id, WorkItem.state == "open").order_by(WorkItem.id)
        .execution_options(populate_existing=True)))


class CaseRun:
    """One unit of work on one locked case."""

    def __init__(self, case: Case, actor: Actor | None, open_items: list[WorkItem]) -> None:
        self.case = case
        self.actor = actor
        self.now = utcnow()
        self.open_items = open_items
        self._workflow: Workflow | None = None
        self._events: list[dict] = []
        self._notices: list = []
        self._ended = self._filing_queued = self._routed = False

    # Opening: every way in takes the case's row lock.

    @classmethod
    def of_work_item(cls, work_item_id: int, actor: Actor | None) -> CaseRun | None:
        """The run of the case a work item belongs to; None when there is no such item."""
        return cls._open("work_item", work_item_id, actor)

    @classmethod
    def of_case_no(cls, case_no: str, actor: Actor | None) -> CaseRun | None:
        return cls._open("case_no", case_no, actor)

    @classmethod
    def of_case_id(cls, case_id: int, actor: Actor | None, *, skip_locked: bool = False) -> CaseRun | None:
        """The case's run; with skip_locked, None also when someone else holds the case now."""
        return cls._open("id", case_id, actor, skip_locked=skip_locked)

    @classmethod
    def of_new_case(cls, case: Case, actor: Actor | None, data: dict) -> CaseRun:
        """A case this transaction just created (nobody else can see it): status pre-review, engine started."""
        case.status = "pre_review"
        case.serializer_version = SERIALIZER_VERSION
        run = cls(case, actor, [])
        run._workflow = Workflow.start(spec_json_for(case.process_version_id), data)
        return run

    @classmethod
    def _open(cls, by: str, key, actor: Actor | None, *, skip_locked: bool = False) -> CaseRun | None:
        locked = _lock(by, key, skip_locked=skip_locked)
        return cls(locked[0], actor, locked[1]) if locked else None

    # Reading

    @property
    def workflow(self) -> Workflow:
        """The case's workflow, restored against its pinned process version (once per run)."""
        if self._workflow is None:
            self._workflow = read_workflow(self.case)
        return self._workflow

    def open_item(self, work_item_id: int) -> WorkItem | None:
        return next((item for item in self.open_items if item.id == work_item_id), None)

    # Verbs that run the engine

    def complete(self, item: WorkItem, data: dict, opinion: str | None = None) -> None:
        """Complete the item's engine task with the step's data; the item is done by the actor."""
        _run_engine(lambda: self.workflow.complete_task(item.task_id, data))
        self._close(item, "completed")
        item.claimed_by_id = self.actor.id
        item.data = data
        item.opinion = opinion
        self.record("task_completed", work_item=item, opinion=opinion)

    def reopen(self, task_id: str) -> None:
        """Send the flow back to an earlier task (退回); TaskNotReady when it cannot be worked again."""
        self._workflow = self.workflow.reset_to(task_id)

    def send_message(self, name: str) -> None:
        """Deliver a BPMN message the flow waits for; TaskNotReady when it waits for none."""
        self.workflow.send_message(name)

    def fire_timers(self) -> None:
        self.workflow.fire_due_timers()

    def migrate(self, target: ProcessVersion):
        """Move the case to another version of its process; MigrationRefused when it may not move."""
        moved, plan = migrate(self.workflow, target.spec_json)
        source = self.case.process_version
        self._workflow = moved
        self.case.process_version_id = target.id
        self.record("process_migrated", details={"from_version": source.version, "to_version": target.version})
        return plan

    def cancel(self, reason: str) -> None:
        """撤件: the workflow is cancelled and the case ends withdrawn (saving cancels its open items)."""
        self.workflow.cancel()
        self.case.result = "withdrawn"
        self.case.result_reason = reason
        self._end("withdrawn")
        self.record("case_withdrawn", opinion=reason)

    # Verbs on work items and the case's status

    def close(self, item: WorkItem) -> None:
        """The item leaves its inbox without being completed (returned past, or withdrawn)."""
        self._close(item, "cancelled")

    def _close(self, item: WorkItem, state: str) -> None:
        item.state = state
        item.completed_at = self.now
        item.completed_by_id = self.actor.id if self.actor else None

    def set_status(self, status: str) -> None:
        """Move the case to `status`, which must be allowed to follow the current one."""
        if status != self.case.status and status not in NEXT_STATUSES.get(self.case.status, ()):
            raise Conflict(_("This case cannot change from “%(old)s” to “%(new)s”.",
                             old=STATUS_LABELS.get(self.case.status, self.case.status),
                             new=STATUS_LABELS.get(status, status)))
        self.case.status = status

    def pause(self, status: str) -> None:
        """The case waits (suspended, or for a supplement): its clock stops."""
        self.set_status(status)
        deadlines.pause_clock(self.case, self.now)

    def resume(self) -> int:
        """The case runs again; its due times move by the working days paused, which are returned."""
        paused = deadlines.resume_clock(self.case, self.now, self.open_items)
        self.set_status("in_progress")
        return paused

    def record(self, action: str, *, work_item: WorkItem | None = None, opinion: str | None = None,
               details: dict | None = None) -> None:
        """Append an event to the case's chained log (written by save)."""
        self._events.append(chain_event(self.case, self.actor, action, work_item=work_item, opinion=opinion,
                                        details=details))

    def notify_department(self, item: WorkItem, kind: str, text: str | None = None) -> None:
        """Tell the enabled members of the item's department (not the actor), when saved."""
        self._notices.append(_Notice(item, kind, text, department=item.department_code,
                                     exclude_user_id=self.actor.id if self.actor else None))

    def notify_user(self, user_id: int, item: WorkItem, kind: str, text: str | None = None) -> None:
        self._notices.append(_Notice(item, kind, text, user_id=user_id))

    # Saving

    def route(self, *, arrival: str = "routed", note: str | None = None) -> list[WorkItem]:
        """Bring the work items in step with the engine now (save does it when nobody did): store the
        engine state, open an item per new step, cancel those the engine left, end the case if the
        flow ended. New items record how they arrived (`routed`, or `returned` with the reason as
        `note`). Returns them."""
        if self._workflow is None or self._routed:
            return []
        self._routed = True
        return self._mirror(arrival, note)

    def save(self, *, arrival: str = "routed", note: str | None = None) -> list[WorkItem]:
        """Write the run: what `route` does (if the engine ran and it was not done yet), then the
        changed rows, the events and the notifications. Returns the new items."""
        created = self.route(arrival=arrival, note=note)
        db.session.flush()
        self._write_events_and_notices()
        return created

    def fresh(self) -> CaseRun:
        """A new run of the same case, still locked, after this one's savepoint was rolled back."""
        return CaseRun(self.case, self.actor, [item for item in self.open_items if item.state == "open"])

    def _mirror(self, arrival: str, note: str | None) -> list[WorkItem]:
        """Store the engine state; open a work item per new READY user task, cancel those it left."""
        case, wf = self.case, self._workflow
        case.workflow_state = wf.dump()
        case.serializer_version = SERIALIZER_VERSION
        case.next_timer_at = wf.next_timer_at()
        ready = {task.task_id: task for task in wf.ready_user_tasks()}
        still_open = [item for item in self.open_items if item.state == "open"]
        for item in still_open:
            if item.task_id not in ready:
                # The engine moved on without this step (a parallel branch ended the case, a withdrawal).
                item.state = "cancelled"
                item.completed_at = self.now
                self.record("task_cancelled", work_item=item)
        known = {item.task_id for item in still_open}
        new_tasks = [task for task in ready.values() if task.task_id not in known]
        _check_departments(new_tasks)
        created = []
        for task in new_tasks:
            step_limit = task.properties.get("stepLimit")
            item = WorkItem(case_id=case.id, task_id=task.task_id, bpmn_id=task.bpmn_id,
                            name=task.name or task.bpmn_id, department_code=task.lane or "",
                            form_key=task.form_key, created_at=self.now, step_limit=step_limit,
                            due_at=deadlines.step_due(case, step_limit, self.now), arrived_via=arrival, note=note)
            db.session.add(item)
            created.append(item)
            self.record("task_routed", work_item=item, details={"department": item.department_code})
            self.notify_department(item, "task_returned" if arrival == "returned" else "task_arrived", note)
        self.open_items = [item for item in still_open if item.task_id in ready] + created
        if wf.is_completed() and not case.is_finished:
            self._finish_by_outcome(wf)
        elif self._ended and not self._filing_queued:  # ended by a verb (a withdrawal)
            self._queue_filing()
        return created

    def _finish_by_outcome(self, wf: Workflow) -> None:
        case = self.case
        result = wf.outcome() or "granted"
        case.result = result
        if result != "granted":
            # Results other than a grant need a reason: the last opinion given is it.
            case.result_reason = ((wf.last_data() or {}).get("opinion") or case.result_reason
                                  or _DEFAULT_REASONS.get(result))
        self._end(_STATUS_BY_RESULT.get(result, "completed"))
        self._queue_filing()
        self.record("case_finished", opinion=case.result_reason, details={"result": result, "status": case.status})

    def _end(self, status: str) -> None:
        self.set_status(status)
        self.case.completed_at = self.now
        self._ended = True

    def _queue_filing(self) -> None:
        """At completion, in the completing transaction: the result notice, and the filing queued
        (随办随归; the filing job builds the package later)."""
        case = self.case
        self._filing_queued = True
        if case.result != "not_accepted":  # 不予受理 already has its notice
            body = documents.result_content(case, self.actor, case.completed_at or self.now)
            document = documents.issue_document(case, "result_notice", body, self.actor)
            self.record("document_issued", details={"kind": "result_notice", "doc_no": document.doc_no})
        db.session.add(ArchivePackage(case_id=case.id, state="queued", queued_at=self.now, next_attempt_at=self.now))

    def _write_events_and_notices(self) -> None:
        """The run's events and notices, in one statement on PostgreSQL (after the flush gave new items ids)."""
        events, notices = self._events, self._notices
        self._events, self._notices = [], []
        if not events and not notices:
            return
        for event in events:
            item = event.pop("work_item")
            event["work_item_id"] = item.id if item is not None else None
        if db.engine.dialect.name == "postgresql":
            db.session.execute(_EVENTS_AND_NOTICES, {
                "events": _json([{**event, "at": event["at"].isoformat()} for event in events]),
                "notices": _json([notice.as_row(self.now) for notice in notices])})
            return
        # SQLite has no INSERT inside WITH: the same rows, one statement each.
        db.session.execute(insert(CaseEvent), events)
        for notice in notices:
            db.session.execute(insert_notices(notice.as_select()))


@dataclass
class _Notice:
    """A notification the run sends: to one user, or to every enabled member of a department."""

    item: WorkItem
    kind: str
    text: str | None
    department: str | None = None
    exclude_user_id: int | None = None
    user_id: int | None = None

    def as_row(self, now: datetime) -> dict:
        return {"department": self.department, "exclude_user_id": self.exclude_user_id, "user_id": self.user_id,
                "kind": self.kind, "case_id": self.item.case_id, "work_item_id": self.item.id, "text": self.text,
                "created_at": now.isoformat()}

    def as_select(self):
        if self.department is not None:
            return department_notices(self.item, self.kind, self.text, self.exclude_user_id)
        return user_notice(self.user_id, self.item, self.kind, self.text)


# Events and notifications in one round trip: the rows travel as two JSON arrays; a department's
# notice becomes one row per enabled member (but not the actor), a user's notice one row.
_EVENTS_AND_NOTICES = text("""
WITH new_events AS (
    INSERT INTO case_event (case_id, at, actor_id, actor_name, action, work_item_id, task_name, opinion, details,
                            prev_hash, hash)
    SELECT event.case_id, event.at, event.actor_id, event.actor_name, event.action, event.work_item_id,
           event.task_name, event.opinion, event.details, event.prev_hash, event.hash
    FROM json_populate_recordset(NULL::case_event, CAST(:events AS json)) WITH ORDINALITY AS event
    ORDER BY event.ordinality  -- ids in chain order
)
INSERT INTO notification (user_id, kind, case_id, work_item_id, text, created_at)
SELECT coalesce(notice.user_id, member.user_id), notice.kind, notice.case_id, notice.work_item_id, notice.text,
       notice.created_at
FROM json_to_recordset(CAST(:notices AS json)) AS notice(department text, exclude_user_id integer, user_id integer,
     kind text, case_id integer, work_item_id integer, text text, created_at timestamptz)
LEFT JOIN LATERAL (
    SELECT user_department.user_id FROM user_department
    JOIN department ON department.id = user_department.department_id
    JOIN app_user ON app_user.id = user_department.user_id
    WHERE department.code = notice.department AND app_user.is_enabled
      AND app_user.id IS DISTINCT FROM notice.exclude_user_id
) AS member ON notice.department IS NOT NULL
WHERE notice.user_id IS NOT NULL OR member.user_id IS NOT NULL
""")


def _json(rows: list[dict]) -> str:
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def _run_engine(step) -> None:
    """Run an engine step; its failures become clear refusals and the caller's transaction rolls back."""
    try:
        step()
    except TaskNotReady:
        raise Conflict(_("This task is no longer waiting for completion.")) from None
    except ValueError as exc:
        # The engine only keeps plain JSON data (no NaN, no deep nesting).
        raise ValidationFailed(_("The submitted data cannot be stored: %(reason)s", reason=str(exc))) from exc
    except WorkflowError as exc:
        # A script, condition or depth guard stopped the flow.
        raise ValidationFailed(_("The process could not continue (%(reason)s). Nothing was saved; "
                                 "please tell the process designer.", reason=exc.message)) from exc


def _department_exists(code: str) -> bool:
    def load() -> bool:
        with db.session.no_autoflush:  # the run's changes go out in its one flush, not before a look-up
            return db.session.scalar(select(Department.id).where(Department.code == code)) is not None
    return cached("accounts", ("department", code), load)


def _check_departments(tasks) -> None:
    """A department taken from case data (countersign) must exist, or the task would be lost."""
    for task in tasks:
        if not _department_exists(task.lane or ""):
            raise ValidationFailed(_("Step %(step)s would go to department %(department)s, which does not exist. "
                                     "Nothing was saved; please tell the process designer.",
                                     step=task.name or task.bpmn_id, department=task.lane or "-"))

