"""Safe reading of BPMN documents and the pieces the checks and the parser share."""
from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from .errors import BpmnError
from .sandbox import refusal_reason
from .serialization import specs_to_json

MAX_BPMN_BYTES = 2 * 1024 * 1024
# The shared schema validator keeps an error log per instance: validate one document at a time.
_validator_lock = threading.Lock()
_DOCTYPE_REFUSED = "DOCTYPE and entity declarations are not allowed in BPMN documents."
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
_BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
_DEFINITIONS_TAG = f"{_BPMN}definitions"
# Long namespace URIs make schema messages unreadable; show the usual prefixes instead.
_PREFIXES = {
    _BPMN: "bpmn:", "{http://www.omg.org/spec/BPMN/20100524/DI}": "bpmndi:",
    "{http://www.omg.org/spec/DD/20100524/DC}": "dc:", "{http://www.omg.org/spec/DD/20100524/DI}": "di:",
    "{http://spiffworkflow.org/bpmn/schema/1.0/core}": "spiffworkflow:",
}
# Extension property of a user task (or call activity) naming the task-data variable that holds the
# department code to route to at run time, e.g. the `department` item of a countersign (会签).
DEPARTMENT_FROM = "departmentFrom"
# Attributes of specs and event definitions that hold Python source: name -> is an expression.
_SOURCE_ATTRIBUTES = {
    "script": False, "prescript": False, "postscript": False,
    "expression": True, "cardinality": True, "condition": True, "completion_condition": True,
}


@dataclass(frozen=True)
class UserTaskInfo:
    """A human task of a process: where it is routed (lane) and which form it shows."""

    bpmn_id: str
    name: str | None
    lane: str | None
    form_key: str | None
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def department_from(self) -> str | None:
        """The task-data variable naming the department at run time (countersign children), if any.

        `lane` is then only the fallback used when that variable holds no department code.
        """
        return self.properties.get(DEPARTMENT_FROM) or None


@dataclass(frozen=True)
class ParsedProcess:
    """A validated process, ready to be stored as one process version."""

    process_id: str
    spec_json: str
    user_tasks: tuple[UserTaskInfo, ...]
    name: str | None = None


def safe_root(xml: bytes) -> etree._Element:
    """Parse untrusted bytes without DTDs, entities or network access."""
    if not isinstance(xml, (bytes, bytearray)):
        raise BpmnError("A BPMN document must be given as bytes.", code="xml.not_xml")
    if len(xml) > MAX_BPMN_BYTES:
        raise BpmnError(f"The BPMN document is larger than {MAX_BPMN_BYTES // (1024 * 1024)} MiB.",
                        code="xml.too_large")
    # Cheap early refusal with a clear message; the DOCTYPE check after parsing is the real guard
    # (it also covers encodings this byte scan cannot see).
    first_element = _FIRST_ELEMENT.search(xml)
    if b"<!DOCTYPE" in xml[: first_element.start() if first_element else len(xml)]:
        raise BpmnError(_DOCTYPE_REFUSED, line=1, code="xml.doctype")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             dtd_validation=False, huge_tree=False)
    try:
        root = etree.fromstring(bytes(xml), parser)
    except etree.XMLSyntaxError as exc:
        raise BpmnError(f"The document is not well-formed XML: {exc.msg}", line=exc.lineno,
                        code="xml.not_xml") from None
    if root is None:
        raise BpmnError("The document is empty.", code="xml.not_xml")
    docinfo = root.getroottree().docinfo
    # Entities can only be declared in a DTD, so refusing any DOCTYPE rules out XXE and
    # entity-expansion bombs, whatever the parser would have done with them.
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise BpmnError(_DOCTYPE_REFUSED, line=1, code="xml.doctype")
    if root.tag != _DEFINITIONS_TAG:
        raise BpmnError("The document is not BPMN 2.0: its root element must be bpmn:definitions.",
                        line=root.sourceline, code="xml.not_bpmn")
    try:
        # Checked after the safety checks above. Versions are stored and shown as text: one encoding for every file.
        bytes(xml).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BpmnError(f"The BPMN document must be encoded in UTF-8 (byte {exc.start} is not).",
                        code="xml.encoding") from None
    return root


def _readable(message: str) -> str:
    for uri, prefix in _PREFIXES.items():
        message = message.replace(uri, prefix)
    return message


