"""Organisation file pages (admin): import with a dry run, export, the example file; the audit log."""
from __future__ import annotations

import csv
import hashlib
import io
from datetime import date

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth import roles_required
from app.config import PROJECT_ROOT
from app.extensions import db
from app.models import OrgImportFile
from app.models.base import utcnow
from app.services.org import audit, org_export, org_import
from app.services.org.org_file import write_xlsx
from app.unit_of_work import keep_what_was_written
from app.views.helpers import local_time, page_arg, text_arg

bp = Blueprint("org_files", __name__, url_prefix="/admin")

EXAMPLE_FILE = PROJECT_ROOT / "app" / "data" / "org" / "example-organisation.csv"
_MIMETYPES = {"csv": "text/csv; charset=utf-8",
              "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _download(content: bytes, kind: str, name: str) -> Response:
    return Response(content, mimetype=_MIMETYPES[kind], headers={
        "Content-Disposition": f'attachment; filename="{name}.{kind}"', "Cache-Control": "no-store"})


@bp.route("/org/import", methods=["GET", "POST"])
@roles_required("admin")
def import_file():
    """Upload a file: it is kept and checked (dry run); nothing changes until Apply."""
    if request.method == "GET":
        return render_template("admin/org/import.html", upload=None, plan=None)
    upload = request.files.get("file")
    content = upload.read(current_app.config["MAX_ORG_FILE_BYTES"] + 1) if upload else b""
    if not upload or not upload.filename or not content:
        flash(_("Choose a .csv or .xlsx file."), "danger")
        return render_template("admin/org/import.html", upload=None, plan=None), 422
    if len(content) > current_app.config["MAX_ORG_FILE_BYTES"]:
        flash(_("The file is larger than %(n)s MB.", n=current_app.config["MAX_ORG_FILE_BYTES"] // 2**20), "danger")
        return render_template("admin/org/import.html", upload=None, plan=None), 413
    kept = OrgImportFile(filename=upload.filename[:255], content=content,
                         sha256=hashlib.sha256(content).hexdigest(), uploaded_by_id=current_user.id)
    db.session.add(kept)
    plan = org_import.plan_import(kept.filename, content, current_user)
    if not plan.ok:
        keep_what_was_written()  # the checked file is kept with its problems, as when it has none
    return render_template("admin/org/import.html", upload=kept, plan=plan), 200 if plan.ok else 422


@bp.route("/org/import/<int:upload_id>/apply", methods=["POST"])
@roles_required("admin")
def apply_import(upload_id: int):
    """Apply a checked file, all or nothing; new accounts' first passwords are shown this once."""
    kept = db.session.get(OrgImportFile, upload_id)
    if kept is None:
        abort(404)
    if kept.applied_at is not None:
        flash(_("This file was applied already. Upload it again to check it against today's organisation."),
              "warning")
        return redirect(url_for("org_files.import_file"))
    try:
        result = org_import.apply_import(kept.filename, kept.content, current_user, "page")
    except org_import.ImportRefused:
        db.session.rollback()
        plan = org_import.plan_import(kept.filename, kept.content, current_user)
        return render_template("admin/org/import.html", upload=kept, plan=plan), 422
    kept.applied_at = utcnow()
    return render_template("admin/org/imported.html", upload=kept, result=result)


@bp.route("/org/export.<kind>")
@roles_required("admin")
def export_file(kind: str):
    if kind not in _MIMETYPES:
        abort(404)
    return _download(org_export.export_file(kind), kind, f"organisation-{local_time(utcnow(), '%Y-%m-%d')}")


@bp.route("/org/example.<kind>")
@roles_required("admin")
def example_file(kind: str):
    """The example organisation matching the shipped processes, to copy and edit."""
    if kind not in _MIMETYPES:
        abort(404)
    content = EXAMPLE_FILE.read_bytes()
    if kind == "xlsx":
        content = write_xlsx(list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""))))
    return _download(content, kind, "example-organisation")


@bp.route("/audit")
@roles_required("admin")
def audit_log():
    """Every administrative change, newest first, searchable by who or what, action and date."""
    query = audit.AuditQuery(text=text_arg("q"), action=text_arg("action", 40),
                             date_from=_date_arg("from"), date_to=_date_arg("to"))
    pagination = audit.search(query, page_arg(), current_app.config["PAGE_SIZE"])
    return render_template("admin/org/audit.html", pagination=pagination, query=query, actions=audit.actions(),
                           args=request.args)


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None
