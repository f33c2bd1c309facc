"""Routing actions and notifications through the pages, with CSRF on."""
from __future__ import annotations

from datetime import date, timedelta

from tests.conftest import application_payload
from tests.integration.test_pages import _csrf, login

SEARCH_DONE = {"data": {"search_result": "yes", "record_reference": "Z109-1998-0042", "opinion": "已查到"}}


def _review_task(api_as):
    front, handler = api_as("frontdesk"), api_as("handler")
    case_no = front.post("/cases", application_payload()).get_json()["case_no"]
    search = next(t for t in handler.get(f"/cases/{case_no}").get_json()["tasks"] if t["state"] == "open")
    handler.post(f"/tasks/{search['id']}/complete", SEARCH_DONE)
    review = next(t for t in handler.get(f"/cases/{case_no}").get_json()["tasks"] if t["state"] == "open")
    return case_no, review["id"]


def test_return_from_the_task_page_shows_the_reason_on_the_returned_step(app, api_as):
    case_no, review_id = _review_task(api_as)
    page = login(app.test_client(), "handler")
    task_page = page.get(f"/tasks/{review_id}").get_data(as_text=True)
    assert 'data-testid="task-actions"' in task_page and "档案查询" in task_page  # the return target
    empty = page.post(f"/tasks/{review_id}/return", data={"csrf_token": _csrf(page, f"/tasks/{review_id}"), "reason": ""})
    assert empty.status_code == 302 and "/tasks/" in empty.headers["Location"]
    assert "必须填写理由" in page.get(empty.headers["Location"]).get_data(as_text=True)

    done = page.post(f"/tasks/{review_id}/return", data={"csrf_token": _csrf(page, f"/tasks/{review_id}"),
                                                         "reason": "<b>请补充档号</b>"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/inbox")
    handler = api_as("handler")
    returned = next(t for t in handler.get(f"/cases/{case_no}").get_json()["tasks"] if t["state"] == "open")
    html = page.get(f"/tasks/{returned['id']}").get_data(as_text=True)
    assert 'data-testid="arrival-note"' in html and "&lt;b&gt;请补充档号&lt;/b&gt;" in html


def test_suspend_and_resume_from_the_task_page(app, api_as):
    case_no, review_id = _review_task(api_as)
    page = login(app.test_client(), "handler")
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    page.post(f"/tasks/{review_id}/suspend", data={"csrf_token": _csrf(page, f"/tasks/{review_id}"),
                                                   "type": "expert_review", "reason": "专家评审", "expected_end": tomorrow})
    html = page.get(f"/tasks/{review_id}").get_data(as_text=True)
    assert 'data-testid="paused"' in html and 'data-testid="resume"' in html
    assert 'data-testid="suspension"' in page.get(f"/cases/{case_no}").get_data(as_text=True)
    page.post(f"/tasks/{review_id}/resume", data={"csrf_token": _csrf(page, f"/tasks/{review_id}")})
    html = page.get(f"/tasks/{review_id}").get_data(as_text=True)
    assert 'data-testid="paused"' not in html and 'data-testid="return"' in html


def test_notifications_page_and_header_count(app, api_as):
    _review_task(api_as)  # the search step arrived in HOLDING (from the front desk), then the handler moved it on
    page = login(app.test_client(), "handler")
    html = page.get("/inbox").get_data(as_text=True)
    # Nobody is told of the work they route to themselves: only the search step's arrival counts.
    assert 'data-testid="unread-count">1<' in html
    response = page.get("/notifications?lang=en")
    assert response.status_code == 200, response.get_data(as_text=True)[-3000:]
    listing = response.get_data(as_text=True)
    assert "New task" in listing and "档案查询" in listing and "利用审核" not in listing
    page.post("/notifications/read", data={"csrf_token": _csrf(page, "/notifications")})
    assert 'data-testid="unread-count"' not in page.get("/inbox").get_data(as_text=True)


def test_front_desk_withdraws_from_the_case_page(app, api_as):
    case_no, _review = _review_task(api_as)
    page = login(app.test_client(), "frontdesk")
    assert 'data-testid="withdraw"' in page.get(f"/cases/{case_no}").get_data(as_text=True)
    page.post(f"/cases/{case_no}/withdraw", data={"csrf_token": _csrf(page, f"/cases/{case_no}"),
                                                  "reason": "申请人撤回"})
    assert api_as("frontdesk").get(f"/cases/{case_no}").get_json()["status"] == "withdrawn"
    handler = login(app.test_client(), "handler")
    assert handler.post(f"/cases/{case_no}/withdraw", data={"csrf_token": _csrf(handler, "/inbox"),
                                                            "reason": "x"}).status_code == 403
