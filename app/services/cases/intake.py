"""Front-desk intake (一窗受理): submissions, the window's decision, and supplements (补正).

A case is created when an application is submitted, whether at the window or online. The window
then decides, as a path of the item's BPMN process: accept (受理), accept with a non-key material
missing (容缺受理), a one-time notice of every missing material (补正告知), or refuse (不予受理).
"""
from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from app.engine import SERIALIZER_VERSION, TaskNotReady
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import Case, CaseMaterial, CaseSerial, ServiceItem, WorkItem
from app.models.base import utcnow
from app.models.org import Actor
from app.services.cases import deadlines, documents
from app.services.cases import materials as material_store
from app.services.cases.applicants import application_conditions, register_applicant, validate_applicant
from app.services.cases.runtime import CaseRun
from app.services.cases.serials import next_serial
from app.services.processes import catalogue
from app.taskforms import get_registry
from app.taskforms.formats import has_control_characters

# Six digits are few: no iteration count a front desk can afford protects a million codes from
# someone holding the database, so the lockout guards the live query and the salted hash keeps the
# codes out of dumps and logs. Older hashes (20000 rounds) still verify: the method is in the hash.
QUERY_CODE_HASH_METHOD = "pbkdf2:sha256:4000"
DECISIONS = ("accept", "accept_with_deficiency", "supplement", "refuse")
CHANNELS = ("window", "online")
SUPPLEMENT_MESSAGE = "materials_supplemented"
MAX_REASON_CHARS = 2000


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
    # A form's one-time token or an API Idempotency-Key: the same key never makes a second case.
    submission_key: str | None = None


@dataclass
class IntakeDecision:
    decision: str = "accept"
    reason: str | None = None
    # Materials found defective (code → what is wrong); missing ones are listed automatically.
    defects: dict[str, str] = field(default_factory=dict)
    promised_date: date | None = None


@dataclass
class Submission:
    case: Case
    query_code: str | None
    duplicate: bool = False


def decode_base64(value: str | None) -> bytes | None:
    """Bytes of a base64 field, or None when absent; ValueError when malformed."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError("base64 content must be a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(str(exc)) from exc


def parse_decision(raw: dict) -> IntakeDecision:
    """An intake decision from request data (API JSON or page form), checked for shape."""
    errors: dict[str, str] = {}
    decision = raw.get("decision") or "accept"
    if decision not in DECISIONS:
        errors["decision"] = _("Choose accept, accept with a missing material, one-time notice or refuse.")
    reason = raw.get("reason")
    reason = reason.strip() if isinstance(reason, str) else None
    if reason and has_control_characters(reason):
        errors["reason"] = _("Contains control characters that cannot be stored.")
    elif reason and len(reason) > MAX_REASON_CHARS:
        errors["reason"] = _("Must be at most %(n)s characters.", n=MAX_REASON_CHARS)
    defects: dict[str, str] = {}
    raw_defects = raw.get("defects") or []
    if not isinstance(raw_defects, list) or not all(isinstance(d, dict) for d in raw_defects):
        errors["defects"] = _("Must be a list of materials.")
    else:
        for entry in raw_defects:
            note = entry.get("note")
            note = note.strip() if isinstance(note, str) else ""
            if has_control_characters(note) or len(note) > 500:
                errors[f"defects.{entry.get('code')}"] = _("Must be at most %(n)s characters.", n=500)
            defects[str(entry.get("code") or "")] = note
    promised = raw.get("promised_date")
    promised_date = None
    if promised not in (None, ""):
        try:
            promised_date = date.fromisoformat(str(promised))
        except ValueError:
            errors["promised_date"] = _("Enter a date as YYYY-MM-DD.")
    if errors:
        raise ValidationFailed(_("Please correct the highlighted fields."), errors)
    return IntakeDecision(decision=decision, reason=reason or None, defects=defects, promised_date=promised_date)


def _validate_materials(item: ServiceItem, given: list[MaterialIn], errors: dict[str, str]):
    """Checklist codes, file names, sizes and real content types of the materials handed in."""
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
    return accepted


def _check_decision(item: ServiceItem, received: set[str], conditions: frozenset[str],
                    decision: IntakeDecision, errors: dict[str, str]) -> list[dict]:
    """Check the decision against the materials received; returns the notice's list of problems."""
    names = {m["code"]: m["name"] for m in item.materials}
    missing = [code for code in item.required_material_codes(conditions) if code not in received]
    problems = [{"code": code, "name": names[code], "problem": "missing", "note": decision.defects.get(code, "")}
                for code in missing]
    for code, note in decision.defects.items():
        if code not in names:
            errors[f"defects.{code}"] = _("This material is not on the item's checklist.")
        elif code not in missing:
            problems.append({"code": code, "name": names[code], "problem": "defective", "note": note})
    if decision.decision == "accept":
        for code in missing:
            errors[f"materials.{code}"] = _("Required material missing: %(name)s", name=names[code])
        for code in decision.defects:
            if code in names and code not in missing:
                # The receipt says the materials are complete and in order: a noted defect contradicts it.
                errors[f"defects.{code}"] = _("A material marked defective cannot be accepted: "
                                              "issue a one-time notice, or clear the note.")
    elif decision.decision == "accept_with_deficiency":
        if not missing:
            errors["decision"] = _("No required material is missing: accept the application instead.")
        # Key materials must be there and in order: a defective one cannot be promised for later either.
        for code in (p["code"] for p in problems):
            if item.is_key_material(code):
                errors[f"materials.{code}"] = _("%(name)s is a key material and cannot be missing.", name=names[code])
        today = utcnow().astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()
        if decision.promised_date is None:
            errors["promised_date"] = _("Enter the date the applicant promises to bring the material.")
        elif decision.promised_date < today:
            errors["promised_date"] = _("The promised date cannot be in the past.")
    elif decision.decision == "supplement" and not problems:
        errors["defects"] = _("Nothing is missing: list the defective materials, or accept.")
    elif decision.decision == "refuse" and not decision.reason:
        errors["reason"] = _("A refusal needs its reasons.")
    return problems


