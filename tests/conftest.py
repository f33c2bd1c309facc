"""Test fixtures: PostgreSQL when reachable (mandatory with CI=true), migrated from empty."""
from __future__ import annotations

import base64
import os
import shutil
import warnings
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from app import create_app
from app.config import TestConfig, normalise_database_url
from app.extensions import db
from app.services import org
from app.services.processes import catalogue
from tests.factories import token_for

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
# Tables holding per-test data; departments, users, items and process versions are seeded once.
CASE_TABLES = ("admin_audit_entry", "org_import_file", "user_session", "auth_throttle", "process_migration", "design_event", "process_draft", "form_version", "archive_package", "archive_serial", "outbox_message", "alert", "supervision_order", "notification", "rating_follow_up", "case_rating", "query_guard", "case_document", "document_serial",
               "case_event", "work_item", "case_material", "service_case", "case_serial", "applicant", "api_token")

VALID_ID = "11010519491231002X"
VALID_ID_2 = "110105195001010039"
PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _database_url(tmp_path_factory) -> str:
    url = normalise_database_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_PG))
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return url
    except Exception as exc:  # noqa: BLE001 - any connection failure means "not reachable"
        if os.environ.get("CI") == "true":
            pytest.exit(f"PostgreSQL is required in CI and is unreachable at {url}: {exc}", returncode=3)
        warnings.warn(f"PostgreSQL unreachable ({exc}); running on SQLite instead", stacklevel=2)
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def _reset_schema(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    return _database_url(tmp_path_factory)


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    """One app for the session: schema built by the Alembic migrations, demo org and items deployed."""
    from flask_migrate import upgrade

    _reset_schema(database_url)
    application = create_app(
        TestConfig, SQLALCHEMY_DATABASE_URI=database_url, SECRET_KEY="test-secret",
        MATERIALS_DIR=tmp_path_factory.mktemp("materials"), ARCHIVE_DIR=tmp_path_factory.mktemp("archive"),
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 10} if database_url.startswith("postgresql") else {},
    )
    with application.app_context():
        upgrade()
        org.seed_demo()
        db.session.commit()
        report = catalogue.deploy_directory(application.config["WORKFLOWS_DIR"])
        assert not report.failed, report.failed
        db.session.commit()
    return application


@pytest.fixture(autouse=True)
def _clean_cases(request):
    """Remove case data after each test that used the app."""
    yield
    if "app" not in request.fixturenames:
        return
    application = request.getfixturevalue("app")
    with application.app_context():
        db.session.remove()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(sa.text(f"TRUNCATE {', '.join(CASE_TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in CASE_TABLES:
                db.session.execute(sa.text(f"DELETE FROM {table}"))
        db.session.commit()


@pytest.fixture()
def ctx(app):
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture()
def client(app):
    return app.test_client()


class Api:
    """A small JSON API client that logs in as a demo user."""

    def __init__(self, client, username: str, lang: str = "en"):
        self.client = client
        self.lang = lang
        # Issued directly: the token endpoint's password check is tested where logging in is the point.
        self.token = token_for(client.application, username)

    def _headers(self):
        return {"Authorization": f"Bearer {self.token}", "Accept-Language": self.lang}

    def get(self, path, **kw):
        return self.client.get(f"/api/v1{path}", headers=self._headers(), **kw)

    def post(self, path, json=None, **kw):
        return self.client.post(f"/api/v1{path}", json=json if json is not None else {}, headers=self._headers(), **kw)


@pytest.fixture()
def api_as(client):
    return lambda username, lang="en": Api(client, username, lang)


ITEM_CODE = "113701000045001234400011700100X"


def application_payload(**overrides) -> dict:
    """A valid cross-archive certificate application."""
    payload = {
        "item_code": ITEM_CODE,
        "applicant": {"type": "person", "name": "张三", "id_number": VALID_ID, "phone": "13800138000"},
        "form": {"record_type": "marriage", "record_holder_name": "张三", "record_year": 1998,
                 "holding_archive": "济南市档案馆", "purpose": "办理房产继承手续", "contact_mobile": "13800138000"},
        "materials": [
            {"code": "application", "filename": "application.pdf",
             "content_base64": base64.b64encode(PDF_BYTES).decode()},
            {"code": "id_card"},
        ],
    }
    payload.update(overrides)
    return payload


@pytest.fixture()
def dbx(app):
    """Database edits in their own short app context."""
    # The `ctx` fixture's long-lived context would share `g`, and with it Flask-Login's cached
    # user, between the page clients of a test: the second client would act as the first.
    @contextmanager
    def session():
        with app.app_context():
            yield db.session
            db.session.remove()
    return session


@pytest.fixture()
def empty_archive(app):
    """The test's package files are removed after it (the case tables are emptied after each test too)."""
    yield
    shutil.rmtree(app.config["ARCHIVE_DIR"], ignore_errors=True)
