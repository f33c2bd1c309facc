"""Routing actions on tasks (return, transfer, suspend, resume, supplement, withdraw) and notifications."""
from __future__ import annotations

from flask import g, jsonify, request
from flask_babel import gettext as _

from app.auth import api_auth
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import WorkItem
from app.services.cases import routing
from app.services.cases import tasks as task_service
from app.services.cases.queries import open_work_items
from app.services.notices import notifications
from app.views.api import api_bp
from app.views.api.serializers import iso, json_object, task_json


def _case_json(case) -> dict:
    return {"case_no": case.case_no, "case_status": case.status, "result": case.result,
            "open_tasks": [task_json(i) for i in open_work_items(case.id)]}


@api_bp.post("/tasks/<int:work_item_id>/return")
@api_auth()
def return_task(work_item_id: int):
    body = json_object(optional=True)
    target = body.get("target_id")
    if target is not None and not isinstance(target, int):
        raise ValidationFailed(_("Please correct the highlighted fields."), {"target": _("Must be a task id.")})
    case = routing.return_task(work_item_id, g.api_user, body.get("reason"), target)
    return jsonify(_case_json(case))


@api_bp.get("/tasks/<int:work_item_id>/return-targets")
@api_auth()
def return_targets(work_item_id: int):
    item = task_service.get_visible_item(work_item_id, g.api_user)
    return jsonify([task_json(step) for step in routing.return_targets(item)])


@api_bp.post("/tasks/<int:work_item_id>/transfer")
@api_auth()
def transfer_task(work_item_id: int):
    body = json_object(optional=True)
    item = routing.transfer_task(work_item_id, g.api_user, body.get("department"), body.get("reason"))
    return jsonify(task_json(item))


@api_bp.post("/tasks/<int:work_item_id>/suspend")
@api_auth()
def suspend_case(work_item_id: int):
    body = json_object(optional=True)
    case = routing.suspend_case(work_item_id, g.api_user, body.get("type"), body.get("reason"), body.get("expected_end"))
    return jsonify({**_case_json(case), "suspension": {
        "type": case.suspension_type, "reason": case.suspension_reason, "since": iso(case.suspended_at),
        "expected_end": case.suspension_expected_end.isoformat()}})


@api_bp.post("/tasks/<int:work_item_id>/resume")
@api_auth()
def resume_case(work_item_id: int):
    case = routing.resume_case(work_item_id, g.api_user, json_object(optional=True).get("note"))
    return jsonify(_case_json(case))


@api_bp.post("/tasks/<int:work_item_id>/extend")
@api_auth()
def extend_limit(work_item_id: int):
    body = json_object(optional=True)
    case = routing.extend_limit(work_item_id, g.api_user, body.get("days"), body.get("reason"))
    return jsonify({**_case_json(case), "committed_due_at": iso(case.committed_due_at),
                    "statutory_due_at": iso(case.statutory_due_at),
                    "extension_working_days": case.extension_working_days})


@api_bp.post("/tasks/<int:work_item_id>/request-supplement")
@api_auth()
def request_supplement(work_item_id: int):
    case = routing.request_supplement(work_item_id, g.api_user, json_object(optional=True).get("reason"))
    return jsonify(_case_json(case))


@api_bp.post("/tasks/<int:work_item_id>/withdraw")
@api_auth("front_desk")
def withdraw_by_task(work_item_id: int):
    item = db.session.get(WorkItem, work_item_id)
    if item is None:
        raise NotFound(_("Task not found."))
    case = routing.withdraw_case(item.case.case_no, g.api_user, json_object(optional=True).get("reason"))
    return jsonify(_case_json(case))


@api_bp.post("/cases/<case_no>/withdraw")
@api_auth("front_desk")
def withdraw_case(case_no: str):
    case = routing.withdraw_case(case_no, g.api_user, json_object(optional=True).get("reason"))
    return jsonify(_case_json(case))


@api_bp.get("/notifications")
@api_auth()
def list_notifications():
    page = notifications.list_notifications(g.api_user, request.args.get("page", 1, type=int),
                                            min(max(request.args.get("per_page", 50, type=int), 1), 500))
    response = jsonify([{"id": n.id, "kind": n.kind, "case_no": n.case.case_no if n.case_id else None,
                         "task_id": n.work_item_id, "text": n.text, "created_at": iso(n.created_at),
                         "read": n.read_at is not None} for n in page.items])
    response.headers["X-Total-Count"] = str(page.total)
    response.headers["X-Unread-Count"] = str(notifications.unread_count(g.api_user))
    return response


@api_bp.post("/notifications/<int:notification_id>/read")
@api_auth()
def read_notification(notification_id: int):
    if not notifications.mark_read(g.api_user, notification_id):
        raise NotFound(_("No unread notification with this id."))
    return jsonify({"unread": notifications.unread_count(g.api_user)})


@api_bp.post("/notifications/read-all")
@api_auth()
def read_all_notifications():
    notifications.mark_read(g.api_user)
    return jsonify({"unread": 0})
