"""Service-item catalogue and process versions, deployed from the workflows folder."""
from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.engine import parse_bpmn
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import Department, ProcessVersion, ServiceItem, User
from app.models.archive import CLASSIFICATIONS
from app.models.item import CASE_TYPES, LIMIT_UNITS, RETENTION_PERIODS
from app.services.processes.checks import ProcessRefused, check_process

# Who applies, beyond the applicant in person: these make further materials required.
APPLICATION_CONDITIONS = ("agent", "guardian", "heir")

_LIMIT = {
    "type": "object", "required": ["value", "unit"], "additionalProperties": False,
    "properties": {"value": {"type": "integer", "minimum": 0}, "unit": {"enum": list(LIMIT_UNITS)}},
}
PROCESS_ID_SHAPE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}")
# The shape of a `<name>.item.toml` file next to its BPMN.
ITEM_FILE_SCHEMA = {
    "type": "object",
    "required": ["code", "name", "case_type", "process_id", "intake_form", "retention",
                 "statutory_limit", "committed_limit", "materials"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "string", "pattern": "^[0-9A-Z]{1,31}$"},
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "name_en": {"type": "string", "maxLength": 200},
        "description": {"type": "string"},
        "fee": {"type": "string"},
        "legal_basis": {"type": "string"},
        "supplement_days": {"type": "integer", "minimum": 1, "maximum": 365},
        "pre_review_days": {"type": "integer", "minimum": 1, "maximum": 60},
        "case_type": {"enum": list(CASE_TYPES)},
        "process_id": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_.-]*$"},
        "intake_form": {"type": "string"},
        "retention": {"enum": list(RETENTION_PERIODS)},
        "classification": {"enum": list(CLASSIFICATIONS)},
        "statutory_limit": _LIMIT,
        "committed_limit": _LIMIT,
        "materials": {"type": "array", "items": {
            "type": "object", "required": ["code", "name", "required"], "additionalProperties": False,
            "properties": {"code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                           "name": {"type": "string"}, "name_en": {"type": "string"},
                           "required": {"type": "boolean"}, "key": {"type": "boolean"},
                           "required_when": {"type": "array", "uniqueItems": True,
                                             "items": {"enum": list(APPLICATION_CONDITIONS)}},
                           "note": {"type": "string"}, "note_en": {"type": "string"}},
        }},
    },
}


@dataclass
class DeployReport:
    deployed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def current_version(process_id: str) -> ProcessVersion | None:
    """The newest deployed version of a process; new cases start on it."""
    return db.session.scalar(
        select(ProcessVersion).where(ProcessVersion.process_id == process_id)
        .order_by(ProcessVersion.version.desc()).limit(1)
    )


def user_tasks_of(version: ProcessVersion) -> tuple:
    """The user tasks of a deployed version, parsed once per app (versions never change)."""
    cache = current_app.extensions.setdefault("process_user_tasks", {})
    if version.id not in cache:
        cache[version.id] = parse_bpmn(version.bpmn_xml.encode("utf-8"), version.process_id).user_tasks
    return cache[version.id]


def store_version(parsed, xml: bytes, source_file: str, actor: User | None = None) -> ProcessVersion:
    """Store a checked process as its next version; new cases start on it, running ones keep theirs."""
    next_number = (db.session.scalar(
        select(func.max(ProcessVersion.version)).where(ProcessVersion.process_id == parsed.process_id)) or 0) + 1
    version = ProcessVersion(
        process_id=parsed.process_id, version=next_number, name=parsed.name,
        source_file=source_file, sha256=hashlib.sha256(xml).hexdigest(), bpmn_xml=xml.decode("utf-8"),
        spec_json=parsed.spec_json, deployed_by_id=actor.id if actor else None,
    )
    try:
        with db.session.begin_nested():
            db.session.add(version)
    except IntegrityError:
        raise Conflict(_("Another version of %(process)s was deployed at the same moment. Try again.",
                         process=parsed.process_id)) from None
    return version


def deploy_bpmn(process_id: str, xml: bytes, source_file: str, actor: User | None = None) -> ProcessVersion | None:
    """Check and store a changed BPMN as a new version; None when identical to the newest one."""
    latest = current_version(process_id)
    if latest is not None and latest.sha256 == hashlib.sha256(xml).hexdigest():
        return None
    check = check_process(xml, process_id)
    if not check.ok:
        raise ProcessRefused(check)
    return store_version(check.engine.parsed, xml, source_file, actor)


