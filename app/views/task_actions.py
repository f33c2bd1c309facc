"""Routing actions from the task page, and the notification list."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth import roles_required
from app.errors import ValidationFailed
from app.extensions import db
from app.services.cases import routing
from app.services.notices import notifications

bp = Blueprint("actions", __name__)


def _back(work_item_id: int, message: str, category: str = "success"):
    flash(message, category)
    return redirect(url_for("inbox.show_task", work_item_id=work_item_id))


def _refused(work_item_id: int, exc: ValidationFailed):
    """Show what was wrong on the task page; nothing was changed."""
    db.session.rollback()
    return _back(work_item_id, "; ".join(exc.fields.values()) if exc.fields else exc.message, "danger")


@bp.route("/tasks/<int:work_item_id>/return", methods=["POST"])
@roles_required()
def return_task(work_item_id: int):
    target = request.form.get("target_id", type=int)
    try:
        routing.return_task(work_item_id, current_user, request.form.get("reason"), target)
    except ValidationFailed as exc:
        return _refused(work_item_id, exc)
    flash(_("The case was returned with your reason."), "success")
    return redirect(url_for("inbox.index"))


@bp.route("/tasks/<int:work_item_id>/transfer", methods=["POST"])
@roles_required()
def transfer_task(work_item_id: int):
    try:
        routing.transfer_task(work_item_id, current_user, request.form.get("department"), request.form.get("reason"))
    except ValidationFailed as exc:
        return _refused(work_item_id, exc)
    flash(_("The task was transferred."), "success")
    return redirect(url_for("inbox.index"))


@bp.route("/tasks/<int:work_item_id>/suspend", methods=["POST"])
@roles_required()
def suspend_case(work_item_id: int):
    try:
        routing.suspend_case(work_item_id, current_user, request.form.get("type"), request.form.get("reason"),
                             request.form.get("expected_end"))
    except ValidationFailed as exc:
        return _refused(work_item_id, exc)
    return _back(work_item_id, _("The case is suspended; its tasks are paused."))


@bp.route("/tasks/<int:work_item_id>/resume", methods=["POST"])
@roles_required()
def resume_case(work_item_id: int):
    routing.resume_case(work_item_id, current_user, request.form.get("note"))
    return _back(work_item_id, _("The case is running again."))


@bp.route("/tasks/<int:work_item_id>/extend", methods=["POST"])
@roles_required()
def extend_limit(work_item_id: int):
    try:
        routing.extend_limit(work_item_id, current_user, request.form.get("days", type=int), request.form.get("reason"))
    except ValidationFailed as exc:
        return _refused(work_item_id, exc)
    return _back(work_item_id, _("The time limit was extended."))


@bp.route("/tasks/<int:work_item_id>/request-supplement", methods=["POST"])
@roles_required()
def request_supplement(work_item_id: int):
    try:
        routing.request_supplement(work_item_id, current_user, request.form.get("reason"))
    except ValidationFailed as exc:
        return _refused(work_item_id, exc)
    return _back(work_item_id, _("The case waits for the applicant's materials; the front desk registers them."))


@bp.route("/cases/<case_no>/withdraw", methods=["POST"])
@roles_required("front_desk")
def withdraw_case(case_no: str):
    try:
        routing.withdraw_case(case_no, current_user, request.form.get("reason"))
    except ValidationFailed as exc:
        db.session.rollback()
        flash("; ".join(exc.fields.values()) if exc.fields else exc.message, "danger")
        return redirect(url_for("cases.show", case_no=case_no))
    flash(_("The case was withdrawn."), "success")
    return redirect(url_for("cases.show", case_no=case_no))


@bp.route("/notifications")
@roles_required()
def notification_list():
    page = notifications.list_notifications(current_user, request.args.get("page", 1, type=int),
                                            current_app.config["PAGE_SIZE"])
    return render_template("notifications/index.html", pagination=page)


@bp.route("/notifications/read", methods=["POST"])
@roles_required()
def mark_read():
    notifications.mark_read(current_user, request.form.get("id", type=int))
    return redirect(request.form.get("next") or url_for("actions.notification_list"))
