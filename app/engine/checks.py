"""Every engine-level check of a BPMN document at once, each problem with its element and line.

The app adds its own checks (departments, forms, time limits) on top of the result; parsing for
deployment is this same check, stopping at the first error.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import BpmnError
from .loops import gateway_loops
from .parsing import (
    ParsedProcess,
    callers_of,
    calls_to_missing_processes,
    element_index,
    lanes_of,
    parse_specs,
    process_ids,
    process_problems,
    reference_problems,
    safe_root,
    serialized,
    service_task_problems,
    user_tasks,
    validate_schema,
)

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One finding: `code` names the rule, `message` says it in English for logs and the CLI."""

    code: str
    message: str
    element_id: str | None = None
    line: int | None = None
    severity: str = ERROR
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, error: BpmnError, **params: str) -> Problem:
        return cls(error.code, error.message, error.element_id, error.line, ERROR, params)


@dataclass
class BpmnCheck:
    """What checking one document found; `parsed` is set when the process could be parsed."""

    process_id: str | None = None
    problems: list[Problem] = field(default_factory=list)
    parsed: ParsedProcess | None = None
    # (element id, name, line) of every lane; the app checks the names against its departments.
    lanes: list[tuple[str | None, str | None, int | None]] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.severity == ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors

    def line_of(self, element_id: str | None) -> int | None:
        return self.lines.get(element_id or "")


def _which_process(root, wanted: str | None) -> str:
    if wanted is not None:
        return wanted
    # Processes other processes call are parts, not the process a case starts on.
    executable = [pid for pid in process_ids(root) if not callers_of(root, pid)]
    if len(executable) == 1:
        return executable[0]
    if not executable:
        raise BpmnError("The document has no executable process (isExecutable=\"true\").",
                        code="bpmn.process_missing")
    raise BpmnError(f"The document has several executable processes ({', '.join(executable)}); "
                    "say which one to use.", code="bpmn.process_ambiguous")


def check_bpmn(xml: bytes, process_id: str | None = None) -> BpmnCheck:
    """Check a document; `process_id` None means its only executable process.

    Unsafe, unreadable or schema-invalid documents stop at their first problem: nothing after
    that can be trusted. Past the schema, every problem is collected.
    """
    check = BpmnCheck(process_id=process_id)
    try:
        root = safe_root(xml)
        ids = element_index(root)
        check.lines = {element_id: element.sourceline for element_id, element in ids.items()}
        check.lanes = lanes_of(root)
        validate_schema(root, ids)
        check.process_id = _which_process(root, process_id)
    except BpmnError as exc:
        check.problems.append(Problem.of(exc))
        return check
    check.problems.extend(Problem.of(error) for error in reference_problems(root, ids))
    check.problems.extend(Problem.of(error) for error in service_task_problems(root))
    for caller in calls_to_missing_processes(root):
        name = caller.get("calledElement") or ""
        check.problems.append(Problem(
            "bpmn.called_process_missing", f"{caller.get('id')} calls process {name!r}, which is not in the document.",
            caller.get("id"), caller.sourceline, params={"process": name}))
    if check.problems:
        return check  # the engine's parser stumbles over dangling references
    try:
        spec, subprocess_specs = parse_specs(root, ids, check.process_id)
    except BpmnError as exc:
        check.problems.append(Problem.of(exc))
        return check
    for process in (spec, *subprocess_specs.values()):
        check.problems.extend(Problem.of(error) for error in process_problems(process, ids))
    for loop in gateway_loops(root):
        check.problems.append(Problem(
            "bpmn.gateway_loop",
            f"Sequence flows loop through {', '.join(loop)}: every round deepens the case's task tree. "
            "Use a loop marker or a subprocess for repeats.",
            loop[0], check.lines.get(loop[0]), WARNING, {"elements": ", ".join(loop)}))
    if check.ok:
        check.parsed = ParsedProcess(
            process_id=check.process_id, spec_json=serialized(spec, subprocess_specs),
            user_tasks=user_tasks(spec, subprocess_specs),
            name=spec.description if spec.description != check.process_id else None)
    return check


def parse_bpmn(xml: bytes, process_id: str) -> ParsedProcess:
    """Validate a BPMN document and return the serialized spec of one of its processes.

    Raises BpmnError with the first error found; warnings do not stop it.
    """
    check = check_bpmn(xml, process_id)
    if check.parsed is None:
        first = check.errors[0]
        raise BpmnError(first.message, line=first.line, element_id=first.element_id, code=first.code)
    return check.parsed
