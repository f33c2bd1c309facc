"""Logging in: the shared throttle, sessions that end on the server, forced password changes, security
headers on every page, and where each role lands."""
from __future__ import annotations

import re

import pytest

from app.services.org import DEMO_PASSWORD
from tests.integration.test_org_api import STRONG, new_user

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def client_from(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _csrf(client, path="/login") -> str:
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def page_login(client, username: str, password: str = DEMO_PASSWORD):
    return client.post("/login", data={"username": username, "password": password, "csrf_token": _csrf(client)})


def token_attempt(client, username: str, password: str):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


# --- throttle -----------------------------------------------------------------------------------------

def test_guessing_one_account_is_answered_429_even_for_the_right_password(app):
    attacker = client_from(app, "203.0.113.7")
    statuses = [token_attempt(attacker, "handler", f"guess-{n}").status_code for n in range(11)]
    assert statuses[:5] == [401] * 5  # a user mistyping a few times is never slowed
    assert 429 in statuses and statuses.count(401) <= 10
    blocked = token_attempt(attacker, "handler", DEMO_PASSWORD)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    assert "次数过多" in blocked.get_json()["error"]  # Chinese by default
    # The real user, elsewhere, is not locked out by the attacker's failures.
    assert token_attempt(client_from(app, "198.51.100.20"), "handler", DEMO_PASSWORD).status_code == 200


def test_ten_failures_lock_the_account_from_that_address_for_the_window(app):
    from datetime import timedelta

    from app.clock import frozen_at
    from app.models.base import utcnow

    attacker = client_from(app, "203.0.113.8")
    start = utcnow()
    failures = 0
    # Waiting out every growing delay: still at most 10 failures, then the lock.
    for step in range(40):
        with frozen_at(start + timedelta(seconds=40 * step)):
            response = token_attempt(attacker, "frontdesk", f"guess-{step}")
        failures += response.status_code == 401
        if failures == 10:
            break
    assert failures == 10
    with frozen_at(start + timedelta(seconds=40 * step + 60)):
        locked = token_attempt(attacker, "frontdesk", DEMO_PASSWORD)
    assert locked.status_code == 429 and 800 <= int(locked.headers["Retry-After"]) <= 900
    with frozen_at(start + timedelta(seconds=40 * step + 16 * 60)):
        assert token_attempt(attacker, "frontdesk", DEMO_PASSWORD).status_code == 200


def test_spraying_many_accounts_from_one_address_is_throttled(app):
    sprayer = client_from(app, "203.0.113.9")
    statuses = [token_attempt(sprayer, f"user{n}", "Winter2026!").status_code for n in range(32)]
    assert 429 in statuses and statuses.count(401) <= 30
    assert token_attempt(client_from(app, "198.51.100.21"), "handler", DEMO_PASSWORD).status_code == 200


def test_the_login_page_is_throttled_too(app):
    attacker = client_from(app, "203.0.113.10")
    statuses = [page_login(attacker, "supervisor", f"guess-{n}").status_code for n in range(11)]
    assert 429 in statuses and statuses.count(401) <= 10
    blocked = page_login(attacker, "supervisor")
    assert blocked.status_code == 429 and blocked.headers["Retry-After"]
    assert "次数过多" in blocked.get_data(as_text=True)
    assert page_login(client_from(app, "198.51.100.22"), "supervisor").status_code == 302


def test_a_successful_login_clears_the_account_count(app):
    clerk = client_from(app, "198.51.100.23")
    for n in range(4):
        assert token_attempt(clerk, "archivist", f"typo-{n}").status_code == 401
    assert token_attempt(clerk, "archivist", DEMO_PASSWORD).status_code == 200
    assert [token_attempt(clerk, "archivist", f"typo-{n}").status_code for n in range(4)] == [401] * 4


def test_ipv6_clients_are_counted_by_their_network():
    from app.services.accounts.throttle import client_key

    assert client_key("2001:db8:1:2::5") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key(None) == "unknown"


# --- sessions -----------------------------------------------------------------------------------------

def test_logout_ends_the_session_on_the_server(app):
    browser = app.test_client()
    assert page_login(browser, "handler").status_code == 302
    stolen = browser.get_cookie("session").value
    browser.post("/logout", data={"csrf_token": _csrf(browser, "/inbox")})
    copy = app.test_client()
    copy.set_cookie("session", stolen)
    response = copy.get("/inbox")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_password_change_ends_every_other_session(app, api_as):
    user = new_user(api_as("admin"))
    desk, phone = app.test_client(), app.test_client()
    assert page_login(desk, user["username"], STRONG).status_code == 302
    assert page_login(phone, user["username"], STRONG).status_code == 302
    changed = desk.post("/account/password", data={"current": STRONG, "new": "copper-kettle-orchard-19",
                                                   "csrf_token": _csrf(desk, "/account/password")})
    assert changed.status_code == 302
    assert desk.get("/inbox").status_code == 200
    assert "/login" in phone.get("/inbox").headers["Location"]


def test_a_weak_new_password_is_refused_on_the_page(app, api_as):
    user = new_user(api_as("admin"))
    client = app.test_client()
    page_login(client, user["username"], STRONG)
    response = client.post("/account/password", data={"current": STRONG, "new": "password123",
                                                      "csrf_token": _csrf(client, "/account/password")})
    assert response.status_code == 422 and "太容易被猜到" in response.get_data(as_text=True)


def test_an_admin_reset_sends_the_user_to_the_password_page(app, api_as, client):
    admin = api_as("admin")
    user = new_user(admin)
    browser = app.test_client()
    assert page_login(browser, user["username"], STRONG).status_code == 302
    client.patch(f"/api/v1/users/{user['username']}", json={"password": "amber-violin-meadow-77"},
                 headers=admin._headers())
    assert "/login" in browser.get("/inbox").headers["Location"]  # the reset ended the session
    login = page_login(browser, user["username"], "amber-violin-meadow-77")
    assert login.headers["Location"].endswith("/account/password")
    assert browser.get("/inbox").headers["Location"].endswith("/account/password")
    page = browser.get("/account/password").get_data(as_text=True)
    assert 'data-testid="password-change-required"' in page
    done = browser.post("/account/password", data={"current": "amber-violin-meadow-77", "new": "copper-kettle-orchard-19",
                                                   "csrf_token": _csrf(browser, "/account/password")})
    assert done.status_code == 302 and browser.get("/inbox").status_code == 200


# --- headers and cookies ------------------------------------------------------------------------------

def test_html_pages_carry_the_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP: no HSTS
    api = client.get("/api/v1/openapi.json")
    assert api.headers["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" not in api.headers


def test_cookies_are_secure_over_https(app):
    secure = app.test_client()
    response = secure.post("/login", base_url="https://onewindow.example.cn",
                           headers={"Referer": "https://onewindow.example.cn/login"}, data={
        "username": "handler", "password": DEMO_PASSWORD,
        "csrf_token": CSRF.search(secure.get("/login", base_url="https://onewindow.example.cn")
                                  .get_data(as_text=True)).group(1)})
    cookie = response.headers["Set-Cookie"]
    assert response.status_code == 302 and "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    plain = app.test_client()
    assert "Secure" not in page_login(plain, "handler").headers["Set-Cookie"]


def test_a_trusted_proxy_gives_the_client_address_and_scheme(app):
    from werkzeug.middleware.proxy_fix import ProxyFix

    from app import create_app
    from app.config import TestConfig

    proxied = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                         SECRET_KEY="test-secret", PROXY_FIX_X_FOR=1, PROXY_FIX_X_PROTO=1)
    assert isinstance(proxied.wsgi_app, ProxyFix)
    client = proxied.test_client()
    headers = {"X-Forwarded-For": "192.0.2.44", "X-Forwarded-Proto": "https"}
    statuses = [client.post("/api/v1/auth/token", json={"username": "designer", "password": f"g{n}"},
                            headers=headers).status_code for n in range(11)]
    assert 429 in statuses
    other = {"X-Forwarded-For": "192.0.2.45", "X-Forwarded-Proto": "https"}
    assert client.post("/api/v1/auth/token", json={"username": "designer", "password": DEMO_PASSWORD},
                       headers=other).status_code == 200
    # Without a trusted proxy the header is ignored: it cannot pick the address counted against.
    assert not isinstance(app.wsgi_app, ProxyFix)


# --- landing pages ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("username", "landing"), [
    ("frontdesk", "/intake/"), ("handler", "/inbox"), ("head", "/inbox?view=department"),
    ("supervisor", "/supervision/"), ("archivist", "/archive/"), ("designer", "/designer/"),
    ("admin", "/admin/departments"),
])
def test_each_role_lands_on_its_work(app, username, landing):
    response = page_login(app.test_client(), username)
    assert response.status_code == 302 and response.headers["Location"] == landing
    assert app.test_client().get("/").status_code == 302


