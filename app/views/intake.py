"""Front desk: take an application and decide on it, decide on pre-reviewed cases, register supplements."""
from __future__ import annotations

import secrets
from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth import roles_required
from app.errors import ValidationFailed
from app.extensions import db
from app.models import Case, ServiceItem
from app.models.base import utcnow
from app.services.cases import applicants as applicant_service
from app.services.cases import materials as material_store
from app.services.cases import queries as case_service
from app.services.cases.intake import (
    Application,
    MaterialIn,
    decide_intake,
    parse_decision,
    register_promised,
    register_supplement,
    submit_application,
)
from app.services.cases.queries import get_case
from app.services.processes import catalogue
from app.taskforms import get_registry

bp = Blueprint("intake", __name__, url_prefix="/intake")
_APPLICANT_FIELDS = ("type", "name", "id_type", "id_number", "phone", "legal_representative", "capacity")
_AGENT_FIELDS = ("kind", "name", "id_type", "id_number", "phone")


def _item_or_404(code: str) -> ServiceItem:
    item = catalogue.get_active_item(code)
    if item is None:
        abort(404)
    return item


def _materials_from_request(item: ServiceItem) -> tuple[list[MaterialIn], dict[str, dict]]:
    """Checked and uploaded materials; uploads are stored at once so a refused form keeps them."""
    given, kept = [], {}
    for entry in item.materials:
        code = entry["code"]
        upload = request.files.get(f"file_{code}")
        stored = None
        if upload and upload.filename:
            content = upload.read()
            content_type = material_store.sniff_content_type(content)
            if content_type and len(content) <= current_app.config["MAX_MATERIAL_BYTES"]:
                stored = material_store.store(content, content_type)
                given.append(MaterialIn(code=code, filename=upload.filename, stored=stored))
            else:
                given.append(MaterialIn(code=code, filename=upload.filename, content=content))
        else:
            sha, _sep, rest = request.form.get(f"stored_{code}", "").partition("|")
            filename, _sep, content_type = rest.partition("|")
            stored = material_store.find_stored(sha, content_type) if sha else None
            if stored:
                given.append(MaterialIn(code=code, filename=filename, stored=stored))
            elif request.form.get(f"material_{code}"):
                given.append(MaterialIn(code=code))
        if stored:
            kept[code] = {"sha256": stored.sha256, "content_type": stored.content_type,
                          "filename": given[-1].filename}
    return given, kept


def _applicant_from_request() -> dict:
    applicant = {key: request.form.get(f"applicant_{key}", "") for key in _APPLICANT_FIELDS}
    if request.form.get("agent_name") or request.form.get("agent_id_number"):
        applicant["agent"] = {key: request.form.get(f"agent_{key}", "") for key in _AGENT_FIELDS}
    return applicant


def _decision_from_request(item: ServiceItem):
    defects = [{"code": m["code"], "note": request.form.get(f"defect_{m['code']}", "")}
               for m in item.materials if request.form.get(f"defect_{m['code']}", "").strip()]
    return parse_decision({"decision": request.form.get("decision"), "reason": request.form.get("reason"),
                           "promised_date": request.form.get("promised_date"), "defects": defects})


def _remember_query_code(case: Case, query_code: str | None) -> None:
    """Keep the password in the clerk's session for the first prints; it is stored only hashed."""
    if query_code:
        until = utcnow() + timedelta(minutes=current_app.config["RECEIPT_REPRINT_MINUTES"])
        session["receipt"] = {"case_no": case.case_no, "query_code": query_code, "until": until.isoformat(),
                              "user_id": current_user.id}


def _after_decision(case: Case):
    document = case.documents[-1] if case.documents else None
    if document is None:
        return redirect(url_for("cases.show", case_no=case.case_no))
    return redirect(url_for("cases.document", case_no=case.case_no, doc_no=document.doc_no))


@bp.route("/")
@roles_required("front_desk")
def choose_item():
    return render_template("intake/choose.html", items=catalogue.active_items(),
                           todays_cases=case_service.todays_cases(current_user))


