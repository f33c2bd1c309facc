"""Running cases: the shipped process end to end, state storage, timers and the depth guard."""
from __future__ import annotations

import json
import statistics
import time
from datetime import UTC, datetime, timedelta

import pytest

from app.engine import (
    SERIALIZER_VERSION,
    BpmnError,
    ParsedProcess,
    TaskNotReady,
    Workflow,
    WorkflowError,
    WorkflowTooDeep,
    clear_spec_cache,
    parse_bpmn,
)
from app.engine.serialization import specs_for

START_DATA = {"case_no": "1100000000000000000000000000000202601010001", "item_code": "CA01"}


def _complete_single(wf: Workflow, bpmn_id: str, data: dict, spec_json: str) -> Workflow:
    """Complete the one READY task, going through a dump/load as every HTTP request does."""
    wf = Workflow.load(spec_json, wf.dump())
    (task,) = wf.ready_user_tasks()
    assert task.bpmn_id == bpmn_id
    wf.complete_task(task.task_id, data)
    return wf


def test_approve_path_issues_the_certificate(sample: ParsedProcess) -> None:
    wf = Workflow.start(sample.spec_json, START_DATA)
    (intake,) = wf.ready_user_tasks()
    assert (intake.bpmn_id, intake.name, intake.lane, intake.form_key) == (
        "intake", "窗口受理", "WINDOW", "cross_archive_application")
    assert wf.task_data(intake.task_id)["case_no"] == START_DATA["case_no"]
    wf = _complete_single(wf, "intake", {"intake_decision": "accept"}, sample.spec_json)
    assert [(t.lane, t.form_key) for t in wf.ready_user_tasks()] == [("HOLDING", "record_search")]
    assert wf.ready_user_tasks()[0].properties["stepLimit"] == "2wd"
    wf = _complete_single(wf, "record_search", {"found": True, "opinion": "查得婚姻登记档案"}, sample.spec_json)
    wf = _complete_single(wf, "review", {"decision": "approve", "opinion": "同意出证"}, sample.spec_json)
    assert [(t.lane, t.form_key) for t in wf.ready_user_tasks()] == [("USE", "certificate_issue")]
    assert not wf.is_completed() and wf.outcome() is None
    wf = _complete_single(wf, "issue_certificate", {"certificate_no": "C-1"}, sample.spec_json)
    assert wf.is_completed()
    assert wf.ready_user_tasks() == []
    assert wf.outcome() == "granted"
    assert wf.last_data()["certificate_no"] == "C-1"
    assert wf.next_timer_at() is None
    # A completed workflow survives a round trip too.
    assert Workflow.load(sample.spec_json, wf.dump()).outcome() == "granted"


def test_intake_refusal_ends_not_accepted(sample: ParsedProcess) -> None:
    wf = Workflow.start(sample.spec_json, START_DATA)
    wf = _complete_single(wf, "intake", {"intake_decision": "refuse", "opinion": "不属于本机关职权范围"}, sample.spec_json)
    assert wf.is_completed() and wf.outcome() == "not_accepted"


def test_one_time_notice_waits_for_the_supplement_then_returns_to_intake(sample: ParsedProcess) -> None:
    wf = Workflow.start(sample.spec_json, START_DATA)
    later = "2099-01-01T00:00:00+08:00"
    wf = _complete_single(wf, "intake", {"intake_decision": "supplement", "supplement_due": later}, sample.spec_json)
    assert wf.ready_user_tasks() == [] and wf.waiting_messages() == {"materials_supplemented"}
    assert wf.next_timer_at().isoformat() == later
    wf = Workflow.load(sample.spec_json, wf.dump())
    wf.send_message("materials_supplemented")
    assert [t.bpmn_id for t in wf.ready_user_tasks()] == ["intake"]
    with pytest.raises(TaskNotReady):
        wf.send_message("materials_supplemented")


