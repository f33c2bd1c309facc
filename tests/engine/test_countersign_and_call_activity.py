"""Countersign (会签: a parallel or sequential multi-instance user task routed per department) and
call activities (a process calling another process of the same file), at the engine level."""
from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from lxml import etree

from app.engine import ParsedProcess, Workflow, parse_bpmn
from tests.engine.conftest import end_event, flow

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"

_HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'
    ' id="definitions" targetNamespace="http://example.org/bpmn">\n'
)

# The completion rules documented in workflows/delayed_opening_approval.bpmn, written for the
# names used here (departments, opinions, opinion_record).
ANY_DISAGREEMENT = 'not opinion_record["agree"]'
MAJORITY_DECIDED = (
    '2 * len([o for o in opinions + [opinion_record] if o["agree"]]) > len(departments)'
    ' or 2 * len([o for o in opinions + [opinion_record] if not o["agree"]]) >= len(departments)'
)
ALL_AGREED = 'all([o["agree"] for o in opinions])'
MAJORITY_AGREED = '2 * len([o for o in opinions if o["agree"]]) > len(departments)'


def _document(*processes: str) -> bytes:
    return (_HEADER + "\n".join(processes) + "\n</bpmn:definitions>\n").encode()


def _process(process_id: str, body: str, lanes: dict[str, list[str]] | None = None) -> str:
    lane_set = ""
    if lanes:
        lane_set = f'<bpmn:laneSet id="lanes_{process_id}">' + "".join(
            f'<bpmn:lane id="lane_{process_id}_{name}" name="{name}">'
            + "".join(f"<bpmn:flowNodeRef>{ref}</bpmn:flowNodeRef>" for ref in refs) + "</bpmn:lane>"
            for name, refs in lanes.items()) + "</bpmn:laneSet>"
    return f'<bpmn:process id="{process_id}" isExecutable="true">{lane_set}{body}</bpmn:process>'


def countersign(*, condition: str | None = None, verdict: str = ALL_AGREED, sequential: bool = False,
                lane: str | None = "GUIDANCE") -> ParsedProcess:
    """start → 会签 over `departments` → gateway on `verdict` → end agreed / not_agreed."""
    completion = (f'<bpmn:completionCondition xsi:type="bpmn:tFormalExpression">{escape(condition)}'
                  "</bpmn:completionCondition>") if condition else ""
    body = (
        '<bpmn:startEvent id="start" />'
        '<bpmn:userTask id="sign" name="会签"><bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="formKey" value="countersign_opinion" />'
        '<spiffworkflow:property name="departmentFrom" value="department" />'
        "</spiffworkflow:properties><spiffworkflow:postScript>"
        + escape('opinion_record = {"department": department, "agree": decision == "agree", "opinion": opinion}')
        + "</spiffworkflow:postScript></bpmn:extensionElements>"
        f'<bpmn:multiInstanceLoopCharacteristics isSequential="{str(sequential).lower()}"'
        ' spiffworkflow:scriptsOnInstances="true">'
        "<bpmn:loopDataInputRef>departments</bpmn:loopDataInputRef>"
        "<bpmn:loopDataOutputRef>opinions</bpmn:loopDataOutputRef>"
        '<bpmn:inputDataItem id="department" /><bpmn:outputDataItem id="opinion_record" />'
        f"{completion}</bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>"
        '<bpmn:exclusiveGateway id="verdict" default="f_no" />'
        + end_event("end_agreed", "agreed") + end_event("end_not_agreed", "not_agreed")
        + flow("f1", "start", "sign") + flow("f2", "sign", "verdict")
        + flow("f_yes", "verdict", "end_agreed", verdict) + flow("f_no", "verdict", "end_not_agreed")
    )
    refs = ["start", "sign", "verdict", "end_agreed", "end_not_agreed"]
    return parse_bpmn(_document(_process("p", body, {lane: refs} if lane else None)), "p")


def _vote(wf: Workflow, spec_json: str, task_id: str, decision: str) -> Workflow:
    """Give one opinion, through a dump/load as every HTTP request does."""
    wf = Workflow.load(spec_json, wf.dump())
    department = wf.task_data(task_id)["department"]
    wf.complete_task(task_id, {"decision": decision, "opinion": f"{department}: {decision}"})
    return wf


