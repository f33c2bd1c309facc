"""Conventions as tests: guarded routes, one migration head, the engine behind one door, translations."""
from __future__ import annotations

import ast
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent


def test_every_route_is_guarded_or_deliberately_public(app):
    open_routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        if not (getattr(view, "is_guarded", False) or getattr(view, "is_public", False)):
            open_routes.append(rule.rule)
    assert open_routes == []


def test_one_alembic_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_only_the_engine_package_imports_spiffworkflow():
    offenders = []
    for path in (ROOT / "app").rglob("*.py"):
        if "engine" in path.relative_to(ROOT / "app").parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.startswith("SpiffWorkflow") for n in names):
                offenders.append(str(path))
    assert offenders == []


def test_every_bpmn_user_task_has_a_department_lane_and_a_form(app):
    from app.engine import parse_bpmn
    from app.services.org import DEMO_DEPARTMENTS

    departments = {code for code, _name, _en in DEMO_DEPARTMENTS}
    forms = {p.stem for p in (ROOT / "forms").glob("*.json")}
    for path in (ROOT / "workflows").glob("*.bpmn"):
        parsed = parse_bpmn(path.read_bytes(), path.stem)
        for task in parsed.user_tasks:
            assert task.lane in departments, (path.name, task.bpmn_id)
            assert task.form_key in forms, (path.name, task.bpmn_id)


def test_chinese_catalogue_translates_every_message(tmp_path):
    import subprocess
    import sys

    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l",
                    "-o", str(pot), "."], cwd=ROOT, check=True, capture_output=True)
    with open(pot, "rb") as fh:
        in_code = {m.id for m in read_po(fh) if m.id}
    # babel.cfg patterns are relative to the project folder: extracting from "app" finds nothing.
    assert len(in_code) > 300
    with open(ROOT / "app/translations/zh/LC_MESSAGES/messages.po", "rb") as fh:
        catalog = read_po(fh)
    assert sorted(in_code - {m.id for m in catalog if m.id}) == []
    untranslated = [m.id for m in catalog if m.id and not (m.string if isinstance(m.string, str) else all(m.string))]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert untranslated == [] and fuzzy == []


def test_migrations_upgrade_sqlite_from_empty(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}", "FLASK_APP": "wsgi.py",
           "ONEWINDOW_INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "migration-test"}
    flask = [sys.executable, "-m", "flask"]
    upgrade = subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert upgrade.returncode == 0, upgrade.stderr
    check = subprocess.run([*flask, "db", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert "No new upgrade operations detected" in check.stdout + check.stderr
