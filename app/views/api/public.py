"""Public progress query and rating without a token; rating follow-ups for supervisors."""
from __future__ import annotations

from datetime import datetime

from flask import g, jsonify, make_response, request
from flask_babel import gettext as _

from app.auth import api_auth, public
from app.error_pages import error_response
from app.errors import ServiceError, ValidationFailed
from app.extensions import db
from app.models import RatingFollowUp
from app.services.cases import public_query
from app.services.supervision import ratings as rating_service
from app.unit_of_work import keep_what_was_written
from app.views.api import api_bp
from app.views.api.serializers import iso, json_object


def _missing_code():
    """The 400 refusal for a request without a query password."""
    return ServiceError(_("The query password is required."), {"query_code": _("This field is required.")})


def _refused(exc: ServiceError):
    """Answer a refused query password: a wrong guess is committed so it counts; a lock says when to retry."""
    if isinstance(exc, public_query.WrongQueryCode):
        keep_what_was_written()
        raise exc
    db.session.rollback()
    response = make_response(error_response(exc.status, exc.message))
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@api_bp.get("/public/cases/<case_no>")
@public
def public_case(case_no: str):
    """The public view of a case, for its number and query password."""
    query_code = request.args.get("query_code")
    if query_code is None:
        raise _missing_code()
    try:
        body = public_query.query_case(case_no, query_code)
    except (public_query.WrongQueryCode, public_query.TooManyAttempts) as exc:
        return _refused(exc)
    return jsonify(body)


@api_bp.post("/public/cases/<case_no>/rating")
@public
def rate_case(case_no: str):
    """Rate a finished case with its query password."""
    body = json_object()
    if body.get("query_code") is None:
        raise _missing_code()
    try:
        rating = rating_service.rate_case(case_no, body["query_code"], body.get("code"), body.get("comment"),
                                          body.get("channel", "online"))
    except (public_query.WrongQueryCode, public_query.TooManyAttempts) as exc:
        return _refused(exc)
    answer = {"case_no": rating.case.case_no, "channel": rating.channel, "code": rating.code,
              "follow_up_due_at": iso(rating.follow_up.due_at) if rating.follow_up else None}
    return jsonify(answer), 201


def _row_json(row: dict) -> dict:
    """A follow-up list row with ISO timestamps."""
    return {key: (iso(value) if isinstance(value, datetime) else value) for key, value in row.items()}


def _follow_up_json(follow_up: RatingFollowUp) -> dict:
    """One follow-up after an action on it."""
    return {"id": follow_up.id, "case_no": follow_up.rating.case.case_no, "status": follow_up.status,
            "code": follow_up.rating.code, "channel": follow_up.rating.channel, "due_at": iso(follow_up.due_at),
            "reply": follow_up.reply, "replied_at": iso(follow_up.replied_at),
            "replied_by": follow_up.replied_by.display_name if follow_up.replied_by_id else None}


@api_bp.get("/follow-ups")
@api_auth("supervisor")
def list_follow_ups():
    """Follow-ups for supervisors; ?status=open for the unanswered ones by due date."""
    page = request.args.get("page", 1, type=int)
    per_page = min(max(request.args.get("per_page", 100, type=int), 1), 500)
    listing = (rating_service.open_follow_ups(page, per_page) if request.args.get("status") == "open"
               else rating_service.all_follow_ups(page, per_page))
    response = jsonify([_row_json(row) for row in listing.items])
    response.headers["X-Total-Count"] = str(listing.total)
    return response


@api_bp.post("/follow-ups/<int:follow_up_id>")
@api_auth("supervisor")
def act_on_follow_up(follow_up_id: int):
    """Record a note on a follow-up or send its reply."""
    body = json_object()
    action = body.get("action", "note")
    if action not in ("note", "reply"):
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"action": _("Choose whether to record a note or send the reply.")})
    follow_up = rating_service.record_follow_up(follow_up_id, g.api_user, body.get("note"), reply=action == "reply")
    answer = _follow_up_json(follow_up)
    return jsonify(answer)
