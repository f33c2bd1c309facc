"""E-mail channel: one message per recipient address through the configured SMTP server (smtplib)."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from flask import current_app

from app.delivery import DeliveryError, PermanentDeliveryError
from app.models import OutboxMessage


def build(message: OutboxMessage, sender: str) -> EmailMessage:
    """A UTF-8 e-mail; non-ASCII headers are RFC 2047-encoded and the body base64, so any relay carries it."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.recipient
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(usegmt=True)
    # MAIL_FROM may carry a display name ("一窗通 <noreply@…>"): the id takes the address's domain.
    mail["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    # Stable across retries, so a mail filter (or a person) can tell a resend from a new alert.
    mail["X-OneWindow-Message-Id"] = str(message.id)
    # base64 rather than 8bit: servers without 8BITMIME would otherwise be free to mangle Chinese text.
    mail.set_content(message.body, charset="utf-8", cte="base64")
    return mail


def send(message: OutboxMessage) -> None:
    config = current_app.config
    host, sender = config["SMTP_HOST"], config["MAIL_FROM"]
    if not host or not sender:
        raise PermanentDeliveryError("e-mail is not configured (SMTP_HOST and MAIL_FROM)")
    mail = build(message, sender)
    try:
        with smtplib.SMTP(host, config["SMTP_PORT"], timeout=config["DELIVERY_TIMEOUT_SECONDS"]) as smtp:
            if config["SMTP_STARTTLS"]:
                smtp.starttls(context=ssl.create_default_context())
            if config["SMTP_USER"]:
                smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
            smtp.send_message(mail)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _text in exc.recipients.values()]
        # 5xx is the server's final word on the address (no such mailbox); 4xx may clear up.
        error = PermanentDeliveryError if all(code >= 500 for code in codes) else DeliveryError
        raise error(f"recipient refused: {exc.recipients}") from None
    except (smtplib.SMTPException, OSError) as exc:  # OSError covers refused connections and timeouts
        raise DeliveryError(f"SMTP {host}:{config['SMTP_PORT']}: {type(exc).__name__}: {exc}") from None