def element_index(root: etree._Element) -> dict[str, etree._Element]:
    """Elements of a document by id (the first one when an id is used twice)."""
    index: dict[str, etree._Element] = {}
    for element in root.iter(etree.Element):
        element_id = element.get("id")
        if element_id is not None:
            index.setdefault(element_id, element)
    return index


def _problem(message: str, element: etree._Element, element_id: str | None) -> BpmnError:
    return BpmnError(message, line=element.sourceline, element_id=element_id, code="bpmn.reference")


def reference_problems(root: etree._Element, ids: dict[str, etree._Element]) -> Iterator[BpmnError]:
    """Duplicate ids and dangling flow references, which the engine reports confusingly or not at all."""
    for element in root.iter(etree.Element):
        element_id = element.get("id")
        if element_id is not None and ids.get(element_id) is not element:
            yield _problem(f"The id {element_id} is used twice.", element, element_id)
    for flow in root.iter(f"{_BPMN}sequenceFlow"):
        for attribute in ("sourceRef", "targetRef"):
            ref = flow.get(attribute)
            if not ref or ref not in ids:
                yield _problem(f"Sequence flow {flow.get('id')} has {attribute} {ref!r}, "
                               "which is not an element of the document.", flow, flow.get("id"))
    for ref_element in root.iter(f"{_BPMN}incoming", f"{_BPMN}outgoing", f"{_BPMN}flowNodeRef"):
        ref = (ref_element.text or "").strip()
        if ref not in ids:
            owner_id = ref_element.getparent().get("id")
            kind = etree.QName(ref_element).localname
            yield _problem(f"{kind} {ref!r} of {owner_id} is not an element of the document.",
                           ref_element, owner_id)
    for element_id, element in ids.items():
        default = element.get("default")
        if default is None or not element.tag.startswith(_BPMN):
            continue
        flow = ids.get(default)
        if flow is None or flow.tag != f"{_BPMN}sequenceFlow" or flow.get("sourceRef") != element_id:
            yield _problem(f"The default flow {default!r} of {element_id} is not one of its "
                           "outgoing sequence flows.", element, element_id)


def lanes_of(root: etree._Element) -> list[tuple[str | None, str | None, int | None]]:
    """(element id, name, line) of every lane; a lane's name is the department code it routes to."""
    return [(lane.get("id"), lane.get("name"), lane.sourceline) for lane in root.iter(f"{_BPMN}lane")]


def callers_of(root: etree._Element, process_id: str) -> list[etree._Element]:
    """Call activities calling a process."""
    return [element for element in root.iter(f"{_BPMN}callActivity") if element.get("calledElement") == process_id]


def calls_to_missing_processes(root: etree._Element) -> list[etree._Element]:
    """Call activities whose called process is not in the document."""
    known = {element.get("id") for element in root.iter(f"{_BPMN}process")}
    return [element for element in root.iter(f"{_BPMN}callActivity") if element.get("calledElement") not in known]


def process_ids(root: etree._Element) -> list[str]:
    """Ids of the executable processes of a document, in document order."""
    return [element.get("id") for element in root.iter(f"{_BPMN}process")
            if element.get("id") and element.get("isExecutable", "false") == "true"]


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _event_definitions(task_spec: Any) -> Iterator[Any]:
    definition = getattr(task_spec, "event_definition", None)
    if definition is None:
        return
    yield definition
    yield from getattr(definition, "event_definitions", None) or ()


def _sources(process: BpmnProcessSpec) -> Iterator[tuple[str, str, str, bool]]:
    """(element id, what, source, is expression) for every piece of Python in a process spec."""
    for task_spec in process.task_specs.values():
        element_id = getattr(task_spec, "bpmn_id", None) or task_spec.name
        owners = [task_spec, *_event_definitions(task_spec)]
        for owner in owners:
            for attribute, is_expression in _SOURCE_ATTRIBUTES.items():
                source = getattr(owner, attribute, None)
                if isinstance(source, str) and source.strip():
                    yield element_id, attribute, source, is_expression
            for prop in getattr(owner, "correlation_properties", None) or ():
                yield element_id, "correlation", prop.retrieval_expression, True
        for condition, target in getattr(task_spec, "cond_task_specs", None) or ():
            source = condition.args[0] if condition is not None and condition.args else None
            if isinstance(source, str):
                yield element_id, f"condition towards {target}", source, True


