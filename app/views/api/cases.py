"""Case intake and case detail."""
from __future__ import annotations

from flask import g, jsonify, request
from flask_babel import gettext as _

from app.auth import api_auth
from app.extensions import db
from app.services import cases as case_service
from app.services.errors import ValidationFailed
from app.services.intake import Application, MaterialIn, accept_application, decode_base64
from app.views.api import api_bp
from app.views.api.serializers import iso, task_json


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


@api_bp.post("/cases")
@api_auth("front_desk")
def create_case():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed(_("The request body must be a JSON object."), {})
    form = body.get("form") or {}
    applicant = body.get("applicant") or {}
    if not isinstance(form, dict) or not isinstance(applicant, dict):
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"form" if not isinstance(form, dict) else "applicant": _("Must be an object.")})
    application = Application(item_code=str(body.get("item_code") or ""), applicant=applicant, form=form,
                              materials=_materials(body.get("materials")))
    case, query_code = accept_application(application, g.api_user)
    body = {"case_no": case.case_no, "query_code": query_code, "status": case.status}
    db.session.commit()
    return jsonify(body), 201


@api_bp.get("/cases/<case_no>")
@api_auth()
def get_case(case_no: str):
    case = case_service.get_case_for(case_no, g.api_user)
    return jsonify({
        "case_no": case.case_no, "item_code": case.item.code, "item_name": case.item.name,
        "status": case.status, "result": case.result, "result_reason": case.result_reason,
        "channel": case.channel, "applicant": case_service.masked_applicant(case),
        "accepted_at": iso(case.accepted_at), "completed_at": iso(case.completed_at),
        "committed_due_at": iso(case.committed_due_at), "process_version_id": case.process_version_id,
        "tasks": [task_json(step) for step in case_service.case_steps(case)],
        "events": [{"at": iso(e.at), "actor": e.actor_name, "action": e.action, "task": e.task_name,
                    "opinion": e.opinion} for e in case_service.case_events(case)],
    })