def _outcome_data(wf: Workflow) -> dict:
    assert wf.is_completed()
    return wf.last_data()


# Countersign routing


def test_countersign_routes_one_child_per_department_to_that_department() -> None:
    parsed = countersign()
    (info,) = parsed.user_tasks
    assert (info.bpmn_id, info.lane, info.form_key, info.department_from) == (
        "sign", "GUIDANCE", "countersign_opinion", "department")
    departments = ["HOLDING", "USE", "RECORDS", "SUPERVISION"]
    wf = Workflow.start(parsed.spec_json, {"departments": departments})
    children = wf.ready_user_tasks()
    assert [t.lane for t in children] == departments
    # Children share the element: same bpmn_id, name and form; the engine task ids tell them apart.
    assert {(t.bpmn_id, t.name, t.form_key) for t in children} == {("sign", "会签", "countersign_opinion")}
    assert len({t.task_id for t in children}) == 4
    assert [wf.task_data(t.task_id)["department"] for t in children] == departments


@pytest.mark.parametrize("lane, fallback", [("GUIDANCE", "GUIDANCE"), (None, None)])
def test_a_department_value_that_is_not_a_code_falls_back_to_the_lane(lane, fallback) -> None:
    wf = Workflow.start(countersign(lane=lane).spec_json, {"departments": ["USE", 7, "", ["HOLDING"], None]})
    assert [t.lane for t in wf.ready_user_tasks()] == ["USE", fallback, fallback, fallback, fallback]


def test_a_countersign_of_no_departments_moves_straight_on() -> None:
    wf = Workflow.start(countersign().spec_json, {"departments": []})
    assert wf.ready_user_tasks() == [] and wf.outcome() == "agreed"  # all([]) is True


# Completion rules


@pytest.mark.parametrize("votes, outcome", [
    (["agree", "agree", "agree"], "agreed"),
    (["agree", "disagree", "agree"], "not_agreed"),
    (["disagree", "agree", "agree"], "not_agreed"),
])
def test_all_must_agree_asks_everyone_then_the_gateway_decides(votes, outcome) -> None:
    parsed = countersign()
    wf = Workflow.start(parsed.spec_json, {"departments": ["HOLDING", "USE", "RECORDS"]})
    for task, vote in zip(wf.ready_user_tasks(), votes, strict=True):
        assert not wf.is_completed()  # nobody's disagreement stops the others
        wf = _vote(wf, parsed.spec_json, task.task_id, vote)
    assert wf.outcome() == outcome
    assert [o["agree"] for o in _outcome_data(wf)["opinions"]] == [v == "agree" for v in votes]


def test_any_disagreement_ends_the_countersign_and_withdraws_the_open_children() -> None:
    parsed = countersign(condition=ANY_DISAGREEMENT)
    wf = Workflow.start(parsed.spec_json, {"departments": ["HOLDING", "USE", "RECORDS"]})
    holding, use, records = wf.ready_user_tasks()
    wf = _vote(wf, parsed.spec_json, use.task_id, "agree")
    assert [t.task_id for t in wf.ready_user_tasks()] == [holding.task_id, records.task_id]
    wf = _vote(wf, parsed.spec_json, records.task_id, "disagree")
    assert wf.ready_user_tasks() == []
    assert wf.outcome() == "not_agreed"
    # Only the opinions actually given, in the order they were given.
    assert _outcome_data(wf)["opinions"] == [
        {"department": "USE", "agree": True, "opinion": "USE: agree"},
        {"department": "RECORDS", "agree": False, "opinion": "RECORDS: disagree"},
    ]


def test_any_disagreement_rule_asks_everyone_when_all_agree() -> None:
    parsed = countersign(condition=ANY_DISAGREEMENT)
    wf = Workflow.start(parsed.spec_json, {"departments": ["HOLDING", "USE", "RECORDS"]})
    for task in wf.ready_user_tasks():
        wf = _vote(wf, parsed.spec_json, task.task_id, "agree")
    assert wf.outcome() == "agreed" and len(_outcome_data(wf)["opinions"]) == 3


