"""Routing actions through the API: return, transfer, suspend/resume, supplement, withdraw, notifications."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.extensions import db
from app.models import Case, CaseEvent, WorkItem
from app.services import org
from tests.conftest import Api, application_payload
from tests.integration.test_concurrency import _parallel
from tests.integration.test_filing import assert_files_cleanly

SEARCH_DONE = {"data": {"search_result": "yes", "record_reference": "Z109-1998-0042", "opinion": "已查到"}}
TOMORROW = (date.today() + timedelta(days=1)).isoformat()


def _open(api, case_no):
    case = api.get(f"/cases/{case_no}").get_json()
    return [t for t in case["tasks"] if t["state"] == "open"]


def _case_at_review(api_as):
    front, handler = api_as("frontdesk"), api_as("handler")
    case_no = front.post("/cases", application_payload()).get_json()["case_no"]
    (search,) = _open(handler, case_no)
    assert handler.post(f"/tasks/{search['id']}/complete", SEARCH_DONE).status_code == 200
    (review,) = _open(handler, case_no)
    assert review["bpmn_id"] == "review"
    return case_no, handler, review


def _second_member(app, username, department):
    with app.app_context():
        org.create_user(username, org.DEMO_PASSWORD, ["handler"], [department])
        db.session.commit()


def test_return_to_the_previous_step_with_the_reason_shown(app, api_as):
    _second_member(app, "holder2", "HOLDING")
    case_no, handler, review = _case_at_review(api_as)
    search_id = next(t["id"] for t in handler.get(f"/cases/{case_no}").get_json()["tasks"] if t["bpmn_id"] == "record_search")
    missing = handler.post(f"/tasks/{review['id']}/return", {})
    assert missing.status_code == 422 and "reason" in missing.get_json()["fields"]

    returned = handler.post(f"/tasks/{review['id']}/return", {"reason": "查档结论不完整,请补充档号"})
    assert returned.status_code == 200, returned.get_json()
    (again,) = returned.get_json()["open_tasks"]
    assert again["bpmn_id"] == "record_search" and again["department"] == "HOLDING"
    assert again["arrived_via"] == "returned" and again["note"] == "查档结论不完整,请补充档号"
    case = handler.get(f"/cases/{case_no}").get_json()
    assert [(t["bpmn_id"], t["state"]) for t in case["tasks"]][-2:] == [("review", "cancelled"), ("record_search", "open")]
    event = next(e for e in case["events"] if e["action"] == "task_returned")
    assert event["opinion"] == "查档结论不完整,请补充档号" and event["actor"] == "业务承办人"

    other = Api(app.test_client(), "holder2")
    notes = other.get("/notifications")
    # The search step arrived once (routing) and came back once (return): newest first.
    assert notes.headers["X-Unread-Count"] == "2"
    note, arrived = notes.get_json()
    assert arrived["kind"] == "task_arrived" and arrived["task_id"] == search_id
    assert note["kind"] == "task_returned" and note["case_no"] == case_no and note["task_id"] == again["id"]
    assert note["text"] == "查档结论不完整,请补充档号"
    assert other.post(f"/notifications/{note['id']}/read").get_json() == {"unread": 1}
    assert other.post(f"/notifications/{note['id']}/read").status_code == 404

    # The step is worked again and the case goes on.
    assert handler.post(f"/tasks/{again['id']}/complete", SEARCH_DONE).status_code == 200
    assert [t["bpmn_id"] for t in _open(handler, case_no)] == ["review"]


def test_return_to_a_chosen_step_and_to_a_step_that_never_ran(api_as):
    case_no, handler, review = _case_at_review(api_as)
    targets = handler.get(f"/tasks/{review['id']}/return-targets").get_json()
    assert [t["bpmn_id"] for t in targets] == ["record_search"]
    unknown = handler.post(f"/tasks/{review['id']}/return", {"reason": "x", "target_id": 999999})
    assert unknown.status_code == 422 and "target" in unknown.get_json()["fields"]
    # The first back-office step has nothing before it to return to (the window's intake is not a target).
    returned = handler.post(f"/tasks/{review['id']}/return", {"reason": "重查", "target_id": targets[0]["id"]})
    (search,) = returned.get_json()["open_tasks"]
    first = handler.post(f"/tasks/{search['id']}/return", {"reason": "退回窗口"})
    assert first.status_code == 422 and "target" in first.get_json()["fields"]


def test_a_case_returned_300_times_still_completes(app, api_as):
    case_no, handler, review = _case_at_review(api_as)
    for round_ in range(300):
        returned = handler.post(f"/tasks/{review['id']}/return", {"reason": f"第{round_ + 1}次退回"})
        assert returned.status_code == 200, (round_, returned.get_json())
        (search,) = returned.get_json()["open_tasks"]
        assert handler.post(f"/tasks/{search['id']}/complete", SEARCH_DONE).status_code == 200
        (review,) = _open(handler, case_no)
    assert handler.post(f"/tasks/{review['id']}/complete",
                        {"data": {"decision": "approve", "opinion": "同意"}}).status_code == 200
    (issue,) = _open(handler, case_no)
    done = handler.post(f"/tasks/{issue['id']}/complete", {"data": {"certificate_no": "ZM-1", "delivery": "window"}})
    assert done.get_json()["case_status"] == "completed"


def test_transfer_to_another_department(app, api_as):
    _second_member(app, "user2", "USE")
    front, handler = api_as("frontdesk"), api_as("handler")
    case_no = front.post("/cases", application_payload()).get_json()["case_no"]
    (search,) = _open(handler, case_no)
    for department, field in (("NOPE", "department"), ("HOLDING", "department"), (None, "department")):
        bad = handler.post(f"/tasks/{search['id']}/transfer", {"department": department, "reason": "转办"})
        assert bad.status_code == 422 and field in bad.get_json()["fields"], department
    assert handler.post(f"/tasks/{search['id']}/transfer", {"department": "USE"}).status_code == 422
    moved = handler.post(f"/tasks/{search['id']}/transfer", {"department": "USE", "reason": "属利用服务部职责"})
    assert moved.status_code == 200
    assert moved.get_json()["department"] == "USE" and moved.get_json()["arrived_via"] == "transferred"
    user2 = Api(app.test_client(), "user2")
    assert [n["kind"] for n in user2.get("/notifications").get_json()] == ["task_transferred"]  # nothing else in USE yet
    pool = user2.get("/tasks?department=USE").get_json()
    assert any(t["id"] == search["id"] for t in pool)
    # The frontdesk is not in the task's department.
    assert front.post(f"/tasks/{search['id']}/transfer", {"department": "HOLDING", "reason": "x"}).status_code == 403


def test_suspend_pauses_the_tasks_and_resume_releases_them(api_as):
    case_no, handler, review = _case_at_review(api_as)
    base = f"/tasks/{review['id']}"
    assert handler.post(f"{base}/resume").status_code == 409  # not suspended
    bad = handler.post(f"{base}/suspend", {"type": "holiday", "reason": "x", "expected_end": TOMORROW})
    assert bad.status_code == 422 and "type" in bad.get_json()["fields"]
    past = handler.post(f"{base}/suspend", {"type": "expert_review", "reason": "x", "expected_end": "2020-01-01"})
    assert past.status_code == 422 and "expected_end" in past.get_json()["fields"]
    suspended = handler.post(f"{base}/suspend", {"type": "expert_review", "reason": "需专家鉴定档案真实性",
                                                 "expected_end": TOMORROW})
    assert suspended.status_code == 200 and suspended.get_json()["case_status"] == "suspended"
    assert suspended.get_json()["suspension"]["type"] == "expert_review"
    assert handler.post(f"{base}/complete", {"data": {"decision": "approve", "opinion": "同意"}}).status_code == 409
    assert handler.post(f"{base}/claim").status_code == 409
    assert handler.post(f"{base}/suspend", {"type": "hearing", "reason": "x", "expected_end": TOMORROW}).status_code == 409
    resumed = handler.post(f"{base}/resume", {"note": "专家意见已出"})
    assert resumed.status_code == 200 and resumed.get_json()["case_status"] == "in_progress"
    assert handler.post(f"{base}/resume").status_code == 409
    actions = [e["action"] for e in handler.get(f"/cases/{case_no}").get_json()["events"]]
    assert actions.index("case_suspended") < actions.index("case_resumed")
    assert handler.post(f"{base}/complete", {"data": {"decision": "approve", "opinion": "同意"}}).status_code == 200


def test_supplement_requested_during_handling_resumes_at_registration(api_as):
    case_no, handler, review = _case_at_review(api_as)
    requested = handler.post(f"/tasks/{review['id']}/request-supplement", {"reason": "请补充亲属关系证明"})
    assert requested.status_code == 200 and requested.get_json()["case_status"] == "pending_supplement"
    assert handler.post(f"/tasks/{review['id']}/complete",
                        {"data": {"decision": "approve", "opinion": "同意"}}).status_code == 409
    front = api_as("frontdesk")
    registered = front.post(f"/cases/{case_no}/supplement", {"materials": [{"code": "kinship_proof"}]})
    assert registered.status_code == 200 and registered.get_json()["status"] == "in_progress"
    assert [t["bpmn_id"] for t in _open(handler, case_no)] == ["review"]


def test_withdrawal_ends_the_case_and_cancels_open_tasks(app, api_as):
    case_no, handler, review = _case_at_review(api_as)
    front = api_as("frontdesk")
    assert handler.post(f"/cases/{case_no}/withdraw", {"reason": "x"}).status_code == 403
    assert front.post(f"/cases/{case_no}/withdraw", {}).status_code == 422
    withdrawn = front.post(f"/cases/{case_no}/withdraw", {"reason": "申请人书面申请撤回"})
    assert withdrawn.status_code == 200
    assert withdrawn.get_json()["case_status"] == "withdrawn" and withdrawn.get_json()["open_tasks"] == []
    case = front.get(f"/cases/{case_no}").get_json()
    assert case["result"] == "withdrawn" and case["result_reason"] == "申请人书面申请撤回"
    assert front.post(f"/cases/{case_no}/withdraw", {"reason": "again"}).status_code == 409
    assert handler.post(f"/tasks/{review['id']}/return", {"reason": "x"}).status_code == 409
    assert_files_cleanly(app, case_no)


def test_acting_on_a_task_someone_else_holds(app, api_as):
    _second_member(app, "user3", "USE")
    case_no, handler, review = _case_at_review(api_as)
    assert handler.post(f"/tasks/{review['id']}/claim").status_code == 200
    other = Api(app.test_client(), "user3")
    for action, body in (("return", {"reason": "x"}), ("transfer", {"department": "HOLDING", "reason": "x"}),
                         ("suspend", {"type": "hearing", "reason": "x", "expected_end": TOMORROW})):
        assert other.post(f"/tasks/{review['id']}/{action}", body).status_code == 409, action


@pytest.mark.parametrize("round_", range(2))
def test_two_returns_at_once_one_wins(app, api_as, round_):
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("row locks need PostgreSQL")
    case_no, _handler, review = _case_at_review(api_as)
    clients = [Api(app.test_client(), "handler") for _ in range(2)]
    responses = _parallel([lambda c=c: c.post(f"/tasks/{review['id']}/return", {"reason": "并发退回"})
                           for c in clients])
    assert sorted(r.status_code for r in responses) == [200, 409]
    with app.app_context():
        case = db.session.query(Case).filter_by(case_no=case_no).one()
        assert db.session.query(CaseEvent).filter_by(case_id=case.id, action="task_returned").count() == 1
        assert db.session.query(WorkItem).filter_by(case_id=case.id, state="open").count() == 1


def test_a_task_routed_to_a_department_that_does_not_exist_is_refused(ctx):
    from app.engine import ReadyTask
    from app.errors import ValidationFailed
    from app.services.cases.runtime import _check_departments

    _check_departments([ReadyTask("t1", "countersign", "会签", "HOLDING", "countersign_opinion")])
    with pytest.raises(ValidationFailed) as refused:
        _check_departments([ReadyTask("t2", "countersign", "会签", "NOPE", "countersign_opinion")])
    assert "NOPE" in refused.value.message