def load_item_file(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        jsonschema.validate(data, ITEM_FILE_SCHEMA)
    except (tomllib.TOMLDecodeError, jsonschema.ValidationError) as exc:
        raise ValidationFailed(_("Item file %(file)s is invalid: %(reason)s", file=path.name,
                                 reason=getattr(exc, "message", str(exc)))) from exc
    return data


def upsert_item(data: dict) -> ServiceItem:
    """Create or update a service item from its data file."""
    version = current_version(data["process_id"])
    if version is None:
        raise ValidationFailed(_("Item %(code)s: process %(process)s is not deployed.",
                                 code=data["code"], process=data["process_id"]))
    # The intake form must exist and be the form of a step in the process, or intake cannot run.
    user_tasks = parse_bpmn(version.bpmn_xml.encode("utf-8"), version.process_id).user_tasks
    if data["intake_form"] not in {t.form_key for t in user_tasks}:
        raise ValidationFailed(_("Item %(code)s: no step of process %(process)s uses the intake form %(form)s.",
                                 code=data["code"], process=data["process_id"], form=data["intake_form"]))
    item = db.session.scalar(select(ServiceItem).where(ServiceItem.code == data["code"])) or ServiceItem(code=data["code"])
    if item.process_id not in (None, data["process_id"]):
        raise Conflict(_("Item %(code)s already runs on process %(process)s.", code=data["code"], process=item.process_id))
    item.name = data["name"]
    item.name_en = data.get("name_en")
    item.description = data.get("description")
    item.fee = data.get("fee")
    item.legal_basis = data.get("legal_basis")
    item.supplement_days = data.get("supplement_days")
    item.pre_review_days = data.get("pre_review_days")
    item.departments = list(dict.fromkeys(t.lane for t in user_tasks if t.lane))
    item.case_type = data["case_type"]
    item.process_id = data["process_id"]
    item.intake_form = data["intake_form"]
    item.retention = data["retention"]
    item.classification = data.get("classification", "公开")
    item.statutory_limit_value = data["statutory_limit"]["value"]
    item.statutory_limit_unit = data["statutory_limit"]["unit"]
    item.committed_limit_value = data["committed_limit"]["value"]
    item.committed_limit_unit = data["committed_limit"]["unit"]
    item.materials = data["materials"]
    item.is_active = True
    db.session.add(item)
    return item


def deploy_directory(directory: Path, actor: User | None = None) -> DeployReport:
    """Deploy every BPMN (process id = file stem) then every item file; failures are reported, not fatal."""
    report = DeployReport()
    for path in sorted(directory.glob("*.bpmn")):
        try:
            with db.session.begin_nested():
                version = deploy_bpmn(path.stem, path.read_bytes(), path.name, actor)
        except ValidationFailed as exc:
            report.failed[path.name] = exc.message
            continue
        (report.deployed if version else report.unchanged).append(
            f"{path.stem} v{version.version}" if version else path.stem)
    for path in sorted(directory.glob("*.item.toml")):
        try:
            with db.session.begin_nested():
                report.items.append(upsert_item(load_item_file(path)).code)
        except ValidationFailed as exc:
            report.failed[path.name] = exc.message
    return report


def active_items() -> list[ServiceItem]:
    """Items open for applications, by implementation code."""
    return list(db.session.scalars(select(ServiceItem).where(ServiceItem.is_active).order_by(ServiceItem.code)))


def get_active_item(code: str) -> ServiceItem | None:
    """The active item with this implementation code."""
    return db.session.scalar(select(ServiceItem).where(ServiceItem.code == code, ServiceItem.is_active))


@dataclass
class ServiceGuide:
    """What the public guide shows beyond the item's own columns."""

    departments: list[str]
    supplement_days: int
    condition_labels: dict[str, str]

    def conditions(self, codes: list[str]) -> str:
        return ", ".join(self.condition_labels.get(code, code) for code in codes)


def service_guide(item: ServiceItem) -> ServiceGuide:
    """Department names, the supplement period and condition labels for an item's guide."""
    english = str(get_locale() or "zh").startswith("en")
    names = {d.code: (d.name_en if english and d.name_en else d.name)
             for d in db.session.scalars(select(Department).where(Department.code.in_(item.departments or [])))}
    return ServiceGuide(
        departments=[names.get(code, code) for code in item.departments or []],
        supplement_days=item.supplement_days or current_app.config["SUPPLEMENT_PERIOD_WORKING_DAYS"],
        condition_labels={"agent": _("an entrusted agent"), "guardian": _("a guardian"),
                          "heir": _("an heir")},
    )


def item_limit(value: int, unit: str) -> dict:
    """The API shape of a time limit."""
    return {"value": value, "unit": unit}
