"""The README's production set-up, run as written on a fresh PostgreSQL database, ends in a bureau that
accepts its first case."""
from __future__ import annotations

import csv
import os
import re
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import create_app
from app.config import TestConfig, normalise_database_url
from tests.conftest import application_payload

ROOT = Path(__file__).resolve().parents[2]
# What the set-up reads and writes in the project folder; the run happens in a folder of links to them,
# so that its organisation.csv, first-passwords.csv and instance/ never touch the checkout.
PROJECT_ENTRIES = ("app", "bin", "forms", "migrations", "workflows", "wsgi.py", "requirements.txt",
                   "requirements-dev.txt", "package.json", "package-lock.json", "node_modules", ".venv", "babel.cfg")


def production_commands() -> str:
    """The first sh block of the README's production section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Production set-up (PostgreSQL)", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def fresh_database(database_url: str, name: str) -> str:
    url = sa.engine.make_url(database_url)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name, drivername="postgresql").render_as_string(hide_password=False)


def project_links(folder: Path) -> Path:
    for entry in PROJECT_ENTRIES:
        if (ROOT / entry).exists():
            (folder / entry).symlink_to(ROOT / entry)
    return folder


def run_shell(script: str, folder: Path, url: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("SECRET_KEY", "FLASK_APP", "DATABASE_URL")}
    env["ONEWINDOW_INSTANCE_DIR"] = str(folder / "instance")
    script = re.sub(r"^export DATABASE_URL=.*$", f"export DATABASE_URL={url}", script, flags=re.M)
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=folder, env=env, input=stdin,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture()
def postgres(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the production set-up is PostgreSQL")
    return database_url


def test_the_readme_production_setup_ends_with_an_accepted_case(postgres, tmp_path):
    url = fresh_database(postgres, "onewindow_readme_test")
    folder = project_links(tmp_path)
    admin_password = "lotus-granite-harbour-88"
    result = run_shell(production_commands(), folder, url, stdin=f"{admin_password}\n{admin_password}\n")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "no problems" in result.stdout and "organisation.csv imported" in result.stdout
    assert "REFUSED" not in result.stderr
    first_passwords = {row["username"]: row["first_password"]
                       for row in csv.DictReader((folder / "first-passwords.csv").open(encoding="utf-8"))}
    assert "window.clerk1" in first_passwords

    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=normalise_database_url(url), SECRET_KEY="readme-test",
                     MATERIALS_DIR=tmp_path / "materials", ARCHIVE_DIR=tmp_path / "archive")
    client = app.test_client()
    admin = client.post("/api/v1/auth/token", json={"username": "admin", "password": admin_password})
    assert admin.status_code == 200 and admin.get_json()["must_change_password"] is False
    login = client.post("/api/v1/auth/token", json={"username": "window.clerk1",
                                                    "password": first_passwords["window.clerk1"]})
    assert login.status_code == 200 and login.get_json()["must_change_password"] is True
    headers = {"Authorization": f"Bearer {login.get_json()['token']}"}
    assert client.post("/api/v1/users/me/password", headers=headers, json={
        "current": first_passwords["window.clerk1"], "new": "willow-compass-ember-31"}).status_code == 204
    accepted = client.post("/api/v1/cases", headers=headers, json=application_payload())
    assert accepted.status_code == 201, accepted.get_json()
    assert accepted.get_json()["status"] == "in_progress" and accepted.get_json()["committed_due_at"]
    with app.app_context():
        from app.extensions import db
        from app.models import CalendarYear, WorkItem

        assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarYear)) >= 2
        pool = db.session.scalars(sa.select(WorkItem.department_code).where(WorkItem.state == "open")).all()
        assert pool == ["HOLDING"]
        db.session.remove()
        db.engine.dispose()


def test_deploy_before_the_organisation_says_what_to_do(postgres, tmp_path):
    url = fresh_database(postgres, "onewindow_readme_empty")
    folder = project_links(tmp_path)
    script = ("export DATABASE_URL=x\nexport SECRET_KEY=empty-test\nexport FLASK_APP=wsgi.py\n"
              ".venv/bin/flask db upgrade\n.venv/bin/flask workflows deploy\n")
    result = run_shell(script, folder, url)
    assert result.returncode == 1
    assert "No departments exist yet" in result.stderr and "flask org import" in result.stderr