def test_one_time_notice_lapses_into_a_return(sample: ParsedProcess) -> None:
    wf = Workflow.start(sample.spec_json, START_DATA)
    past = "2000-01-01T00:00:00+08:00"
    wf = _complete_single(wf, "intake", {"intake_decision": "supplement", "supplement_due": past}, sample.spec_json)
    wf.fire_due_timers()
    assert wf.is_completed() and wf.outcome() == "returned"


def test_refuse_path_ends_refused_with_the_reason(sample: ParsedProcess) -> None:
    wf = Workflow.start(sample.spec_json, START_DATA)
    wf = _complete_single(wf, "intake", {"intake_decision": "accept"}, sample.spec_json)
    wf = _complete_single(wf, "record_search", {"found": False, "opinion": "未查到"}, sample.spec_json)
    wf = _complete_single(wf, "review", {"decision": "refuse", "opinion": "本馆无相关档案"}, sample.spec_json)
    assert wf.is_completed()
    assert wf.outcome() == "refused"
    assert wf.last_data()["opinion"] == "本馆无相关档案"


ACCEPT = {"intake_decision": "accept"}


def test_decision_matching_no_condition_is_a_workflow_error(sample: ParsedProcess) -> None:
    wf = Workflow.start(sample.spec_json, START_DATA)
    wf = _complete_single(wf, "intake", ACCEPT, sample.spec_json)
    wf = _complete_single(wf, "record_search", {}, sample.spec_json)
    (review,) = wf.ready_user_tasks()
    with pytest.raises(WorkflowError):
        wf.complete_task(review.task_id, {"decision": "maybe"})


def test_last_data_is_the_latest_completed_task(sample: ParsedProcess) -> None:
    wf = Workflow.start(sample.spec_json, START_DATA)
    wf = _complete_single(wf, "intake", {**ACCEPT, "opinion": "材料齐全"}, sample.spec_json)
    assert wf.last_data()["opinion"] == "材料齐全"


def test_complete_task_refuses_unknown_and_finished_tasks(sample: ParsedProcess) -> None:
    wf = Workflow.start(sample.spec_json, START_DATA)
    (intake,) = wf.ready_user_tasks()
    for bad in ("not-a-uuid", "00000000-0000-0000-0000-000000000000", ""):
        with pytest.raises(TaskNotReady):
            wf.complete_task(bad, {})
    wf.complete_task(intake.task_id, ACCEPT)
    with pytest.raises(TaskNotReady):
        wf.complete_task(intake.task_id, ACCEPT)
    with pytest.raises(TaskNotReady):
        wf.task_data("00000000-0000-0000-0000-000000000000")


def test_complete_task_refuses_data_that_is_not_json(sample: ParsedProcess) -> None:
    wf = Workflow.start(sample.spec_json, START_DATA)
    (intake,) = wf.ready_user_tasks()
    for bad in ({"when": datetime.now()}, {"tags": {"a"}}, {1: "x"}, {"n": float("nan")}):
        with pytest.raises(ValueError):
            wf.complete_task(intake.task_id, bad)
    assert [t.task_id for t in wf.ready_user_tasks()] == [intake.task_id]


def test_start_does_not_keep_a_reference_to_the_callers_data(sample: ParsedProcess) -> None:
    data = {"nested": {"a": 1}}
    wf = Workflow.start(sample.spec_json, data)
    data["nested"]["a"] = 2
    assert wf.task_data(wf.ready_user_tasks()[0].task_id)["nested"] == {"a": 1}


def test_dump_has_no_spec_and_carries_the_version(sample: ParsedProcess) -> None:
    wf = Workflow.start(sample.spec_json, START_DATA)
    state = json.loads(wf.dump())
    assert state["serializer_version"] == SERIALIZER_VERSION
    assert "spec" not in state and "subprocess_specs" not in state
    assert "task_specs" not in wf.dump()
    print(f"\nstate {len(wf.dump())} bytes; spec {len(sample.spec_json)} bytes "
          "(the spec is stored once per process version)")


