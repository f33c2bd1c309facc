"""The outbox: alerts' notifications written in the alert's transaction and delivered after commit.

Writing a message is part of the caller's unit of work, so a rolled-back alert sends nothing and a
committed one is never lost. The scheduled job `deliver_due` sends what is due:

* Each message is taken with SELECT … FOR UPDATE SKIP LOCKED, sent while its row stays locked, and
  its outcome committed before the next one is taken. Two scheduler processes therefore never hold
  the same message, and a message whose "sent" is committed is never sent again.
* A crash (or a lost connection) between the send and that commit rolls the row back to pending, so
  the message is sent again on the next run: e-mail and webhooks are delivered at least once, never
  at most once — losing an alert is worse than repeating one. Every attempt carries the same message
  id (X-OneWindow-Message-Id) for receivers to de-duplicate. In-app messages are exactly once: the
  notification row is inserted in the same transaction that marks the message sent.
* A failed attempt waits OUTBOX_RETRY_BASE_SECONDS, doubled after each further failure up to
  OUTBOX_RETRY_MAX_SECONDS; after OUTBOX_MAX_ATTEMPTS attempts, or at once when the channel says the
  message can never be delivered (e.g. e-mail not configured), it is failed and shown to admins.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, insert, or_, select, update

from app.delivery import DeliveryError, PermanentDeliveryError, channel_sender
from app.extensions import db
from app.models import OutboxMessage, User
from app.models.base import utcnow
from app.models.supervision import OUTBOX_CHANNELS, OUTBOX_STATES

log = logging.getLogger(__name__)

SUBJECT_LENGTH = OutboxMessage.subject.type.length
RECIPIENT_LENGTH = OutboxMessage.recipient.type.length
ERROR_LENGTH = 1000  # enough to read the cause; a server's whole HTML error page is not


def enqueue(channel: str, recipient: str, subject: str, body: str, payload: dict | None = None,
            alert_id: int | None = None) -> OutboxMessage:
    """Add one message to the caller's transaction (flushed, not committed: the caller commits)."""
    message = OutboxMessage(**_message_row(channel, recipient, subject, body, payload, alert_id))
    db.session.add(message)
    db.session.flush()
    return message


def _message_row(channel: str, recipient: str, subject: str, body: str, payload: dict | None,
                 alert_id: int | None) -> dict:
    if channel not in OUTBOX_CHANNELS:
        raise ValueError(f"unknown outbox channel {channel!r}")
    recipient = str(recipient)
    if not recipient or len(recipient) > RECIPIENT_LENGTH:
        raise ValueError(f"outbox recipient must be 1–{RECIPIENT_LENGTH} characters")
    # The subject is a headline; a long one is cut rather than failing the alert's whole transaction.
    return dict(channel=channel, recipient=recipient, subject=subject[:SUBJECT_LENGTH], body=body,
                payload=payload, alert_id=alert_id, status="pending", attempts=0, next_attempt_at=utcnow())


def message_rows_for_users(users: Iterable[User], subject: str, body: str, payload: dict | None = None,
                           alert_id: int | None = None, channels: Iterable[str] | None = None) -> list[dict]:
    """The messages of an alert as rows: in-app and e-mail per user, and one per configured webhook.

    E-mail goes to the user's address (or the one NOTIFY_EMAILS gives for the username); webhooks
    (SMS and WeChat gateways) get the recipients' mobile numbers. Disabled users are skipped; a user
    given twice is told once.
    """
    wanted = set(OUTBOX_CHANNELS if channels is None else channels)
    unknown = wanted - set(OUTBOX_CHANNELS)
    if unknown:
        raise ValueError(f"unknown outbox channels {sorted(unknown)}")
    config = current_app.config
    recipients = {user.id: user for user in users if user.is_enabled}
    rows = []
    for user in sorted(recipients.values(), key=lambda u: u.id):
        if "inapp" in wanted:
            rows.append(_message_row("inapp", str(user.id), subject, body, payload, alert_id))
        address = user.email or config["NOTIFY_EMAILS"].get(user.username)
        if "email" in wanted and address:
            rows.append(_message_row("email", address, subject, body, payload, alert_id))
    if "webhook" in wanted and config["WEBHOOKS"]:
        # Webhooks feed other systems (a duty phone, a dashboard): one post per alert, not per user.
        contacts = [{"username": u.username, "display_name": u.display_name, "mobile": u.mobile}
                    for u in sorted(recipients.values(), key=lambda u: u.id)]
        hook_payload = {**(payload or {}), "recipients": contacts} if contacts else payload
        for name in sorted(config["WEBHOOKS"]):
            rows.append(_message_row("webhook", name, subject, body, hook_payload, alert_id))
    return rows


def enqueue_for_users(users: Iterable[User], subject: str, body: str, payload: dict | None = None,
                      alert_id: int | None = None, channels: Iterable[str] | None = None) -> list[OutboxMessage]:
    """Add an alert's messages (message_rows_for_users) to the caller's transaction, flushed."""
    messages = [OutboxMessage(**row) for row in message_rows_for_users(users, subject, body, payload, alert_id,
                                                                        channels)]
    db.session.add_all(messages)
    db.session.flush()
    return messages


