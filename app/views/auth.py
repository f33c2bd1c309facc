"""Log in, log out, choose the language."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_user, logout_user

from app.auth import public, roles_required
from app.extensions import db
from app.i18n import LANG_COOKIE
from app.services.auth import authenticate

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    # Only same-site paths, so the login page cannot bounce people elsewhere.
    if target and urlsplit(target).netloc == "" and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("main.home")


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if request.method == "POST":
        user = authenticate(request.form.get("username", ""), request.form.get("password", ""))
        if user is None:
            flash(_("Wrong username or password."), "danger")
            return render_template("auth/login.html", username=request.form.get("username", "")), 401
        login_user(user)
        db.session.commit()
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", username="")


@bp.route("/logout", methods=["POST"])
@roles_required()
def logout():
    logout_user()
    session.pop("receipt", None)  # a query password kept for reprints leaves with the clerk
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/language/<code>")
@public
def set_language(code: str):
    response = make_response(redirect(_safe_next(request.args.get("next"))))
    if code in current_app.config["LANGUAGES"]:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="Lax")
    return response
