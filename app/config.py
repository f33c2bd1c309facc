"""Every setting once, read from the environment with a default."""
from __future__ import annotations

import json
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("ONEWINDOW_INSTANCE_DIR", PROJECT_ROOT / "instance"))


def normalise_database_url(url: str) -> str:
    """Pin PostgreSQL URLs to the psycopg2 driver we ship (SQLAlchemy 2.1 defaults to psycopg 3)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def _database_url() -> str:
    # SQLite under instance/ is the embedded default for a first run; production sets PostgreSQL.
    return normalise_database_url(os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'onewindow.db'}"))


def _secret_key() -> str | None:
    # Signs sessions and CSRF tokens. Never a default from the source: the environment, or the
    # random key that bin/setup writes to instance/secret_key on first run.
    key_file = INSTANCE_DIR / "secret_key"
    return os.environ.get("SECRET_KEY") or (key_file.read_text().strip() if key_file.is_file() else None)


def _json_setting(name: str) -> dict:
    """A JSON object from the environment; a malformed value stops start-up rather than losing messages."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object")
    return value


class Config:
    SECRET_KEY = _secret_key()
    SQLALCHEMY_DATABASE_URI = _database_url()
    # A ping before each checkout survives database restarts at one extra round trip per request;
    # off by default, connections are recycled instead and a restart fails at most one request per worker.
    SQLALCHEMY_ENGINE_OPTIONS = {
        "pool_pre_ping": os.environ.get("DATABASE_POOL_PRE_PING", "0") == "1",
        "pool_recycle": int(os.environ.get("DATABASE_POOL_RECYCLE_SECONDS", 1800)),
    }
    # Accounts behind tokens, deployed forms and department codes are cached in each process and
    # dropped when PostgreSQL announces a change (LISTEN/NOTIFY). The listening connection must reach
    # PostgreSQL itself: behind a transaction-pooling PgBouncer give it a direct address here.
    CACHE_SHARED = os.environ.get("CACHE_SHARED", "1") == "1"
    CACHE_LISTEN_DATABASE_URL = os.environ.get("CACHE_LISTEN_DATABASE_URL") or None
    # Even unannounced, a cached entry is read again after this long (a listener that died silently).
    CACHE_MAX_AGE_SECONDS = int(os.environ.get("CACHE_MAX_AGE_SECONDS", 300))
    # Where BPMN files and their service-item data files live.
    WORKFLOWS_DIR = Path(os.environ.get("WORKFLOWS_DIR", PROJECT_ROOT / "workflows"))
    # JSON Schema task forms named by BPMN user tasks.
    FORMS_DIR = Path(os.environ.get("FORMS_DIR", PROJECT_ROOT / "forms"))
    # Write-once store of uploaded materials, addressed by SHA-256.
    MATERIALS_DIR = Path(os.environ.get("MATERIALS_DIR", INSTANCE_DIR / "materials"))
    # Largest single upload accepted (bytes); the whole request may hold several.
    MAX_MATERIAL_BYTES = int(os.environ.get("MAX_MATERIAL_BYTES", 20 * 1024 * 1024))
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", 64 * 1024 * 1024))
    # Chinese is the default language of the UI; English on request.
    BABEL_DEFAULT_LOCALE = "zh"
    LANGUAGES = ("zh", "en")
    # Case numbers, daily serials and shown times follow the service centre's local day.
    TIMEZONE = os.environ.get("ONEWINDOW_TIMEZONE", "Asia/Shanghai")
    BABEL_DEFAULT_TIMEZONE = TIMEZONE
    # Bearer tokens for the JSON API expire after this many hours.
    API_TOKEN_TTL_HOURS = int(os.environ.get("API_TOKEN_TTL_HOURS", 12))
    # Run periodic jobs inside the web process (dev server); production runs `flask scheduler`.
    SCHEDULER_IN_PROCESS = os.environ.get("SCHEDULER_IN_PROCESS", "0") == "1"
    # Seconds between timer sweeps of the scheduler.
    TIMER_SWEEP_SECONDS = int(os.environ.get("TIMER_SWEEP_SECONDS", 60))
    # Name printed on receipts and notices as the issuing authority (local practice).
    ISSUING_AUTHORITY = os.environ.get("ISSUING_AUTHORITY", "一窗通示范档案馆")
    # Working days an applicant has to bring the materials of a one-time notice (补正告知) before
    # the case is returned (退件); an item may set its own.
    SUPPLEMENT_PERIOD_WORKING_DAYS = int(os.environ.get("SUPPLEMENT_PERIOD_WORKING_DAYS", 30))
    # 第32条: online applications are decided within this many working days (per item: pre_review_days).
    PRE_REVIEW_WORKING_DAYS = int(os.environ.get("PRE_REVIEW_WORKING_DAYS", 5))
    # Minutes the front desk may reprint a receipt with the query password after acceptance.
    RECEIPT_REPRINT_MINUTES = int(os.environ.get("RECEIPT_REPRINT_MINUTES", 15))
    # Public progress query: wrong query passwords allowed per case within the window, then a lock.
    QUERY_MAX_FAILURES = int(os.environ.get("QUERY_MAX_FAILURES", 5))
    QUERY_FAILURE_WINDOW_MINUTES = int(os.environ.get("QUERY_FAILURE_WINDOW_MINUTES", 60))
    QUERY_LOCK_MINUTES = int(os.environ.get("QUERY_LOCK_MINUTES", 60))
    # Working days supervisors have to follow up a bad rating (差评整改), local practice.
    RATING_FOLLOW_UP_WORKING_DAYS = int(os.environ.get("RATING_FOLLOW_UP_WORKING_DAYS", 15))
    # Uploads no case refers to are deleted after this many hours (a clerk may still be typing).
    ORPHAN_MATERIAL_GRACE_HOURS = int(os.environ.get("ORPHAN_MATERIAL_GRACE_HOURS", 24))
    ORPHAN_SWEEP_SECONDS = int(os.environ.get("ORPHAN_SWEEP_SECONDS", 3600))
    # 事前预警: the yellow light comes on this many working days before a deadline or when this share
    # of the limit remains, whichever comes first (an item may set its own).
    WARN_WORKING_DAYS = int(os.environ.get("WARN_WORKING_DAYS", 1))
    WARN_PERCENT = int(os.environ.get("WARN_PERCENT", 20))
    # How far ahead the deadline sweep looks; a wider warning window than this is never reached.
    WARN_HORIZON_DAYS = int(os.environ.get("WARN_HORIZON_DAYS", 10))
    SUPERVISION_SWEEP_SECONDS = int(os.environ.get("SUPERVISION_SWEEP_SECONDS", 300))
    # 事后监察: the daily audit looks back this far; a step overdue longer is 超期未办.
    AUDIT_SWEEP_SECONDS = int(os.environ.get("AUDIT_SWEEP_SECONDS", 3600))
    AUDIT_LOOKBACK_DAYS = int(os.environ.get("AUDIT_LOOKBACK_DAYS", 2))
    OVERDUE_NOT_HANDLED_DAYS = int(os.environ.get("OVERDUE_NOT_HANDLED_DAYS", 3))
    # Filing on completion (随办随归): sealed packages are written once under ARCHIVE_DIR. The 档号 is
    # 全宗号-门类·年度-保管期限-机构代码-件号, from these codes; 立档单位 is the issuing authority.
    ARCHIVE_DIR = Path(os.environ.get("ARCHIVE_DIR", INSTANCE_DIR / "archive"))
    FONDS_CODE = os.environ.get("FONDS_CODE", "Z109")
    ARCHIVE_CATEGORY = os.environ.get("ARCHIVE_CATEGORY", "WS")
    ORGANISATION_CODE = os.environ.get("ORGANISATION_CODE", "DAS")
    FILING_SWEEP_SECONDS = int(os.environ.get("FILING_SWEEP_SECONDS", 30))
    # A failed build is retried after the base wait, doubled each time; after the last attempt the
    # filing is failed and supervisors are alerted.
    FILING_MAX_ATTEMPTS = int(os.environ.get("FILING_MAX_ATTEMPTS", 5))
    FILING_RETRY_BASE_SECONDS = int(os.environ.get("FILING_RETRY_BASE_SECONDS", 60))
    # Daily audit: a case completed this long ago without a sealed package is an alert.
    ARCHIVE_AUDIT_GRACE_HOURS = int(os.environ.get("ARCHIVE_AUDIT_GRACE_HOURS", 24))
    # Optional virus scan of a package at sealing (安全性检测): a command given the file path, exit 0 = clean.
    ARCHIVE_SCAN_COMMAND = os.environ.get("ARCHIVE_SCAN_COMMAND", "")
    # Rows per page of inboxes and lists.
    PAGE_SIZE = int(os.environ.get("PAGE_SIZE", 50))
    # Outbox (alert delivery): seconds between delivery sweeps, then the retry schedule — the wait doubles
    # from the base after each failed attempt, up to the cap; after the last attempt a message is failed.
    OUTBOX_SWEEP_SECONDS = int(os.environ.get("OUTBOX_SWEEP_SECONDS", 30))
    OUTBOX_MAX_ATTEMPTS = int(os.environ.get("OUTBOX_MAX_ATTEMPTS", 12))
    OUTBOX_RETRY_BASE_SECONDS = int(os.environ.get("OUTBOX_RETRY_BASE_SECONDS", 60))
    OUTBOX_RETRY_MAX_SECONDS = int(os.environ.get("OUTBOX_RETRY_MAX_SECONDS", 3600))
    # E-mail is off until SMTP_HOST and MAIL_FROM are set; 587 with STARTTLS is the submission default.
    SMTP_HOST = os.environ.get("SMTP_HOST", "")
    SMTP_PORT = int(os.environ.get("SMTP_PORT", 587))
    SMTP_USER = os.environ.get("SMTP_USER", "")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
    SMTP_STARTTLS = os.environ.get("SMTP_STARTTLS", "1") == "1"
    MAIL_FROM = os.environ.get("MAIL_FROM", "")
    # Users have no e-mail column: {"username": "address", …}; users not listed get no e-mail.
    NOTIFY_EMAILS = _json_setting("NOTIFY_EMAILS_JSON")
    # Alert webhooks: {"name": {"url": "https://…", "secret": "…"}, …}; each alert is posted to every one.
    WEBHOOKS = _json_setting("WEBHOOKS_JSON")
    # Seconds to wait for an SMTP server or a webhook receiver before the attempt counts as failed.
    DELIVERY_TIMEOUT_SECONDS = int(os.environ.get("DELIVERY_TIMEOUT_SECONDS", 10))
    WTF_CSRF_TIME_LIMIT = None  # a clerk's form may stay open all morning
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Secure cookies always (set 1 when every user comes over HTTPS); they are Secure anyway whenever a
    # request arrives over HTTPS, directly or through a trusted proxy (PROXY_FIX_X_PROTO).
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "0") == "1"
    # A login lasts at most this long on the server (and in its cookie), then the user logs in again.
    SESSION_LIFETIME_HOURS = int(os.environ.get("SESSION_LIFETIME_HOURS", 12))
    PERMANENT_SESSION_LIFETIME = SESSION_LIFETIME_HOURS * 3600
    # Behind a reverse proxy: how many proxies' X-Forwarded-For / -Proto / -Host headers to trust. 0 trusts
    # none, so that no client can pick the address the login throttle counts against.
    PROXY_FIX_X_FOR = int(os.environ.get("PROXY_FIX_X_FOR", 0))
    PROXY_FIX_X_PROTO = int(os.environ.get("PROXY_FIX_X_PROTO", 0))
    PROXY_FIX_X_HOST = int(os.environ.get("PROXY_FIX_X_HOST", 0))
    # Strict-Transport-Security on HTTPS answers (seconds; 0 leaves it to the proxy).
    HSTS_SECONDS = int(os.environ.get("HSTS_SECONDS", 31536000))
    # Login throttle, shared by every worker through the database: failures of one account from one
    # address within the window (then growing delays after half of them, and a lock at the limit that
    # doubles with each lockout), and failures of any accounts from one address (password spraying).
    LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", 10))
    LOGIN_ADDRESS_MAX_FAILURES = int(os.environ.get("LOGIN_ADDRESS_MAX_FAILURES", 30))
    LOGIN_FAILURE_WINDOW_MINUTES = int(os.environ.get("LOGIN_FAILURE_WINDOW_MINUTES", 15))
    # Passwords: at least this long, and at least this zxcvbn score (0 guessable … 4 very strong).
    PASSWORD_MIN_LENGTH = int(os.environ.get("PASSWORD_MIN_LENGTH", 10))
    PASSWORD_MIN_SCORE = int(os.environ.get("PASSWORD_MIN_SCORE", 3))
    # Seconds between sweeps of expired sessions and tokens, stale throttle entries and old import files.
    HOUSEKEEPING_SWEEP_SECONDS = int(os.environ.get("HOUSEKEEPING_SWEEP_SECONDS", 3600))
    # Largest organisation file accepted for import (bytes).
    MAX_ORG_FILE_BYTES = int(os.environ.get("MAX_ORG_FILE_BYTES", 5 * 1024 * 1024))


class TestConfig(Config):
    TESTING = True