def _next_case_no(item_code: str, now: datetime) -> str:
    local_day = now.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()
    serial = next_serial(CaseSerial, item_code=item_code, day=local_day)
    if serial > 9999:
        raise ValidationFailed(_("The daily case-number range of this item is used up."))
    return f"{item_code}{local_day:%Y%m%d}{serial:04d}"


def hash_query_code(code: str) -> str:
    """Salted, slow hash of a query password (查询密码); independent of the app's secret key."""
    return generate_password_hash(code, method=QUERY_CODE_HASH_METHOD)


def check_query_code(case: Case, code: str) -> bool:
    """Whether the code is the case's query password."""
    return check_password_hash(case.query_code_hash, code)


def _store_materials(case: Case, accepted: list, now: datetime) -> None:
    """Write new scans to the store (fsynced) before the rows that refer to them."""
    for material, entry, content_type in accepted:
        stored = material.stored
        if material.content is not None:
            stored = material_store.store(material.content, content_type)
        for earlier in case.materials:
            if earlier.code == material.code and earlier.state != "superseded":
                earlier.state = "superseded"  # replaced by what the applicant brings now; kept on record
        case.materials.append(CaseMaterial(
            code=material.code, name=entry["name"], filename=material.filename,
            sha256=stored.sha256 if stored else None, size=stored.size if stored else None,
            content_type=content_type, received_at=now,
        ))


def _case_by_submission_key(key: str | None) -> Case | None:
    return db.session.scalar(select(Case).where(Case.submission_key == key)) if key else None


def submit_application(application: Application, actor: Actor, decision: IntakeDecision | None = None) -> Submission:
    """Validate everything, create the case, and at the window apply the decision at once."""
    existing = _case_by_submission_key(application.submission_key)
    if existing is not None:
        return Submission(existing, None, duplicate=True)
    item = catalogue.get_active_item(application.item_code)
    if item is None:
        raise ValidationFailed(_("Unknown service item."), {"item_code": _("Unknown service item.")})
    errors: dict[str, str] = {}
    if application.channel not in CHANNELS:
        errors["channel"] = _("The channel must be window or online.")
    applicant = validate_applicant(application.applicant or {}, errors)
    form = get_registry().get(item.intake_form)
    application.form = form.restrict(application.form or {})
    for name, message in form.validate(application.form).items():
        errors[f"form.{name}"] = message
    accepted = _validate_materials(item, application.materials, errors)
    problems = []
    if application.channel == "window":
        decision = decision or IntakeDecision()
        problems = _check_decision(item, {m.code for m, _e, _t in accepted}, application_conditions(applicant),
                                   decision, errors)
    if errors:
        raise ValidationFailed(_("Please correct the highlighted fields."), errors)
    version = catalogue.current_version(item.process_id)
    if version is None:
        raise ValidationFailed(_("This item has no deployed process yet."))

    now = utcnow()
    query_code = f"{secrets.randbelow(10**6):06d}"
    try:
        # A savepoint: a double submission racing this one rolls back only its own case and serial.
        with db.session.begin_nested():
            case = _new_case(item, version.id, application, applicant, query_code, actor, now)
            _store_materials(case, accepted, now)
            db.session.add(case)
            db.session.flush()
    except IntegrityError:
        existing = _case_by_submission_key(application.submission_key)
        if existing is None:
            raise
        return Submission(existing, None, duplicate=True)
    run = CaseRun.of_new_case(case, actor, {"case_no": case.case_no, "item_code": item.code})
    run.record("case_submitted", details={
        "channel": application.channel, "materials": [m.code for m in application.materials]})
    intake = next((t for t in run.workflow.ready_user_tasks() if t.form_key == item.intake_form), None)
    if intake is None:
        raise ValidationFailed(_("The process of this item does not start with its intake step."))
    if application.channel == "window":
        step = WorkItem(case_id=case.id, task_id=intake.task_id, bpmn_id=intake.bpmn_id,
                        name=intake.name or intake.bpmn_id, department_code=intake.lane or "",
                        form_key=intake.form_key, created_at=run.now)
        db.session.add(step)
        run.open_items.append(step)
        _decide(run, step, decision, problems)
    else:
        # 第32条: an online application is decided within days, or it is deemed accepted.
        days = item.pre_review_days or current_app.config["PRE_REVIEW_WORKING_DAYS"]
        case.pre_review_due_at = deadlines.deadline(run.now, days, "working_day")
        run.save()
    return Submission(case, query_code)


