"""Process designer pages (流程设计): process list, versions, the modeller, upload, migration.

Only designers reach them (admin holds every role). The modeller talks JSON to the draft
endpoints here; their errors are JSON too, since the page is a script and not a form.
"""
from __future__ import annotations

import json
from functools import wraps

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.archive.metadata import RETENTION_LABELS
from app.auth import roles_required
from app.errors import Conflict, ServiceError, ValidationFailed
from app.extensions import db
from app.labels import CASE_TYPE_LABELS, UNIT_LABELS
from app.models.archive import CLASSIFICATIONS
from app.models.item import CASE_TYPES, LIMIT_UNITS, RETENTION_PERIODS
from app.services import org
from app.services.cases import migration as process_migration
from app.services.processes import catalogue, designer
from app.services.processes import versions as process_versions
from app.taskforms import get_registry
from app.taskforms.errors import InvalidForm, UnknownForm
from app.taskforms.registry import form_from_schema
from app.views.helpers import bpmn_download, locale_code

bp = Blueprint("designer", __name__, url_prefix="/designer")
DESIGNERS = ("designer",)
EVENT_LABELS = {"draft_saved": _l("Draft saved"), "deployed": _l("Deployed"), "uploaded": _l("Uploaded and deployed"),
                "cases_migrated": _l("Cases migrated")}


