"""Server-side login sessions and the revocation of a user's sessions and API tokens."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from app.extensions import db
from app.models import ApiToken, User, UserSession
from app.models.base import utcnow


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def start_session(user: User, client_address: str | None, user_agent: str | None) -> str:
    """Record a new login and return the random id the session cookie carries (only its digest is stored)."""
    raw = secrets.token_urlsafe(32)
    lifetime = timedelta(hours=current_app.config["SESSION_LIFETIME_HOURS"])
    db.session.add(UserSession(id_hash=_digest(raw), user_id=user.id, expires_at=utcnow() + lifetime,
                               client_address=(client_address or "")[:64] or None,
                               user_agent=(user_agent or "")[:200] or None))
    return raw


def user_of_session(user_id: int, raw: str | None) -> User | None:
    """The enabled user of a live session, or None when it was ended, expired or belongs to someone else."""
    if not raw:
        return None
    return db.session.scalar(
        select(User).join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.id_hash == _digest(raw), User.id == user_id, User.is_enabled,
               UserSession.expires_at > utcnow()))


def end_session(raw: str | None) -> None:
    """Log out: the session's cookie, even copied elsewhere, no longer opens anything."""
    if raw:
        db.session.execute(delete(UserSession).where(UserSession.id_hash == _digest(raw)))


def end_sessions_and_tokens(user_id: int, keep_session: str | None = None, keep_token_hash: str | None = None) -> None:
    """End every session and API token of a user but the ones the acting request itself uses."""
    sessions = delete(UserSession).where(UserSession.user_id == user_id)
    if keep_session:
        sessions = sessions.where(UserSession.id_hash != _digest(keep_session))
    tokens = delete(ApiToken).where(ApiToken.user_id == user_id)
    if keep_token_hash:
        tokens = tokens.where(ApiToken.token_hash != keep_token_hash)
    db.session.execute(sessions)
    db.session.execute(tokens)


def purge_expired() -> int:
    """Delete expired sessions and tokens (periodic)."""
    now = utcnow()
    ended = db.session.execute(delete(UserSession).where(UserSession.expires_at <= now)).rowcount or 0
    return ended + (db.session.execute(delete(ApiToken).where(ApiToken.expires_at <= now)).rowcount or 0)
