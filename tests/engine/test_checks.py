"""The full check of a document: every problem at once, with its element and line."""
from __future__ import annotations

from app.engine import ERROR, WARNING, BpmnError, check_bpmn, parse_bpmn
from tests.engine.conftest import end_event, flow, wrap_process


def _codes(check) -> list[tuple[str, str | None, str]]:
    return [(problem.code, problem.element_id, problem.severity) for problem in check.problems]


def test_shipped_process_has_no_errors_and_names_its_process(sample_xml) -> None:
    check = check_bpmn(sample_xml)
    assert check.ok and check.process_id == "cross_archive_certificate"
    assert check.parsed is not None and [t.bpmn_id for t in check.parsed.user_tasks][0] == "intake"
    assert {name for _id, name, _line in check.lanes} >= {"WINDOW", "USE", "HOLDING"}


def test_every_refused_script_is_listed_with_its_element_and_line() -> None:
    xml = wrap_process(
        '<bpmn:startEvent id="start" />\n'
        '<bpmn:scriptTask id="one"><bpmn:script>import os</bpmn:script></bpmn:scriptTask>\n'
        '<bpmn:scriptTask id="two"><bpmn:script>x = ().__class__</bpmn:script></bpmn:scriptTask>\n'
        + end_event("end", "done") + flow("f1", "start", "one") + flow("f2", "one", "two")
        + flow("f3", "two", "end"))
    check = check_bpmn(xml, "p")
    assert _codes(check) == [("bpmn.script_refused", "one", ERROR), ("bpmn.script_refused", "two", ERROR)]
    assert [problem.line for problem in check.problems] == [5, 6]
    assert check.parsed is None and not check.ok


def test_gateway_loop_is_a_warning_naming_the_loop(build) -> None:
    check = check_bpmn(build.loop(), "p")
    assert check.ok and check.parsed is not None
    [warning] = check.problems
    assert warning.code == "bpmn.gateway_loop" and warning.severity == WARNING
    assert warning.element_id == "work" and warning.params["elements"] == "work, gw"


def test_loop_marker_is_not_a_gateway_loop() -> None:
    xml = wrap_process(
        '<bpmn:startEvent id="start" /><bpmn:userTask id="repeat">'
        '<bpmn:standardLoopCharacteristics><bpmn:loopCondition>done</bpmn:loopCondition>'
        '</bpmn:standardLoopCharacteristics></bpmn:userTask>'
        + end_event("end", "done") + flow("f1", "start", "repeat") + flow("f2", "repeat", "end"))
    assert check_bpmn(xml, "p").problems == []


def test_missing_called_process_names_the_call_activity() -> None:
    xml = wrap_process(
        '<bpmn:startEvent id="start" /><bpmn:callActivity id="call_review" calledElement="review" />'
        + end_event("end", "done") + flow("f1", "start", "call_review") + flow("f2", "call_review", "end"))
    check = check_bpmn(xml, "p")
    assert _codes(check) == [("bpmn.called_process_missing", "call_review", ERROR)]
    assert check.problems[0].params == {"process": "review"}
    assert check.problems[0].line == 4


def test_all_dangling_references_are_listed() -> None:
    xml = wrap_process('<bpmn:startEvent id="start" />' + end_event("end", "done")
                       + flow("f1", "start", "nowhere") + flow("f2", "gone", "end"))
    check = check_bpmn(xml, "p")
    assert [(p.code, p.element_id) for p in check.problems] == [("bpmn.reference", "f1"), ("bpmn.reference", "f2")]


def test_unsafe_document_stops_at_the_first_problem() -> None:
    check = check_bpmn(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>')
    assert _codes(check) == [("xml.doctype", None, ERROR)]


def test_process_is_chosen_when_only_one_is_executable_and_asked_for_otherwise(build) -> None:
    assert check_bpmn(build.loop()).process_id == "p"
    two = build.loop().replace(b"</bpmn:definitions>",
                               b'<bpmn:process id="q" isExecutable="true"><bpmn:startEvent id="qs"/>'
                               b"</bpmn:process></bpmn:definitions>")
    assert check_bpmn(two).problems[0].code == "bpmn.process_ambiguous"
    assert check_bpmn(two, "p").ok


def test_parse_raises_the_first_error_with_its_code() -> None:
    xml = wrap_process('<bpmn:startEvent id="start" /><bpmn:scriptTask id="s">'
                       "<bpmn:script>import os</bpmn:script></bpmn:scriptTask>"
                       + end_event("end", "done") + flow("f1", "start", "s") + flow("f2", "s", "end"))
    try:
        parse_bpmn(xml, "p")
    except BpmnError as exc:
        assert exc.code == "bpmn.script_refused" and exc.element_id == "s"
    else:
        raise AssertionError("the import was not refused")
