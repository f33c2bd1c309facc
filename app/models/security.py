"""Server-side login sessions and the shared login throttle."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class UserSession(db.Model):
    """One logged-in browser. The cookie carries a random id whose SHA-256 is this row's key, so
    logging out, a password change or a deactivation ends it on the server: a copied cookie stops working."""

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    client_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class AuthThrottle(db.Model):
    """Failed logins of one key within the current window, shared by every worker and node.

    scope is `account_address` (one account from one client address), `address` (any account from
    one address: password spraying) or `account` (a logged-in user's wrong current passwords).
    """

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Lockouts so far: each lasts twice as long as the one before.
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