def _new_case(item: ServiceItem, version_id: int, application: Application, applicant: dict,
              query_code: str, actor: Actor, now: datetime) -> Case:
    return Case(
        case_no=_next_case_no(item.code, now), item=item, process_version_id=version_id,
        channel=application.channel, applicant_id=register_applicant(applicant),
        applicant_type=applicant["type"], applicant_name=applicant["name"],
        applicant_id_type=applicant["id_type"], applicant_id_number=applicant["id_number"],
        applicant_phone=applicant["phone"], applicant_legal_representative=applicant["legal_representative"],
        applicant_capacity=applicant["capacity"], agent=applicant["agent"],
        submission_key=application.submission_key, form_data=application.form,
        query_code_hash=hash_query_code(query_code), serializer_version=SERIALIZER_VERSION,
        workflow_state="", created_at=now, created_by_id=actor.id,
    )


def _applicant_of(case: Case) -> dict:
    return {"agent": case.agent, "capacity": case.applicant_capacity}


def _open(case_no: str, actor: Actor) -> CaseRun:
    """The case's run (its row locked), or NotFound."""
    run = CaseRun.of_case_no(case_no, actor)
    if run is None:
        raise NotFound(_("Case not found."))
    return run


def decide_intake(case_no: str, decision: IntakeDecision, actor: Actor) -> Case:
    """The window's decision on a case waiting for it (online pre-review, or after a supplement)."""
    run = _open(case_no, actor)
    case = run.case
    if case.status != "pre_review":
        raise Conflict(_("This case is not waiting for an intake decision."))
    intake = next((i for i in run.open_items if i.form_key == case.item.intake_form), None)
    if intake is None:
        raise Conflict(_("This case is not waiting for an intake decision."))
    errors: dict[str, str] = {}
    received = {m.code for m in case.materials if m.state == "received"}
    problems = _check_decision(case.item, received, application_conditions(_applicant_of(case)), decision, errors)
    if errors:
        raise ValidationFailed(_("Please correct the highlighted fields."), errors)
    _decide(run, intake, decision, problems)
    return case


def _decide(run: CaseRun, work_item: WorkItem, decision: IntakeDecision, problems: list[dict]) -> None:
    """Run the intake step with the decision, set the case's status and dates, issue the document."""
    case, item, now = run.case, run.case.item, run.now
    data = {"intake_decision": decision.decision}
    if decision.decision == "supplement":
        days = item.supplement_days or current_app.config["SUPPLEMENT_PERIOD_WORKING_DAYS"]
        case.supplement_due_at = deadlines.deadline(now, days, "working_day")
        data["supplement_due"] = case.supplement_due_at.isoformat()
    if decision.decision == "refuse":
        data["opinion"] = decision.reason  # becomes the case's result reason
    run.complete(work_item, data, decision.reason)
    work_item.data = {**case.form_data, "intake_decision": decision.decision}
    if decision.decision in ("accept", "accept_with_deficiency"):
        if case.deemed_accepted_at is None:  # deemed accepted already: its clock runs from then
            deadlines.start_clock(case, now)
        for problem in problems if decision.decision == "accept_with_deficiency" else ():
            case.materials.append(CaseMaterial(code=problem["code"], name=problem["name"], state="promised",
                                               promised_date=decision.promised_date, received_at=now))
        run.set_status("in_progress")
    elif decision.decision == "supplement":
        run.set_status("pending_supplement")
    run.record(f"intake_{decision.decision}", opinion=decision.reason, details={
        "materials": [{"code": p["code"], "problem": p["problem"], "note": p["note"]} for p in problems],
        "promised_date": decision.promised_date.isoformat() if decision.promised_date else None})
    run.route()
    _issue_decision_document(run, decision, problems)
    run.save()


