"""Delivery channels of the outbox: each sends one OutboxMessage or raises to say why it could not.

A channel raises DeliveryError when trying again later may succeed (a server down, a timeout, a 5xx)
and PermanentDeliveryError when it never will (no such user, e-mail not configured), so the outbox
does not spend a day of retries on a configuration mistake.
"""
from __future__ import annotations

from collections.abc import Callable

from app.models import OutboxMessage


class DeliveryError(Exception):
    """The attempt failed; the outbox retries with backoff."""


class PermanentDeliveryError(DeliveryError):
    """The message can never be delivered as addressed; the outbox marks it failed at once."""


def channel_sender(channel: str) -> Callable[[OutboxMessage], None]:
    """The send function of a channel (imported here so a channel's dependencies load only when used)."""
    from app.delivery import email, inapp, webhook

    senders = {"inapp": inapp.send, "email": email.send, "webhook": webhook.send}
    try:
        return senders[channel]
    except KeyError:
        raise PermanentDeliveryError(f"unknown channel {channel!r}") from None
