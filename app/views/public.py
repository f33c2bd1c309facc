"""Public progress query and rating pages (no account), and the supervisors' rating follow-ups."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth import public, roles_required
from app.errors import ServiceError, ValidationFailed
from app.extensions import db
from app.services.cases import public_query
from app.services.supervision import ratings as rating_service
from app.unit_of_work import keep_what_was_written
from app.views.helpers import local_time

bp = Blueprint("public", __name__)

STATUS_STYLES = {"completed": "success", "refused": "danger", "returned": "danger", "withdrawn": "secondary",
                 "pending_supplement": "warning", "suspended": "warning"}


def local_iso(value: str | None) -> str:
    """An ISO timestamp from the public view shown in local time."""
    return local_time(datetime.fromisoformat(value)) if value else "—"


def _page(status: int = 200, *, case_no: str = "", view: dict | None = None, query_code: str | None = None,
          error: str | None = None, rating_errors: dict | None = None, headers: dict | None = None):
    """Render the query page: the form, and the case with the rating form when given."""
    # The query password goes back into the page only as the rating form's hidden field.
    code = query_code if view and view["can_rate"] else None
    body = render_template(
        "public/query.html", case_no=case_no, view=view, query_code=code, error=error,
        rating_errors=rating_errors or {}, rating_labels=rating_service.RATING_LABELS,
        channel_labels=rating_service.CHANNEL_LABELS, stars=rating_service.stars, local_iso=local_iso,
        status_styles=STATUS_STYLES, comment_limit=rating_service.MAX_COMMENT_CHARS,
    )
    return body, status, headers or {}


def _refusal(exc: ServiceError, case_no: str):
    """The query form again with the refusal; a wrong guess is committed so it counts."""
    if isinstance(exc, public_query.WrongQueryCode):
        keep_what_was_written()
    else:
        db.session.rollback()
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, public_query.TooManyAttempts) else None
    return _page(exc.status, case_no=case_no, error=exc.message, headers=headers)


def _show(case_no: str, query_code: str, status: int = 200, **extra):
    """Look the case up and show it, or show the refusal."""
    try:
        view = public_query.query_case(case_no, query_code)
    except ServiceError as exc:
        return _refusal(exc, case_no)
    keep_what_was_written()  # the right password was given, also when the page then shows a refusal
    return _page(status, case_no=case_no, view=view, query_code=query_code, **extra)


@bp.route("/query", methods=["GET", "POST"])
@public
def query():
    """The query form, and the case once number and password match."""
    if request.method == "GET":
        return _page(case_no=request.args.get("case_no", "").strip())
    return _show(request.form.get("case_no", "").strip(), request.form.get("query_code", ""))


@bp.route("/query/rate", methods=["POST"])
@public
def rate():
    """Store an online rating from the query page."""
    case_no = request.form.get("case_no", "").strip()
    query_code = request.form.get("query_code", "")
    raw = request.form.get("code", "").strip()
    code = int(raw) if raw.isascii() and raw.isdigit() else raw
    try:
        rating = rating_service.rate_case(case_no, query_code, code, request.form.get("comment"), "online")
    except (public_query.WrongQueryCode, public_query.TooManyAttempts) as exc:
        return _refusal(exc, case_no)
    except ValidationFailed as exc:
        db.session.rollback()
        return _show(case_no, query_code, 422, rating_errors=exc.fields or {"code": exc.message})
    except ServiceError as exc:
        db.session.rollback()
        return _show(case_no, query_code, exc.status, error=exc.message)
    view = public_query.public_view(rating.case)
    flash(_("Thank you for your rating."), "success")
    return _page(case_no=case_no, view=view)


@bp.route("/supervision/follow-ups")
@roles_required("supervisor")
def follow_ups():
    """Rating follow-ups for supervisors: all newest first, or the open ones by due date."""
    status = "open" if request.args.get("status") == "open" else "all"
    page = request.args.get("page", 1, type=int)
    per_page = current_app.config["PAGE_SIZE"]
    listing = (rating_service.open_follow_ups(page, per_page) if status == "open"
               else rating_service.all_follow_ups(page, per_page))
    return render_template("public/follow_ups.html", listing=listing, status=status,
                           rating_labels=rating_service.RATING_LABELS, channel_labels=rating_service.CHANNEL_LABELS,
                           stars=rating_service.stars)


@bp.route("/supervision/follow-ups/<int:follow_up_id>", methods=["POST"])
@roles_required("supervisor")
def follow_up_action(follow_up_id: int):
    """Record a note on a follow-up or send its reply."""
    action = request.form.get("action")
    if action not in ("note", "reply"):
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"action": _("Choose whether to record a note or send the reply.")})
    rating_service.record_follow_up(follow_up_id, current_user, request.form.get("note"), reply=action == "reply")
    flash(_("The reply was recorded.") if action == "reply" else _("The note was recorded."), "success")
    return redirect(url_for("public.follow_ups", status=request.args.get("status")))
