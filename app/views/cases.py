"""Case list, case page, the case's documents and material previews."""
from __future__ import annotations

import io
from datetime import datetime

from flask import Blueprint, abort, current_app, render_template, request, send_file, session
from flask_login import current_user

from app.auth import roles_required
from app.documents.pdf import render_pdf
from app.extensions import db
from app.models.base import utcnow
from app.services import cases as case_service
from app.services import documents
from app.services import materials as material_store
from app.taskforms import get_registry

bp = Blueprint("cases", __name__, url_prefix="/cases")


@bp.route("/")
@roles_required()
def index():
    pagination = case_service.search_cases(
        current_user, request.args.get("q"), request.args.get("status") or None,
        request.args.get("page", 1, type=int), current_app.config["PAGE_SIZE"])
    return render_template("cases/index.html", pagination=pagination, q=request.args.get("q", ""))


@bp.route("/<case_no>")
@roles_required()
def show(case_no: str):
    case = case_service.get_case_for(case_no, current_user)
    steps = case_service.case_steps(case)
    registry = get_registry()
    return render_template(
        "cases/show.html", case=case, steps=steps, events=case_service.case_events(case),
        applicant=case_service.masked_applicant(case), registry=registry,
        intake_form=registry.get(case.item.intake_form),
    )


def _one_time_query_code(case_no: str) -> str | None:
    """The query password kept in this clerk's session right after intake, while reprints are allowed."""
    pending = session.get("receipt") or {}
    if pending and pending.get("user_id") != current_user.id:
        # Logging out keeps the session: whoever logs in next at this browser must not see it.
        session.pop("receipt", None)
        return None
    if pending.get("case_no") != case_no:
        return None
    if datetime.fromisoformat(pending["until"]) < utcnow():
        session.pop("receipt", None)
        return None
    return pending["query_code"]


def _document_of(case_no: str, doc_no: str):
    case = case_service.get_case_for(case_no, current_user)
    document = next((d for d in case.documents if d.doc_no == doc_no), None)
    if document is None:
        abort(404)
    return case, document


@bp.route("/<case_no>/documents/<doc_no>")
@roles_required()
def document(case_no: str, doc_no: str):
    case, document = _document_of(case_no, doc_no)
    query_code = _one_time_query_code(case_no)
    content = documents.with_query_code(document.content, query_code) if query_code else document.content
    return render_template("cases/document.html", case=case, document=document, content=content,
                           query_code=query_code)


@bp.route("/<case_no>/documents/<doc_no>.pdf")
@roles_required()
def document_pdf(case_no: str, doc_no: str):
    case, document = _document_of(case_no, doc_no)
    query_code = _one_time_query_code(case_no)
    if query_code:  # rendered on the fly: the stored copy never holds the password
        pdf = render_pdf(documents.with_query_code(document.content, query_code))
        return send_file(io.BytesIO(pdf), mimetype="application/pdf", download_name=f"{doc_no}.pdf")
    path = documents.stored_pdf(document)
    db.session.commit()
    return send_file(path, mimetype="application/pdf", download_name=f"{doc_no}.pdf")


@bp.route("/<case_no>/materials/<int:material_id>")
@roles_required()
def material(case_no: str, material_id: int):
    """A scanned material, inline for preview where the browser can show it."""
    case = case_service.get_case_for(case_no, current_user)
    entry = next((m for m in case.materials if m.id == material_id and m.sha256), None)
    if entry is None:
        abort(404)
    inline = entry.content_type in material_store.PREVIEWABLE_TYPES
    response = send_file(material_store.path_for(entry.sha256), mimetype=entry.content_type,
                         as_attachment=not inline, download_name=entry.filename or f"{entry.code}")
    # A scan is shown, never run: its content type was sniffed at upload and is not guessed again.
    response.headers["X-Content-Type-Options"] = "nosniff"
    if entry.content_type.startswith("image/"):
        response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'"
    response.headers["Cache-Control"] = "private, no-store"
    return response
