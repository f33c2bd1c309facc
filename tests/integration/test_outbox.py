"""The outbox: written with the alert, delivered after commit by the job, retried, sent once.

Receivers are real servers on 127.0.0.1: a small SMTP sink and an http.server webhook receiver.
"""
from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import re
import socket
import socketserver
import threading
import time
from datetime import date, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Alert, Notification, OutboxMessage, User
from app.models.base import utcnow
from app.services.notices import outbox
from tests.integration.test_concurrency import _parallel
from tests.integration.test_pages import _csrf, login

SECRET = "webhook-secret-密钥"
SUBJECT = "超期预警：案件 2026-0001 将于明日到期"
BODY = "请尽快办理《跨馆出具档案证明》。\n承办部门：馆藏档案部"


@pytest.fixture(autouse=True)
def _postgres_only(app):
    # SKIP LOCKED and row locks are what this feature is about; SQLite has neither.
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("the outbox needs PostgreSQL row locks")


# --- receivers -------------------------------------------------------------------------------------

class SmtpSink(socketserver.ThreadingTCPServer):
    """Just enough SMTP to take mail from smtplib: EHLO, MAIL, RCPT, DATA, QUIT; keeps what arrives."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.messages: list[tuple[str, list[str], bytes]] = []
        super().__init__(("127.0.0.1", 0), _SmtpSession)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def stop(self):
        self.shutdown()
        self.server_close()


class _SmtpSession(socketserver.StreamRequestHandler):
    def _reply(self, line: str):
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        sender, recipients = "", []
        self._reply("220 sink ready")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self._reply("250 sink")
            elif verb == b"MAIL":
                sender, recipients = line.decode().split(":", 1)[1].strip(), []
                self._reply("250 ok")
            elif verb == b"RCPT":
                address = line.decode().split(":", 1)[1].strip().strip("<>")
                if address.startswith("nobody@"):
                    self._reply("550 no such mailbox")
                else:
                    recipients.append(address)
                    self._reply("250 ok")
            elif verb == b"DATA":
                self._reply("354 go ahead")
                lines = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(data[1:] if data.startswith(b"..") else data)  # undo dot-stuffing
                self.server.messages.append((sender, recipients, b"".join(lines)))
                self._reply("250 queued")
            elif verb == b"QUIT":
                self._reply("221 bye")
                return
            else:  # RSET, NOOP
                self._reply("250 ok")


class WebhookReceiver:
    """An HTTP server answering POSTs with a fixed status, recording (headers, raw body) of each."""

    def __init__(self, port: int = 0, status: int = 200, delay: float = 0.0):
        self.hits: list[tuple[Message, bytes]] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.hits.append((self.headers, body))  # case-insensitive, as HTTP header names are
                time.sleep(delay)  # a slow receiver keeps racing senders overlapping
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def ids(self) -> list[int]:
        return [int(headers["X-OneWindow-Message-Id"]) for headers, _body in self.hits]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class DownReceiver:
    """A receiver that is down: its port is bound but not listening, so connections are refused and
    no other process (or an outgoing connection's ephemeral port) can take it before it comes up."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def come_up(self) -> WebhookReceiver:
        self.socket.close()
        return WebhookReceiver(port=self.port)

    def close(self):
        self.socket.close()


@pytest.fixture()
def down_receiver():
    down = DownReceiver()
    yield down
    down.close()


@pytest.fixture()
def receiver():
    started = WebhookReceiver()
    yield started
    started.stop()


@pytest.fixture()
def smtp_sink(app, monkeypatch):
    sink = SmtpSink()
    for key, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": sink.port, "SMTP_STARTTLS": False,
                       "MAIL_FROM": "一窗通 <onewindow@example.org>"}.items():
        monkeypatch.setitem(app.config, key, value)
    yield sink
    sink.stop()


def _hook(app, monkeypatch, url: str, name: str = "duty"):
    monkeypatch.setitem(app.config, "WEBHOOKS", {name: {"url": url, "secret": SECRET}})


def _user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def _alert() -> Alert:
    alert = Alert(subject="department:HOLDING", rule="overdue", level="red", occurrence=date(2026, 5, 4),
                  department_code="HOLDING", content=BODY)
    db.session.add(alert)
    db.session.flush()
    return alert


def _make_due(*message_ids: int):
    """Jump past the backoff: the message is due as if its wait were over."""
    for message_id in message_ids:
        db.session.get(OutboxMessage, message_id).next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


# --- channels --------------------------------------------------------------------------------------

