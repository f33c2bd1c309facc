"""Caches of accounts, forms and departments: dropped in every process when the rows behind them change."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from app.shared_cache import SharedCaches, shared_caches


def _other_process_runs(app, statement: str, **params) -> None:
    """A write by someone else: another connection, as another worker or psql would make it."""
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with engine.begin() as conn:
        conn.execute(sa.text(statement), params)
    engine.dispose()


def _eventually(check, seconds: float = 2.0) -> bool:
    """The notification crosses a socket: give it a moment, as the next request would."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture()
def postgresql(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the caches listen on PostgreSQL only")


def test_a_token_deleted_by_another_process_stops_working(app, api_as, postgresql):
    handler = api_as("handler")
    assert handler.get("/tasks/counts").status_code == 200  # the caller behind the token is now cached
    _other_process_runs(app, "DELETE FROM api_token")
    assert _eventually(lambda: handler.get("/tasks/counts").status_code == 401)


def test_a_user_disabled_by_another_process_is_refused_and_a_role_taken_away_counts(app, api_as, postgresql):
    head = api_as("head")
    assert head.get("/tasks?view=department").status_code == 200
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with engine.connect() as conn:
        roles = conn.execute(sa.text("SELECT roles FROM app_user WHERE username = 'head'")).scalar_one()
    engine.dispose()
    _other_process_runs(app, "UPDATE app_user SET roles = 'handler' WHERE username = 'head'")
    try:
        assert _eventually(lambda: head.get("/tasks?view=department").status_code == 403)
        _other_process_runs(app, "UPDATE app_user SET is_enabled = false WHERE username = 'head'")
        assert _eventually(lambda: head.get("/tasks/counts").status_code == 401)
    finally:
        _other_process_runs(app, "UPDATE app_user SET roles = :roles, is_enabled = true WHERE username = 'head'",
                            roles=roles)


def test_cached_values_are_kept_until_their_tables_change(app, postgresql):
    loads = []
    with app.app_context():
        caches = shared_caches()
        assert caches.is_listening
        for _ in range(3):
            caches.get("forms", "probe", lambda: loads.append(1) or len(loads))
        assert len(loads) == 1
        _other_process_runs(app, "UPDATE form_version SET form_key = form_key WHERE false")  # a statement, no row
        assert _eventually(lambda: caches.get("forms", "probe", lambda: loads.append(1) or len(loads)) == 2)


def test_without_a_listener_nothing_is_cached(app):
    loads = []
    caches = SharedCaches(None)
    for _ in range(3):
        caches.get("accounts", "key", lambda: loads.append(1))
    assert len(loads) == 3 and not caches.is_listening


def test_a_broken_listener_forgets_everything_and_reconnects(app, postgresql):
    with app.app_context():
        caches = shared_caches()
        assert caches.get("accounts", "probe-broken", lambda: "first") == "first"
        caches._listener.close()  # the connection dies (a restart, a network cut)
        # Broken: nothing served from memory; the next look-up reconnects and starts afresh.
        assert caches.get("accounts", "probe-broken", lambda: "second") == "second"
        assert caches.get("accounts", "probe-broken", lambda: "third") in ("second", "third")
        assert caches.is_listening


def test_a_transaction_that_wrote_accounts_caches_nothing_it_reads(app, postgresql):
    from app.extensions import db
    from app.models import Department
    from app.shared_cache import cached

    with app.app_context():
        db.session.add(Department(code="TMPX", name="临时部门"))
        db.session.flush()  # written, not committed: it may still be rolled back
        assert cached("accounts", "probe-uncommitted", lambda: "seen by this transaction only") is not None
        db.session.rollback()
        assert cached("accounts", "probe-uncommitted", lambda: "after the rollback") == "after the rollback"


def test_entries_expire_even_if_no_change_is_announced(app, postgresql):
    with app.app_context():
        caches = SharedCaches(shared_caches()._connect, max_age=0)
        assert caches.get("forms", "probe-age", lambda: 1) == 1
        time.sleep(0.01)
        assert caches.get("forms", "probe-age", lambda: 2) == 2


def test_unknown_tokens_are_not_remembered(app, client, postgresql):
    from app.shared_cache import shared_caches as caches

    for n in range(5):
        assert client.get("/api/v1/tasks", headers={"Authorization": f"Bearer guess-{n}"}).status_code == 401
    with app.app_context():
        assert all(entry[0] is not None for entry in caches()._caches.get("accounts", {}).values())


def test_tokens_ended_in_this_process_are_refused_at_the_very_next_request(app, api_as, postgresql):
    from app.extensions import db
    from app.models import User
    from app.services.accounts import sessions

    handler = api_as("handler")
    assert handler.get("/tasks/counts").status_code == 200
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == "handler"))
        sessions.end_sessions_and_tokens(user.id)
        db.session.commit()
    assert handler.get("/tasks/counts").status_code == 401  # no waiting for the notification
