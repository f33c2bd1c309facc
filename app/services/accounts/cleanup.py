"""The periodic sweep of what logins leave behind."""
from __future__ import annotations

from app.services.accounts import sessions, throttle


def purge_stale_credentials() -> dict:
    """Expired sessions and tokens, and throttle keys without a failure for a day."""
    return {"sessions_and_tokens": sessions.purge_expired(), "throttle_keys": throttle.purge_stale()}