def test_chinese_email_reaches_the_smtp_server(ctx, app, monkeypatch, smtp_sink):
    monkeypatch.setitem(app.config, "NOTIFY_EMAILS", {"handler": "handler@example.org"})
    [message] = outbox.enqueue_for_users([_user("handler")], SUBJECT, BODY, channels=["email"])
    db.session.commit()

    assert outbox.deliver_due() == {"sent": 1, "retry": 0, "failed": 0}
    [(sender, recipients, raw)] = smtp_sink.messages
    assert sender == "<onewindow@example.org>" and recipients == ["handler@example.org"]
    assert raw.isascii()  # encoded for any relay, decoded intact below
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["Subject"] == SUBJECT and mail["To"] == "handler@example.org"
    assert mail["From"] == "一窗通 <onewindow@example.org>" and mail["Message-ID"].endswith("@example.org>")
    assert mail.get_content().rstrip("\n") == BODY
    assert mail["X-OneWindow-Message-Id"] == str(message.id)
    sent = db.session.get(OutboxMessage, message.id)
    assert sent.status == "sent" and sent.sent_at is not None and sent.attempts == 1


def test_refused_address_fails_at_once_and_unconfigured_email_fails_clearly(ctx, app, monkeypatch, smtp_sink):
    refused = outbox.enqueue("email", "nobody@example.org", SUBJECT, BODY)
    db.session.commit()
    assert outbox.deliver_due()["failed"] == 1
    assert db.session.get(OutboxMessage, refused.id).attempts == 1  # a 5xx is final: no retries

    monkeypatch.setitem(app.config, "SMTP_HOST", "")
    unconfigured = outbox.enqueue("email", "handler@example.org", SUBJECT, BODY)
    db.session.commit()
    assert outbox.deliver_due() == {"sent": 0, "retry": 0, "failed": 1}
    message = db.session.get(OutboxMessage, unconfigured.id)
    assert message.status == "failed" and "e-mail is not configured" in message.last_error
    assert smtp_sink.messages == []


def test_webhook_is_posted_with_a_verifiable_signature(ctx, app, monkeypatch, receiver):
    _hook(app, monkeypatch, receiver.url)
    alert = _alert()
    [message] = outbox.enqueue_for_users([_user("handler")], SUBJECT, BODY, payload={"case_no": "2026-0001"},
                                         alert_id=alert.id, channels=["webhook"])
    db.session.commit()

    assert outbox.deliver_due()["sent"] == 1
    [(headers, raw)] = receiver.hits
    expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-OneWindow-Signature"], expected)
    assert headers["X-OneWindow-Message-Id"] == str(message.id)
    assert abs(int(headers["X-OneWindow-Timestamp"]) - time.time()) < 60
    assert headers["Content-Type"].startswith("application/json")
    document = json.loads(raw.decode("utf-8"))
    assert document["id"] == message.id and document["alert_id"] == alert.id
    assert document["subject"] == SUBJECT and document["body"] == BODY
    # SMS and WeChat gateways learn whom to reach from the recipients' mobiles.
    assert document["payload"] == {"case_no": "2026-0001", "recipients": [
        {"username": "handler", "display_name": "业务承办人", "mobile": None}]}


