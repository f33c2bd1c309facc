"""Authentication: the throttled password check and API bearer tokens."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models import ApiToken, Department, User, user_departments
from app.models.base import utcnow
from app.models.org import RoleMixin
from app.services.accounts import throttle
from app.shared_cache import cached

# Checked against when the username is unknown, so both failures cost the same time.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def attempt_login(username: str, password: str, client_address: str | None) -> User | None:
    """The user on the right password, None on a wrong one (the failure is counted and flushed: commit
    it before answering); TooManyAttempts, without checking the password, while the throttle says wait."""
    account_from_address, address = throttle.login_buckets(username or "", client_address)
    throttle.check_allowed(account_from_address, address)
    user = authenticate(username, password)
    if user is None:
        throttle.record_failure(account_from_address, address)
    else:
        throttle.record_success(account_from_address)
    return user


def authenticate(username: str, password: str) -> User | None:
    """The active user with these credentials, or None (same cost either way)."""
    username = (username or "").strip()
    # A NUL names nobody (and PostgreSQL refuses it in a query).
    user = db.session.scalar(select(User).where(User.username == username)) if "\x00" not in username else None
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not user.check_password(password or "") or not user.is_enabled:
        return None
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User) -> str:
    """Create a bearer token for the user; only its digest is stored."""
    token = secrets.token_urlsafe(32)
    ttl = timedelta(hours=current_app.config["API_TOKEN_TTL_HOURS"])
    db.session.add(ApiToken(user=user, token_hash=_digest(token), expires_at=utcnow() + ttl))
    return token


@dataclass(frozen=True)
class ApiCaller(RoleMixin):
    """The caller behind a bearer token: read as plain rows on every API request, no ORM objects."""

    id: int
    username: str
    display_name: str
    roles: str
    department_codes: tuple[str, ...]
    must_change_password: bool = False
    token_hash: str = ""


def caller_for_token(token: str) -> ApiCaller | None:
    """The active user owning an unexpired token, or None (remembered until accounts change)."""
    token_hash = _digest(token)
    found = cached("accounts", token_hash, lambda: _caller_row(token_hash), keep_none=False)
    if found is None:
        return None
    caller, expires_at = found
    return caller if expires_at > utcnow() else None


def _caller_row(token_hash: str) -> tuple[ApiCaller, datetime] | None:
    """The token's owner and expiry in one statement (a row per department), None when unusable."""
    rows = db.session.execute(
        select(User.id, User.username, User.display_name, User.roles, User.must_change_password, Department.code,
               ApiToken.expires_at)
        .join(ApiToken, ApiToken.user_id == User.id)
        .outerjoin(user_departments, user_departments.c.user_id == User.id)
        .outerjoin(Department, Department.id == user_departments.c.department_id)
        .where(ApiToken.token_hash == token_hash, ApiToken.expires_at > utcnow(), User.is_enabled)
        .order_by(Department.code)
    ).all()
    if not rows:
        return None
    user_id, username, display_name, roles, must_change, _code, expires_at = rows[0]
    return ApiCaller(user_id, username, display_name, roles, tuple(r.code for r in rows if r.code),
                     must_change, token_hash), expires_at