def test_round_trip_keeps_ready_tasks_and_data(sample: ParsedProcess) -> None:
    wf = Workflow.start(sample.spec_json, START_DATA)
    wf.complete_task(wf.ready_user_tasks()[0].task_id, {**ACCEPT, "opinion": "ok"})
    before = wf.ready_user_tasks()
    loaded = Workflow.load(sample.spec_json, wf.dump())
    assert loaded.ready_user_tasks() == before
    assert loaded.task_data(before[0].task_id) == wf.task_data(before[0].task_id)
    assert loaded.dump() == wf.dump()


def test_other_serializer_version_is_refused(sample: ParsedProcess) -> None:
    state = json.loads(Workflow.start(sample.spec_json, START_DATA).dump())
    state["serializer_version"] = "spiff-3.1/1"
    with pytest.raises(BpmnError) as info:
        Workflow.load(sample.spec_json, json.dumps(state))
    assert "serializer version" in info.value.message
    del state["serializer_version"]
    with pytest.raises(BpmnError):
        Workflow.load(sample.spec_json, json.dumps(state))


def test_spec_with_other_serializer_version_is_refused(sample: ParsedProcess) -> None:
    spec = json.loads(sample.spec_json)
    spec["serializer_version"] = "spiff-2.0/1"
    with pytest.raises(BpmnError):
        Workflow.start(json.dumps(spec), {})


def test_state_of_another_process_or_garbage_is_refused(sample: ParsedProcess, build) -> None:
    other = parse_bpmn(build.gateway("True"), "p")
    state = Workflow.start(other.spec_json, {}).dump()
    for bad in (state, "not json", "[]", json.dumps({"serializer_version": SERIALIZER_VERSION,
                                                      "process_id": "cross_archive_certificate"})):
        with pytest.raises(BpmnError):
            Workflow.load(sample.spec_json, bad)


def test_specs_are_deserialized_once_per_spec_text(sample: ParsedProcess) -> None:
    clear_spec_cache()
    first = specs_for(sample.spec_json)
    assert specs_for(sample.spec_json) is first
    assert specs_for("".join(sample.spec_json)) is first  # an equal string from elsewhere
    clear_spec_cache()
    assert specs_for(sample.spec_json) is not first


def test_load_is_fast(sample: ParsedProcess) -> None:
    """Print timings (no assertion: machines differ)."""
    wf = Workflow.start(sample.spec_json, START_DATA)
    wf.complete_task(wf.ready_user_tasks()[0].task_id, {"intake_decision": "accept", "opinion": "材料齐全"})
    state = wf.dump()
    Workflow.load(sample.spec_json, state)  # warm the spec cache
    loads, cycles = [], []
    for _ in range(300):
        t0 = time.perf_counter()
        loaded = Workflow.load(sample.spec_json, state)
        t1 = time.perf_counter()
        loaded.complete_task(loaded.ready_user_tasks()[0].task_id, {"found": True, "opinion": "查得"})
        loaded.next_timer_at()
        loaded.dump()
        t2 = time.perf_counter()
        loads.append(t1 - t0)
        cycles.append(t2 - t0)
    clear_spec_cache()
    t0 = time.perf_counter()
    Workflow.load(sample.spec_json, state)
    cold = time.perf_counter() - t0
    ms = 1000
    print(f"\nload (cached spec): median {statistics.median(loads) * ms:.3f} ms; "
          f"load+complete+dump: median {statistics.median(cycles) * ms:.3f} ms, "
          f"p95 {sorted(cycles)[int(len(cycles) * 0.95)] * ms:.3f} ms; "
          f"first load (spec not cached): {cold * ms:.3f} ms")


