"""Work items: list, counts, detail, claim, release, assign, complete."""
from __future__ import annotations

from flask import g, jsonify, request
from flask_babel import gettext as _

from app.auth import api_auth
from app.errors import ValidationFailed
from app.services.cases import tasks as task_service
from app.taskforms import get_registry
from app.views.api import api_bp
from app.views.api.serializers import task_json

# Largest page a caller may ask for; more is refused rather than silently cut.
MAX_PER_PAGE = 500
DEFAULT_PER_PAGE = 100


def _positive_int(name: str, default: int) -> int:
    """A positive integer query argument, or 422."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    # ASCII only: str.isdigit() also takes "²", which int() then refuses.
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ValidationFailed(_("`%(name)s` must be a positive whole number.", name=name),
                               {name: _("Must be a positive whole number.")})
    return int(raw)


@api_bp.get("/tasks")
@api_auth()
def list_tasks():
    """Work items of a view (default: open items of my departments), filtered, sorted and paged."""
    view = request.args.get("view")
    # Without `view` the list stays what it always was, so existing callers see no change.
    view = task_service.check_view(view, g.api_user) if view else "all"
    filters = task_service.parse_inbox_filters(request.args)
    page, per_page = _positive_int("page", 1), _positive_int("per_page", DEFAULT_PER_PAGE)
    if per_page > MAX_PER_PAGE:
        raise ValidationFailed(_("`per_page` must be at most %(n)s.", n=MAX_PER_PAGE),
                               {"per_page": _("Must be at most %(n)s.", n=MAX_PER_PAGE)})
    pagination = task_service.inbox_page(g.api_user, view, filters, page=page, per_page=per_page)
    response = jsonify([task_json(item) for item in pagination.items])
    response.headers["X-Total-Count"] = str(pagination.total)
    return response


@api_bp.get("/tasks/counts")
@api_auth()
def task_counts():
    """How many items each view holds (department only for department heads)."""
    return jsonify(task_service.inbox_counts(g.api_user))


@api_bp.get("/tasks/<int:work_item_id>")
@api_auth()
def get_task(work_item_id: int):
    item = task_service.get_visible_item(work_item_id, g.api_user)
    body = task_json(item)
    body["case_status"] = item.case.status
    body["data"] = item.data
    body["form_schema"] = get_registry().get(item.form_key).schema if item.form_key else None
    return jsonify(body)


@api_bp.post("/tasks/<int:work_item_id>/claim")
@api_auth()
def claim_task(work_item_id: int):
    item = task_service.claim_task(work_item_id, g.api_user)
    return jsonify(task_json(item))


@api_bp.post("/tasks/<int:work_item_id>/release")
@api_auth()
def release_task(work_item_id: int):
    item = task_service.release_task(work_item_id, g.api_user)
    return jsonify(task_json(item))


@api_bp.post("/tasks/<int:work_item_id>/complete")
@api_auth()
def complete_task(work_item_id: int):
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise ValidationFailed(_("`data` must be a JSON object."), {})
    case = task_service.complete_task(work_item_id, g.api_user, data, body.get("opinion"))
    body = {"case_status": case.status, "case_no": case.case_no, "result": case.result}
    return jsonify(body)


@api_bp.post("/tasks/<int:work_item_id>/assign")
@api_auth()
def assign_task(work_item_id: int):
    """A department head gives an open task to a member of its department."""
    body = request.get_json(silent=True)
    user_id = body.get("user_id") if isinstance(body, dict) else None
    # JSON true is an int to Python; an id it is not.
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        user_id = None
    item = task_service.assign_task(work_item_id, g.api_user, user_id)
    return jsonify(task_json(item))
