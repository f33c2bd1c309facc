"""Process designer API: processes and versions, upload and deploy, migration of running cases."""
from __future__ import annotations

from flask import g, jsonify, request
from flask_babel import gettext as _

from app.auth import api_auth
from app.errors import ValidationFailed
from app.services.cases import migration as process_migration
from app.services.processes import designer
from app.services.processes import versions as process_versions
from app.views.api import api_bp
from app.views.api.serializers import iso
from app.views.helpers import bpmn_download

DESIGNERS = ("designer",)
_XML_TYPES = ("application/xml", "text/xml", "application/bpmn+xml")
_TRUE = ("1", "true", "yes", "on")


def version_json(row: process_versions.VersionRow) -> dict:
    version = row.version
    return {"process_id": version.process_id, "version": version.version, "name": version.name,
            "sha256": version.sha256, "source_file": version.source_file, "deployed_at": iso(version.deployed_at),
            "deployed_by": row.deployed_by, "running_cases": row.running_cases}


@api_bp.get("/processes")
@api_auth(*DESIGNERS)
def list_processes():
    return jsonify({"processes": [
        {"process_id": row.process_id, "name": row.name, "latest_version": row.latest,
         "deployed_at": iso(row.deployed_at), "running_cases": row.running_cases,
         "draft_revision": row.draft_revision} for row in process_versions.process_list()]})


def _upload_input() -> tuple[bytes, str, dict]:
    """The BPMN bytes, its file name and the forms, from a multipart form or a raw XML body."""
    if request.mimetype in _XML_TYPES:
        return request.get_data(), request.args.get("filename", "upload.bpmn"), {}
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed(_("Send the BPMN file in the multipart field \"file\"."),
                               {"file": _("This field is required.")})
    forms = designer.forms_from_files([(form.filename or "", form.read()) for form in request.files.getlist("forms")])
    return upload.read(), upload.filename, forms


@api_bp.post("/processes")
@api_auth(*DESIGNERS)
def upload_process():
    """Check an uploaded BPMN (and forms) and deploy it as the process's next version."""
    xml, filename, forms = _upload_input()
    values = request.values
    process_id = values.get("process_id") or None
    check_only = values.get("check_only", "").lower() in _TRUE
    version, check = designer.upload(xml, filename, forms, g.api_user, process_id, check_only)
    body = {"process_id": check.engine.process_id, "problems": check.as_dicts()}
    if version is None:
        latest = None if check_only else process_versions.get_latest(check.engine.process_id)
        return jsonify({**body, "ok": True, "deployed": False,
                        "version": latest.version if latest else None, "unchanged": not check_only})
    return jsonify({**body, "ok": True, "deployed": True, "version": version.version, "sha256": version.sha256,
                    "deployed_at": iso(version.deployed_at)}), 201


@api_bp.get("/processes/<process_id>")
@api_auth(*DESIGNERS)
def show_process(process_id: str):
    rows = process_versions.versions_of(process_id)
    draft = process_versions.draft_summary(process_id)
    if draft is not None:
        draft["updated_at"] = iso(draft["updated_at"])
    if not rows and draft is None:
        process_versions.get_latest(process_id)  # raises NotFound
    return jsonify({"process_id": process_id, "name": rows[0].version.name if rows else None,
                    "versions": [version_json(row) for row in rows], "draft": draft})


@api_bp.get("/processes/<process_id>/versions/<int:number>/bpmn")
@api_auth(*DESIGNERS)
def version_bpmn(process_id: str, number: int):
    return bpmn_download(process_versions.get_version(process_id, number))


@api_bp.get("/processes/<process_id>/events")
@api_auth(*DESIGNERS)
def process_events(process_id: str):
    return jsonify({"events": [{"action": e.action, "at": iso(e.at), "actor": e.actor_name, "details": e.details}
                               for e in process_versions.events_of(process_id)]})


@api_bp.get("/processes/<process_id>/versions/<int:number>/migration")
@api_auth(*DESIGNERS)
def migration_dry_run(process_id: str, number: int):
    """Dry run: per running case of an older version, what moving it would change and whether it can."""
    target, plans = process_migration.dry_run(process_id, number)
    return jsonify({"process_id": process_id, "to_version": target.version, "cases": [
        {"case_no": p.case_no, "from_version": p.from_version, **process_migration.plan_as_dict(p.plan)}
        for p in plans]})


@api_bp.post("/processes/<process_id>/versions/<int:number>/migration")
@api_auth(*DESIGNERS)
def migrate_cases(process_id: str, number: int):
    """Move the chosen cases ({"cases": [case numbers]}); each moves or is refused on its own."""
    body = request.get_json(silent=True)
    run = process_migration.migrate_cases(process_id, number, body.get("cases") if isinstance(body, dict) else None,
                                          g.api_user)
    return jsonify({"process_id": process_id, "to_version": number, "moved": run.moved, "refused": run.refused})