def test_timers_report_their_due_time_and_fire_when_told(build) -> None:
    spec_json = parse_bpmn(build.timer(), "p").spec_json
    far = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    wf = Workflow.start(spec_json, {"due": far.isoformat()})
    assert wf.ready_user_tasks() == []
    assert wf.next_timer_at() == far and wf.next_timer_at().tzinfo is not None
    wf.fire_due_timers()
    assert wf.ready_user_tasks() == []

    soon = datetime.now(UTC) + timedelta(milliseconds=150)
    wf = Workflow.start(spec_json, {"due": soon.isoformat()})
    state = wf.dump()
    time.sleep(0.2)
    wf = Workflow.load(spec_json, state)
    assert wf.next_timer_at() <= datetime.now(UTC)
    wf.fire_due_timers()
    assert [t.bpmn_id for t in wf.ready_user_tasks()] == ["after"]
    assert wf.next_timer_at() is None


def test_bad_timer_expression_is_a_workflow_error(build) -> None:
    spec_json = parse_bpmn(build.timer(), "p").spec_json
    with pytest.raises(WorkflowError):
        Workflow.start(spec_json, {"due": "not a date"})


def test_endless_returns_hit_the_depth_guard_not_a_silent_completion(build) -> None:
    spec_json = parse_bpmn(build.loop(), "p").spec_json
    wf = Workflow.start(spec_json, {})
    rounds = 0
    with pytest.raises(WorkflowTooDeep):
        for rounds in range(1, 2000):  # noqa: B007 - read after the guard trips
            (task,) = wf.ready_user_tasks()  # the task must stay visible until the guard trips
            assert not wf.is_completed()
            wf.complete_task(task.task_id, {"again": True})
    print(f"\ndepth guard tripped after {rounds} returns")
    assert rounds > 100


def test_loop_ends_normally(build) -> None:
    wf = Workflow.start(parse_bpmn(build.loop(), "p").spec_json, {})
    for again in (True, True, False):
        wf.complete_task(wf.ready_user_tasks()[0].task_id, {"again": again})
    assert wf.is_completed() and wf.outcome() == "done"


def test_countersign_children_report_the_bpmn_id_lane_and_form(build) -> None:
    xml = build.wrap(
        '<bpmn:laneSet id="ls"><bpmn:lane id="lane_use" name="USE">'
        "<bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>sign</bpmn:flowNodeRef>"
        "<bpmn:flowNodeRef>end</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>"
        '<bpmn:startEvent id="start" />'
        '<bpmn:userTask id="sign" name="会签"><bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="formKey" value="countersign" /></spiffworkflow:properties>'
        "</bpmn:extensionElements><bpmn:multiInstanceLoopCharacteristics>"
        "<bpmn:loopDataInputRef>departments</bpmn:loopDataInputRef>"
        "<bpmn:loopDataOutputRef>opinions</bpmn:loopDataOutputRef>"
        '<bpmn:inputDataItem id="department" /><bpmn:outputDataItem id="opinion" />'
        "</bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>"
        '<bpmn:endEvent id="end" />'
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sign" />'
        '<bpmn:sequenceFlow id="f2" sourceRef="sign" targetRef="end" />'
    )
    parsed = parse_bpmn(xml, "p")
    routed = [(t.bpmn_id, t.lane, t.form_key) for t in parsed.user_tasks]
    assert routed == [("sign", "USE", "countersign")]
    wf = Workflow.start(parsed.spec_json, {"departments": ["A", "B", "C"]})
    children = wf.ready_user_tasks()
    assert [(t.bpmn_id, t.lane, t.form_key) for t in children] == [("sign", "USE", "countersign")] * 3
    for child in children:
        wf = Workflow.load(parsed.spec_json, wf.dump())
        wf.complete_task(child.task_id, {"opinion": "同意 " + wf.task_data(child.task_id)["department"]})
    assert wf.is_completed()
    assert wf.last_data()["opinions"] == ["同意 A", "同意 B", "同意 C"]
