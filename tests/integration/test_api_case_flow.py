"""The cross-archive certificate item driven end to end through the JSON API."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import CaseEvent
from app.services import org
from tests.conftest import ITEM_CODE, application_payload

REVIEW_OK = {"decision": "approve", "opinion": "材料齐全,同意出证"}


def _open_task(api, case_no: str) -> dict:
    tasks = [t for t in api.get("/tasks?per_page=500").get_json() if t["case_no"] == case_no]
    assert len(tasks) == 1, tasks
    return tasks[0]


def _accept(api_as) -> str:
    front = api_as("frontdesk")
    response = front.post("/cases", application_payload())
    assert response.status_code == 201, response.get_json()
    return response.get_json()["case_no"]


def test_token_wrong_password_and_unknown_user_answer_the_same(client):
    wrong = client.post("/api/v1/auth/token", json={"username": "handler", "password": "nope"})
    unknown = client.post("/api/v1/auth/token", json={"username": "nobody", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert client.get("/api/v1/tasks").status_code == 401


def test_departments_and_items(api_as):
    api = api_as("handler")
    codes = {d["code"] for d in api.get("/departments").get_json()}
    assert {"WINDOW", "HOLDING", "USE"} <= codes
    item = next(i for i in api.get("/items").get_json() if i["code"] == ITEM_CODE)
    assert item["case_type"] == "committed"
    assert item["statutory_limit"] == {"value": 20, "unit": "working_day"}
    assert item["committed_limit"] == {"value": 5, "unit": "working_day"}
    required = {m["code"] for m in item["materials"] if m["required"]}
    assert required == {"application", "id_card"}


def test_accept_issues_number_and_query_code(api_as):
    front = api_as("frontdesk")
    body = front.post("/cases", application_payload()).get_json()
    assert re.fullmatch(re.escape(ITEM_CODE) + r"\d{8}0001", body["case_no"])
    assert re.fullmatch(r"\d{6}", body["query_code"])
    assert body["status"] == "in_progress"
    second = front.post("/cases", application_payload()).get_json()
    assert second["case_no"].endswith("0002")


def test_whole_item_approved(api_as):
    case_no = _accept(api_as)
    handler = api_as("handler")
    search = _open_task(handler, case_no)
    assert search["department"] == "HOLDING" and search["name"] == "档案查询"
    detail = handler.get(f"/tasks/{search['id']}").get_json()
    assert "search_result" in detail["form_schema"]["properties"]
    assert handler.post(f"/tasks/{search['id']}/claim").status_code == 200
    done = handler.post(f"/tasks/{search['id']}/complete",
                        {"data": {"search_result": "yes", "record_reference": "Z109-1998-0042", "opinion": "已查到婚姻登记档案"}})
    assert done.status_code == 200 and done.get_json()["case_status"] == "in_progress"

    review = _open_task(handler, case_no)
    assert review["department"] == "USE"
    assert handler.post(f"/tasks/{review['id']}/complete", {"data": REVIEW_OK}).get_json()["case_status"] == "in_progress"
    issue = _open_task(handler, case_no)
    assert issue["name"] == "出具证明"
    done = handler.post(f"/tasks/{issue['id']}/complete",
                        {"data": {"certificate_no": "ZM-2026-0001", "delivery": "window"}})
    assert done.get_json()["case_status"] == "completed"

    case = handler.get(f"/cases/{case_no}").get_json()
    assert case["status"] == "completed" and case["result"] == "granted"
    assert case["applicant"]["id_number"] == "110105********002X"
    assert [t["state"] for t in case["tasks"]] == ["completed"] * 4
    actions = [e["action"] for e in case["events"]]
    assert actions[0] == "case_submitted" and "intake_accept" in actions and actions[-1] == "case_finished"
    opinions = [e["opinion"] for e in case["events"] if e["action"] == "task_completed"]
    assert "材料齐全,同意出证" in opinions
    assert all(e["actor"] and e["at"] for e in case["events"])


def test_refusal_ends_case_with_reason(api_as):
    case_no = _accept(api_as)
    handler = api_as("handler")
    search = _open_task(handler, case_no)
    handler.post(f"/tasks/{search['id']}/complete", {"data": {"search_result": "no", "opinion": "未查到相关档案"}})
    review = _open_task(handler, case_no)
    response = handler.post(f"/tasks/{review['id']}/complete",
                            {"data": {"decision": "refuse", "opinion": "档案保管馆未查到相关档案"}})
    assert response.get_json()["case_status"] == "refused"
    case = handler.get(f"/cases/{case_no}").get_json()
    assert case["result"] == "refused"
    assert case["result_reason"] == "档案保管馆未查到相关档案"
    assert not [t for t in case["tasks"] if t["state"] == "open"]


def test_review_needs_an_opinion(api_as):
    case_no = _accept(api_as)
    handler = api_as("handler", lang="zh")
    search = _open_task(handler, case_no)
    handler.post(f"/tasks/{search['id']}/complete", {"data": {"search_result": "yes", "opinion": "已查到"}})
    review = _open_task(handler, case_no)
    response = handler.post(f"/tasks/{review['id']}/complete", {"data": {"decision": "refuse"}})
    assert response.status_code == 422
    body = response.get_json()
    assert "opinion" in body["fields"]
    assert re.search(r"[\u4e00-\u9fff]", body["fields"]["opinion"])  # the message is Chinese
    assert _open_task(handler, case_no)["id"] == review["id"]  # nothing moved


def test_task_of_another_department_is_forbidden(api_as):
    case_no = _accept(api_as)
    task = _open_task(api_as("handler"), case_no)
    supervisor = api_as("supervisor")
    assert supervisor.post(f"/tasks/{task['id']}/complete", {"data": {"search_result": "yes", "opinion": "x"}}).status_code == 403
    archivist = api_as("archivist")
    assert archivist.post(f"/tasks/{task['id']}/claim").status_code == 403
    assert task["id"] not in [t["id"] for t in archivist.get("/tasks").get_json()]


def test_complete_twice_conflicts(api_as):
    case_no = _accept(api_as)
    handler = api_as("handler")
    task = _open_task(handler, case_no)
    data = {"data": {"search_result": "yes", "opinion": "已查到"}}
    assert handler.post(f"/tasks/{task['id']}/complete", data).status_code == 200
    again = handler.post(f"/tasks/{task['id']}/complete", data)
    assert again.status_code == 409 and again.get_json()["error"]


def test_claim_held_by_someone_else_conflicts(api_as, ctx):
    org.create_user("handler2", org.DEMO_PASSWORD, ["handler"], ["HOLDING"], "第二承办人")
    db.session.commit()
    case_no = _accept(api_as)
    first, second = api_as("handler"), api_as("handler2")
    task = _open_task(first, case_no)
    assert first.post(f"/tasks/{task['id']}/claim").status_code == 200
    assert second.post(f"/tasks/{task['id']}/claim").status_code == 409
    assert second.post(f"/tasks/{task['id']}/complete", {"data": {"search_result": "yes", "opinion": "x"}}).status_code == 409
    assert first.post(f"/tasks/{task['id']}/release").status_code == 200
    assert second.post(f"/tasks/{task['id']}/claim").get_json()["claimed_by"] == "handler2"


def test_openapi_document_lists_the_contract(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    for path in ("/auth/token", "/departments", "/items", "/cases", "/cases/{case_no}", "/tasks",
                 "/tasks/{id}", "/tasks/{id}/claim", "/tasks/{id}/complete"):
        assert path in doc["paths"]


def test_case_events_are_append_only(app, api_as):
    _accept(api_as)
    with app.app_context():
        event = db.session.scalars(select(CaseEvent).order_by(CaseEvent.id)).first()
        event.opinion = "rewritten history"
        with pytest.raises(RuntimeError, match="append-only"):
            db.session.flush()
        db.session.rollback()
        db.session.delete(db.session.get(CaseEvent, event.id))
        with pytest.raises(RuntimeError, match="append-only"):
            db.session.flush()
        db.session.rollback()
