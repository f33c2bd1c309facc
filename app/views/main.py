"""The start page sends each user where their work is."""
from __future__ import annotations

from flask import Blueprint, redirect, url_for
from flask_login import current_user

from app.auth import roles_required

bp = Blueprint("main", __name__)


@bp.route("/")
@roles_required()
def home():
    if current_user.has_role("front_desk") and not current_user.has_role("admin"):
        return redirect(url_for("intake.choose_item"))
    if current_user.department_codes:
        return redirect(url_for("inbox.index"))
    return redirect(url_for("cases.index"))
