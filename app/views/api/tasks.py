"""Work items: list, detail, claim, release, complete."""
from __future__ import annotations

from flask import g, jsonify, request
from flask_babel import gettext as _

from app.auth import api_auth
from app.extensions import db
from app.services import tasks as task_service
from app.services.errors import ValidationFailed
from app.taskforms import get_registry
from app.views.api import api_bp
from app.views.api.serializers import task_json


@api_bp.get("/tasks")
@api_auth()
def list_tasks():
    per_page = min(request.args.get("per_page", 100, type=int), 500)
    pagination = task_service.department_inbox(g.api_user, page=request.args.get("page", 1, type=int),
                                               per_page=max(per_page, 1),
                                               department=request.args.get("department") or None)
    response = jsonify([task_json(item) for item in pagination.items])
    response.headers["X-Total-Count"] = str(pagination.total)
    return response


@api_bp.get("/tasks/<int:item_id>")
@api_auth()
def get_task(item_id: int):
    item = task_service.get_visible_item(item_id, g.api_user)
    body = task_json(item)
    body["case_status"] = item.case.status
    body["data"] = item.data
    body["form_schema"] = get_registry().get(item.form_key).schema if item.form_key else None
    return jsonify(body)


@api_bp.post("/tasks/<int:item_id>/claim")
@api_auth()
def claim_task(item_id: int):
    item = task_service.claim_task(item_id, g.api_user)
    db.session.commit()
    return jsonify(task_json(item))


@api_bp.post("/tasks/<int:item_id>/release")
@api_auth()
def release_task(item_id: int):
    item = task_service.release_task(item_id, g.api_user)
    db.session.commit()
    return jsonify(task_json(item))


@api_bp.post("/tasks/<int:item_id>/complete")
@api_auth()
def complete_task(item_id: int):
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise ValidationFailed(_("`data` must be a JSON object."), {})
    case = task_service.complete_task(item_id, g.api_user, data, body.get("opinion"))
    body = {"case_status": case.status, "case_no": case.case_no, "result": case.result}
    db.session.commit()
    return jsonify(body)
