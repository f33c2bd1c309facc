"""Every check a process must pass before deployment, worded for the designer.

The engine checks the document itself (safety, schema, references, scripts, loops); here the app
adds what only it knows: departments, forms, time limits and the service item's settings.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import jsonschema
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.engine import ERROR, MAX_BPMN_BYTES, WARNING, BpmnCheck, Problem, check_bpmn
from app.errors import ValidationFailed
from app.extensions import db
from app.models import Department
from app.services.processes.step_limits import parse_step_limit
from app.taskforms import get_registry
from app.taskforms.errors import InvalidForm
from app.taskforms.registry import form_from_schema, is_form_key

# How each engine rule is worded; %(detail)s is the engine's own (English) account.
_ENGINE_MESSAGES = {
    "xml.too_large": _l("The file is larger than %(mib)s MiB."),
    "xml.doctype": _l("DOCTYPE and entity declarations are not allowed in BPMN files "
                      "(they open the door to XXE and entity-expansion attacks)."),
    "xml.not_xml": _l("The file is not well-formed XML: %(detail)s"),
    "xml.not_bpmn": _l("The file is not BPMN 2.0: its root element must be bpmn:definitions."),
    "xml.encoding": _l("The file must be encoded in UTF-8."),
    "bpmn.schema": _l("The file does not follow the BPMN 2.0 schema: %(detail)s"),
    "bpmn.reference": _l("Broken reference: %(detail)s"),
    "bpmn.parse": _l("The process cannot be read: %(detail)s"),
    "bpmn.process_missing": _l("The process cannot be found: %(detail)s"),
    "bpmn.process_ambiguous": _l("Choose the process to deploy: %(detail)s"),
    "bpmn.called_process_missing": _l("%(element)s calls process %(process)s, which is not in the file."),
    "bpmn.service_task": _l("Service tasks are not supported; use a user task or a script task."),
    "bpmn.script_refused": _l("Script or expression not allowed here: %(detail)s"),
    "bpmn.gateway_loop": _l("Sequence flows loop through %(elements)s: each round deepens the case's task "
                            "tree. Use a loop marker or a subprocess for repeats."),
}


@dataclass(frozen=True)
class Finding:
    """A problem in the designer's language, with where it is."""

    severity: str
    code: str
    message: str
    element_id: str | None = None
    line: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ProcessCheck:
    """The engine's check plus the app's findings, errors first."""

    engine: BpmnCheck
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == WARNING]

    def as_dicts(self) -> list[dict]:
        return [finding.as_dict() for finding in self.findings]

    def summary(self) -> str:
        """The errors on one line, for a refusal message and the command line."""
        return "; ".join(_where(f) + f.message for f in self.errors)


class ProcessRefused(ValidationFailed):
    """Deployment refused by the checks; `problems` lists every finding for the API and pages."""

    def __init__(self, check: ProcessCheck) -> None:
        super().__init__(_("The BPMN file was refused: %(reason)s", reason=check.summary()))
        self.problems = check.as_dicts()


def _where(finding: Finding) -> str:
    parts = [part for part in (finding.element_id, _("line %(line)s", line=finding.line) if finding.line else None) if part]
    return f"[{', '.join(parts)}] " if parts else ""


def _engine_finding(problem: Problem) -> Finding:
    template = _ENGINE_MESSAGES.get(problem.code)
    params = {"detail": problem.message, "element": problem.element_id or "-",
              "mib": str(MAX_BPMN_BYTES // (1024 * 1024)), **problem.params}
    message = str(template) % params if template is not None else problem.message
    return Finding(problem.severity, problem.code, message, problem.element_id, problem.line)


def _lane_findings(check: BpmnCheck, departments: set[str]) -> list[Finding]:
    return [Finding(ERROR, "lane.unknown", _("Lane %(lane)s is not a known department code.", lane=name),
                    lane_id, line)
            # A lane without a name routes nothing: its user tasks are reported when they need a department.
            for lane_id, name, line in check.lanes if name and name not in departments]


def _task_findings(check: BpmnCheck, form_exists) -> list[Finding]:
    findings = []
    for task in check.parsed.user_tasks:
        line = check.line_of(task.bpmn_id)

        def add(code: str, message: str, task=task, line=line) -> None:
            findings.append(Finding(ERROR, code, message, task.bpmn_id, line))

        # A countersign child (departmentFrom) takes its department from case data at run time.
        if task.lane is None and task.department_from is None:
            add("task.no_department", _("User task %(task)s is not in a department lane.", task=task.bpmn_id))
        try:
            parse_step_limit(task.properties.get("stepLimit"))
        except ValueError:
            add("step_limit.invalid", _("User task %(task)s: time limit %(limit)s does not parse "
                                        "(use e.g. 2wd for working days, 3d or 4h).",
                                        task=task.bpmn_id, limit=task.properties.get("stepLimit")))
        if not task.form_key:
            add("form.missing", _("User task %(task)s names no form (formKey).", task=task.bpmn_id))
        elif not form_exists(task.form_key):
            add("form.unknown", _("User task %(task)s: form %(form)s does not exist.",
                                  task=task.bpmn_id, form=task.form_key))
    return findings


def _form_findings(forms: dict) -> list[Finding]:
    findings = []
    for key, schema in forms.items():
        if not is_form_key(key):
            findings.append(Finding(ERROR, "form.invalid", _(
                "Form key %(form)s must start with a lowercase letter and hold only lowercase letters, "
                "digits and underscores.", form=key)))
            continue
        try:
            form_from_schema(key, schema)
        except InvalidForm as exc:
            findings.append(Finding(ERROR, "form.invalid", _("Form %(form)s is not a valid form definition: "
                                                             "%(detail)s", form=key, detail=exc.reason)))
    return findings


def _item_findings(item: dict, check: BpmnCheck, schema: dict) -> list[Finding]:
    data = {**item, "process_id": check.process_id}
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path)
        return [Finding(ERROR, "item.invalid", _("Service item settings%(where)s: %(detail)s",
                                                 where=f" ({where})" if where else "", detail=exc.message))]
    if check.parsed is not None and data["intake_form"] not in {t.form_key for t in check.parsed.user_tasks}:
        return [Finding(ERROR, "item.intake_form", _("Service item settings: no user task uses the intake form "
                                                     "%(form)s.", form=data["intake_form"]))]
    return []


def check_process(xml: bytes, process_id: str | None = None, forms: dict | None = None,
                  item: dict | None = None, item_schema: dict | None = None) -> ProcessCheck:
    """All checks of a BPMN document, with the forms and item settings that come with it."""
    forms = forms or {}
    engine = check_bpmn(xml, process_id)
    findings = [_engine_finding(problem) for problem in engine.problems]
    findings += _form_findings(forms)
    if engine.process_id is not None and engine.lines:
        findings += _lane_findings(engine, set(db.session.scalars(select(Department.code).where(Department.is_active))))
        if engine.parsed is not None:
            # One look at the forms folder and the deployed forms, not one per task.
            known_forms = set(get_registry().keys()) | set(forms)
            findings += _task_findings(engine, known_forms.__contains__)
        if item is not None and item_schema is not None:
            findings += _item_findings(item, engine, item_schema)
    findings.sort(key=lambda finding: finding.severity != ERROR)
    return ProcessCheck(engine, findings)
