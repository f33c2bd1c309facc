"""Archivist pages (档案管理): search packages, package detail and check report, retention expiry.

Archivists and supervisors read (filing.ARCHIVE_READERS); only archivists run checks or retry a
failed filing, as in the JSON API. Admin holds every role.
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.archive.metadata import RETENTION_LABELS
from app.auth import roles_required
from app.errors import NotFound, ValidationFailed
from app.models.archive import FILING_STATES
from app.models.item import RETENTION_PERIODS
from app.services.archive import filing
from app.services.archive import search as archive_search
from app.services.supervision import reports
from app.views.helpers import locale_code

bp = Blueprint("archive", __name__, url_prefix="/archive")

PROPERTY_LABELS = {"authenticity": _l("Authenticity"), "integrity": _l("Integrity"),
                   "usability": _l("Usability"), "security": _l("Security")}
CHECK_RESULT_LABELS = {"pass": _l("Passed"), "fail": _l("Failed"), "skip": _l("Skipped")}
CHECK_RESULT_STYLES = {"pass": "success", "fail": "danger", "skip": "secondary"}
STATE_STYLES = {"queued": "secondary", "sealed": "success", "failed": "danger"}


@bp.app_context_processor
def archive_helpers() -> dict:
    """Names the case page (and the pages here) use; the case view itself knows nothing of filing."""
    return {
        "filing_of": lambda case: archive_search.filing_of_case(case.id) if case.is_finished else None,
        "filing_state_label": filing.filing_state_label,
        "may_read_archive": _may_read_archive,
        "RETENTION_LABELS": RETENTION_LABELS,
        "FILING_STATE_STYLES": STATE_STYLES,
    }


def _may_read_archive() -> bool:
    return current_user.is_authenticated and current_user.has_role(*filing.ARCHIVE_READERS)


def _paging() -> reports.Paging:
    try:
        return reports.parse_paging(request.args, current_app.config["PAGE_SIZE"])
    except ValidationFailed as exc:
        raise ValidationFailed(_("Some filters are not valid."), exc.fields) from None


@bp.route("/")
@roles_required(*filing.ARCHIVE_READERS)
def index():
    """Search sealed, queued and failed filings; a bad filter is shown above the form (422), never a 500."""
    choices = {"items": archive_search.item_choices(locale_code().startswith("en")),
               "retentions": RETENTION_PERIODS, "states": FILING_STATES}
    try:
        filters = archive_search.parse_filters(request.args)
    except ValidationFailed as exc:
        return render_template("archive/index.html", listing=None, filters=None,
                               errors=archive_search.validation_errors(exc), **choices), 422
    paging = _paging()
    listing = archive_search.search(filters, paging.page, paging.per_page)
    return render_template("archive/index.html", listing=listing, filters=filters, errors=[], **choices)


@bp.route("/expiry")
@roles_required(*filing.ARCHIVE_READERS)
def expiry():
    """Sealed packages whose retention has run out by the end of a year: candidates for appraisal (鉴定)."""
    try:
        until = archive_search.parse_until(request.args, reports.local_today().year)
    except ValidationFailed as exc:
        raise ValidationFailed(_("Some filters are not valid."), exc.fields) from None
    paging = _paging()
    listing = archive_search.expiry_page(until, paging.page, paging.per_page)
    return render_template("archive/expiry.html", listing=listing, until=until)


@bp.route("/case/<case_no>")
@roles_required(*filing.ARCHIVE_READERS)
def case_filing(case_no: str):
    """A filing by case number: the way to a queued or failed filing, which has no 档号 yet."""
    package = filing.package_of_case(case_no)
    if package.state == "sealed":
        return redirect(url_for("archive.show", archival_code=package.archival_code))
    return render_template("archive/case.html", package=package, case_no=case_no)


@bp.route("/case/<case_no>/retry", methods=["POST"])
@roles_required("archivist")
def retry(case_no: str):
    """Put a failed filing back in the queue (after the missing material was restored)."""
    package = filing.package_of_case(case_no)
    filing.retry_failed(package, current_user)
    flash(_("The filing was queued again; the next filing run builds the package."), "success")
    return redirect(url_for("archive.case_filing", case_no=case_no))


@bp.route("/<archival_code>")
@roles_required(*filing.ARCHIVE_READERS)
def show(archival_code: str):
    """A sealed package: its metadata and file list read from the ZIP, and the latest check report."""
    package = archive_search.package_by_code(archival_code)
    contents = archive_search.read_contents(package)
    return render_template("archive/show.html", package=package, contents=contents,
                           property_labels=PROPERTY_LABELS, result_labels=CHECK_RESULT_LABELS,
                           result_styles=CHECK_RESULT_STYLES)


@bp.route("/<archival_code>/package")
@roles_required(*filing.ARCHIVE_READERS)
def download(archival_code: str):
    """The sealed ZIP as it was written; the digest header lets the receiver check what arrived."""
    package = archive_search.package_by_code(archival_code)
    path = filing.sealed_file(package)
    if not path.is_file():  # the store lost it: say so rather than fail inside send_file
        raise NotFound(_("The package file is missing from the archive store; run the checks to record it."))
    # send_file streams from disk in blocks: a package with large scans never sits in memory.
    response = send_file(path, mimetype="application/zip", as_attachment=True,
                         download_name=f"{package.archival_code}.zip", etag=package.sha256, max_age=0)
    response.headers["Digest"] = f"sha-256={package.sha256}"
    return response


@bp.route("/<archival_code>/check", methods=["POST"])
@roles_required("archivist")
def check(archival_code: str):
    """Run the four-property checks (四性检测) again and store the new report."""
    package = archive_search.package_by_code(archival_code)
    report = filing.check_sealed(package)
    failed = archive_search.check_failures(report)
    if failed:
        flash(_("Some checks failed: %(codes)s.", codes=", ".join(failed)), "danger")
    else:
        flash(_("All checks passed."), "success")
    return redirect(url_for("archive.show", archival_code=package.archival_code))