@pytest.mark.parametrize("votes, outcome", [
    (["agree", "agree"], "agreed"),  # 2 of 3 agree: the third department is never asked
    (["disagree", "disagree"], "not_agreed"),
    (["agree", "disagree", "agree"], "agreed"),
    (["disagree", "agree", "disagree"], "not_agreed"),
])
def test_majority_in_a_sequential_countersign_stops_once_the_outcome_is_certain(votes, outcome) -> None:
    departments = ["HOLDING", "USE", "RECORDS"]
    parsed = countersign(condition=MAJORITY_DECIDED, verdict=MAJORITY_AGREED, sequential=True)
    wf = Workflow.start(parsed.spec_json, {"departments": departments})
    for department, vote in zip(departments, votes, strict=False):
        (task,) = wf.ready_user_tasks()  # one department at a time, in list order
        assert task.lane == department
        wf = _vote(wf, parsed.spec_json, task.task_id, vote)
    assert wf.outcome() == outcome
    assert [o["department"] for o in _outcome_data(wf)["opinions"]] == departments[:len(votes)]


@pytest.mark.parametrize("votes, outcome", [
    (["agree", "disagree", "agree"], "agreed"), (["disagree", "agree", "disagree"], "not_agreed")])
def test_majority_in_a_parallel_countersign_is_decided_by_the_gateway(votes, outcome) -> None:
    # The completion condition only sees the child just completed, never its parallel siblings'
    # opinions, so a parallel majority is counted after everyone has answered.
    parsed = countersign(verdict=MAJORITY_AGREED)
    wf = Workflow.start(parsed.spec_json, {"departments": ["HOLDING", "USE", "RECORDS"]})
    for task, vote in zip(wf.ready_user_tasks(), votes, strict=True):
        wf = _vote(wf, parsed.spec_json, task.task_id, vote)
    assert wf.outcome() == outcome


def test_round_trip_in_the_middle_of_a_countersign() -> None:
    parsed = countersign(condition=ANY_DISAGREEMENT)
    wf = Workflow.start(parsed.spec_json, {"departments": ["HOLDING", "USE", "RECORDS"]})
    first = wf.ready_user_tasks()[1]
    wf.complete_task(first.task_id, {"decision": "agree", "opinion": "同意"})
    before = wf.ready_user_tasks()
    state = wf.dump()
    loaded = Workflow.load(parsed.spec_json, state)
    assert loaded.ready_user_tasks() == before
    assert [t.lane for t in before] == ["HOLDING", "RECORDS"]
    # Same state; only the order of the tasks in the JSON text may differ after a load.
    assert json.loads(loaded.dump()) == json.loads(state)
    for task in before:
        loaded = _vote(loaded, parsed.spec_json, task.task_id, "agree")
    assert [o["department"] for o in _outcome_data(loaded)["opinions"]] == ["USE", "HOLDING", "RECORDS"]


# Call activities


def _caller(call_attributes: str = "", call_inner: str = "", lanes: dict[str, list[str]] | None = None) -> str:
    body = ('<bpmn:startEvent id="start" />'
            f'<bpmn:callActivity id="call" name="Call" calledElement="sub"{call_attributes}>{call_inner}'
            "</bpmn:callActivity>"
            '<bpmn:userTask id="after" name="After" />' + end_event("end", "done")
            + flow("f1", "start", "call") + flow("f2", "call", "after") + flow("f3", "after", "end"))
    return _process("p", body, lanes if lanes is not None else {"HOLDING": ["start", "call"], "USE": ["after", "end"]})


def _called(process_id: str = "sub", inner: str = '<bpmn:userTask id="inner" name="Inner" />',
            inner_id: str = "inner", lanes: dict[str, list[str]] | None = None) -> str:
    body = (f'<bpmn:startEvent id="{process_id}_start" />{inner}<bpmn:endEvent id="{process_id}_end" />'
            + flow(f"{process_id}_f1", f"{process_id}_start", inner_id)
            + flow(f"{process_id}_f2", inner_id, f"{process_id}_end"))
    return _process(process_id, body, lanes)