def json_errors(view):
    """Service refusals of the modeller's endpoints as JSON: error, and problems when there are any."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except ServiceError as exc:
            db.session.rollback()
            body = {"error": exc.message}
            if getattr(exc, "problems", None) is not None:
                body["problems"] = exc.problems
            if isinstance(exc, Conflict) and "process_id" in kwargs:
                draft = process_versions.draft_summary(kwargs["process_id"]) or {}
                body.update(draft, updated_at=draft["updated_at"].isoformat() if draft else None)
            return jsonify(body), exc.status
    return wrapped


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed(_("The request body must be a JSON object."))
    return body


@bp.route("/")
@roles_required(*DESIGNERS)
def index():
    return render_template("designer/index.html", processes=process_versions.process_list())


@bp.post("/processes")
@roles_required(*DESIGNERS)
def new_process():
    process_id = request.form.get("process_id", "").strip()
    name = request.form.get("name", "").strip() or process_id
    try:
        designer.create_process(process_id, name, current_user)
    except ServiceError as exc:
        db.session.rollback()
        return render_template("designer/index.html", processes=process_versions.process_list(),
                               new_error=exc.message, new_values=request.form), exc.status
    return redirect(url_for("designer.edit", process_id=process_id))


@bp.route("/processes/<process_id>")
@roles_required(*DESIGNERS)
def process(process_id: str):
    versions = process_versions.versions_of(process_id)
    draft = process_versions.draft_summary(process_id)
    if not versions and draft is None:
        process_versions.get_latest(process_id)  # raises NotFound
    return render_template("designer/process.html", process_id=process_id, versions=versions, draft=draft,
                           events=process_versions.events_of(process_id), event_labels=EVENT_LABELS,
                           migrations=process_migration.migrations_to(process_id, 50))


@bp.route("/processes/<process_id>/versions/<int:number>")
@roles_required(*DESIGNERS)
def version(process_id: str, number: int):
    return render_template("designer/version.html", version=process_versions.get_version(process_id, number))


@bp.route("/processes/<process_id>/versions/<int:number>.bpmn")
@roles_required(*DESIGNERS)
def version_bpmn(process_id: str, number: int):
    return bpmn_download(process_versions.get_version(process_id, number))


@bp.route("/processes/<process_id>/edit")
@roles_required(*DESIGNERS)
def edit(process_id: str):
    draft = designer.open_draft(process_id)
    latest = catalogue.current_version(process_id)
    title = f"{latest.name} ({process_id})" if latest is not None and latest.name else process_id
    return render_template("designer/edit.html", process_id=process_id, title=title, draft=draft)


def _choices(labels: dict, codes) -> list[list[str]]:
    return [[code, str(labels.get(code, code))] for code in codes]


@bp.route("/processes/<process_id>/draft.json")
@roles_required(*DESIGNERS)
@json_errors
def draft_json(process_id: str):
    draft = designer.open_draft(process_id)
    english = locale_code().startswith("en")
    return jsonify({
        "process_id": process_id, "revision": draft.revision, "bpmn": draft.bpmn, "forms": draft.forms,
        "item": draft.item, "updated_by": draft.updated_by,
        "updated_at": draft.updated_at.isoformat() if draft.updated_at else None, "base_version": draft.base_version,
        "departments": [{"code": code, "name": name} for code, name in org.department_names(english).items()],
        "form_keys": get_registry().keys(),
        "choices": {"case_type": _choices(CASE_TYPE_LABELS, CASE_TYPES),
                    "limit_unit": _choices(UNIT_LABELS, LIMIT_UNITS),
                    "retention": _choices(RETENTION_LABELS, RETENTION_PERIODS),
                    "classification": _choices({}, CLASSIFICATIONS)},
    })


@bp.post("/processes/<process_id>/draft")
@roles_required(*DESIGNERS)
@json_errors
def save_draft(process_id: str):
    body = _json_body()
    draft, check = designer.save_draft(process_id, body.get("revision"), body.get("bpmn"), body.get("forms", {}),
                                       body.get("item"), current_user)
    return jsonify({"revision": draft.revision, "saved_at": draft.updated_at.isoformat(),
                    "problems": check.as_dicts()})


@bp.post("/processes/<process_id>/validate")
@roles_required(*DESIGNERS)
@json_errors
def validate_draft(process_id: str):
    body = _json_body()
    check = designer.check_draft(process_id, body.get("bpmn"), body.get("forms", {}), body.get("item"))
    return jsonify({"ok": check.ok, "problems": check.as_dicts()})


@bp.post("/processes/<process_id>/deploy")
@roles_required(*DESIGNERS)
@json_errors
def deploy(process_id: str):
    version, check = designer.deploy_draft(process_id, _json_body().get("revision"), current_user)
    return jsonify({"version": version.version, "problems": check.as_dicts(),
                    "process_url": url_for("designer.process", process_id=process_id)}), 201


@bp.route("/forms/<key>.json")
@roles_required(*DESIGNERS)
def form_json(key: str):
    try:
        form = get_registry().get(key)
    except (UnknownForm, InvalidForm):
        return jsonify({"error": _("There is no form %(form)s.", form=key)}), 404
    return jsonify({"key": key, "schema": form.schema})


@bp.post("/forms/preview")
@roles_required(*DESIGNERS)
def preview_form():
    """The form as handlers will see it, rendered from the JSON being edited."""
    body = request.get_json(silent=True)
    text = body.get("schema") if isinstance(body, dict) else None
    try:
        schema = json.loads(text) if isinstance(text, str) else text
        form = form_from_schema("preview", schema)
    except json.JSONDecodeError as exc:
        return render_template("designer/_form_preview.html", error=_("Not valid JSON: %(reason)s", reason=str(exc))), 422
    except InvalidForm as exc:
        return render_template("designer/_form_preview.html", error=exc.reason), 422
    return render_template("designer/_form_preview.html", form=form)


@bp.route("/upload", methods=["GET", "POST"])
@roles_required(*DESIGNERS)
def upload():
    """Upload a BPMN file edited in a desktop modeller (and its forms): check, then deploy."""
    if request.method == "GET":
        return render_template("designer/upload.html")
    upload_file = request.files.get("file")
    if upload_file is None or not upload_file.filename:
        return render_template("designer/upload.html", error=_("Choose a BPMN file.")), 422
    xml = upload_file.read()
    process_id = request.form.get("process_id", "").strip() or None
    check_only = request.form.get("action") == "check"
    try:
        forms = designer.forms_from_files([(f.filename or "", f.read()) for f in request.files.getlist("forms")
                                           if f.filename])
        version, check = designer.upload(xml, upload_file.filename, forms, current_user, process_id, check_only)
    except ServiceError as exc:
        db.session.rollback()
        return render_template("designer/upload.html", error=exc.message, problems=getattr(exc, "problems", None),
                               filename=upload_file.filename), exc.status
    if version is None:
        message = _("No problems found.") if check_only else _("Nothing changed: this file is already deployed.")
        return render_template("designer/upload.html", notice=message, problems=check.as_dicts(),
                               filename=upload_file.filename)
    flash(_("Version %(version)s of %(process)s deployed.", version=version.version, process=version.process_id),
          "success")
    return redirect(url_for("designer.process", process_id=version.process_id))


@bp.route("/processes/<process_id>/versions/<int:number>/migration", methods=["GET", "POST"])
@roles_required(*DESIGNERS)
def migration(process_id: str, number: int):
    """Dry run of moving running cases to this version; POST moves the ticked ones."""
    if request.method == "POST":
        try:
            run = process_migration.migrate_cases(process_id, number, request.form.getlist("case_no"), current_user)
        except ValidationFailed as exc:
            db.session.rollback()
            flash(exc.message, "warning")
            return redirect(url_for("designer.migration", process_id=process_id, number=number))
        flash(_("%(moved)s case(s) moved to version %(version)s, %(refused)s refused.",
                moved=len(run.moved), version=number, refused=len(run.refused)),
              "success" if not run.refused else "warning")
        return redirect(url_for("designer.migration", process_id=process_id, number=number))
    target, plans = process_migration.dry_run(process_id, number)
    return render_template("designer/migration.html", version=target, plans=plans, wording=process_migration.wording,
                           migrations=process_migration.migrations_to(process_id, 50))
