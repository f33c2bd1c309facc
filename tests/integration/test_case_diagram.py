"""The case page's BPMN diagram: the pinned version's XML and the step markers read from work items."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import Case, ProcessVersion, WorkItem
from app.models.base import utcnow
from tests.conftest import application_payload
from tests.integration.test_pages import login

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _accept(api_as) -> str:
    response = api_as("frontdesk").post("/cases", application_payload())
    assert response.status_code == 201, response.get_json()
    return response.get_json()["case_no"]


def _open_task(api, case_no: str) -> dict:
    tasks = [t for t in api.get("/tasks?per_page=500").get_json() if t["case_no"] == case_no]
    assert len(tasks) == 1, tasks
    return tasks[0]


def _markers(app, case_no: str, username: str = "frontdesk") -> dict:
    response = login(app.test_client(), username).get(f"/cases/{case_no}/diagram.json")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()


def _set(app, case_no: str, model, **values) -> None:
    """Change the case or its open work items directly in the database."""
    with app.app_context():
        case_id = db.session.scalar(select(Case.id).where(Case.case_no == case_no))
        if model is Case:
            db.session.execute(update(Case).where(Case.id == case_id).values(**values))
        else:
            db.session.execute(update(WorkItem).where(WorkItem.case_id == case_id, WorkItem.state == "open")
                               .values(**values))
        db.session.commit()
        db.session.remove()


def test_after_intake_intake_is_done_and_the_search_is_active(app, api_as):
    case_no = _accept(api_as)
    assert _markers(app, case_no) == {"completed": ["intake"], "active": ["record_search"], "paused": [],
                                      "overdue": [], "holders": {}}
    # The handler's department works on the case: the handler sees the same markers.
    assert _markers(app, case_no, "handler")["active"] == ["record_search"]


def test_the_holder_of_a_claimed_step_is_named(app, api_as):
    case_no = _accept(api_as)
    handler = api_as("handler")
    assert handler.post(f"/tasks/{_open_task(handler, case_no)['id']}/claim").status_code == 200
    assert _markers(app, case_no)["holders"] == {"record_search": "业务承办人"}


def test_after_the_search_the_review_is_active(app, api_as):
    case_no = _accept(api_as)
    handler = api_as("handler")
    search = _open_task(handler, case_no)
    assert handler.post(f"/tasks/{search['id']}/claim").status_code == 200
    done = handler.post(f"/tasks/{search['id']}/complete",
                        {"data": {"search_result": "yes", "opinion": "已查到婚姻登记档案"}})
    assert done.status_code == 200, done.get_json()
    markers = _markers(app, case_no)
    assert markers["completed"] == ["intake", "record_search"]
    assert markers["active"] == ["review"]
    assert markers["paused"] == markers["overdue"] == [] and markers["holders"] == {}


def test_an_open_step_past_its_due_time_is_overdue(app, api_as):
    case_no = _accept(api_as)
    _set(app, case_no, WorkItem, due_at=utcnow() - timedelta(hours=1))
    markers = _markers(app, case_no)
    assert markers["overdue"] == ["record_search"]
    assert markers["active"] == ["record_search"] and markers["completed"] == ["intake"]

    _set(app, case_no, WorkItem, due_at=utcnow() + timedelta(days=3))
    assert _markers(app, case_no)["overdue"] == []


@pytest.mark.parametrize("status", ["suspended", "pending_supplement"])
def test_open_steps_of_a_stopped_case_are_paused(app, api_as, status):
    case_no = _accept(api_as)
    _set(app, case_no, Case, status=status)
    markers = _markers(app, case_no)
    assert markers["paused"] == ["record_search"]
    assert markers["active"] == [] and markers["completed"] == ["intake"]


def test_paused_and_overdue_together(app, api_as):
    case_no = _accept(api_as)
    _set(app, case_no, WorkItem, due_at=utcnow() - timedelta(days=1))
    _set(app, case_no, Case, status="suspended")
    markers = _markers(app, case_no)
    assert markers["paused"] == markers["overdue"] == ["record_search"] and markers["active"] == []


def test_the_xml_is_the_pinned_process_version(app, api_as):
    case_no = _accept(api_as)
    with app.app_context():
        version_id = db.session.scalar(select(Case.process_version_id).where(Case.case_no == case_no))
        expected = db.session.get(ProcessVersion, version_id).bpmn_xml
        db.session.remove()
    response = login(app.test_client(), "frontdesk").get(f"/cases/{case_no}/diagram.bpmn")
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_data(as_text=True) == expected
    assert 'id="record_search"' in expected and "bpmndi:BPMNShape" in expected


def test_a_handler_without_a_step_in_the_case_is_refused(app, api_as):
    case_no = _accept(api_as)
    leader = login(app.test_client(), "leader")  # a handler of LEADERSHIP, which this item never routes to
    assert leader.get(f"/cases/{case_no}").status_code == 403
    assert leader.get(f"/cases/{case_no}/diagram.json").status_code == 403
    assert leader.get(f"/cases/{case_no}/diagram.bpmn").status_code == 403
    assert login(app.test_client(), "frontdesk").get("/cases/NO-SUCH-CASE/diagram.json").status_code == 404


def test_anonymous_is_sent_to_login(app, api_as):
    case_no = _accept(api_as)
    for path in (f"/cases/{case_no}/diagram.json", f"/cases/{case_no}/diagram.bpmn"):
        response = app.test_client().get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_case_page_holds_the_diagram_and_the_viewer_is_served(app, api_as):
    case_no = _accept(api_as)
    client = login(app.test_client(), "frontdesk")
    page = client.get(f"/cases/{case_no}").get_data(as_text=True)
    assert 'data-testid="case-diagram"' in page
    assert f'data-markers-url="/cases/{case_no}/diagram.json"' in page
    assert "/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js" in page
    assert "/static/case_diagram.js" in page
    viewer = client.get("/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js")
    assert viewer.status_code == 200 and viewer.mimetype in ("text/javascript", "application/javascript")
    viewer.close()
    css = client.get("/vendor/bpmn-js/assets/diagram-js.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    css.close()
    assert client.get("/vendor/bpmn-js/../package.json").status_code == 404