def test_task_of_a_called_process_without_lanes_goes_to_the_calling_lane() -> None:
    parsed = parse_bpmn(_document(_caller(), _called()), "p")
    # Listed where the call happens, with the caller's lane, so the deploy check accepts it.
    assert [(t.bpmn_id, t.lane) for t in parsed.user_tasks] == [("inner", "HOLDING"), ("after", "USE")]
    wf = Workflow.start(parsed.spec_json, {"case_no": "1"})
    (inner,) = wf.ready_user_tasks()
    assert (inner.bpmn_id, inner.name, inner.lane) == ("inner", "Inner", "HOLDING")
    assert wf.task_data(inner.task_id)["case_no"] == "1"  # data flows in ...
    wf = Workflow.load(parsed.spec_json, wf.dump())
    assert wf.ready_user_tasks() == [inner]
    wf.complete_task(inner.task_id, {"found": "yes"})
    (after,) = wf.ready_user_tasks()
    assert after.lane == "USE"
    assert wf.task_data(after.task_id)["found"] == "yes"  # ... and back out


def test_a_called_process_with_lanes_keeps_its_own() -> None:
    parsed = parse_bpmn(_document(_caller(), _called(lanes={"RECORDS": ["sub_start", "inner", "sub_end"]})), "p")
    assert parsed.user_tasks[0].lane == "RECORDS"
    assert Workflow.start(parsed.spec_json, {}).ready_user_tasks()[0].lane == "RECORDS"


def test_nested_calls_route_to_the_nearest_calling_lane() -> None:
    middle = _called("middle", '<bpmn:callActivity id="call_inner" calledElement="sub" />', "call_inner")
    caller = _caller().replace('calledElement="sub"', 'calledElement="middle"')
    parsed = parse_bpmn(_document(caller, middle, _called()), "p")
    assert [(t.bpmn_id, t.lane) for t in parsed.user_tasks] == [("inner", "HOLDING"), ("after", "USE")]
    (inner,) = Workflow.start(parsed.spec_json, {}).ready_user_tasks()
    assert inner.lane == "HOLDING"


def test_a_multi_instance_call_routes_each_call_to_its_department() -> None:
    loop = ('<bpmn:extensionElements><spiffworkflow:properties>'
            '<spiffworkflow:property name="departmentFrom" value="department" />'
            "</spiffworkflow:properties></bpmn:extensionElements>"
            "<bpmn:multiInstanceLoopCharacteristics>"
            "<bpmn:loopDataInputRef>archives</bpmn:loopDataInputRef>"
            "<bpmn:loopDataOutputRef>results</bpmn:loopDataOutputRef>"
            '<bpmn:inputDataItem id="department" /><bpmn:outputDataItem id="found" />'
            "</bpmn:multiInstanceLoopCharacteristics>")
    parsed = parse_bpmn(_document(_caller(call_inner=loop), _called()), "p")
    wf = Workflow.start(parsed.spec_json, {"archives": ["HOLDING", "RECORDS"]})
    searches = wf.ready_user_tasks()
    assert [(t.bpmn_id, t.lane) for t in searches] == [("inner", "HOLDING"), ("inner", "RECORDS")]
    for task in searches:
        wf = Workflow.load(parsed.spec_json, wf.dump())
        wf.complete_task(task.task_id, {"found": f"{task.lane}: yes"})
    (after,) = wf.ready_user_tasks()
    assert wf.task_data(after.task_id)["results"] == ["HOLDING: yes", "RECORDS: yes"]


def test_a_called_task_routes_nowhere_only_when_no_caller_has_a_lane() -> None:
    parsed = parse_bpmn(_document(_caller(lanes={}), _called()), "p")
    assert parsed.user_tasks[0].lane is None
    assert Workflow.start(parsed.spec_json, {}).ready_user_tasks()[0].lane is None


# The shipped processes

START = {"case_no": "1137010000450012344000117005002026010100001", "item_code": "X"}


def _shipped(name: str) -> tuple[bytes, ParsedProcess]:
    xml = (WORKFLOWS / f"{name}.bpmn").read_bytes()
    return xml, parse_bpmn(xml, name)