def test_the_front_desk_landing_lists_todays_cases(app, api_as):
    from tests.conftest import application_payload

    case_no = api_as("frontdesk").post("/cases", application_payload()).get_json()["case_no"]
    client = app.test_client()
    page_login(client, "frontdesk")
    page = client.get("/intake/").get_data(as_text=True)
    assert 'data-testid="todays-cases"' in page and case_no in page


def test_parallel_guesses_are_counted_one_by_one(app):
    from concurrent.futures import ThreadPoolExecutor

    def guess(n: int) -> int:
        return token_attempt(client_from(app, "203.0.113.50"), "head" if n % 2 else f"nobody{n}", f"g{n}").status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(guess, range(40)))
    assert set(statuses) <= {401, 429}  # never a server error, however the rows race
    assert statuses.count(401) <= 30 and 429 in statuses


def test_the_housekeeping_job_removes_what_has_expired(app):
    from sqlalchemy import func, select

    from app.extensions import db
    from app.jobs.runner import run_job_once
    from app.models import AuthThrottle, OrgImportFile, UserSession

    assert page_login(app.test_client(), "handler").status_code == 302
    for n in range(3):
        token_attempt(client_from(app, "203.0.113.60"), "handler", f"guess-{n}")
    with app.app_context():
        db.session.add(OrgImportFile(filename="org.csv", content=b"x", sha256="0" * 64))
        db.session.commit()
    assert run_job_once(app, "purge_stale_records") == {"sessions_and_tokens": 0, "throttle_keys": 0,
                                                         "import_files": 0}
    from datetime import timedelta

    from app.models.base import utcnow

    result = run_job_once(app, "purge_stale_records", utcnow() + timedelta(days=2))
    assert result["sessions_and_tokens"] >= 1 and result["throttle_keys"] == 2 and result["import_files"] == 1
    with app.app_context():
        for model in (UserSession, AuthThrottle, OrgImportFile):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0
        db.session.remove()
