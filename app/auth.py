"""Who is calling: server-side sessions for pages, bearer tokens for the API, and role guards."""
from __future__ import annotations

from functools import wraps

from flask import current_app, g, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user

from app.errors import Forbidden, Unauthorized
from app.models import User
from app.services.accounts import credentials, sessions

SESSION_ID_KEY = "sid"
# What a user who must change their password may still reach.
PASSWORD_CHANGE_ENDPOINTS = {"auth.change_password", "auth.logout", "api.change_own_password"}


class PasswordChangeRequired(Forbidden):
    """403 until the user has replaced a password an administrator set."""


def configure_login(login_manager: LoginManager) -> None:
    """Session users for pages; the login page for anonymous visitors."""
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to continue.")
    login_manager.login_message_category = "warning"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        # The cookie alone is not enough: its session must still exist on the server.
        try:
            return sessions.user_of_session(int(user_id), session.get(SESSION_ID_KEY))
        except ValueError:
            return None


def roles_required(*roles: str):
    """Page guard: logged in and holding one of the roles (admin holds all)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if current_user.must_change_password and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS:
                return redirect(url_for("auth.change_password"))
            if roles and not current_user.has_role(*roles):
                raise Forbidden(_l("You do not have permission to do this."))
            return view(*args, **kwargs)

        wrapped.is_guarded = True
        return wrapped

    return decorator


def api_auth(*roles: str):
    """API guard: a valid bearer token, and one of the roles if given."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            user = credentials.caller_for_token(token.strip()) if scheme.lower() == "bearer" else None
            if user is None:
                raise Unauthorized(_l("A valid bearer token is required."))
            if user.must_change_password and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS:
                raise PasswordChangeRequired(_l("Choose a new password before going on "
                                                "(POST /api/v1/users/me/password)."))
            if roles and not user.has_role(*roles):
                raise Forbidden(_l("You do not have permission to do this."))
            g.api_user = user
            return view(*args, **kwargs)

        wrapped.is_guarded = True
        return wrapped

    return decorator


def public(view):
    """Mark a view as deliberately open to anonymous callers (checked by a structural test)."""
    view.is_public = True
    return view