def _single(wf: Workflow, spec_json: str, bpmn_id: str, lane: str, data: dict) -> Workflow:
    wf = Workflow.load(spec_json, wf.dump())
    (task,) = wf.ready_user_tasks()
    assert (task.bpmn_id, task.lane) == (bpmn_id, lane)
    wf.complete_task(task.task_id, data)
    return wf


def test_revised_cross_archive_searches_in_a_called_process() -> None:
    _xml, parsed = _shipped("cross_archive_certificate")
    wf = Workflow.start(parsed.spec_json, START)
    wf = _single(wf, parsed.spec_json, "intake", "WINDOW", {"intake_decision": "accept"})
    (search,) = wf.ready_user_tasks()
    assert (search.bpmn_id, search.name, search.lane, search.form_key, search.properties["stepLimit"]) == (
        "record_search", "档案查询", "HOLDING", "record_search", "2wd")
    wf = _single(wf, parsed.spec_json, "record_search", "HOLDING",
                 {"search_result": "yes", "record_reference": "Z109-WS·1998-Y-0001", "opinion": "查得"})
    (review,) = wf.ready_user_tasks()
    assert wf.task_data(review.task_id)["record_reference"] == "Z109-WS·1998-Y-0001"
    wf = _single(wf, parsed.spec_json, "review", "USE", {"decision": "approve", "opinion": "同意出证"})
    wf = _single(wf, parsed.spec_json, "issue_certificate", "USE", {"certificate_no": "C-1"})
    assert wf.outcome() == "granted"


def test_revised_cross_archive_can_return_to_the_called_search() -> None:
    _xml, parsed = _shipped("cross_archive_certificate")
    wf = Workflow.start(parsed.spec_json, START)
    wf = _single(wf, parsed.spec_json, "intake", "WINDOW", {"intake_decision": "accept"})
    (search,) = wf.ready_user_tasks()
    wf = _single(wf, parsed.spec_json, "record_search", "HOLDING", {"search_result": "no", "opinion": "未查到"})
    wf = wf.reset_to(search.task_id)
    wf = _single(wf, parsed.spec_json, "record_search", "HOLDING", {"search_result": "yes", "opinion": "补查查得"})
    (review,) = wf.ready_user_tasks()
    assert wf.task_data(review.task_id)["search_result"] == "yes"


def _vote_shipped(wf: Workflow, spec_json: str, lane: str, decision: str) -> Workflow:
    wf = Workflow.load(spec_json, wf.dump())
    (task,) = [t for t in wf.ready_user_tasks() if t.lane == lane]
    assert task.bpmn_id == "countersign" and task.form_key == "countersign_opinion"
    wf.complete_task(task.task_id, {"decision": decision, "opinion": f"{lane}意见"})
    return wf


def _to_countersign(parsed: ParsedProcess) -> Workflow:
    wf = Workflow.start(parsed.spec_json, START)
    wf = _single(wf, parsed.spec_json, "intake", "WINDOW", {"intake_decision": "accept"})
    wf = _single(wf, parsed.spec_json, "undertake", "GUIDANCE", {"recommendation": "approve", "opinion": "拟同意"})
    assert sorted(t.lane for t in wf.ready_user_tasks()) == ["HOLDING", "USE"]
    return wf


def test_delayed_opening_lists_its_steps_with_departments() -> None:
    _xml, parsed = _shipped("delayed_opening_approval")
    assert [(t.bpmn_id, t.lane, t.form_key, t.department_from) for t in parsed.user_tasks] == [
        ("intake", "WINDOW", "delayed_opening_application", None),
        ("undertake", "GUIDANCE", "licence_undertake", None),
        ("countersign", "GUIDANCE", "countersign_opinion", "department"),
        ("review", "GUIDANCE", "licence_review", None),
        ("approve", "LEADERSHIP", "licence_approval", None),
    ]


