"""Front-desk intake (一窗受理): validate the application, number the case, start its workflow."""
from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from werkzeug.security import check_password_hash, generate_password_hash

from app.engine import SERIALIZER_VERSION, Workflow
from app.extensions import db
from app.models import Case, CaseMaterial, CaseSerial, ServiceItem, WorkItem
from app.models.base import utcnow
from app.models.org import Actor
from app.services import catalogue
from app.services import materials as material_store
from app.services.case_runtime import record_event, run_task, save_workflow, spec_json_for
from app.services.errors import ValidationFailed
from app.taskforms import get_registry
from app.taskforms.formats import has_control_characters, is_cn_id_number, is_cn_mobile, is_cn_uscc

# Six digits are few: the hash slows guessing from a stolen database; lockout guards the live query.
QUERY_CODE_HASH_METHOD = "pbkdf2:sha256:20000"


@dataclass
class MaterialIn:
    """A material handed in: its checklist code, and the scan when there is one."""

    code: str
    filename: str | None = None
    content: bytes | None = None
    # Set when the scan was already stored by an earlier, refused submission of the same form.
    stored: material_store.StoredFile | None = None


@dataclass
class Application:
    item_code: str
    applicant: dict
    form: dict
    materials: list[MaterialIn] = field(default_factory=list)
    channel: str = "window"


def _validate_applicant(applicant: dict, errors: dict[str, str]) -> dict:
    kind = applicant.get("type")
    name = str(applicant.get("name") or "").strip()
    id_number = str(applicant.get("id_number") or "").strip().upper()
    phone = str(applicant.get("phone") or "").strip()
    for key, value in (("name", name), ("id_number", id_number), ("phone", phone)):
        if has_control_characters(value):
            errors[f"applicant.{key}"] = _("Contains control characters that cannot be stored.")
    if kind not in ("person", "org"):
        errors["applicant.type"] = _("Choose a person or an organisation.")
    if not name:
        errors["applicant.name"] = _("This field is required.")
    elif len(name) > 200:
        errors["applicant.name"] = _("Must be at most %(n)s characters.", n=200)
    if not id_number:
        errors["applicant.id_number"] = _("This field is required.")
    elif kind == "person" and not is_cn_id_number(id_number):
        errors["applicant.id_number"] = _("Not a valid citizen ID number (居民身份证号码).")
    elif kind == "org" and not is_cn_uscc(id_number):
        errors["applicant.id_number"] = _("Not a valid unified social credit code.")
    if not phone:
        errors["applicant.phone"] = _("This field is required.")
    elif not is_cn_mobile(phone):
        errors["applicant.phone"] = _("Not a valid mobile phone number.")
    return {"type": kind, "name": name, "id_number": id_number, "phone": phone}


