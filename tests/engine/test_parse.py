"""Deploy-time checks: hostile or broken XML never reaches the engine."""
from __future__ import annotations

import dataclasses
import json
import time

import pytest

from app.engine import MAX_BPMN_BYTES, BpmnError, ParsedProcess, parse_bpmn

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p" name="&xxe;" isExecutable="true"><bpmn:startEvent id="s"/></bpmn:process>
</bpmn:definitions>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p" name="&lol9;" isExecutable="true"><bpmn:startEvent id="s"/></bpmn:process>
</bpmn:definitions>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE definitions SYSTEM "http://example.invalid/evil.dtd">
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/></bpmn:process>
</bpmn:definitions>"""


def test_sample_process_parses_with_lanes_forms_and_properties(sample: ParsedProcess) -> None:
    assert sample.process_id == "cross_archive_certificate"
    tasks = {task.bpmn_id: task for task in sample.user_tasks}
    assert list(tasks) == ["intake", "record_search", "review", "issue_certificate"]
    assert {k: (t.name, t.lane, t.form_key) for k, t in tasks.items()} == {
        "intake": ("窗口受理", "WINDOW", "cross_archive_application"),
        "record_search": ("档案查询", "HOLDING", "record_search"),
        "review": ("利用审核", "USE", "utilisation_review"),
        "issue_certificate": ("出具证明", "USE", "certificate_issue"),
    }
    assert tasks["record_search"].properties["stepLimit"] == "2wd"
    assert tasks["review"].properties["stepLimit"] == "1wd"
    assert isinstance(json.loads(sample.spec_json), dict)


def test_parsed_process_is_frozen(sample: ParsedProcess) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.process_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize("payload", [XXE, BILLION_LAUGHS, EXTERNAL_DTD],
                         ids=["xxe", "billion-laughs", "external-dtd"])
def test_doctype_and_entities_are_refused(payload: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(BpmnError) as info:
        parse_bpmn(payload, "p")
    assert "DOCTYPE" in info.value.message
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("payload", [b"", b"hello, world", b'{"process": 1}', b"<a><b></a>",
                                     b"\xff\xfe\x00junk"])
def test_non_xml_is_refused(payload: bytes) -> None:
    with pytest.raises(BpmnError) as info:
        parse_bpmn(payload, "p")
    assert info.value.message


def test_xml_that_is_not_bpmn_is_refused() -> None:
    with pytest.raises(BpmnError) as info:
        parse_bpmn(b"<html><body>hi</body></html>", "p")
    assert "bpmn:definitions" in info.value.message


def test_text_instead_of_bytes_is_refused(sample_xml: bytes) -> None:
    with pytest.raises(BpmnError):
        parse_bpmn(sample_xml.decode(), "cross_archive_certificate")  # type: ignore[arg-type]


def test_ten_megabytes_of_junk_is_refused_quickly() -> None:
    junk = b"<" + b"x" * (10 * 1024 * 1024)
    started = time.perf_counter()
    with pytest.raises(BpmnError) as info:
        parse_bpmn(junk, "p")
    elapsed = time.perf_counter() - started
    assert "larger than" in info.value.message
    assert elapsed < 0.05, elapsed


def test_size_limit_is_two_mebibytes() -> None:
    assert MAX_BPMN_BYTES == 2 * 1024 * 1024


def test_flow_to_missing_element_is_refused_with_a_line(build) -> None:
    xml = build.wrap(
        '<bpmn:startEvent id="start" />\n'
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="nowhere" />'
    )
    with pytest.raises(BpmnError) as info:
        parse_bpmn(xml, "p")
    assert info.value.line == 5 and info.value.element_id == "f1"
    assert "nowhere" in info.value.message


@pytest.mark.parametrize("body, element_id", [
    ('<bpmn:startEvent id="start"><bpmn:outgoing>f9</bpmn:outgoing></bpmn:startEvent>', "start"),
    ('<bpmn:startEvent id="start" /><bpmn:exclusiveGateway id="g" default="zz" />'
     '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="g" />', "g"),
], ids=["dangling-outgoing", "unknown-default-flow"])
def test_dangling_references_are_refused(build, body: str, element_id: str) -> None:
    with pytest.raises(BpmnError) as info:
        parse_bpmn(build.wrap(body), "p")
    assert info.value.element_id == element_id


def test_process_without_start_event_is_refused(build) -> None:
    with pytest.raises(BpmnError) as info:
        parse_bpmn(build.wrap('<bpmn:userTask id="u" />'), "p")
    assert "start event" in info.value.message.lower()


def test_unknown_process_id_is_refused(sample_xml: bytes) -> None:
    with pytest.raises(BpmnError) as info:
        parse_bpmn(sample_xml, "no_such_process")
    assert "no_such_process" in info.value.message


def test_schema_violation_is_refused(build) -> None:
    xml = build.wrap('<bpmn:startEvent id="start" /><bpmn:notAnElement id="x" />')
    with pytest.raises(BpmnError) as info:
        parse_bpmn(xml, "p")
    assert info.value.line is not None
    assert "bpmn:notAnElement" in info.value.message


def test_service_tasks_are_refused(build) -> None:
    xml = build.wrap('<bpmn:startEvent id="start" /><bpmn:serviceTask id="svc" />'
                     '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="svc" />')
    with pytest.raises(BpmnError) as info:
        parse_bpmn(xml, "p")
    assert info.value.element_id == "svc"


def test_error_string_names_element_and_line() -> None:
    error = BpmnError("Bad script", line=12, element_id="calc")
    assert str(error) == "Bad script (element calc, line 12)"


def test_doctype_hidden_from_the_byte_scan_is_still_refused(build) -> None:
    # UTF-16 defeats the quick byte scan; the check on the parsed tree must catch it.
    text = build.wrap('<bpmn:startEvent id="start" />').decode()
    text = text.replace("<bpmn:definitions", "<!DOCTYPE definitions>\n<bpmn:definitions", 1)
    with pytest.raises(BpmnError) as info:
        parse_bpmn(text.encode("utf-16"), "p")
    assert "DOCTYPE" in info.value.message


def test_shipped_diagram_draws_every_element_inside_its_lane(sample_xml: bytes) -> None:
    from lxml import etree

    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
          "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
          "dc": "http://www.omg.org/spec/DD/20100524/DC"}
    root = etree.fromstring(sample_xml)
    process = root.find("bpmn:process", ns)
    elements = [e.get("id") for e in process if e.get("id") and not e.tag.endswith("laneSet")]
    drawn = {d.get("bpmnElement"): d for d in root.iterfind(".//bpmndi:BPMNShape", ns)}
    drawn.update({d.get("bpmnElement"): d for d in root.iterfind(".//bpmndi:BPMNEdge", ns)})
    assert set(elements) <= set(drawn)

    def box(element_id: str) -> tuple[float, float, float, float]:
        bounds = drawn[element_id].find("dc:Bounds", ns)
        x, y, w, h = (float(bounds.get(k)) for k in ("x", "y", "width", "height"))
        return x, y, x + w, y + h

    for lane in process.iterfind(".//bpmn:lane", ns):
        lx1, ly1, lx2, ly2 = box(lane.get("id"))
        for ref in lane.iterfind("bpmn:flowNodeRef", ns):
            x1, y1, x2, y2 = box(ref.text)
            assert lx1 <= x1 and x2 <= lx2 and ly1 <= y1 and y2 <= ly2, (lane.get("name"), ref.text)
