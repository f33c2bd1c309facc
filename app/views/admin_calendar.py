"""Admin pages for the business calendar (节假日与调休), and its JSON API under /api/v1/calendar."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth import api_auth, roles_required
from app.errors import ValidationFailed
from app.extensions import csrf, db
from app.models import User
from app.services.calendar import business_calendar

bp = Blueprint("admin_calendar", __name__)


def _upload() -> tuple[str, bytes]:
    """The uploaded file's name and bytes (read no further than a calendar can be)."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed(_("Choose a .toml or .csv file to import."))
    return upload.filename, upload.stream.read(business_calendar.MAX_FILE_BYTES + 1)


def _year_page(year: int, status: int = 200, error: ValidationFailed | None = None, form: dict | None = None):
    stored = business_calendar.get_year(year)
    updated_by = db.session.get(User, stored.updated_by_id) if stored and stored.updated_by_id else None
    return render_template(
        "admin/calendar_year.html", year=year, stored=stored, updated_by=updated_by, days=business_calendar.days_of(year),
        working_days=business_calendar.working_days_in(year), error=error, form=form or {},
    ), status


@bp.route("/admin/calendar")
@roles_required("admin")
def index():
    wanted = request.args.get("year", type=int)
    if wanted is not None:
        return redirect(url_for("admin_calendar.edit_year", year=wanted))
    return render_template("admin/calendar.html", years=business_calendar.year_summaries(), error=None)


@bp.route("/admin/calendar/import", methods=["POST"])
@roles_required("admin")
def import_any_year():
    try:
        stored = business_calendar.import_file(*_upload(), current_user)
    except ValidationFailed as exc:
        db.session.rollback()
        return render_template("admin/calendar.html", years=business_calendar.year_summaries(), error=exc), 422
    flash(_("Calendar %(year)d imported.", year=stored.year), "success")
    return redirect(url_for("admin_calendar.edit_year", year=stored.year))


@bp.route("/admin/calendar/<int:year>")
@roles_required("admin")
def edit_year(year: int):
    business_calendar.check_year(year)
    return _year_page(year)


@bp.route("/admin/calendar/<int:year>/import", methods=["POST"])
@roles_required("admin")
def import_year(year: int):
    try:
        business_calendar.import_file(*_upload(), current_user, year=year)
    except ValidationFailed as exc:
        db.session.rollback()
        return _year_page(year, 422, exc)
    flash(_("Calendar %(year)d imported.", year=year), "success")
    return redirect(url_for("admin_calendar.edit_year", year=year))


@bp.route("/admin/calendar/<int:year>/days", methods=["POST"])
@roles_required("admin")
def save_day(year: int):
    form = {key: request.form.get(key, "") for key in ("date", "kind", "note")}
    try:
        day = business_calendar.parse_day(form["date"])
        if day is None:
            raise ValidationFailed(_("%(value)s is not a date (YYYY-MM-DD).", value=form["date"] or "—"))
        business_calendar.set_day(year, day, form["kind"], form["note"], current_user)
    except ValidationFailed as exc:
        db.session.rollback()
        return _year_page(year, 422, exc, form)
    flash(_("%(date)s saved.", date=day.isoformat()), "success")
    return redirect(url_for("admin_calendar.edit_year", year=year))


@bp.route("/admin/calendar/<int:year>/days/<day>/remove", methods=["POST"])
@roles_required("admin")
def remove_day(year: int, day: str):
    parsed = business_calendar.parse_day(day)
    if parsed is None:
        abort(404)
    business_calendar.remove_day(year, parsed, current_user)
    flash(_("%(date)s removed; it follows the Monday-to-Friday rule again.", date=parsed.isoformat()), "success")
    return redirect(url_for("admin_calendar.edit_year", year=year))


@bp.get("/api/v1/calendar/<int:year>")
@api_auth()
def api_year(year: int):
    return jsonify(business_calendar.year_json(year))


@bp.put("/api/v1/calendar/<int:year>")
@api_auth("admin")
def api_replace_year(year: int):
    entries = business_calendar.entries_from_json(request.get_json(silent=True))
    business_calendar.replace_year(year, entries, g.api_user, source="api")
    return jsonify(business_calendar.year_json(year))


# Bearer tokens only, like the rest of /api/v1 (whose blueprint is exempt as a whole).
csrf.exempt(api_replace_year)