def test_delayed_opening_countersign_then_review_and_approval() -> None:
    _xml, parsed = _shipped("delayed_opening_approval")
    wf = _to_countersign(parsed)
    wf = _vote_shipped(wf, parsed.spec_json, "USE", "agree")
    wf = _vote_shipped(wf, parsed.spec_json, "HOLDING", "agree")
    (review,) = wf.ready_user_tasks()
    assert review.lane == "GUIDANCE"
    assert wf.task_data(review.task_id)["countersign_opinions"] == [
        {"department": "USE", "agree": True, "opinion": "USE意见"},
        {"department": "HOLDING", "agree": True, "opinion": "HOLDING意见"},
    ]
    wf = _single(wf, parsed.spec_json, "review", "GUIDANCE", {"decision": "approve", "opinion": "同意"})
    wf = _single(wf, parsed.spec_json, "approve", "LEADERSHIP",
                 {"decision": "approve", "opinion": "准予", "licence_no": "档延〔2026〕1号"})
    assert wf.outcome() == "granted"


def test_delayed_opening_first_disagreement_goes_to_review_which_refuses() -> None:
    _xml, parsed = _shipped("delayed_opening_approval")
    wf = _to_countersign(parsed)
    wf = _vote_shipped(wf, parsed.spec_json, "HOLDING", "disagree")
    (review,) = wf.ready_user_tasks()  # USE's countersign is withdrawn
    assert review.bpmn_id == "review"
    assert wf.task_data(review.task_id)["countersign_opinions"] == [
        {"department": "HOLDING", "agree": False, "opinion": "HOLDING意见"}]
    wf = _single(wf, parsed.spec_json, "review", "GUIDANCE", {"decision": "refuse", "opinion": "馆藏部不同意延期"})
    assert wf.outcome() == "refused" and wf.last_data()["opinion"] == "馆藏部不同意延期"


def test_delayed_opening_countersign_starts_afresh_after_a_return_to_undertake() -> None:
    _xml, parsed = _shipped("delayed_opening_approval")
    wf = _to_countersign(parsed)
    undertake = next(t for t in wf.completed_user_tasks() if t.bpmn_id == "undertake")
    wf = _vote_shipped(wf, parsed.spec_json, "HOLDING", "disagree")
    wf = wf.reset_to(undertake.task_id)
    wf = _single(wf, parsed.spec_json, "undertake", "GUIDANCE", {"recommendation": "approve", "opinion": "已协调"})
    wf = _vote_shipped(wf, parsed.spec_json, "HOLDING", "agree")
    wf = _vote_shipped(wf, parsed.spec_json, "USE", "agree")
    (review,) = wf.ready_user_tasks()
    assert [o["department"] for o in wf.task_data(review.task_id)["countersign_opinions"]] == ["HOLDING", "USE"]


_NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
       "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
       "dc": "http://www.omg.org/spec/DD/20100524/DC"}


@pytest.mark.parametrize("name", ["delayed_opening_approval", "cross_archive_certificate"])
def test_shipped_diagrams_draw_every_element_of_every_process(name: str) -> None:
    xml, _parsed = _shipped(name)
    root = etree.fromstring(xml)
    drawn = {d.get("bpmnElement"): d for d in root.iterfind(".//bpmndi:BPMNShape", _NS)}
    drawn.update({d.get("bpmnElement"): d for d in root.iterfind(".//bpmndi:BPMNEdge", _NS)})

    def box(element_id: str) -> tuple[float, ...]:
        bounds = drawn[element_id].find("dc:Bounds", _NS)
        x, y, w, h = (float(bounds.get(k)) for k in ("x", "y", "width", "height"))
        return x, y, x + w, y + h

    for process in root.iterfind("bpmn:process", _NS):
        elements = [e.get("id") for e in process if e.get("id") and not e.tag.endswith("laneSet")]
        assert set(elements) <= set(drawn), process.get("id")
        for lane in process.iterfind(".//bpmn:lane", _NS):
            lx1, ly1, lx2, ly2 = box(lane.get("id"))
            for ref in lane.iterfind("bpmn:flowNodeRef", _NS):
                x1, y1, x2, y2 = box(ref.text)
                assert lx1 <= x1 and x2 <= lx2 and ly1 <= y1 and y2 <= ly2, (lane.get("name"), ref.text)
    if name == "cross_archive_certificate":
        call = root.find(".//bpmn:callActivity[@id='holding_search']", _NS)
        assert call.get("calledElement") == "holding_archive_search"
        assert drawn["holding_search"].get("isExpanded") == "false"
