"""Service items."""
from __future__ import annotations

from flask import jsonify

from app.auth import api_auth
from app.services.processes import catalogue
from app.services.processes.catalogue import item_limit
from app.taskforms import get_registry
from app.views.api import api_bp


@api_bp.get("/items")
@api_auth()
def items():
    registry = get_registry()
    return jsonify([{
        "code": item.code, "name": item.name, "name_en": item.name_en, "case_type": item.case_type,
        "statutory_limit": item_limit(item.statutory_limit_value, item.statutory_limit_unit),
        "committed_limit": item_limit(item.committed_limit_value, item.committed_limit_unit),
        "retention": item.retention, "process_id": item.process_id,
        "materials": [{"code": m["code"], "name": m["name"], "required": bool(m.get("required"))}
                      for m in item.materials],
        "form_schema": registry.get(item.intake_form).schema,
    } for item in catalogue.active_items()])
