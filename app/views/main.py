"""The start page sends each user where their work is."""
from __future__ import annotations

from flask import Blueprint, redirect
from flask_login import current_user

from app.auth import roles_required
from app.views.landing import landing_url

bp = Blueprint("main", __name__)


@bp.route("/")
@roles_required()
def home():
    return redirect(landing_url(current_user))