def test_unknown_webhook_and_non_http_url_fail_without_retries(ctx, app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOKS", {"files": {"url": "file:///etc/passwd", "secret": "x"}})
    unknown = outbox.enqueue("webhook", "gone", SUBJECT, BODY)
    local_file = outbox.enqueue("webhook", "files", SUBJECT, BODY)
    db.session.commit()
    assert outbox.deliver_due() == {"sent": 0, "retry": 0, "failed": 2}
    assert "not configured" in db.session.get(OutboxMessage, unknown.id).last_error
    assert "http(s)" in db.session.get(OutboxMessage, local_file.id).last_error


def test_inapp_message_becomes_a_notification(ctx, app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOKS", {})
    monkeypatch.setitem(app.config, "NOTIFY_EMAILS", {})
    handler = _user("handler")
    alert = _alert()
    messages = outbox.enqueue_for_users([handler], SUBJECT, BODY, alert_id=alert.id)
    # No address known for the handler and no webhook: in-app only.
    assert [(m.channel, m.recipient) for m in messages] == [("inapp", str(handler.id))]
    db.session.commit()
    assert db.session.scalars(select(Notification).where(Notification.kind == "alert")).all() == []

    assert outbox.deliver_due()["sent"] == 1
    [notification] = db.session.scalars(select(Notification).where(Notification.kind == "alert")).all()
    assert notification.user_id == handler.id
    assert SUBJECT in notification.text and BODY in notification.text
    assert outbox.deliver_due()["sent"] == 0
    assert db.session.query(Notification).filter_by(kind="alert").count() == 1


def test_inapp_message_for_a_missing_user_fails(ctx):
    outbox.enqueue("inapp", "987654", SUBJECT, BODY)
    db.session.commit()
    assert outbox.deliver_due()["failed"] == 1
    assert db.session.query(Notification).count() == 0


def test_enqueue_for_users_fans_out_per_channel(ctx, app, monkeypatch):
    monkeypatch.setitem(app.config, "NOTIFY_EMAILS", {"handler": "handler@example.org"})
    monkeypatch.setitem(app.config, "WEBHOOKS", {"duty": {"url": "http://127.0.0.1:9/", "secret": "a"},
                                                 "board": {"url": "http://127.0.0.1:9/", "secret": "b"}})
    handler, head = _user("handler"), _user("head")
    disabled = User(id=987654, username="left", display_name="已离职", password_hash="x", is_enabled=False)
    messages = outbox.enqueue_for_users([handler, head, handler, disabled], SUBJECT, BODY)
    assert sorted((m.channel, m.recipient) for m in messages) == sorted([
        ("inapp", str(handler.id)), ("inapp", str(head.id)), ("email", "handler@example.org"),
        ("webhook", "board"), ("webhook", "duty")])
    assert all(m.status == "pending" and m.attempts == 0 and m.id for m in messages)
    with pytest.raises(ValueError):
        outbox.enqueue_for_users([handler], SUBJECT, BODY, channels=["sms"])


def test_rolled_back_alert_sends_nothing(ctx, app, monkeypatch, receiver):
    _hook(app, monkeypatch, receiver.url)
    alert = _alert()
    outbox.enqueue_for_users([_user("handler")], SUBJECT, BODY, alert_id=alert.id)
    db.session.rollback()

    assert outbox.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}
    assert db.session.query(OutboxMessage).count() == 0
    assert db.session.query(Notification).count() == 0
    assert receiver.hits == []


def test_uncommitted_messages_are_not_delivered_by_another_session(app, monkeypatch, receiver):
    _hook(app, monkeypatch, receiver.url)
    with app.app_context():
        outbox.enqueue("webhook", "duty", SUBJECT, BODY)  # flushed, not committed
        seen = []
        worker = threading.Thread(target=lambda: seen.append(_deliver_in_own_context(app)))
        worker.start()
        worker.join()
        assert seen == [{"sent": 0, "retry": 0, "failed": 0}] and receiver.hits == []
        db.session.commit()
        assert _deliver_in_own_context(app)["sent"] == 1
        db.session.remove()
    assert len(receiver.hits) == 1


# --- retries ---------------------------------------------------------------------------------------

def test_receiver_down_then_up_is_delivered_once_after_backoff(ctx, app, monkeypatch, down_receiver):
    _hook(app, monkeypatch, down_receiver.url)
    first = outbox.enqueue("webhook", "duty", SUBJECT, BODY)
    second = outbox.enqueue("webhook", "duty", SUBJECT, "第二条")
    db.session.commit()

    # The dead receiver costs one attempt per run; the other message waits untouched.
    assert outbox.deliver_due() == {"sent": 0, "retry": 1, "failed": 0}
    message = db.session.get(OutboxMessage, first.id)
    assert message.status == "pending" and message.attempts == 1 and message.last_error
    wait = message.next_attempt_at - utcnow()
    assert timedelta(seconds=50) < wait <= timedelta(seconds=60)
    assert db.session.get(OutboxMessage, second.id).attempts == 0

    # Not due yet: the next run leaves the first alone and tries the second (still down).
    assert outbox.deliver_due() == {"sent": 0, "retry": 1, "failed": 0}
    _make_due(first.id)
    assert outbox.deliver_due()["retry"] == 1
    message = db.session.get(OutboxMessage, first.id)
    assert message.attempts == 2
    assert timedelta(seconds=110) < message.next_attempt_at - utcnow() <= timedelta(seconds=120)

    receiver = down_receiver.come_up()
    try:
        assert outbox.deliver_due()["sent"] == 0  # nothing due until the backoff has passed
        _make_due(first.id, second.id)
        assert outbox.deliver_due() == {"sent": 2, "retry": 0, "failed": 0}
        _make_due(first.id, second.id)  # even when due again, a sent message is not picked
        assert outbox.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}
        assert sorted(receiver.ids()) == [first.id, second.id]
    finally:
        receiver.stop()
    delivered = db.session.get(OutboxMessage, first.id)
    assert delivered.status == "sent" and delivered.attempts == 3


