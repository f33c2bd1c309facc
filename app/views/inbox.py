"""Inbox (my tasks, pool, handled, department) and the task page: claim, release, assign, complete."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth import roles_required
from app.errors import ValidationFailed
from app.extensions import db
from app.models.base import utcnow
from app.services.cases import queries as case_service
from app.services.cases import routing
from app.services.cases import tasks as task_service
from app.services.processes import catalogue
from app.taskforms import get_registry

bp = Blueprint("inbox", __name__)


# Tab order on the page; the department tab shows only for department heads.
TABS = ("pool", "mine", "handled", "department")
DEFAULT_VIEW = "pool"  # what waits to be taken: the inbox a handler opens first


def _wants_rows() -> bool:
    """An htmx request for the list only; a history restore after Back needs the whole page."""
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


def _list_url(view: str, filters: task_service.InboxFilters, page: int | None = None) -> str:
    """The canonical address of a list (no empty parameters), for links and the pushed URL."""
    return url_for("inbox.index", view=view, page=page if page and page > 1 else None, **filters.as_args())


@bp.route("/inbox")
@roles_required()
def index():
    """The user's inbox: one view (tab) with filters and a page of rows; htmx asks for the rows only."""
    view = task_service.check_view(request.args.get("view") or DEFAULT_VIEW, current_user)
    try:
        filters = task_service.parse_inbox_filters(request.args)
    except ValidationFailed as exc:
        # The error page lists each field's problem; a heading that repeats them would read twice.
        raise ValidationFailed(_("Some filters are not valid."), exc.fields) from None
    page = max(request.args.get("page", 1, type=int), 1)
    now = utcnow()
    counts = task_service.inbox_counts(current_user, capped=True)
    # Unfiltered, the tab's count is the list's total: no need to count the same rows twice.
    total = counts.get(view) if filters.is_empty else None
    pagination = task_service.inbox_page(current_user, view, filters, page=page, now=now,
                                         per_page=current_app.config["PAGE_SIZE"], total=total, capped=True)
    members = {}
    if view == "department":
        members = task_service.department_members(sorted({item.department_code for item in pagination.items}))
    context = dict(
        view=view, filters=filters, pagination=pagination, now=now, members=members,
        counts=counts, due_state=task_service.due_state,
        count_cap=task_service.COUNT_CAP,
        tabs=[tab for tab in TABS if tab != "department" or task_service.is_department_head(current_user)],
        list_url=_list_url, no_filters=task_service.InboxFilters(),
    )
    if _wants_rows():
        response = make_response(render_template("inbox/_partial.html", **context))
        # The address bar shows the clean list address, not the form's empty fields.
        response.headers["HX-Push-Url"] = _list_url(view, filters, page)
    else:
        codes = set(current_user.department_codes)
        items = [item for item in catalogue.active_items() if codes.intersection(item.departments or ())]
        response = make_response(render_template(
            "inbox/index.html", items=items, steps=task_service.step_choices(current_user), **context))
    # The same address answers rows or a whole page: caches must keep them apart.
    response.vary.add("HX-Request")
    return response


@bp.route("/tasks/<int:work_item_id>/claim", methods=["POST"])
@roles_required()
def claim(work_item_id: int):
    task_service.claim_task(work_item_id, current_user)
    flash(_("Task claimed."), "success")
    return redirect(url_for("inbox.show_task", work_item_id=work_item_id))


@bp.route("/tasks/<int:work_item_id>/release", methods=["POST"])
@roles_required()
def release(work_item_id: int):
    task_service.release_task(work_item_id, current_user)
    flash(_("Task returned to the department pool."), "info")
    return redirect(url_for("inbox.index"))


@bp.route("/tasks/<int:work_item_id>/assign", methods=["POST"])
@roles_required("dept_head")
def assign(work_item_id: int):
    """A department head gives an open task to a member of the department."""
    item = task_service.assign_task(work_item_id, current_user, request.form.get("user_id", type=int))
    flash(_("Task assigned to %(name)s.", name=item.claimed_by.display_name), "success")
    back = request.form.get("next") or ""
    # Only back to an inbox list of this site: the field comes from the page but could be forged.
    if not back.startswith("/inbox"):
        back = url_for("inbox.index", view="department")
    return redirect(back)


def _render_task(item, values=None, errors=None, status=200):
    case = item.case
    form = get_registry().get(item.form_key) if item.form_key else None
    return render_template(
        "inbox/task.html", item=item, case=case, form=form, values=values or {}, errors=errors or {},
        steps=case_service.case_steps(case), applicant=case_service.masked_applicant(case),
        intake_form=get_registry().get(case.item.intake_form),
        return_targets=routing.return_targets(item) if case.status == "in_progress" else [],
    ), status


@bp.route("/tasks/<int:work_item_id>", methods=["GET", "POST"])
@roles_required()
def show_task(work_item_id: int):
    item = task_service.get_visible_item(work_item_id, current_user)
    if item.state == "open" and item.form_key == item.case.item.intake_form:
        # The window's intake step is decided on its own page (accept, notice, refuse).
        return redirect(url_for("intake.decide", case_no=item.case.case_no))
    if request.method == "GET":
        return _render_task(item)
    form = get_registry().get(item.form_key) if item.form_key else None
    data = form.coerce(request.form) if form else {}
    try:
        case = task_service.complete_task(work_item_id, current_user, data)
    except ValidationFailed as exc:
        db.session.rollback()
        return _render_task(task_service.get_visible_item(work_item_id, current_user), data,
                            exc.fields or {"_form": exc.message}, 422)
    flash(_("Step completed for case %(case_no)s.", case_no=case.case_no), "success")
    return redirect(url_for("inbox.index"))
