"""Case list, case page, the case's documents and material previews."""
from __future__ import annotations

import io
from datetime import datetime

from flask import Blueprint, abort, current_app, jsonify, render_template, request, send_file, session
from flask_login import current_user
from sqlalchemy import select

from app.auth import roles_required
from app.documents.pdf import render_pdf
from app.extensions import db
from app.models import User, WorkItem
from app.models.base import utcnow
from app.services.cases import documents
from app.services.cases import materials as material_store
from app.services.cases import queries as case_service
from app.services.cases.intake import is_late
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
        intake_form=registry.get(case.item.intake_form), material_late=is_late,
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


PAUSED_CASE_STATUSES = ("suspended", "pending_supplement")


def diagram_markers(case) -> dict:
    """Which BPMN elements to mark on the case diagram, read from the work items (SQL only)."""
    rows = db.session.execute(
        select(WorkItem.bpmn_id, WorkItem.state, WorkItem.due_at, User.display_name)
        .outerjoin(User, User.id == WorkItem.claimed_by_id)
        .where(WorkItem.case_id == case.id, WorkItem.state.in_(("open", "completed")))
        .order_by(WorkItem.id)
    ).all()
    now = utcnow()
    paused = case.status in PAUSED_CASE_STATUSES
    completed, open_ids, overdue, holders = set(), set(), set(), {}
    for bpmn_id, state, due_at, holder in rows:
        if state == "completed":
            completed.add(bpmn_id)
            continue
        open_ids.add(bpmn_id)
        if due_at is not None and due_at < now:
            overdue.add(bpmn_id)
        if holder and holder not in holders.setdefault(bpmn_id, []):
            holders[bpmn_id].append(holder)
    # A step that is open again (a loop back, a pending multi-instance child) shows as open, not done.
    return {
        "completed": sorted(completed - open_ids),
        "active": [] if paused else sorted(open_ids),
        "paused": sorted(open_ids) if paused else [],
        "overdue": sorted(overdue),
        "holders": {bpmn_id: ", ".join(names) for bpmn_id, names in sorted(holders.items()) if names},
    }


@bp.route("/<case_no>/diagram.bpmn")
@roles_required()
def diagram_xml(case_no: str):
    """The BPMN XML of the process version the case is pinned to."""
    case = case_service.get_case_for(case_no, current_user)
    response = current_app.response_class(case.process_version.bpmn_xml, mimetype="application/xml")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.route("/<case_no>/diagram.json")
@roles_required()
def diagram_markers_json(case_no: str):
    """Completed, active, paused and overdue steps of the case for the diagram."""
    case = case_service.get_case_for(case_no, current_user)
    response = jsonify(diagram_markers(case))
    response.headers["Cache-Control"] = "private, no-store"
    return response
