"""办事指南: the public service guide of every item (materials, limits, fees, legal basis, departments)."""
from __future__ import annotations

from flask import Blueprint, abort, render_template

from app.auth import public
from app.services.processes import catalogue

bp = Blueprint("guide", __name__, url_prefix="/guide")


@bp.route("/")
@public
def index():
    return render_template("guide/index.html", items=catalogue.active_items())


@bp.route("/<code>")
@public
def show(code: str):
    item = catalogue.get_active_item(code)
    if item is None:
        abort(404)
    return render_template("guide/show.html", item=item, guide=catalogue.service_guide(item))
