"""好差评: applicants rate finished cases; a bad rating opens a follow-up that supervisors answer."""
from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import Case, CaseRating, RatingFollowUp, User
from app.models.base import utcnow
from app.models.org import Actor
from app.models.rating import BAD_RATING_CODES, RATING_CHANNELS, RATING_CODES
from app.services.calendar import workdays
from app.services.cases import public_query
from app.services.cases.runtime import CaseRun
from app.services.query_args import Page
from app.taskforms.formats import has_control_characters

MAX_COMMENT_CHARS = 500
MAX_NOTE_CHARS = 2000
# GB/T 39046: code 1 is the best rating, so it shows as five stars.
RATING_LABELS = {
    1: _l("Very satisfied"),
    2: _l("Satisfied"),
    3: _l("Fairly satisfied"),
    4: _l("Dissatisfied"),
    5: _l("Very dissatisfied"),
}
CHANNEL_LABELS = {
    "online": _l("Online"), "window": _l("Service window"), "app": _l("Mobile app"),
    "sms": _l("Text message"), "hotline": _l("Hotline"),
}


def stars(code: int) -> int:
    """How many stars a rating code shows as (code 1 → 5 stars)."""
    return len(RATING_CODES) + 1 - code


def _clean_text(value, field: str, limit: int, errors: dict[str, str]) -> str | None:
    """Stripped text or None; problems go into errors under field."""
    if value is None:
        return None
    if not isinstance(value, str):
        errors[field] = _("Must be text.")
        return None
    value = value.strip()
    if len(value) > limit:
        errors[field] = _("At most %(limit)d characters.", limit=limit)
    elif has_control_characters(value):
        errors[field] = _("Contains control characters that cannot be stored.")
    return value or None


def _validated_comment(code, comment, channel) -> str | None:
    """Check code, comment and channel of a rating; the cleaned comment or ValidationFailed."""
    errors: dict[str, str] = {}
    if isinstance(code, bool) or not isinstance(code, int) or code not in RATING_CODES:
        errors["code"] = _("Choose a rating from 1 (very satisfied) to 5 (very dissatisfied).")
    comment = _clean_text(comment, "comment", MAX_COMMENT_CHARS, errors)
    if channel not in RATING_CHANNELS:
        errors["channel"] = _("Unknown rating channel.")
    if errors:
        raise ValidationFailed(_("Please correct the highlighted fields."), errors)
    return comment


def _already_rated(case_id: int, channel: str) -> bool:
    """Whether the case has a rating on this channel."""
    return db.session.scalar(select(CaseRating.id).where(
        CaseRating.case_id == case_id, CaseRating.channel == channel)) is not None


def rate_case(case_no: str, query_code: str | None, code, comment, channel: str = "online") -> CaseRating:
    """Store the applicant's rating of a finished case; a bad one opens a follow-up with a deadline."""
    # Checked before the password, so a malformed request costs no guess and reveals nothing.
    comment = _validated_comment(code, comment, channel)
    case = public_query.authenticate(case_no, query_code)
    if not case.is_finished:
        raise Conflict(_("Only a completed case can be rated."))
    duplicate = _("This case has already been rated on this channel.")
    if _already_rated(case.id, channel):
        raise Conflict(duplicate)
    now = utcnow()
    rating = CaseRating(case_id=case.id, channel=channel, code=code, comment=comment, rated_at=now)
    try:
        # The unique constraint settles two ratings racing past the check above.
        with db.session.begin_nested():
            db.session.add(rating)
    except IntegrityError:
        raise Conflict(duplicate) from None
    run = CaseRun.of_case_id(case.id, None)
    run.record("case_rated", details={"channel": channel, "code": code})
    if code in BAD_RATING_CODES:
        config = current_app.config
        due = workdays.deadline(now, config["RATING_FOLLOW_UP_WORKING_DAYS"], "working_day", config["TIMEZONE"])
        rating.follow_up = RatingFollowUp(status="open", opened_at=now, due_at=due)
        run.record("rating_follow_up_opened", details={"channel": channel, "code": code, "due_at": due.isoformat()})
    run.save()
    return rating


def record_follow_up(follow_up_id: int, user: Actor, note, reply: bool = False) -> RatingFollowUp:
    """Log a follow-up action (回访/核实/整改) on the case, or with reply=True answer the applicant."""
    errors: dict[str, str] = {}
    note = _clean_text(note, "note", MAX_NOTE_CHARS, errors)
    if not note and "note" not in errors:
        errors["note"] = _("Write what was done, or the reply to the applicant.")
    if errors:
        raise ValidationFailed(_("Please correct the highlighted fields."), errors)
    # Locked so two supervisors cannot both send the one reply.
    follow_up = db.session.execute(
        select(RatingFollowUp).where(RatingFollowUp.id == follow_up_id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if follow_up is None:
        raise NotFound(_("No such rating follow-up."))
    run = CaseRun.of_case_id(follow_up.rating.case_id, user)
    details = {"follow_up": follow_up.id}
    if reply:
        if follow_up.status == "replied":
            raise Conflict(_("This rating has already been answered."))
        follow_up.status, follow_up.reply = "replied", note
        follow_up.replied_at, follow_up.replied_by_id = utcnow(), user.id
        run.record("rating_follow_up_replied", opinion=note, details=details)
    else:
        run.record("rating_follow_up_noted", opinion=note, details=details)
    run.save()
    return follow_up


def _rows():
    """Follow-ups joined with their rating, case number and replying user."""
    return (
        select(RatingFollowUp.id, Case.case_no, CaseRating.channel, CaseRating.code, CaseRating.comment,
               CaseRating.rated_at, RatingFollowUp.status, RatingFollowUp.opened_at, RatingFollowUp.due_at,
               RatingFollowUp.reply, RatingFollowUp.replied_at, User.display_name.label("replied_by"))
        .join(CaseRating, CaseRating.id == RatingFollowUp.rating_id)
        .join(Case, Case.id == CaseRating.case_id)
        .outerjoin(User, User.id == RatingFollowUp.replied_by_id)
    )


def _page(query, where, page: int, per_page: int) -> Page:
    """One page of the query with its total, each row flagged when overdue."""
    page, per_page = max(page, 1), max(per_page, 1)
    total = db.session.scalar(select(func.count(RatingFollowUp.id)).where(*where))
    now = utcnow()
    items = []
    for row in db.session.execute(query.where(*where).limit(per_page).offset((page - 1) * per_page)):
        item = row._asdict()
        item["overdue"] = item["status"] == "open" and item["due_at"] < now
        items.append(item)
    return Page(items, total, page, per_page)


def open_follow_ups(page: int = 1, per_page: int = 50) -> Page:
    """Unanswered follow-ups, the most urgent first."""
    query = _rows().order_by(RatingFollowUp.due_at, RatingFollowUp.id)
    return _page(query, [RatingFollowUp.status == "open"], page, per_page)


def all_follow_ups(page: int = 1, per_page: int = 50) -> Page:
    """Every follow-up, newest first."""
    query = _rows().order_by(RatingFollowUp.opened_at.desc(), RatingFollowUp.id.desc())
    return _page(query, [], page, per_page)