def service_task_problems(root: etree._Element) -> Iterator[BpmnError]:
    """Service tasks: the app calls external systems itself, never from a process."""
    for element in root.iter(f"{_BPMN}serviceTask"):
        yield BpmnError("Service tasks are not supported; use a user task or a script task.",
                        line=element.sourceline, element_id=element.get("id"), code="bpmn.service_task")


def process_problems(process: BpmnProcessSpec, ids: dict[str, etree._Element]) -> Iterator[BpmnError]:
    """Scripts, conditions and timer expressions the restricted compiler refuses."""
    def line(element_id: str | None) -> int | None:
        element = ids.get(element_id or "")
        return element.sourceline if element is not None else None

    for element_id, what, source, is_expression in _sources(process):
        reason = refusal_reason(source, expression=is_expression)
        if reason:
            yield BpmnError(f"The {what} of {element_id} is not allowed: {reason}",
                            line=line(element_id), element_id=element_id, code="bpmn.script_refused")


def user_tasks(spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]) -> tuple[UserTaskInfo, ...]:
    """Human tasks of a process and of the processes it calls, in the order they are reached.

    A task of a called process that has no lane of its own is routed to the lane of the activity
    calling it (as the engine wrapper does at run time), so it is listed with that lane.
    """
    seen: dict[str, UserTaskInfo] = {}

    def visit(process: BpmnProcessSpec, inherited_lane: str | None, calling: tuple[str, ...]) -> None:
        for task_spec in process.task_specs.values():
            lane = getattr(task_spec, "lane", None) or inherited_lane
            called = subprocess_specs.get(getattr(task_spec, "spec", None) or "")
            # A process calling itself (directly or not) is left to the engine; do not loop here.
            if isinstance(task_spec, SubWorkflowTask) and called is not None and called.name not in calling:
                visit(called, lane, (*calling, called.name))
                continue
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if not task_spec.manual or not bpmn_id or bpmn_id in seen:
                continue
            extensions = getattr(task_spec, "extensions", None) or {}
            properties = {str(k): str(v) for k, v in (extensions.get("properties") or {}).items()}
            seen[bpmn_id] = UserTaskInfo(bpmn_id=bpmn_id, name=task_spec.bpmn_name, lane=lane,
                                         form_key=properties.get("formKey"), properties=properties)

    visit(spec, None, (spec.name,))
    # Subprocess specs nothing reached (e.g. only called from an unreachable branch) still count.
    for name, process in subprocess_specs.items():
        if process is not None:
            visit(process, None, (spec.name, name))
    return tuple(seen.values())


@contextmanager
def as_bpmn_error(ids: dict[str, etree._Element], code: str) -> Iterator[None]:
    """Turn the engine's parse and validation errors into BpmnError with a line when known."""
    try:
        yield
    except BpmnError:
        raise
    except ValidationException as exc:
        element_id = getattr(exc, "id", None) or None
        element = ids.get(element_id or "")
        line = _int_or_none(getattr(exc, "line_number", None)) or (element.sourceline if element is not None else None)
        message = _readable(str(exc.args[0])) if exc.args else "Invalid BPMN."
        raise BpmnError(message, line=line, element_id=element_id, code=code) from None
    except Exception as exc:  # the parser raises many kinds of errors on odd documents
        raise BpmnError(f"The BPMN document cannot be parsed: {type(exc).__name__}: {exc}", code=code) from None


def validate_schema(root: etree._Element, ids: dict[str, etree._Element]) -> None:
    """Check the document against the BPMN 2.0 schema; BpmnError on the first violation."""
    with as_bpmn_error(ids, "bpmn.schema"), _validator_lock:
        VALIDATOR.validate(root)


def parse_specs(root: etree._Element, ids: dict[str, etree._Element],
                process_id: str) -> tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec | None]]:
    """The engine's specs of one process and of the processes it calls (None when not in the document)."""
    parser = SpiffBpmnParser()
    with as_bpmn_error(ids, "bpmn.parse"):
        # Hand over the tree parsed above, so the document is never re-parsed with default settings.
        parser.add_bpmn_xml(root)
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    if spec.name != process_id:
        raise BpmnError(f"No process with id {process_id!r} in the document (found {spec.name!r}).",
                        code="bpmn.process_missing")
    return spec, subprocess_specs


def serialized(spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]) -> str:
    """JSON text of the specs, as stored with a process version."""
    return specs_to_json(spec, subprocess_specs)
