"""Archival packages of completed cases: 档号, digest and check report, the package ZIP, checks on demand."""
from __future__ import annotations

from flask import g, jsonify, send_file

from app.archive.metadata import RETENTION_LABELS
from app.auth import api_auth
from app.services.archive import filing
from app.views.api import api_bp
from app.views.api.serializers import iso


def archive_json(package) -> dict:
    return {
        "case_no": package.case.case_no, "state": package.state, "archival_code": package.archival_code,
        "fonds_code": package.fonds_code, "year": package.year, "retention": package.retention,
        "retention_label": RETENTION_LABELS.get(package.retention), "piece_no": package.piece_no,
        "classification": package.classification, "title": package.title, "sha256": package.sha256,
        "size": package.size, "file_count": package.file_count, "queued_at": iso(package.queued_at),
        "sealed_at": iso(package.sealed_at), "attempts": package.attempts, "last_error": package.last_error,
        "check_passed": package.check_passed, "checked_at": iso(package.checked_at),
        "checks": package.check_report or [],
    }


@api_bp.get("/cases/<case_no>/archive")
@api_auth(*filing.ARCHIVE_READERS)
def case_archive(case_no: str):
    return jsonify(archive_json(filing.package_of_case(case_no)))


@api_bp.get("/cases/<case_no>/archive/package")
@api_auth(*filing.ARCHIVE_READERS)
def case_archive_package(case_no: str):
    package = filing.package_of_case(case_no)
    path = filing.sealed_file(package)
    # send_file streams the file from disk in blocks; the digest lets the receiver check what arrived.
    response = send_file(path, mimetype="application/zip", download_name=f"{package.archival_code}.zip",
                         etag=package.sha256, max_age=0)
    response.headers["Digest"] = f"sha-256={package.sha256}"
    return response


@api_bp.post("/cases/<case_no>/archive/check")
@api_auth("archivist")
def check_case_archive(case_no: str):
    package = filing.package_of_case(case_no)
    filing.check_sealed(package)
    return jsonify(archive_json(package))


@api_bp.post("/cases/<case_no>/archive/retry")
@api_auth("archivist")
def retry_case_archive(case_no: str):
    package = filing.package_of_case(case_no)
    filing.retry_failed(package, g.api_user)
    return jsonify(archive_json(package))
