"""HTTP hardening: security headers on every answer, Secure cookies over HTTPS, a trusted reverse proxy."""
from __future__ import annotations

from flask import Flask, current_app, has_request_context, request
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

# Scripts only from this site (no inline script, no eval): bpmn-js, htmx and our own files are served
# from here. Inline styles stay allowed because bpmn-js styles the diagrams it draws through them.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))


class BoundedJSONProvider(DefaultJSONProvider):
    """Request bodies nested deeper than Python can parse are malformed JSON (400, or None when silent),
    not a RecursionError that becomes a 500."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS (directly or via a trusted proxy)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or (has_request_context() and request.is_secure))


def _add_headers(response):
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if current_user and current_user.is_authenticated:
            # A case page must not come back from the browser's cache after logging out.
            headers.setdefault("Cache-Control", "no-store")
    hsts = current_app.config["HSTS_SECONDS"]
    if hsts and request.is_secure:
        headers.setdefault("Strict-Transport-Security", f"max-age={hsts}")
    return response


def register(app: Flask) -> None:
    """Install the headers, the session interface and, when configured, the proxy fix."""
    app.session_interface = HttpsAwareSessionInterface()
    app.after_request(_add_headers)
    proxies_for, proxies_proto = app.config["PROXY_FIX_X_FOR"], app.config["PROXY_FIX_X_PROTO"]
    if proxies_for or proxies_proto:
        # Trust X-Forwarded-For/-Proto from exactly this many proxies: the throttle keys on the real client.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies_for, x_proto=proxies_proto,
                                x_host=app.config["PROXY_FIX_X_HOST"])
