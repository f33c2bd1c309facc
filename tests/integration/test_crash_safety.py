"""A worker killed between any two statements of a completion leaves no half-written case."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Case, CaseEvent, Notification, WorkItem
from tests.factories import accepted_case

ROOT = Path(__file__).resolve().parents[2]
# Completes one task through the API in a process of its own, killed (SIGKILL: no cleanup, no
# rollback from Python) just before the database statement number argv[1] goes out.
WORKER = """
import os, signal, sys
from sqlalchemy import event
from app import create_app
from app.extensions import db

app = create_app()
kill_before, work_item_id, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sent = 0
with app.app_context():
    @event.listens_for(db.engine, "before_cursor_execute")
    def _maybe_die(*_args):
        global sent
        sent += 1
        if sent == kill_before:
            os.kill(os.getpid(), signal.SIGKILL)

    @event.listens_for(db.engine, "commit")
    def _maybe_die_at_commit(*_args):
        if kill_before == 0:
            os.kill(os.getpid(), signal.SIGKILL)

    response = app.test_client().post(f"/api/v1/tasks/{work_item_id}/complete",
                                      json={"data": {"search_result": "yes", "opinion": "查到"}},
                                      headers={"Authorization": f"Bearer {token}"})
    print("status", response.status_code, "statements", sent)
"""


def _snapshot(case_no: str) -> dict:
    case = db.session.scalar(select(Case).where(Case.case_no == case_no).execution_options(populate_existing=True))
    return {
        "status": case.status, "version": case.lock_version, "tip": case.event_tip,
        "events": db.session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id == case.id)),
        "items": sorted(db.session.execute(select(WorkItem.bpmn_id, WorkItem.state).where(
            WorkItem.case_id == case.id)).all()),
        "notices": db.session.scalar(select(func.count(Notification.id)).where(Notification.case_id == case.id)),
    }


def _run_worker(app, kill_before: int, work_item_id: int, token: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "test-secret",
           "PYTHONPATH": str(ROOT), "SCHEDULER_IN_PROCESS": "0"}
    return subprocess.run([sys.executable, "-c", WORKER, str(kill_before), str(work_item_id), token],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def waiting_case(app, api_as):
    """(case number, its open record_search task id, the handler's API client, the case as it is now)."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("a second process shares the database only on PostgreSQL")
    case_no, task_id = accepted_case(app)
    with app.app_context():
        before = _snapshot(case_no)
    return case_no, task_id, api_as("handler"), before


def test_a_completion_killed_at_any_statement_changes_nothing_and_the_task_can_be_done_again(app, waiting_case):
    case_no, task_id, handler, before = waiting_case
    # A clean run first counts the statements a completion sends, in a fresh process (cold caches).
    statements = None
    for kill_before in range(1, 20):
        done = _run_worker(app, kill_before, task_id, handler.token)
        with app.app_context():
            after = _snapshot(case_no)
            db.session.remove()
        if done.returncode == 0:  # the completion finished before statement number kill_before
            statements = int(done.stdout.split()[-1])
            break
        assert done.returncode == -9, done.stderr[-2000:]
        assert after == before, f"killed before statement {kill_before}"
    assert statements is not None and statements == kill_before - 1
    with app.app_context():
        finished = _snapshot(case_no)
    assert finished["version"] == before["version"] + 1 and finished["events"] > before["events"]
    assert ("record_search", "completed") in finished["items"]


def test_a_completion_killed_at_commit_is_all_or_nothing(app, waiting_case):
    case_no, task_id, handler, before = waiting_case
    done = _run_worker(app, 0, task_id, handler.token)
    assert done.returncode == -9, done.stderr[-2000:]
    with app.app_context():
        after = _snapshot(case_no)
    # Killed as COMMIT went out: either the whole completion is there, or none of it.
    if after != before:
        assert after["version"] == before["version"] + 1 and ("record_search", "completed") in after["items"]
        assert after["events"] >= before["events"] + 2 and after["tip"] != before["tip"]
    assert handler.post(f"/tasks/{task_id}/complete",
                        {"data": {"search_result": "yes", "opinion": "查到"}}).status_code == (
        409 if after != before else 200)
