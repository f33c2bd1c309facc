"""Log in, log out, change one's password, choose the language."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from app.auth import SESSION_ID_KEY, public, roles_required
from app.errors import ValidationFailed
from app.extensions import db
from app.i18n import LANG_COOKIE
from app.services.accounts import credentials, sessions
from app.services.accounts.throttle import TooManyAttempts
from app.services.org import users as user_service
from app.unit_of_work import keep_what_was_written
from app.views.landing import landing_url

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str | None:
    # Only same-site paths, so the login page cannot bounce people elsewhere.
    if target and urlsplit(target).netloc == "" and target.startswith("/") and not target.startswith("//"):
        return target
    return None


def _login_page(username: str, status: int, retry_after: int | None = None):
    response = make_response(render_template("auth/login.html", username=username), status)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if request.method == "GET":
        return render_template("auth/login.html", username="")
    username = request.form.get("username", "")
    try:
        user = credentials.attempt_login(username, request.form.get("password", ""), request.remote_addr)
    except TooManyAttempts as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return _login_page(username, 429, exc.retry_after)
    if user is None:
        keep_what_was_written()  # the refused attempt counts
        flash(_("Wrong username or password."), "danger")
        return _login_page(username, 401)
    # A fresh session: nothing of what this browser carried before logging in survives.
    session.clear()
    session.permanent = True
    session[SESSION_ID_KEY] = sessions.start_session(user, request.remote_addr, request.user_agent.string)
    login_user(user)
    if user.must_change_password:
        return redirect(url_for("auth.change_password"))
    return redirect(_safe_next(request.args.get("next")) or landing_url(user))


@bp.route("/logout", methods=["POST"])
@roles_required()
def logout():
    sessions.end_session(session.get(SESSION_ID_KEY))
    logout_user()
    session.clear()  # a query password kept for reprints leaves with the clerk
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@roles_required()
def change_password():
    """Change one's own password; every other session and token of the account ends."""
    errors = {}
    if request.method == "POST":
        try:
            user_service.change_own_password(current_user, request.form.get("current", ""),
                                             request.form.get("new", ""), keep_session=session.get(SESSION_ID_KEY))
        except ValidationFailed as exc:
            keep_what_was_written()  # the refused attempt counts
            errors = exc.fields or {"new": exc.message}
        except TooManyAttempts as exc:
            db.session.rollback()
            errors = {"current": exc.message}
        else:
            flash(_("Your password was changed. Your other sessions were logged out."), "success")
            return redirect(landing_url(current_user))
    status = 422 if errors else 200
    return render_template("auth/change_password.html", errors=errors,
                           forced=current_user.must_change_password), status


@bp.route("/language/<code>")
@public
def set_language(code: str):
    response = make_response(redirect(_safe_next(request.args.get("next")) or url_for("main.home")))
    if code in current_app.config["LANGUAGES"]:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="Lax", secure=request.is_secure)
    return response
