"""Token issue and the OpenAPI document."""
from __future__ import annotations

import json
from pathlib import Path

from flask import jsonify, request
from flask_babel import gettext as _

from app.auth import public
from app.errors import Unauthorized
from app.services.accounts.credentials import attempt_login, issue_token
from app.unit_of_work import keep_what_was_written
from app.views.api import api_bp

OPENAPI_PATH = Path(__file__).with_name("openapi.json")


@api_bp.post("/auth/token")
@public
def create_token():
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    user = attempt_login(str(body.get("username") or ""), str(body.get("password") or ""), request.remote_addr)
    if user is None:
        keep_what_was_written()  # the refused attempt counts
        # One answer for unknown users and wrong passwords: nothing to learn from it.
        raise Unauthorized(_("Wrong username or password."))
    token = issue_token(user)
    return jsonify({"token": token, "username": user.username, "roles": sorted(user.role_set),
                    "must_change_password": user.must_change_password})


@api_bp.get("/openapi.json")
@public
def openapi():
    return jsonify(json.loads(OPENAPI_PATH.read_text(encoding="utf-8")))
