"""Moving running workflows to a new process version: when it is allowed, and what it keeps."""
from __future__ import annotations

import pytest

from app.engine import MigrationRefused, Workflow, migrate, parse_bpmn, plan_migration
from tests.engine.conftest import end_event, flow, wrap_process


def _user_task(task_id: str, form: str = "f") -> str:
    return (f'<bpmn:userTask id="{task_id}" name="{task_id.title()}"><bpmn:extensionElements>'
            f'<spiffworkflow:properties><spiffworkflow:property name="formKey" value="{form}" />'
            "</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>")


def _spec(*steps: str, forms: dict[str, str] | None = None) -> str:
    """start → the user tasks `steps` in a row → end, as a stored spec."""
    forms = forms or {}
    nodes = ["start", *steps, "end"]
    body = '<bpmn:startEvent id="start" />' + "".join(_user_task(s, forms.get(s, "f")) for s in steps)
    body += end_event("end", "done")
    body += "".join(flow(f"f_{a}_{b}", a, b) for a, b in zip(nodes, nodes[1:], strict=False))
    return parse_bpmn(wrap_process(body), "p").spec_json


V1 = _spec("a", "b")


def _at(step: str) -> Workflow:
    wf = Workflow.start(V1, {})
    while wf.ready_user_tasks()[0].bpmn_id != step:
        wf.complete_task(wf.ready_user_tasks()[0].task_id, {})
    return wf


def _ids(changes) -> list[str]:
    return [change.element_id for change in changes]


def test_inserting_a_step_after_the_active_one_moves_the_case_and_keeps_its_task() -> None:
    wf = _at("a")
    active = wf.ready_user_tasks()[0].task_id
    v2 = _spec("a", "c", "b")
    plan = plan_migration(wf, v2)
    assert plan.can_move and _ids(plan.added) == ["c"] and plan.removed == []
    assert [(c.element_id, c.active) for c in plan.changed] == [("a", True), ("b", False)]
    moved, _plan = migrate(wf, v2)
    assert [t.task_id for t in moved.ready_user_tasks()] == [active]
    moved.complete_task(active, {})
    assert [t.bpmn_id for t in moved.ready_user_tasks()] == ["c"]


def test_a_changed_form_on_the_active_step_blocks_the_move() -> None:
    wf = _at("a")
    v2 = _spec("a", "b", forms={"a": "other"})
    plan = plan_migration(wf, v2)
    assert not plan.can_move and plan.blockers[0].code == "active_changed" and plan.blockers[0].attributes == ("extensions",)
    with pytest.raises(MigrationRefused) as info:
        migrate(wf, v2)
    assert info.value.reasons == plan.blockers
    # Refused before anything changed: the case still runs on its version.
    wf.complete_task(wf.ready_user_tasks()[0].task_id, {})
    assert [t.bpmn_id for t in wf.ready_user_tasks()] == ["b"]


def test_a_changed_form_on_a_finished_step_does_not_block() -> None:
    wf = _at("b")
    plan = plan_migration(wf, _spec("a", "b", forms={"a": "other"}))
    assert plan.can_move and [(c.element_id, c.active, c.reached) for c in plan.changed] == [("a", False, True)]


def test_a_removed_step_the_case_has_passed_blocks_the_move() -> None:
    wf = _at("b")
    plan = plan_migration(wf, _spec("b"))
    assert _ids(plan.removed) == ["a"] and not plan.can_move
    assert plan.blockers[0].code == "removed_reached" and plan.blockers[0].subject == "A (a)"


def test_a_removed_step_not_yet_reached_does_not_block() -> None:
    wf = _at("a")
    moved, plan = migrate(wf, _spec("a"))
    assert _ids(plan.removed) == ["b"]
    moved.complete_task(moved.ready_user_tasks()[0].task_id, {})
    assert moved.is_completed() and moved.outcome() == "done"


def test_a_spec_of_another_process_is_refused() -> None:
    other = parse_bpmn(wrap_process('<bpmn:startEvent id="start" />' + end_event("end", "done")
                                    + flow("f1", "start", "end"), "q"), "q").spec_json
    assert plan_migration(_at("a"), other).blockers[0].code == "other_process"


def _parallel(*branches: str) -> str:
    """start → fork → the user tasks `branches` → join → end."""
    body = ('<bpmn:startEvent id="start" /><bpmn:parallelGateway id="fork" /><bpmn:parallelGateway id="join" />'
            + "".join(_user_task(b) for b in branches) + end_event("end", "done")
            + flow("f0", "start", "fork") + flow("f_end", "join", "end")
            + "".join(flow(f"f_{b}_in", "fork", b) + flow(f"f_{b}_out", b, "join") for b in branches))
    return parse_bpmn(wrap_process(body), "p").spec_json


def test_a_new_branch_of_a_split_the_case_has_passed_blocks_the_move() -> None:
    wf = Workflow.start(_parallel("a", "b"), {})
    plan = plan_migration(wf, _parallel("a", "b", "c"))
    assert not plan.can_move and {f.code for f in plan.blockers} == {"branches_changed"}


COUNTERSIGN = ('<bpmn:startEvent id="start" /><bpmn:userTask id="sign" name="Sign">'
               "<bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>departments</bpmn:loopDataInputRef>"
               '<bpmn:inputDataItem id="department" /></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>'
               '<bpmn:userTask id="after" name="{after}" />' + end_event("end", "done")
               + flow("f1", "start", "sign") + flow("f2", "sign", "after") + flow("f3", "after", "end"))


def test_waiting_countersign_instances_keep_their_data_when_moved() -> None:
    v1 = parse_bpmn(wrap_process(COUNTERSIGN.format(after="After")), "p").spec_json
    v2 = parse_bpmn(wrap_process(COUNTERSIGN.format(after="Renamed")), "p").spec_json
    wf = Workflow.start(v1, {"departments": ["USE", "HOLDING"]})
    before = {t.task_id: wf.task_data(t.task_id)["department"] for t in wf.ready_user_tasks()}
    moved, plan = migrate(wf, v2)
    assert plan.can_move
    assert {t.task_id: moved.task_data(t.task_id)["department"] for t in moved.ready_user_tasks()} == before