def _issue_decision_document(run: CaseRun, decision: IntakeDecision, problems: list[dict]) -> None:
    case, actor, now = run.case, run.actor, run.now
    if decision.decision == "refuse":
        kind, body = "refusal_notice", documents.refusal_content(case, actor, now, decision.reason)
    elif decision.decision == "supplement":
        kind, body = "supplement_notice", documents.supplement_content(case, actor, now, problems)
    else:
        deficiency = decision.decision == "accept_with_deficiency"
        kind = "deficiency_receipt" if deficiency else "acceptance_receipt"
        body = documents.acceptance_content(case, actor, now, deficiency=deficiency)
    document = documents.issue_document(case, kind, body, actor)
    run.record("document_issued", details={"kind": kind, "doc_no": document.doc_no})


def register_supplement(case_no: str, given: list[MaterialIn], actor: Actor) -> Case:
    """Materials brought for a one-time notice: store them and send the case back to the window's decision."""
    run = _open(case_no, actor)
    case = run.case
    if case.status != "pending_supplement":
        raise Conflict(_("This case is not waiting for a supplement."))
    errors: dict[str, str] = {}
    accepted = _validate_materials(case.item, given, errors)
    if not given and not errors:
        errors["materials"] = _("Register at least one material brought by the applicant.")
    if errors:
        raise ValidationFailed(_("Please correct the highlighted fields."), errors)
    _store_materials(case, accepted, run.now)
    case.supplement_due_at = None
    run.record("supplement_registered", details={"materials": [m.code for m in given]})
    if case.accepted_at is not None:
        # Requested during handling: the paused back-office steps continue, their clock moved on.
        run.resume()
    else:
        try:
            run.send_message(SUPPLEMENT_MESSAGE)
        except TaskNotReady:
            raise Conflict(_("This case is not waiting for a supplement.")) from None
        run.set_status("pre_review")
    run.save()
    return case


def register_promised(case_no: str, given: list[MaterialIn], actor: Actor) -> Case:
    """容缺: the materials promised at acceptance, brought later, at any time before the case ends. Each
    received row keeps the date it was promised for, so lists and the archive show which came late."""
    run = _open(case_no, actor)
    case = run.case
    if case.is_finished:
        raise Conflict(_("The case has already ended."))
    promised = {m.code: m for m in case.materials if m.state == "promised"}
    if not promised:
        raise Conflict(_("No promised material of this case is awaited."))
    errors: dict[str, str] = {}
    accepted = _validate_materials(case.item, given, errors)
    if not given and not errors:
        errors["materials"] = _("Register at least one material brought by the applicant.")
    unexpected = [m.code for m in given if m.code not in promised]
    if unexpected:
        errors["materials"] = _("Not among the promised materials: %(codes)s.", codes=", ".join(unexpected))
    if errors:
        raise ValidationFailed(_("Please correct the highlighted fields."), errors)
    earlier = set(map(id, case.materials))
    _store_materials(case, accepted, run.now)
    today = run.now.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()
    brought = []
    for material in case.materials:
        if id(material) not in earlier:  # received now
            material.promised_date = promised[material.code].promised_date
            brought.append({"code": material.code, "promised_date": material.promised_date.isoformat()
                            if material.promised_date else None,
                            "late": bool(material.promised_date and today > material.promised_date)})
    run.record("promised_materials_registered", details={"materials": brought})
    run.save()
    return case


def is_late(material: CaseMaterial) -> bool:
    """A promised (容缺) material received after the date it was promised for."""
    if material.promised_date is None or material.state != "received":
        return False
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    return material.received_at.astimezone(zone).date() > material.promised_date


def deem_accepted(case_id: int, now: datetime) -> bool:
    """逾期视为受理 (第32条): an online application still undecided when its pre-review deadline passed
    counts as accepted from that moment, and its clock starts then. False when it was decided meanwhile."""
    run = CaseRun.of_case_id(case_id, None, skip_locked=True)
    case = run.case if run else None
    if case is None or case.status != "pre_review" or case.deemed_accepted_at is not None \
            or case.pre_review_due_at is None or case.pre_review_due_at > now:
        return False
    case.deemed_accepted_at = case.pre_review_due_at
    deadlines.start_clock(case, case.pre_review_due_at)
    run.record("deemed_accepted", details={"pre_review_due_at": case.pre_review_due_at.isoformat(),
                                           "committed_due_at": case.committed_due_at.isoformat()
                                           if case.committed_due_at else None})
    run.save()
    return True
