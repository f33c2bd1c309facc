"""Department inbox and the task page: claim, release, complete."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth import roles_required
from app.extensions import db
from app.services import cases as case_service
from app.services import tasks as task_service
from app.services.errors import ValidationFailed
from app.taskforms import get_registry

bp = Blueprint("inbox", __name__)


@bp.route("/inbox")
@roles_required()
def index():
    page = request.args.get("page", 1, type=int)
    department = request.args.get("department") or None
    pagination = task_service.department_inbox(current_user, page=page, department=department,
                                               per_page=current_app.config["PAGE_SIZE"])
    template = "inbox/_rows.html" if request.headers.get("HX-Request") else "inbox/index.html"
    return render_template(template, pagination=pagination, department=department)


@bp.route("/tasks/<int:item_id>/claim", methods=["POST"])
@roles_required()
def claim(item_id: int):
    task_service.claim_task(item_id, current_user)
    db.session.commit()
    flash(_("Task claimed."), "success")
    return redirect(url_for("inbox.show_task", item_id=item_id))


@bp.route("/tasks/<int:item_id>/release", methods=["POST"])
@roles_required()
def release(item_id: int):
    task_service.release_task(item_id, current_user)
    db.session.commit()
    flash(_("Task returned to the department pool."), "info")
    return redirect(url_for("inbox.index"))


def _render_task(item, values=None, errors=None, status=200):
    case = item.case
    form = get_registry().get(item.form_key) if item.form_key else None
    return render_template(
        "inbox/task.html", item=item, case=case, form=form, values=values or {}, errors=errors or {},
        steps=case_service.case_steps(case), applicant=case_service.masked_applicant(case),
        intake_form=get_registry().get(case.item.intake_form),
    ), status


@bp.route("/tasks/<int:item_id>", methods=["GET", "POST"])
@roles_required()
def show_task(item_id: int):
    item = task_service.get_visible_item(item_id, current_user)
    if item.state == "open" and item.form_key == item.case.item.intake_form:
        # The window's intake step is decided on its own page (accept, notice, refuse).
        return redirect(url_for("intake.decide", case_no=item.case.case_no))
    if request.method == "GET":
        return _render_task(item)
    form = get_registry().get(item.form_key) if item.form_key else None
    data = form.coerce(request.form) if form else {}
    try:
        case = task_service.complete_task(item_id, current_user, data)
    except ValidationFailed as exc:
        db.session.rollback()
        return _render_task(task_service.get_visible_item(item_id, current_user), data,
                            exc.fields or {"_form": exc.message}, 422)
    db.session.commit()
    flash(_("Step completed for case %(case_no)s.", case_no=case.case_no), "success")
    return redirect(url_for("inbox.index"))
