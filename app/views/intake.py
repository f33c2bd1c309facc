"""Front desk: choose an item, take the application, accept it, print the receipt."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user

from app.auth import roles_required
from app.extensions import db
from app.models import ServiceItem
from app.services import catalogue
from app.services import materials as material_store
from app.services.cases import get_case
from app.services.errors import ValidationFailed
from app.services.intake import Application, MaterialIn, accept_application
from app.taskforms import get_registry

bp = Blueprint("intake", __name__, url_prefix="/intake")


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


@bp.route("/")
@roles_required("front_desk")
def choose_item():
    return render_template("intake/choose.html", items=catalogue.active_items())


@bp.route("/<code>", methods=["GET", "POST"])
@roles_required("front_desk")
def application_form(code: str):
    item = _item_or_404(code)
    form = get_registry().get(item.intake_form)
    values, errors, kept = {}, {}, {}
    if request.method == "POST":
        values = form.coerce(request.form)
        given, kept = _materials_from_request(item)
        applicant = {key: request.form.get(f"applicant_{key}", "") for key in ("type", "name", "id_number", "phone")}
        try:
            case, query_code = accept_application(
                Application(item_code=item.code, applicant=applicant, form=values, materials=given), current_user)
        except ValidationFailed as exc:
            db.session.rollback()  # nothing of the refused application stays in the session
            errors = exc.fields or {"_form": exc.message}
        else:
            db.session.commit()
            session["receipt"] = {"case_no": case.case_no, "query_code": query_code}
            return redirect(url_for("intake.receipt", case_no=case.case_no))
    return render_template(
        "intake/form.html", item=item, form=form, values=values, errors=errors, kept=kept,
        form_errors={k[5:]: v for k, v in errors.items() if k.startswith("form.")},
        posted=request.form,
    ), (422 if errors else 200)


@bp.route("/receipt/<case_no>")
@roles_required("front_desk")
def receipt(case_no: str):
    case = get_case(case_no)
    # The query password is shown once, right after acceptance; it is stored only hashed.
    pending = session.get("receipt") or {}
    query_code = None
    if pending.get("case_no") == case_no:
        query_code = session.pop("receipt")["query_code"]
    return render_template("intake/receipt.html", case=case, query_code=query_code)
