"""Moving a running workflow onto a newer version of its process.

The engine aligns the old and new task specs by BPMN id, swaps the specs under the existing
tasks and re-predicts what lies ahead of the waiting ones. We only let a case move when that is
harmless: no step it has reached is gone, and nothing a person is working on (its lane, form,
time limit, scripts) changed under them. Task ids of waiting steps survive, so work items,
claims and their history stay attached.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.specs.defaults import InclusiveGateway, ParallelGateway
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, migrate_workflow
from SpiffWorkflow.util.task import TaskState

from .serialization import _registry, specs_for
from .workflow import Workflow

# Attributes of a waiting step's spec that may change without changing the step itself: its
# neighbours (a step inserted after it), its label and its documentation.
_HARMLESS_CHANGES = frozenset({"inputs", "outputs", "bpmn_name", "documentation", "description"})
_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
_REACHED = _ACTIVE | TaskState.FINISHED_MASK
_SPLITS_AND_JOINS = frozenset({ParallelGateway, InclusiveGateway})
_TIMER_TYPES = ("DurationTimerEventDefinition", "CycleTimerEventDefinition")


@dataclass(frozen=True)
class ElementChange:
    """One BPMN element that differs between the versions, as far as one case is concerned."""

    element_id: str
    name: str | None
    attributes: tuple[str, ...] = ()
    active: bool = False   # the case waits at it now
    reached: bool = False  # the case has been there (waiting or done)


@dataclass(frozen=True)
class MigrationFinding:
    """Why a case cannot move (a blocker) or what moving it does (a note); `code` lets the app word it.

    Codes: removed_reached, active_changed, branches_changed, other_process, called_process_removed, state_unusable,
    timer_restarts. `subject` is the step or process concerned.
    """

    code: str
    message: str
    subject: str = ""
    attributes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.message


@dataclass
class MigrationPlan:
    """What moving one case would change; `blockers` say why it cannot move."""

    added: list[ElementChange] = field(default_factory=list)
    removed: list[ElementChange] = field(default_factory=list)
    changed: list[ElementChange] = field(default_factory=list)
    blockers: list[MigrationFinding] = field(default_factory=list)
    notes: list[MigrationFinding] = field(default_factory=list)

    @property
    def can_move(self) -> bool:
        return not self.blockers


class MigrationRefused(Exception):
    """The case cannot move to the new version; `reasons` are its plan's blockers."""

    def __init__(self, reasons: list[MigrationFinding]) -> None:
        super().__init__("; ".join(map(str, reasons)))
        self.reasons = reasons


def _label(spec: Any) -> str:
    return f"{spec.bpmn_name} ({spec.bpmn_id})" if getattr(spec, "bpmn_name", None) else spec.bpmn_id


def _is_element(spec: Any) -> bool:
    return bool(getattr(spec, "bpmn_id", None))


def _tasks_by_spec(workflow) -> dict[Any, list]:
    tasks: dict[Any, list] = {}
    for task in workflow.tasks.values():
        tasks.setdefault(task.task_spec, []).append(task)
    return tasks


