"""A handle on one running case workflow: start, load, complete tasks, dump."""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException, TaskNotFoundException
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from .errors import TaskNotReady, WorkflowError, WorkflowTooDeep
from .parsing import DEPARTMENT_FROM
from .sandbox import SCRIPT_ENGINE, ensure_json_data
from .serialization import specs_for, state_from_json, state_to_json

# The engine's task iterator stops at depth 1000: beyond it READY tasks become invisible and
# the case looks completed. Stop well before. Loops should use loop markers or subprocesses.
MAX_TASK_DEPTH = 900
_TIMER_EVENT_TYPES = frozenset({
    "TimeDateEventDefinition", "DurationTimerEventDefinition", "CycleTimerEventDefinition",
})


@dataclass(frozen=True)
class ReadyTask:
    """A user task waiting for a person: its engine id, BPMN element, lane and form."""

    task_id: str
    bpmn_id: str
    name: str | None
    lane: str | None
    form_key: str | None
    properties: dict[str, str] = field(default_factory=dict)


def _properties(task: Task) -> dict[str, str]:
    extensions = getattr(task.task_spec, "extensions", None) or {}
    return dict(extensions.get("properties") or {})


def _own_lane(task: Task) -> str | None:
    """The department a task names itself: its `departmentFrom` variable, else its lane."""
    variable = _properties(task).get(DEPARTMENT_FROM)
    if variable:
        value = task.data.get(variable)
        # Anything but a non-empty string (missing, a list, a number) cannot be a department code:
        # fall back to the lane drawn in the diagram rather than routing to nowhere. Whether the
        # string is a known department is the app's check, the engine does not know departments.
        if isinstance(value, str) and value:
            return value
    return task.task_spec.lane


def _calling_task(task: Task) -> Task | None:
    """The call activity (or subprocess) task whose subworkflow this task runs in, if any."""
    workflow = task.workflow
    parent_id = getattr(workflow, "parent_task_id", None)
    if parent_id is None:
        return None
    return workflow.top_workflow.get_task_from_id(parent_id)


def _lane_of(task: Task) -> str | None:
    """The department a user task is routed to.

    A called process is usually drawn without lanes of its own: it is reusable and does not know
    who calls it. Its tasks then belong to whoever called it, so walk up through the calling
    activities (nested calls too) until one names a department, with the same rule at each level.
    """
    current: Task | None = task
    while current is not None:
        lane = _own_lane(current)
        if lane:
            return lane
        current = _calling_task(current)
    return None


def _element_id(exc: BaseException) -> str | None:
    spec = getattr(exc, "task_spec", None) or getattr(getattr(exc, "task", None), "task_spec", None)
    return getattr(spec, "bpmn_id", None) or getattr(spec, "name", None)


def _message(exc: BaseException) -> str:
    message = str(exc).strip().rstrip(".")
    # The engine wraps expression failures without their reason; it is the chained exception.
    inner = exc.__cause__ or exc.__context__
    if inner is not None and str(inner) and str(inner) not in message:
        message = f"{message}: {type(inner).__name__}: {inner}"
    return message


def _parse_due(value: Any) -> datetime | None:
    if isinstance(value, dict):  # cycle timers: {"cycles": n, "next": iso, "duration": s}
        value = value.get("next") if value.get("cycles") != 0 else None
    if not isinstance(value, str):
        return None
    try:
        due = datetime.fromisoformat(value)
    except ValueError:
        return None
    # The engine reads a naive time as server-local time; astimezone() does the same.
    return due.astimezone() if due.tzinfo is None else due


