"""In-app channel: the alert becomes a Notification row of the user named by the recipient (a user id)."""
from __future__ import annotations

from app.delivery import PermanentDeliveryError
from app.extensions import db
from app.models import Alert, Notification, OutboxMessage, User


def send(message: OutboxMessage) -> None:
    """Insert the notification in the outbox's own transaction: it is committed with "sent", exactly once."""
    try:
        user_id = int(message.recipient)
    except ValueError:
        raise PermanentDeliveryError(f"in-app recipient {message.recipient!r} is not a user id") from None
    if db.session.get(User, user_id) is None:
        raise PermanentDeliveryError(f"user {user_id} does not exist")
    # The alert's case and task make the notification a link in the list; the alert may be gone.
    alert = db.session.get(Alert, message.alert_id) if message.alert_id else None
    db.session.add(Notification(
        user_id=user_id, kind="alert", text=f"{message.subject}\n{message.body}",
        case_id=alert.case_id if alert else None, work_item_id=alert.work_item_id if alert else None,
    ))
    db.session.flush()  # a broken row fails here, inside the caller's savepoint, not at commit
