"""Migration 0007 upgrades a database holding the previous release's organisation, on SQLite and PostgreSQL."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.integration.test_readme_production import fresh_database

ROOT = Path(__file__).resolve().parents[2]


def flask(url: str, tmp_path: Path, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi.py", "SECRET_KEY": "migration-test",
           "ONEWINDOW_INSTANCE_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def previous_release_organisation(url: str) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO department (id, code, name) VALUES (1, 'USE', '利用服务部'), "
                             "(2, 'HOLDING', '馆藏档案部')"))
        conn.execute(sa.text("INSERT INTO app_user (id, username, display_name, password_hash, roles, is_enabled, "
                             "created_at) VALUES (1, 'head', '负责人', 'x', 'dept_head handler', :yes, :now), "
                             "(2, 'clerk', '承办人', 'x', 'handler', :yes, :now)"),
                     {"yes": True, "now": "2026-11-01 00:00:00+00:00"})
        conn.execute(sa.text("INSERT INTO user_department (user_id, department_id) VALUES (1, 1), (1, 2), (2, 1)"))
    engine.dispose()


def empty_database(dialect: str, database_url: str, tmp_path: Path) -> str:
    """The address of a new, empty database of the dialect (skips PostgreSQL when it is not reachable)."""
    if dialect == "postgresql":
        if not database_url.startswith("postgresql"):
            pytest.skip("PostgreSQL is not reachable")
        return fresh_database(database_url, "onewindow_migration_test")
    return f"sqlite:///{tmp_path / 'previous.db'}"


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_upgrade_keeps_heads_and_dates_of_the_previous_release(dialect, database_url, tmp_path):
    url = empty_database(dialect, database_url, tmp_path)
    flask(url, tmp_path, "db", "upgrade", "0006")
    previous_release_organisation(url)
    flask(url, tmp_path, "db", "upgrade")
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.connect() as conn:
        heads = conn.execute(sa.text("SELECT user_id, department_id FROM user_department WHERE is_head "
                                     "ORDER BY user_id, department_id")).all()
        assert [tuple(row) for row in heads] == [(1, 1), (1, 2)]
        assert conn.execute(sa.text("SELECT count(*) FROM department WHERE created_at IS NULL OR NOT is_active")
                            ).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM app_user WHERE must_change_password")).scalar() == 0
    engine.dispose()
    flask(url, tmp_path, "db", "downgrade", "0006")
    flask(url, tmp_path, "db", "upgrade")
