"""Transfer export (移交): a year or retention class of sealed packages as one batch with its transfer list."""
from __future__ import annotations

import tempfile
from urllib.parse import quote

from flask import Blueprint, render_template, request, send_file
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.auth import roles_required
from app.errors import ServiceError
from app.services.archive import transfer

bp = Blueprint("archive_transfer", __name__, url_prefix="/archive/transfer")

RETENTION_CHOICES = (("Y", _l("Permanent (永久)")), ("D30", _l("30 years (30年)")), ("D10", _l("10 years (10年)")))


def _page(year: str = "", retention: str = "", selection: transfer.Selection | None = None,
          error: ServiceError | None = None):
    """The form, the sealed counts per year and, for a valid selection, how many packages would go."""
    count = transfer.count_sealed(selection) if selection else None
    body = render_template("archive/transfer.html", counts=transfer.sealed_counts(), choices=RETENTION_CHOICES,
                           year=year, retention=retention, selection=selection, count=count, error=error)
    return body, error.status if error else 200


@bp.route("/", methods=["GET"])
@roles_required("archivist")
def index():
    """Choose a year and retention class; with both given, the page says how many packages would go."""
    year, retention = request.args.get("year", ""), request.args.get("retention", "")
    if not year:
        return _page(retention=retention)
    try:
        selection = transfer.parse_selection(year, retention)
    except ServiceError as exc:
        return _page(year, retention, error=exc)
    return _page(year, retention, selection)


@bp.route("/", methods=["POST"])
@roles_required("archivist")
def export():
    """Stream the batch ZIP; a refusal (bad input, nothing to transfer, a damaged package) shows the form."""
    year, retention = request.form.get("year", ""), request.form.get("retention", "")
    # An anonymous temporary file: the batch may be gigabytes, so it is written to disk, then
    # streamed in blocks; it disappears when the response closes it (or on any failure).
    handle = tempfile.TemporaryFile(prefix="transfer-")
    try:
        selection = transfer.parse_selection(year, retention)
        transfer.export_batch(selection, handle, exported_by=f"{current_user.username} (page)")
    except ServiceError as exc:
        handle.close()
        return _page(year, retention, error=exc)
    except BaseException:
        handle.close()
        raise
    size = handle.tell()
    handle.seek(0)
    response = send_file(handle, mimetype="application/zip", as_attachment=True,
                         download_name=selection.ascii_file_name)
    response.content_length = size
    # The Chinese name for browsers that read RFC 6266 filename*, the ASCII one for the rest.
    response.headers.set("Content-Disposition", "attachment", filename=selection.ascii_file_name,
                         **{"filename*": f"UTF-8''{quote(selection.file_name)}"})
    response.headers["Cache-Control"] = "no-store"
    return response

