"""Migration 0008 upgrades a database holding the previous release's cases: every case's event chain
continues from its newest event, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from app import create_app
from app.config import TestConfig, normalise_database_url
from app.extensions import db
from app.models import Case, CaseEvent
from app.services.cases import tasks
from app.services.cases.events import chain_problems
from app.services.processes import catalogue
from tests.factories import accepted_case, user_named
from tests.integration.test_migration_0007 import empty_database, flask


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_upgrade_continues_each_case_chain_from_its_newest_event(dialect, database_url, tmp_path):
    url = empty_database(dialect, database_url, tmp_path)
    flask(url, tmp_path, "db", "upgrade")
    flask(url, tmp_path, "seed-demo")
    flask(url, tmp_path, "workflows", "deploy")
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=normalise_database_url(url), SECRET_KEY="migration-test",
                     MATERIALS_DIR=tmp_path / "materials", ARCHIVE_DIR=tmp_path / "archive")
    cases = [accepted_case(app) for _ in range(2)]
    # Back to the previous release's schema (the tip column gone), then forward again.
    flask(url, tmp_path, "db", "downgrade", "0007")
    flask(url, tmp_path, "db", "upgrade")
    with app.app_context():
        for case_no, _step in cases:
            case = db.session.scalar(select(Case).where(Case.case_no == case_no))
            newest = db.session.scalar(select(CaseEvent.hash).where(CaseEvent.case_id == case.id)
                                       .order_by(CaseEvent.id.desc()).limit(1))
            assert case.event_tip == newest is not None
        case_no, step = cases[0]
        tasks.complete_task(step, user_named("handler"), {"search_result": "yes", "opinion": "查到"})
        db.session.commit()
        case = db.session.scalar(select(Case).where(Case.case_no == case_no))
        assert chain_problems(case) == []
        assert catalogue.active_items()
        db.session.remove()
        db.engine.dispose()
    if dialect == "postgresql":
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
        with engine.connect() as conn:
            triggers = conn.execute(sa.text("SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%_cache_changed'"))
            assert triggers.scalar() == 5
        engine.dispose()
