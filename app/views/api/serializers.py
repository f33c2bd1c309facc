"""JSON shapes shared by API endpoints."""
from __future__ import annotations

from datetime import datetime

from flask import request
from flask_babel import gettext as _

from app.errors import ValidationFailed
from app.models import WorkItem


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with offset, or None."""
    return value.isoformat() if value else None


def task_json(item: WorkItem) -> dict:
    """One work item as the API shows it."""
    return {
        "id": item.id, "case_no": item.case.case_no, "name": item.name, "bpmn_id": item.bpmn_id,
        "department": item.department_code, "state": item.state, "form_key": item.form_key,
        "claimed_by": item.claimed_by.username if item.claimed_by_id else None,
        "created_at": iso(item.created_at), "due_at": iso(item.due_at),
        "completed_at": iso(item.completed_at), "opinion": item.opinion,
        "arrived_via": item.arrived_via, "note": item.note,
    }


def json_object(*, optional: bool = False) -> dict:
    """The request's JSON object body (an absent body is {} when optional), else 422."""
    body = request.get_json(silent=True)
    if body is None and optional:
        return {}
    if not isinstance(body, dict):
        raise ValidationFailed(_("The request body must be a JSON object."), {})
    return body