def _plan_one(workflow, new_spec, plan: MigrationPlan) -> WorkflowDiff:
    spec_diff = SpecDiff(_registry, workflow.spec, new_spec)
    tasks = _tasks_by_spec(workflow)

    def change(spec: Any, attributes: tuple[str, ...] = ()) -> ElementChange:
        own = tasks.get(spec, [])
        return ElementChange(spec.bpmn_id, getattr(spec, "bpmn_name", None), attributes,
                             active=any(task.has_state(_ACTIVE) for task in own),
                             reached=any(task.has_state(_REACHED) for task in own))

    plan.added.extend(change(spec) for spec in spec_diff.added if _is_element(spec))
    for spec in spec_diff.removed:
        if not _is_element(spec):
            continue
        removed = change(spec)
        plan.removed.append(removed)
        if removed.reached:
            plan.blockers.append(MigrationFinding("removed_reached", f"The case has reached {_label(spec)}, which the new "
                                         "version no longer has.", _label(spec)))
    for spec, attributes in spec_diff.changed.items():
        if not _is_element(spec):
            continue
        changed = change(spec, tuple(attributes))
        plan.changed.append(changed)
        significant = sorted(set(attributes) - _HARMLESS_CHANGES)
        if changed.reached and _SPLITS_AND_JOINS.intersection(type(spec).__mro__) and {"inputs", "outputs"} & set(attributes):
            # A split that already ran would not start a new branch, and its join would wait for it forever.
            plan.blockers.append(MigrationFinding("branches_changed", f"The branches of {_label(spec)}, which the "
                                                  "case has reached, changed.", _label(spec)))
        elif changed.active and significant:
            plan.blockers.append(MigrationFinding("active_changed", f"{_label(spec)} is in progress and its "
                                         f"{', '.join(significant)} changed; finish it on the current version first.",
                                         _label(spec), tuple(significant)))
    for task in workflow.get_tasks(state=TaskState.WAITING, skip_subprocesses=True):
        definition = getattr(task.task_spec, "event_definition", None)
        if type(definition).__name__ in _TIMER_TYPES:
            plan.notes.append(MigrationFinding("timer_restarts", f"The timer {_label(task.task_spec)} restarts from the "
                                      "moment of migration.", _label(task.task_spec)))
    return WorkflowDiff(workflow, spec_diff)


def _diffs(wf: Workflow, new_spec_json: str) -> tuple[MigrationPlan, list]:
    plan = MigrationPlan()
    bpmn = wf._bpmn
    new_spec, new_subprocesses = specs_for(new_spec_json)
    if new_spec.name != bpmn.spec.name:
        plan.blockers.append(MigrationFinding("other_process", f"The new version is of process {new_spec.name}, "
                                     f"not {bpmn.spec.name}.", new_spec.name))
        return plan, []
    steps = [(bpmn, _plan_one(bpmn, new_spec, plan), new_spec)]
    for subworkflow in bpmn.subprocesses.values():
        called = new_subprocesses.get(subworkflow.spec.name)
        if called is None:
            # An embedded subprocess is a task spec of its parent and already compared there.
            if subworkflow.spec.name in new_spec.task_specs:
                continue
            plan.blockers.append(MigrationFinding("called_process_removed", f"The case is inside process "
                                         f"{subworkflow.spec.name}, which the new version no longer calls.",
                                         subworkflow.spec.name))
            continue
        steps.append((subworkflow, _plan_one(subworkflow, called, plan), called))
    return plan, steps


def plan_migration(wf: Workflow, new_spec_json: str) -> MigrationPlan:
    """What moving this workflow to the new spec would change, and whether it may (dry run)."""
    return _diffs(wf, new_spec_json)[0]


def migrate(wf: Workflow, new_spec_json: str) -> tuple[Workflow, MigrationPlan]:
    """A handle on the workflow moved to the new spec; MigrationRefused when it may not move.

    The moved state is dumped and loaded again against the new spec before it is handed back,
    so a state the new version cannot read is refused here rather than found broken later.
    """
    plan, steps = _diffs(wf, new_spec_json)
    if not plan.can_move:
        raise MigrationRefused(plan.blockers)
    try:
        for workflow, diff, spec in steps:
            # The engine resets waiting tasks to their parent's data; the work done so far on them
            # (a countersign's department, a form half filled) is theirs, so it is put back.
            kept = {task.id: (copy.deepcopy(task.data), copy.deepcopy(task.internal_data))
                    for task in workflow.get_tasks(state=_ACTIVE, skip_subprocesses=True)}
            migrate_workflow(diff, workflow, spec)
            for task_id, (data, internal) in kept.items():
                task = workflow.tasks.get(task_id)
                if task is not None:
                    task.data, task.internal_data = data, internal
        moved = Workflow.load(new_spec_json, wf.dump())
        moved._check_depth()
    except Exception as exc:  # noqa: BLE001 - any failure means the case stays where it is
        raise MigrationRefused([MigrationFinding("state_unusable", f"The moved state cannot be used: {exc}", str(exc))]) from exc
    return moved, plan
