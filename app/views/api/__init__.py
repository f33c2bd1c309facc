"""JSON API v1 (bearer tokens)."""
from flask import Blueprint

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")

from app.views.api import archive, cases, catalogue, org, processes, public, session, supervision, task_actions, tasks  # noqa: E402,F401  (routes register on import)