def test_server_errors_are_retried_and_backoff_is_capped(ctx, app, monkeypatch, receiver):
    receiver.status = 503
    _hook(app, monkeypatch, receiver.url)
    message = outbox.enqueue("webhook", "duty", SUBJECT, BODY)
    db.session.commit()
    assert outbox.deliver_due()["retry"] == 1
    assert "HTTP 503" in db.session.get(OutboxMessage, message.id).last_error
    assert [outbox.retry_delay(n).total_seconds() for n in (1, 2, 3, 6, 7, 12, 500)] == [
        60, 120, 240, 1920, 3600, 3600, 3600]


def test_failed_after_max_attempts_then_shown_and_retried_by_an_admin(app, client, monkeypatch, down_receiver):
    monkeypatch.setitem(app.config, "OUTBOX_MAX_ATTEMPTS", 3)
    _hook(app, monkeypatch, down_receiver.url)
    with app.app_context():
        message_id = outbox.enqueue("webhook", "duty", SUBJECT, BODY).id
        db.session.commit()
        for expected in ("retry", "retry", "failed"):
            _make_due(message_id)
            assert outbox.deliver_due()[expected] == 1
        failed = db.session.get(OutboxMessage, message_id)
        assert failed.status == "failed" and failed.attempts == 3 and failed.last_error
        _make_due(message_id)
        assert outbox.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}  # failed stays failed
        db.session.remove()

    login(client, "handler")
    assert client.get("/admin/outbox").status_code == 403
    client.post("/logout", data={"csrf_token": _csrf(client, "/inbox")})

    login(client, "admin")
    page = client.get("/admin/outbox").get_data(as_text=True)
    row = re.search(rf'data-testid="outbox-message-{message_id}".*?</tr>', page, re.S).group(0)
    assert SUBJECT in row and "Connection refused" in row and ">3<" in row
    assert re.search(r'data-testid="count-failed">[^<]*: 1<', page)
    # Without the CSRF token the button does nothing.
    assert client.post(f"/admin/outbox/{message_id}/retry").status_code == 400

    receiver = down_receiver.come_up()
    try:
        response = client.post(f"/admin/outbox/{message_id}/retry", data={"csrf_token": _csrf(client, "/admin/outbox")})
        assert response.status_code == 302
        with app.app_context():
            assert db.session.get(OutboxMessage, message_id).status == "pending"
            assert outbox.deliver_due()["sent"] == 1
            db.session.remove()
        assert receiver.ids() == [message_id]
        # A sent message cannot be "retried" into a second delivery.
        again = client.post(f"/admin/outbox/{message_id}/retry", data={"csrf_token": _csrf(client, "/admin/outbox")})
        assert again.status_code == 404
    finally:
        receiver.stop()
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert f'outbox-message-{message_id}"' not in page and re.search(r'data-testid="count-sent">[^<]*: 1<', page)


def test_retry_all_failed(app, client, monkeypatch):
    with app.app_context():
        ids = [outbox.enqueue("webhook", "gone", SUBJECT, BODY).id for _ in range(2)]
        db.session.commit()
        assert outbox.deliver_due()["failed"] == 2
        db.session.remove()
    login(client, "admin")
    response = client.post("/admin/outbox/retry-failed", data={"csrf_token": _csrf(client, "/admin/outbox")})
    assert response.status_code == 302
    with app.app_context():
        assert {db.session.get(OutboxMessage, i).status for i in ids} == {"pending"}


# --- concurrency -----------------------------------------------------------------------------------

def _deliver_in_own_context(app) -> dict:
    with app.app_context():
        try:
            return outbox.deliver_due()
        finally:
            db.session.remove()


def test_two_racing_runs_send_each_message_exactly_once(app, monkeypatch):
    receiver = WebhookReceiver(delay=0.05)
    _hook(app, monkeypatch, receiver.url)
    try:
        with app.app_context():
            ids = [outbox.enqueue("webhook", "duty", SUBJECT, f"第 {n} 条").id for n in range(30)]
            db.session.commit()
            db.session.remove()
        results = _parallel([lambda: _deliver_in_own_context(app)] * 2)
    finally:
        receiver.stop()
    assert sum(r["sent"] for r in results) == 30
    assert all(r["sent"] for r in results)  # both runs really overlapped (the receiver is slow)
    assert sorted(receiver.ids()) == ids  # every message, none twice
    with app.app_context():
        assert db.session.query(OutboxMessage).filter_by(status="sent").count() == 30


def test_the_job_is_scheduled(app):
    from app.jobs import JOBS

    assert ("deliver_outbox", outbox.deliver_due, "OUTBOX_SWEEP_SECONDS") in JOBS
    assert app.config["OUTBOX_SWEEP_SECONDS"] == 30 and app.config["OUTBOX_MAX_ATTEMPTS"] == 12