def enqueue_rows(rows: list[dict]) -> None:
    """Insert many messages in the caller's transaction with one cached statement (a sweep's alerts)."""
    if rows:
        db.session.execute(insert(OutboxMessage.__table__), rows)


def retry_delay(attempts: int) -> timedelta:
    """The wait after the given number of failed attempts: base, 2×base, 4×base … up to the cap."""
    config = current_app.config
    base, cap = config["OUTBOX_RETRY_BASE_SECONDS"], config["OUTBOX_RETRY_MAX_SECONDS"]
    # The exponent is bounded so a large attempt count cannot build an enormous integer.
    return timedelta(seconds=min(base * 2 ** min(max(attempts - 1, 0), 32), cap))


def _take_next(now: datetime, blocked_webhooks: set[str], email_blocked: bool) -> OutboxMessage | None:
    """Lock the next due message no other process holds; None when nothing (else) is due."""
    query = (select(OutboxMessage)
             .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
             .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(1)
             .with_for_update(skip_locked=True))
    if email_blocked:
        query = query.where(OutboxMessage.channel != "email")
    if blocked_webhooks:
        query = query.where(or_(OutboxMessage.channel != "webhook",
                                OutboxMessage.recipient.not_in(sorted(blocked_webhooks))))
    return db.session.scalars(query).first()


def _attempt(message: OutboxMessage) -> str:
    """Send one locked message and record the outcome on it: 'sent', 'retry' or 'failed'."""
    message.attempts += 1
    try:
        # A savepoint: a channel's own rows (in-app notifications) vanish if it fails, the row lock stays.
        with db.session.begin_nested():
            channel_sender(message.channel)(message)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong is recorded on the message, never lost
        permanent = isinstance(exc, PermanentDeliveryError)
        if not isinstance(exc, DeliveryError):
            log.exception("outbox message %s: unexpected error in channel %s", message.id, message.channel)
        message.last_error = (str(exc) or type(exc).__name__)[:ERROR_LENGTH]
        if permanent or message.attempts >= current_app.config["OUTBOX_MAX_ATTEMPTS"]:
            message.status = "failed"
            log.warning("outbox message %s failed after %s attempt(s): %s", message.id, message.attempts,
                        message.last_error)
            return "failed"
        message.next_attempt_at = utcnow() + retry_delay(message.attempts)
        return "retry"
    message.status = "sent"
    message.sent_at = utcnow()
    return "sent"


def deliver_due(batch_size: int = 100) -> dict:
    """The delivery job: send up to batch_size due messages, committing after each one.

    Commits the session: run it from the scheduler (or a fresh session), not inside a request's work.
    A receiver that fails a (non-permanent) attempt is not tried again in the same run, so one dead
    webhook or SMTP server costs one timeout per run, not one per waiting message.
    """
    db.session.commit()  # start from a clean transaction: locks are held only while a message is sent
    now = utcnow()
    outcome = {"sent": 0, "retry": 0, "failed": 0}
    blocked_webhooks: set[str] = set()
    email_blocked = False
    for _ in range(batch_size):
        message = _take_next(now, blocked_webhooks, email_blocked)
        if message is None:
            break
        result = _attempt(message)
        if result == "retry" and message.channel == "webhook":
            blocked_webhooks.add(message.recipient)
        elif result == "retry" and message.channel == "email":
            email_blocked = True  # one SMTP server carries every address
        db.session.commit()
        outcome[result] += 1
    return outcome


def status_counts() -> dict[str, int]:
    """Messages per status (every status present, zero when none)."""
    rows = db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
    return {status: 0 for status in OUTBOX_STATES} | dict(rows.all())


def troubled_messages(limit: int) -> tuple[list[OutboxMessage], list[OutboxMessage]]:
    """What an admin should look at: failed messages, and pending ones whose last attempt failed."""
    def newest(*conditions):
        query = select(OutboxMessage).where(*conditions).order_by(OutboxMessage.id.desc()).limit(limit)
        return list(db.session.scalars(query))

    return (newest(OutboxMessage.status == "failed"),
            newest(OutboxMessage.status == "pending", OutboxMessage.last_error.is_not(None)))


def retry_now(message_id: int | None = None) -> int:
    """Make a failed or waiting message (or every failed one, without an id) due now; returns how many.

    Attempts are kept: a failed message gets one more attempt and is failed again if that fails too.
    A sent message is never touched, even if it was sent while this waited for the row lock.
    """
    stmt = update(OutboxMessage).values(status="pending", next_attempt_at=utcnow())
    if message_id is None:
        stmt = stmt.where(OutboxMessage.status == "failed")
    else:
        stmt = stmt.where(OutboxMessage.id == message_id, OutboxMessage.status != "sent")
    return db.session.execute(stmt).rowcount
