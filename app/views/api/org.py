"""Organisation administration (admin): departments and user accounts; one's own password (everyone)."""
from __future__ import annotations

from flask import g, jsonify

from app.auth import api_auth
from app.errors import ValidationFailed
from app.extensions import db
from app.services.org import departments as department_service
from app.services.org import users as user_service
from app.unit_of_work import keep_what_was_written
from app.views.api import api_bp
from app.views.api.serializers import json_object


def _department_json(department, heads: dict[int, list[str]]) -> dict:
    return department_service.department_record(department, heads.get(department.id, []))


@api_bp.get("/departments")
@api_auth()
def list_departments():
    heads = department_service.heads_by_department()
    return jsonify([_department_json(d, heads) for d in department_service.all_departments()])


@api_bp.post("/departments")
@api_auth("admin")
def create_department():
    department = department_service.create_department(g.api_user, "api", json_object())
    return jsonify(_department_json(department, department_service.heads_by_department(department_id=department.id))), 201


@api_bp.patch("/departments/<code>")
@api_auth("admin")
def update_department(code: str):
    department = department_service.update_department(g.api_user, "api", code, json_object())
    return jsonify(_department_json(department, department_service.heads_by_department(department_id=department.id)))


@api_bp.get("/users")
@api_auth("admin")
def list_users():
    heads = user_service.heads_of_users()
    users = db.session.scalars(user_service.search_users())
    return jsonify([user_service.user_record(u, heads.get(u.id, [])) for u in users])


@api_bp.post("/users")
@api_auth("admin")
def create_user():
    user = user_service.create_account(g.api_user, "api", json_object())
    return jsonify(user_service.user_record(user)), 201


@api_bp.get("/users/<username>")
@api_auth("admin")
def show_user(username: str):
    return jsonify(user_service.user_record(user_service.get_user(username)))


@api_bp.patch("/users/<username>")
@api_auth("admin")
def update_user(username: str):
    user = user_service.update_account(g.api_user, "api", username, json_object(),
                                       keep_token_hash=g.api_user.token_hash)
    return jsonify(user_service.user_record(user))


@api_bp.post("/users/me/password")
@api_auth()
def change_own_password():
    body = json_object()
    try:
        user_service.change_own_password(g.api_user, body.get("current"), body.get("new"),
                                         keep_token_hash=g.api_user.token_hash)
    except ValidationFailed:
        keep_what_was_written()  # the refused attempt counts
        raise
    return "", 204
