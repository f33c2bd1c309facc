"""The login throttle, kept in the database so that every worker and node shares it.

Failures are counted per account from one client address (guessing one account), per client address
over all accounts (spraying many) and per account for wrong current passwords of a logged-in user.
A real user coming from another address is never locked out by someone else's failures. Within a
window a key gets a few free attempts, then growing delays (1, 2, 4 … s), then a lock that doubles
with each lockout; until it ends every attempt is answered 429 with Retry-After, the right password too.
"""
from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.errors import ServiceError
from app.extensions import db
from app.models import AuthThrottle
from app.models.base import utcnow

ACCOUNT_ADDRESS, ADDRESS, ACCOUNT = "account_address", "address", "account"
# The longest lock, however often a key is locked out, and the longest wait before the lock.
MAX_LOCK = timedelta(hours=24)
MAX_DELAY_SECONDS = 30


class TooManyAttempts(ServiceError):
    """429: wait `retry_after` seconds before trying again."""

    status = 429

    def __init__(self, retry_after: int):
        minutes = max(1, math.ceil(retry_after / 60))
        message = (ngettext("Too many failed attempts. Try again in %(num)s second.",
                            "Too many failed attempts. Try again in %(num)s seconds.", retry_after)
                   if retry_after < 120 else _("Too many failed attempts. Try again in %(n)s minutes.", n=minutes))
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Bucket:
    scope: str
    key: str
    limit: int

    @property
    def free_attempts(self) -> int:
        """Failures allowed without any wait; after them each further failure doubles the wait."""
        return max(1, self.limit // 2)


def client_key(address: str | None) -> str:
    """The client address as a throttle key: IPv6 clients by their /64, which one host controls whole."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return (address or "unknown")[:64]
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _account_key(username: str) -> str:
    return username.strip().lower().replace("\x00", "")[:100]


def login_buckets(username: str, address: str | None) -> tuple[Bucket, Bucket]:
    """The two keys a login attempt counts against: this account from this address, and this address."""
    config = current_app.config
    client = client_key(address)
    return (Bucket(ACCOUNT_ADDRESS, f"{_account_key(username)}|{client}", config["LOGIN_MAX_FAILURES"]),
            Bucket(ADDRESS, client, config["LOGIN_ADDRESS_MAX_FAILURES"]))


def account_bucket(username: str) -> Bucket:
    """Wrong current passwords given by a logged-in user (a stolen session guessing the password)."""
    return Bucket(ACCOUNT, _account_key(username), current_app.config["LOGIN_MAX_FAILURES"])


def _serialise_attempts(bucket: Bucket) -> None:
    """Hold attempts on one key in line until commit, so parallel guesses cannot all pass one check."""
    if db.session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(f"{bucket.scope}|{bucket.key}".encode()).digest()
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                           {"key": int.from_bytes(digest[:8], "big", signed=True)})


def check_allowed(*buckets: Bucket) -> None:
    """Raise TooManyAttempts while any of the keys is delayed or locked.

    Attempts on the first key (one account from one address) always wait for each other. The others
    (the address) are shared by everyone behind it, so attempts line up there only once it has failures
    enough to start delaying: then a burst of parallel guesses at many accounts is counted one by one."""
    _serialise_attempts(buckets[0])
    rows = _states(buckets)
    crowded = [b for b in buckets[1:] if rows.get((b.scope, b.key), (0, None))[0] >= b.free_attempts // 2]
    if crowded:
        for bucket in crowded:
            _serialise_attempts(bucket)
        rows = _states(buckets)  # what the attempts we waited for have written
    now = utcnow()
    waits = [until for _failures, until in rows.values() if until is not None and until > now]
    if waits:
        raise TooManyAttempts(max(1, math.ceil((max(waits) - now).total_seconds())))


def _states(buckets: tuple[Bucket, ...]) -> dict[tuple[str, str], tuple[int, datetime | None]]:
    """(scope, key) → (failures, locked_until) of the keys that have a row, in one read."""
    return {(scope, key): (failures, until) for scope, key, failures, until in db.session.execute(
        select(AuthThrottle.scope, AuthThrottle.key, AuthThrottle.failures, AuthThrottle.locked_until)
        .where(_any_of(buckets)))}


def _is(bucket: Bucket):
    return (AuthThrottle.scope == bucket.scope) & (AuthThrottle.key == bucket.key)


def _any_of(buckets: tuple[Bucket, ...]):
    condition = _is(buckets[0])
    for bucket in buckets[1:]:
        condition = condition | _is(bucket)
    return condition


def record_failure(*buckets: Bucket) -> None:
    """Count one failure against every key, delaying or locking those that reach their limits."""
    now = utcnow()
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for bucket in sorted(buckets, key=lambda b: (b.scope, b.key)):  # one lock order: no deadlock
        # Parallel failures from one address (several accounts) may create its row at the same moment.
        db.session.execute(insert(AuthThrottle).values(
            scope=bucket.scope, key=bucket.key, failures=0, lockouts=0, window_started_at=now,
            last_failure_at=now).on_conflict_do_nothing())
        row = db.session.scalar(select(AuthThrottle).where(_is(bucket)).with_for_update()
                                .execution_options(populate_existing=True))
        _count_failure(row, bucket, now)
    db.session.flush()


def _count_failure(row: AuthThrottle, bucket: Bucket, now: datetime) -> None:
    config = current_app.config
    window = timedelta(minutes=config["LOGIN_FAILURE_WINDOW_MINUTES"])
    if now - row.last_failure_at > MAX_LOCK:
        row.lockouts = 0  # a day without failures: earlier lockouts are forgiven
    if now - row.window_started_at >= window:
        row.failures, row.window_started_at = 0, now
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= bucket.limit:
        row.locked_until = now + min(window * 2 ** row.lockouts, MAX_LOCK)
        row.lockouts += 1
        # The window starts again when the lock ends: never more than `limit` failures per window.
        row.failures, row.window_started_at = 0, row.locked_until
    elif row.failures >= bucket.free_attempts:
        delay = min(2 ** (row.failures - bucket.free_attempts), MAX_DELAY_SECONDS)
        row.locked_until = now + timedelta(seconds=delay)


def record_success(bucket: Bucket) -> None:
    """The right password: this account's count from this address starts again (the address's stays)."""
    db.session.execute(delete(AuthThrottle).where(_is(bucket)))


def purge_stale() -> int:
    """Drop keys without a failure for a day and without a running lock (periodic)."""
    now = utcnow()
    result = db.session.execute(delete(AuthThrottle).where(
        AuthThrottle.last_failure_at < now - MAX_LOCK,
        (AuthThrottle.locked_until.is_(None)) | (AuthThrottle.locked_until < now)))
    return result.rowcount or 0