def _validate_materials(item: ServiceItem, given: list[MaterialIn], errors: dict[str, str]):
    checklist = {m["code"]: m for m in item.materials}
    accepted = []
    limit = current_app.config["MAX_MATERIAL_BYTES"]
    seen = set()
    for material in given:
        key = f"materials.{material.code}"
        if material.code not in checklist:
            errors[key] = _("This material is not on the item's checklist.")
            continue
        if material.code in seen:
            errors[key] = _("This material is listed twice.")
            continue
        seen.add(material.code)
        if material.filename is not None and (
                not isinstance(material.filename, str) or len(material.filename) > 255
                or has_control_characters(material.filename)):
            errors[key] = _("The file name must be text of at most 255 characters.")
            continue
        content_type = material.stored.content_type if material.stored else None
        if material.content is not None:
            if len(material.content) > limit:
                errors[key] = _("The file is larger than %(mb)s MB.", mb=limit // (1024 * 1024))
                continue
            content_type = material_store.sniff_content_type(material.content)
            if content_type is None:
                errors[key] = _("Only PDF, OFD, JPEG, PNG or TIFF scans are accepted.")
                continue
        accepted.append((material, checklist[material.code], content_type))
    have = {m.code for m in given}
    for code in item.required_material_codes:
        if code not in have:
            errors[f"materials.{code}"] = _("Required material missing: %(name)s", name=checklist[code]["name"])
    return accepted


def decode_base64(value: str | None) -> bytes | None:
    """Bytes of a base64 field, or None when absent; ValueError when malformed."""
    if value in (None, ""):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(str(exc)) from exc


def _next_case_no(item_code: str, now: datetime) -> str:
    local_day = now.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # One atomic upsert per case: concurrent intakes get distinct serials. A refused intake rolls
    # its serial back with it, so numbers of created cases stay gap-free and unique.
    stmt = insert(CaseSerial).values(item_code=item_code, day=local_day, last_value=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["item_code", "day"], set_={"last_value": CaseSerial.last_value + 1}
    ).returning(CaseSerial.last_value)
    serial = db.session.execute(stmt).scalar_one()
    if serial > 9999:
        raise ValidationFailed(_("The daily case-number range of this item is used up."))
    return f"{item_code}{local_day:%Y%m%d}{serial:04d}"


def hash_query_code(code: str) -> str:
    """Salted, slow hash of a query password (查询密码); independent of the app's secret key."""
    return generate_password_hash(code, method=QUERY_CODE_HASH_METHOD)


def check_query_code(case: Case, code: str) -> bool:
    """Whether the code is the case's query password."""
    return check_password_hash(case.query_code_hash, code)


def accept_application(application: Application, actor: Actor) -> tuple[Case, str]:
    """Validate everything, then create the accepted case; returns it and its query password."""
    item = db.session.scalar(
        select(ServiceItem).where(ServiceItem.code == application.item_code, ServiceItem.is_active)
    )
    if item is None:
        raise ValidationFailed(_("Unknown service item."), {"item_code": _("Unknown service item.")})
    errors: dict[str, str] = {}
    applicant = _validate_applicant(application.applicant or {}, errors)
    form = get_registry().get(item.intake_form)
    application.form = form.restrict(application.form or {})
    for name, message in form.validate(application.form).items():
        errors[f"form.{name}"] = message
    accepted_materials = _validate_materials(item, application.materials, errors)
    if errors:
        raise ValidationFailed(_("Please correct the highlighted fields."), errors)
    version = catalogue.current_version(item.process_id)
    if version is None:
        raise ValidationFailed(_("This item has no deployed process yet."))

    now = utcnow()
    case_no = _next_case_no(item.code, now)
    query_code = f"{secrets.randbelow(10**6):06d}"
    case = Case(
        case_no=case_no, item=item, process_version_id=version.id, status="in_progress",
        channel=application.channel, applicant_type=applicant["type"], applicant_name=applicant["name"],
        applicant_id_number=applicant["id_number"], applicant_phone=applicant["phone"],
        form_data=application.form, query_code_hash=hash_query_code(query_code),
        serializer_version=SERIALIZER_VERSION, workflow_state="", created_at=now, accepted_at=now,
        created_by_id=actor.id,
    )
    for material, entry, content_type in accepted_materials:
        stored = material.stored
        if material.content is not None:
            stored = material_store.store(material.content, content_type)
        case.materials.append(CaseMaterial(
            code=material.code, name=entry["name"], filename=material.filename,
            sha256=stored.sha256 if stored else None, size=stored.size if stored else None,
            content_type=content_type, received_at=now,
        ))
    db.session.add(case)
    db.session.flush()
    record_event(case, actor, "case_accepted", details={"channel": application.channel,
                                                         "materials": [m.code for m in application.materials]})
    _run_intake_step(case, item, applicant, application.form, actor)
    return case, query_code


def _run_intake_step(case: Case, item: ServiceItem, applicant: dict, form: dict, actor: Actor) -> None:
    """Start the workflow and complete its front-desk step with the accepted application."""
    wf = Workflow.start(spec_json_for(case.process_version_id),
                        {"case_no": case.case_no, "item_code": item.code})
    data = {**form, "applicant_type": applicant["type"], "applicant_name": applicant["name"],
            "intake_decision": "accept"}
    intake = next((t for t in wf.ready_user_tasks() if t.form_key == item.intake_form), None)
    step = None
    if intake is not None:
        run_task(wf, intake.task_id, data)
        # The front-desk step is done on the spot; its row keeps who accepted what, for the record.
        step = WorkItem(
            case_id=case.id, task_id=intake.task_id, bpmn_id=intake.bpmn_id, name=intake.name or intake.bpmn_id,
            department_code=intake.lane or "", form_key=intake.form_key, state="completed",
            claimed_by_id=actor.id, completed_by_id=actor.id, created_at=case.accepted_at,
            completed_at=case.accepted_at, data=form,
        )
        db.session.add(step)
        db.session.flush()
        record_event(case, actor, "task_completed", work_item=step)
    save_workflow(case, wf, actor)