@bp.route("/applicants")
@roles_required("front_desk")
def find_applicant():
    """Prefill data of a returning applicant, looked up by ID number."""
    found = applicant_service.find_applicant(request.args.get("id_number", ""))
    return (jsonify(found), 200) if found else (jsonify({}), 404)


@bp.route("/<code>", methods=["GET", "POST"])
@roles_required("front_desk")
def application_form(code: str):
    item = _item_or_404(code)
    form = get_registry().get(item.intake_form)
    values, errors, kept = {}, {}, {}
    if request.method == "POST":
        values = form.coerce(request.form)
        given, kept = _materials_from_request(item)
        key = request.form.get("submission_key", "")[:40]
        application = Application(item_code=item.code, applicant=_applicant_from_request(), form=values,
                                  materials=given, submission_key=f"form:{current_user.id}:{key}" if key else None)
        try:
            submission = submit_application(application, current_user, _decision_from_request(item))
        except ValidationFailed as exc:
            db.session.rollback()  # nothing of the refused application stays in the session
            errors = exc.fields or {"_form": exc.message}
        else:
            _remember_query_code(submission.case, submission.query_code)
            return _after_decision(submission.case)
    return render_template(
        "intake/form.html", item=item, form=form, values=values, errors=errors, kept=kept,
        form_errors={k[5:]: v for k, v in errors.items() if k.startswith("form.")}, posted=request.form,
        submission_key=request.form.get("submission_key") or secrets.token_urlsafe(16),
    ), (422 if errors else 200)


def _case_page(template: str, case: Case, errors: dict | None = None, status: int = 200):
    registry = get_registry()
    return render_template(template, case=case, item=case.item, errors=errors or {}, posted=request.form,
                           intake_form=registry.get(case.item.intake_form)), status


@bp.route("/cases/<case_no>/decision", methods=["GET", "POST"])
@roles_required("front_desk")
def decide(case_no: str):
    """预审 / intake decision on a case submitted online or supplemented."""
    case = get_case(case_no)
    if request.method == "GET":
        return _case_page("intake/decide.html", case)
    try:
        case = decide_intake(case_no, _decision_from_request(case.item), current_user)
    except ValidationFailed as exc:
        db.session.rollback()
        return _case_page("intake/decide.html", get_case(case_no), exc.fields or {"_form": exc.message}, 422)
    return _after_decision(case)


@bp.route("/cases/<case_no>/supplement", methods=["GET", "POST"])
@roles_required("front_desk")
def supplement(case_no: str):
    """Register the materials an applicant brings after a one-time notice."""
    case = get_case(case_no)
    if request.method == "GET":
        return _case_page("intake/supplement.html", case)
    given, _kept = _materials_from_request(case.item)
    try:
        case = register_supplement(case_no, given, current_user)
    except ValidationFailed as exc:
        db.session.rollback()
        return _case_page("intake/supplement.html", get_case(case_no), exc.fields or {"_form": exc.message}, 422)
    if case.status == "pre_review":
        return redirect(url_for("intake.decide", case_no=case_no))
    return redirect(url_for("cases.show", case_no=case_no))  # a supplement during handling


@bp.route("/cases/<case_no>/promised", methods=["GET", "POST"])
@roles_required("front_desk")
def promised(case_no: str):
    """Register the materials promised at a 容缺 acceptance, at any time before the case ends."""
    case = get_case(case_no)
    if request.method == "GET":
        return _case_page("intake/promised.html", case)
    given, _kept = _materials_from_request(case.item)
    try:
        register_promised(case_no, given, current_user)
    except ValidationFailed as exc:
        db.session.rollback()
        return _case_page("intake/promised.html", get_case(case_no), exc.fields or {"_form": exc.message}, 422)
    flash(_("The promised materials were registered."), "success")
    return redirect(url_for("cases.show", case_no=case_no))


@bp.route("/receipt/<case_no>")
@roles_required("front_desk")
def receipt(case_no: str):
    """The latest document of the case (receipt or notice)."""
    return _after_decision(get_case(case_no))
