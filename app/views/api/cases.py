"""Case submission, the window's intake decision, supplements, documents and case detail."""
from __future__ import annotations

from flask import g, jsonify, request, send_file
from flask_babel import gettext as _

from app.auth import api_auth
from app.errors import NotFound, ValidationFailed
from app.services.cases import applicants as applicant_service
from app.services.cases import documents
from app.services.cases import queries as case_service
from app.services.cases.intake import (
    Application,
    MaterialIn,
    decide_intake,
    decode_base64,
    parse_decision,
    register_promised,
    register_supplement,
    submit_application,
)
from app.views.api import api_bp
from app.views.api.serializers import iso, json_object, task_json

MAX_IDEMPOTENCY_KEY = 64


def _materials(raw) -> list[MaterialIn]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"materials": _("Must be a list of materials.")})
    materials, errors = [], {}
    for entry in raw:
        code = str(entry.get("code") or "") if isinstance(entry, dict) else ""
        if not code:
            errors["materials"] = _("Every material needs its checklist code.")
            continue
        try:
            content = decode_base64(entry.get("content_base64"))
        except ValueError:
            errors[f"materials.{code}"] = _("The file content is not valid base64.")
            continue
        materials.append(MaterialIn(code=code, filename=entry.get("filename"), content=content))
    if errors:
        raise ValidationFailed(_("Please correct the highlighted fields."), errors)
    return materials


def _submission_key() -> str | None:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return None
    if len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise ValidationFailed(_("The Idempotency-Key header must be at most %(n)s printable characters.",
                                 n=MAX_IDEMPOTENCY_KEY))
    return f"api:{g.api_user.id}:{key}"


def _documents_json(case) -> list[dict]:
    return [{"kind": d.kind, "doc_no": d.doc_no, "title": d.title, "issued_at": iso(d.issued_at),
             "sha256": d.sha256, "url": f"/api/v1/cases/{case.case_no}/documents/{d.doc_no}"}
            for d in case.documents]


def _outcome_json(case) -> dict:
    """What a caller needs after submitting or deciding: status, dates and documents."""
    return {"case_no": case.case_no, "status": case.status, "result": case.result,
            "result_reason": case.result_reason, "accepted_at": iso(case.accepted_at),
            "committed_due_at": iso(case.committed_due_at), "statutory_due_at": iso(case.statutory_due_at),
            "supplement_due_at": iso(case.supplement_due_at), "documents": _documents_json(case)}


@api_bp.post("/cases")
@api_auth("front_desk")
def create_case():
    body = json_object()
    form = body.get("form") or {}
    applicant = body.get("applicant") or {}
    if not isinstance(form, dict) or not isinstance(applicant, dict):
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"form" if not isinstance(form, dict) else "applicant": _("Must be an object.")})
    channel = body.get("channel") or "window"
    application = Application(item_code=str(body.get("item_code") or ""), applicant=applicant, form=form,
                              materials=_materials(body.get("materials")), channel=channel,
                              submission_key=_submission_key())
    decision = parse_decision(body) if channel == "window" else None
    submission = submit_application(application, g.api_user, decision)
    if submission.duplicate:
        return jsonify({**_outcome_json(submission.case), "duplicate": True}), 200
    return jsonify({**_outcome_json(submission.case), "query_code": submission.query_code}), 201


@api_bp.post("/cases/<case_no>/decision")
@api_auth("front_desk")
def decide_case(case_no: str):
    case = decide_intake(case_no, parse_decision(json_object()), g.api_user)
    return jsonify(_outcome_json(case))


@api_bp.post("/cases/<case_no>/supplement")
@api_auth("front_desk")
def supplement_case(case_no: str):
    case = register_supplement(case_no, _materials(json_object().get("materials")), g.api_user)
    return jsonify(_outcome_json(case))


@api_bp.post("/cases/<case_no>/promised-materials")
@api_auth("front_desk")
def register_promised_materials(case_no: str):
    """容缺受理: register materials promised at acceptance, at any time before the case ends."""
    case = register_promised(case_no, _materials(json_object().get("materials")), g.api_user)
    return jsonify(_outcome_json(case))


@api_bp.get("/cases/<case_no>/documents/<doc_no>")
@api_auth()
def get_document(case_no: str, doc_no: str):
    case = case_service.get_case_for(case_no, g.api_user)
    document = next((d for d in case.documents if d.doc_no == doc_no), None)
    if document is None:
        raise NotFound(_("Document not found."))
    path = documents.stored_pdf(document)
    return send_file(path, mimetype="application/pdf", download_name=f"{document.doc_no}.pdf")


@api_bp.get("/applicants")
@api_auth("front_desk")
def find_applicant():
    found = applicant_service.find_applicant(request.args.get("id_number", ""))
    if found is None:
        raise NotFound(_("No applicant with this ID number."))
    return jsonify(found)


@api_bp.get("/cases/<case_no>")
@api_auth()
def get_case(case_no: str):
    case = case_service.get_case_for(case_no, g.api_user)
    return jsonify({
        **_outcome_json(case),
        "item_code": case.item.code, "item_name": case.item.name,
        "channel": case.channel, "applicant": case_service.masked_applicant(case),
        "submitted_at": iso(case.created_at), "completed_at": iso(case.completed_at),
        "process_version_id": case.process_version_id,
        "materials": [{"code": m.code, "name": m.name, "state": m.state, "filename": m.filename,
                       "content_type": m.content_type, "size": m.size, "sha256": m.sha256,
                       "promised_date": m.promised_date.isoformat() if m.promised_date else None}
                      for m in case.materials],
        "tasks": [task_json(step) for step in case_service.case_steps(case)],
        "events": [{"at": iso(e.at), "actor": e.actor_name, "action": e.action, "task": e.task_name,
                    "opinion": e.opinion} for e in case_service.case_events(case)],
    })
