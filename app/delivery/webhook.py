"""Webhook channel: POST the alert as JSON, signed with the webhook's secret (HMAC-SHA256 of the body).

Delivery is at least once: a receiver may get a message again if we crash, or time out, after it
answered but before the message was marked sent. The X-OneWindow-Message-Id header (also "id" in
the body) stays the same on every attempt, so receivers de-duplicate on it.
The signature covers the body only; X-OneWindow-Timestamp (the attempt's time, unsigned) is a hint for
logs. urllib sends header names title-cased (X-Onewindow-Signature): HTTP names are case-insensitive.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request

from flask import current_app

from app.delivery import DeliveryError, PermanentDeliveryError
from app.models import OutboxMessage
from app.models.base import utcnow


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would turn the POST into a GET without body; treat it as a failed attempt instead."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def body_of(message: OutboxMessage) -> bytes:
    """The JSON posted: the same bytes on every attempt, so a receiver sees one message, not variants."""
    document = {
        "id": message.id, "alert_id": message.alert_id, "subject": message.subject, "body": message.body,
        "payload": message.payload, "created_at": message.created_at.isoformat(),
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def send(message: OutboxMessage) -> None:
    target = current_app.config["WEBHOOKS"].get(message.recipient)
    if not isinstance(target, dict) or not target.get("url"):
        raise PermanentDeliveryError(f"webhook {message.recipient!r} is not configured")
    url = target["url"]
    # urllib also opens file:// and ftp:// addresses; a webhook is HTTP(S) only.
    if not url.lower().startswith(("http://", "https://")):
        raise PermanentDeliveryError(f"webhook {message.recipient!r} has no http(s) URL")
    body = body_of(message)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "OneWindow-Outbox/1",
        "X-OneWindow-Message-Id": str(message.id),
        "X-OneWindow-Timestamp": str(int(utcnow().timestamp())),
    }
    if target.get("secret"):
        headers["X-OneWindow-Signature"] = signature(target["secret"], body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        # urllib raises HTTPError for every status outside 2xx (redirects included, see above).
        with _opener.open(request, timeout=current_app.config["DELIVERY_TIMEOUT_SECONDS"]) as response:
            response.read(65536)  # drain a little so keep-alive receivers are not cut off mid-answer
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DeliveryError(f"{url}: {exc.reason}") from None
    except (OSError, ValueError) as exc:  # timeouts while reading, malformed URLs
        raise DeliveryError(f"{url}: {type(exc).__name__}: {exc}") from None
