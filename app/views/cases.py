"""Case list and case page."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user

from app.auth import roles_required
from app.services import cases as case_service
from app.taskforms import get_registry

bp = Blueprint("cases", __name__, url_prefix="/cases")


@bp.route("/")
@roles_required()
def index():
    pagination = case_service.search_cases(
        current_user, request.args.get("q"), request.args.get("status") or None,
        request.args.get("page", 1, type=int), current_app.config["PAGE_SIZE"])
    return render_template("cases/index.html", pagination=pagination, q=request.args.get("q", ""))


@bp.route("/<case_no>")
@roles_required()
def show(case_no: str):
    case = case_service.get_case_for(case_no, current_user)
    steps = case_service.case_steps(case)
    registry = get_registry()
    return render_template(
        "cases/show.html", case=case, steps=steps, events=case_service.case_events(case),
        applicant=case_service.masked_applicant(case), registry=registry,
        intake_form=registry.get(case.item.intake_form),
    )
