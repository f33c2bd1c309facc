"""Fixtures for the engine tests: BPMN documents built in code, no Flask app or database."""
from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from app.engine import ParsedProcess, parse_bpmn

SAMPLE_FILE = Path(__file__).resolve().parents[2] / "workflows" / "cross_archive_certificate.bpmn"
SAMPLE_ID = "cross_archive_certificate"

_HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'
    ' id="definitions" targetNamespace="http://example.org/bpmn">\n'
)


def wrap_process(body: str, process_id: str = "p") -> bytes:
    """A BPMN document with one process holding `body`."""
    return (f'{_HEADER}<bpmn:process id="{process_id}" isExecutable="true">\n{body}\n'
            f"</bpmn:process>\n</bpmn:definitions>\n").encode()


def flow(flow_id: str, source: str, target: str, condition: str | None = None) -> str:
    if condition is None:
        return f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}" />'
    return (f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">'
            f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(condition)}'
            "</bpmn:conditionExpression></bpmn:sequenceFlow>")


def end_event(end_id: str, result: str) -> str:
    return (f'<bpmn:endEvent id="{end_id}"><bpmn:extensionElements><spiffworkflow:properties>'
            f'<spiffworkflow:property name="result" value="{result}" />'
            "</spiffworkflow:properties></bpmn:extensionElements></bpmn:endEvent>")


def script_process(script: str) -> bytes:
    """start → user task `form` → script task `calc` → user task `after` → end."""
    return wrap_process(
        '<bpmn:startEvent id="start" />'
        '<bpmn:userTask id="form" name="Form" />'
        '<bpmn:scriptTask id="calc" name="Calc">'
        f"<bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>"
        '<bpmn:userTask id="after" name="After" />'
        + end_event("end", "done")
        + flow("f1", "start", "form") + flow("f2", "form", "calc")
        + flow("f3", "calc", "after") + flow("f4", "after", "end")
    )


def gateway_process(condition: str) -> bytes:
    """start → user task `decide` → gateway `gw`: `condition` → end_yes, default → end_no."""
    return wrap_process(
        '<bpmn:startEvent id="start" />'
        '<bpmn:userTask id="decide" name="Decide" />'
        '<bpmn:exclusiveGateway id="gw" default="f_no" />'
        + end_event("end_yes", "yes") + end_event("end_no", "no")
        + flow("f1", "start", "decide") + flow("f2", "decide", "gw")
        + flow("f_yes", "gw", "end_yes", condition) + flow("f_no", "gw", "end_no")
    )


def loop_process() -> bytes:
    """A user task that a gateway sends back to itself while `again` is true (a 退回 loop)."""
    return wrap_process(
        '<bpmn:startEvent id="start" />'
        '<bpmn:userTask id="work" name="Work" />'
        '<bpmn:exclusiveGateway id="gw" default="f_done" />'
        + end_event("end", "done")
        + flow("f1", "start", "work") + flow("f2", "work", "gw")
        + flow("f_again", "gw", "work", "again") + flow("f_done", "gw", "end")
    )


def timer_process() -> bytes:
    """start → timer waiting until the ISO time in `due` → user task `after` → end."""
    return wrap_process(
        '<bpmn:startEvent id="start" />'
        '<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition id="timer">'
        '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">due</bpmn:timeDate>'
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
        '<bpmn:userTask id="after" name="After" />'
        + end_event("end", "done")
        + flow("f1", "start", "wait") + flow("f2", "wait", "after") + flow("f3", "after", "end")
    )


@pytest.fixture(scope="session")
def sample_xml() -> bytes:
    """The shipped cross-archive certificate BPMN."""
    return SAMPLE_FILE.read_bytes()


@pytest.fixture(scope="session")
def sample(sample_xml: bytes) -> ParsedProcess:
    """The shipped process, parsed once."""
    return parse_bpmn(sample_xml, SAMPLE_ID)


@pytest.fixture()
def build() -> type:
    """Namespace of BPMN builders, as fixtures cannot be imported from conftest."""
    class Builders:
        wrap = staticmethod(wrap_process)
        script = staticmethod(script_process)
        gateway = staticmethod(gateway_process)
        loop = staticmethod(loop_process)
        timer = staticmethod(timer_process)
    return Builders
