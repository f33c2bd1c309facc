"""Two people completing one task at once: exactly one wins; intake numbers never collide."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.extensions import db
from app.models import Case, CaseEvent, WorkItem
from tests.conftest import Api, application_payload


def _parallel(calls):
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.fixture()
def needs_postgres(app):
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("row locks need PostgreSQL")


@pytest.mark.usefixtures("needs_postgres")
@pytest.mark.parametrize("round_", range(3))
def test_same_task_completed_at_the_same_moment(app, round_):
    front = Api(app.test_client(), "frontdesk")
    case_no = front.post("/cases", application_payload()).get_json()["case_no"]
    clients = [Api(app.test_client(), "handler") for _ in range(2)]
    task = next(t for t in clients[0].get("/tasks").get_json() if t["case_no"] == case_no)
    body = {"data": {"search_result": "yes", "opinion": "已查到"}}
    responses = _parallel([lambda c=c: c.post(f"/tasks/{task['id']}/complete", body) for c in clients])
    assert sorted(r.status_code for r in responses) == [200, 409]
    with app.app_context():
        case = db.session.query(Case).filter_by(case_no=case_no).one()
        items = db.session.query(WorkItem).filter_by(case_id=case.id).order_by(WorkItem.id).all()
        assert [(i.bpmn_id, i.state) for i in items] == [
            ("intake", "completed"), ("record_search", "completed"), ("review", "open")]
        completions = db.session.query(CaseEvent).filter_by(case_id=case.id, action="task_completed").count()
        assert completions == 2  # intake + exactly one record_search


@pytest.mark.usefixtures("needs_postgres")
def test_concurrent_intake_gets_distinct_serials(app):
    clients = [Api(app.test_client(), "frontdesk") for _ in range(6)]
    responses = _parallel([lambda c=c: c.post("/cases", application_payload()) for c in clients])
    assert [r.status_code for r in responses] == [201] * 6
    numbers = sorted(r.get_json()["case_no"] for r in responses)
    assert len(set(numbers)) == 6
    assert [n[-4:] for n in numbers] == [f"{i:04d}" for i in range(1, 7)]