class Workflow:
    """One case's workflow. Not thread-safe: use one instance per request and lock the case."""

    def __init__(self, bpmn: BpmnWorkflow, spec_json: str) -> None:
        self._bpmn = bpmn
        self._spec_json = spec_json
        # The script engine is not part of the stored state: attach the restricted one every time.
        self._bpmn.script_engine = SCRIPT_ENGINE

    @classmethod
    def start(cls, spec_json: str, data: dict) -> Workflow:
        """A new workflow of a stored spec, with `data` in its start task, run up to the first waits."""
        ensure_json_data(data)
        spec, subprocess_specs = specs_for(spec_json)
        workflow = cls(BpmnWorkflow(spec, subprocess_specs, script_engine=SCRIPT_ENGINE), spec_json)
        for task in workflow._bpmn.get_tasks(state=TaskState.READY):
            task.data.update(copy.deepcopy(data))
        workflow._guarded(workflow._bpmn.do_engine_steps)
        return workflow

    @classmethod
    def load(cls, spec_json: str, state_json: str) -> Workflow:
        """A workflow restored from a dumped state; BpmnError when the state cannot be read."""
        return cls(state_from_json(state_json, specs_for(spec_json)), spec_json)

    def dump(self) -> str:
        """JSON text of the workflow state, without the spec, tagged with SERIALIZER_VERSION."""
        return state_to_json(self._bpmn)

    def ready_user_tasks(self) -> list[ReadyTask]:
        """User and manual tasks that are READY, in tree order, each with the department it goes to.

        `lane` is resolved per task, not per element: every child of a countersign carries its
        own department (`departmentFrom`), and a task of a called process without a lane goes to
        the lane of the activity that called it. See `_lane_of`.
        """
        ready = []
        for task in self._bpmn.get_tasks(state=TaskState.READY, manual=True):
            properties = _properties(task)
            spec = task.task_spec
            ready.append(ReadyTask(
                task_id=str(task.id), bpmn_id=spec.bpmn_id, name=spec.bpmn_name, lane=_lane_of(task),
                form_key=properties.get("formKey"), properties=properties,
            ))
        return ready

    def complete_task(self, task_id: str, data: dict) -> None:
        """Complete a READY user task with form data, then run the engine on."""
        task = self._find(task_id)
        if task.state != TaskState.READY or not task.task_spec.manual:
            raise TaskNotReady(f"Task {task_id} is not waiting to be completed.")
        ensure_json_data(data)
        task.set_data(**copy.deepcopy(data))
        self._guarded(task.run, self._bpmn.do_engine_steps)

    def is_completed(self) -> bool:
        """Whether the workflow has no unfinished tasks left."""
        return self._bpmn.is_completed()

    def outcome(self) -> str | None:
        """The `result` property of the end event reached, once the workflow is completed."""
        if not self.is_completed():
            return None
        reached = [task for task in self._bpmn.tasks.values()
                   if isinstance(task.task_spec, EndEvent) and task.state == TaskState.COMPLETED]
        for task in sorted(reached, key=lambda t: t.last_state_change, reverse=True):
            result = _properties(task).get("result")
            if result:
                return result
        return None

    def task_data(self, task_id: str) -> dict:
        """A copy of one task's data; TaskNotReady when the task is unknown."""
        return self._plain(self._find(task_id).data)

    def last_data(self) -> dict:
        """Data of the most recently completed task, or the workflow data once completed."""
        if self.is_completed():
            return self._plain(self._bpmn.data)
        last = self._bpmn.last_task
        return self._plain(last.data) if last is not None else {}

    def next_timer_at(self) -> datetime | None:
        """When the earliest waiting timer is due (aware datetime), or None."""
        dues = [_parse_due(event.value) for event in self._bpmn.waiting_events()
                if event.event_type in _TIMER_EVENT_TYPES]
        dues = [due for due in dues if due is not None]
        return min(dues) if dues else None

    def waiting_messages(self) -> set[str]:
        """Names of the messages the workflow is waiting for (catch events, receive tasks)."""
        return {event.name for event in self._bpmn.waiting_events()
                if event.event_type == "MessageEventDefinition" and event.name}

    def send_message(self, name: str) -> None:
        """Deliver a message the workflow waits for and run on; TaskNotReady when nothing waits."""
        if name not in self.waiting_messages():
            raise TaskNotReady(f"The workflow is not waiting for message {name}.")
        # Message contents stay in the app's own tables (trap 10): the event carries no payload.
        event = BpmnEvent(MessageEventDefinition(name), payload={})
        self._guarded(lambda: self._bpmn.send_event(event), self._bpmn.do_engine_steps)

    def completed_user_tasks(self) -> list[ReadyTask]:
        """User tasks that are completed and could be worked again (targets of a return), oldest first."""
        done = [task for task in self._bpmn.get_tasks(state=TaskState.COMPLETED, manual=True)]
        done.sort(key=lambda task: task.last_state_change)
        return [ReadyTask(task_id=str(task.id), bpmn_id=task.task_spec.bpmn_id, name=task.task_spec.bpmn_name,
                          lane=_lane_of(task), form_key=_properties(task).get("formKey"),
                          properties=_properties(task)) for task in done]

    def reset_to(self, task_id: str) -> Workflow:
        """退回: make a completed user task READY again, dropping what followed it.

        Returns a fresh handle: the engine's event manager must be rebuilt after a reset or the
        dropped branches' timers crash the next timer refresh (trap 5), so the state is dumped
        and loaded again. Resetting prunes the task tree, so repeated returns do not deepen it.
        """
        task = self._find(task_id)
        if task.state != TaskState.COMPLETED or not task.task_spec.manual:
            raise TaskNotReady(f"Task {task_id} has not been completed; it cannot be returned to.")
        if isinstance(task.parent.task_spec, LoopTask):
            # One instance of a countersign cannot be asked again alone: the whole countersign is,
            # so every department answers afresh and the gathered opinions start over.
            task = task.parent
        self._guarded(lambda: self._bpmn.reset_from_task_id(task.id), self._bpmn.do_engine_steps)
        return Workflow.load(self._spec_json, self.dump())

    def cancel(self) -> None:
        """End the workflow at once (撤件): every unfinished task is cancelled."""
        self._guarded(self._bpmn.cancel)

    def fire_due_timers(self) -> None:
        """Fire every timer that is due and run the engine on (the engine never does it alone)."""
        self._guarded(self._bpmn.refresh_timers, self._bpmn.do_engine_steps)

    # Internals

    def _find(self, task_id: str) -> Task:
        try:
            task = self._bpmn.get_task_from_id(UUID(str(task_id)))
        except (ValueError, TaskNotFoundException):
            task = None
        if task is None:
            raise TaskNotReady(f"Task {task_id} does not exist in this workflow.")
        return task

    @staticmethod
    def _plain(data: dict) -> dict:
        return {key: copy.deepcopy(value) for key, value in data.items()
                if key != "data_objects" and not callable(value)}

    def _guarded(self, *steps: Callable[[], Any]) -> None:
        """Run engine steps, turning engine failures into WorkflowError, then check the depth."""
        try:
            for step in steps:
                step()
        except SpiffWorkflowException as exc:
            raise WorkflowError(_message(exc), _element_id(exc)) from exc
        except Exception as exc:  # e.g. the engine raises bare Exception on a bad timer duration
            raise WorkflowError(f"{type(exc).__name__}: {exc}") from exc
        self._check_depth()

    def _check_depth(self) -> None:
        deepest = max((self._depth(task) for task in self._unfinished()), default=0)
        if deepest > MAX_TASK_DEPTH:
            raise WorkflowTooDeep(
                f"The workflow's task tree is {deepest} levels deep (limit {MAX_TASK_DEPTH}); "
                "the process loops too often through gateways. Model repeats with a loop marker "
                "or a subprocess.")

    def _unfinished(self) -> Iterable[Task]:
        for workflow in (self._bpmn, *self._bpmn.subprocesses.values()):
            for task in workflow.tasks.values():
                if not task.has_state(TaskState.FINISHED_MASK):
                    yield task

    @staticmethod
    def _depth(task: Task) -> int:
        """Depth as the engine's iterator counts it: subprocess trees hang below their task."""
        depth = task.depth
        workflow = task.workflow
        while workflow.parent_task_id is not None:
            parent = workflow.top_workflow.get_task_from_id(workflow.parent_task_id)
            depth += parent.depth + 1
            workflow = parent.workflow
        return depth
