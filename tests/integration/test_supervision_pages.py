"""Supervisor pages and API: traffic lights, overdue list, alerts, 督办 orders and on-time rates."""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Alert, Case, CaseEvent, Department, Notification, SupervisionOrder, User, WorkItem
from app.models.base import utcnow
from app.services.calendar import workdays
from tests.conftest import application_payload
from tests.integration.test_pages import CSRF, login

LOCAL = ZoneInfo("Asia/Shanghai")
PAGES = ("/supervision/", "/supervision/overdue", "/supervision/alerts", "/supervision/rates")
APIS = ("/supervision/lights", "/supervision/overdue", "/supervision/alerts", "/supervision/rates")


def new_case(api_as) -> str:
    """An accepted case whose first step (档案查询) waits in HOLDING."""
    response = api_as("frontdesk").post("/cases", application_payload())
    assert response.status_code == 201, response.get_json()
    return response.get_json()["case_no"]


def case_row(case_no: str) -> Case:
    return db.session.scalar(select(Case).where(Case.case_no == case_no))


def open_item(case_no: str) -> WorkItem:
    return db.session.scalar(select(WorkItem).join(Case).where(Case.case_no == case_no, WorkItem.state == "open"))


def set_due(case_no: str, delta: timedelta | None, department: str | None = None) -> WorkItem:
    """Move the case's open step's due time to now + delta (and optionally to another department)."""
    item = open_item(case_no)
    item.due_at = utcnow() + delta if delta is not None else None
    if department:
        item.department_code = department
    db.session.commit()
    return item


def user_id(username: str) -> int:
    return db.session.scalar(select(User.id).where(User.username == username))


def english(client):
    client.get("/language/en")
    return client


def page_login(app, username):
    return english(login(app.test_client(), username))


def token(client, path) -> str:
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def local(year, month, day, hour=10, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LOCAL)


# ---- permissions ----------------------------------------------------------------------------

def test_non_supervisors_are_refused_everywhere(app, api_as):
    handler = page_login(app, "handler")
    for path in PAGES:
        assert handler.get(path).status_code == 403, path
    csrf = token(handler, "/inbox")
    assert handler.post("/supervision/alerts/1/result", data={"csrf_token": csrf, "result": "x"}).status_code == 403
    case_no = new_case(api_as)
    assert handler.post(f"/supervision/cases/{case_no}/orders",
                        data={"csrf_token": csrf, "content": "快办"}).status_code == 403
    # A user of no department has no orders to reply to either.
    designer = page_login(app, "designer")
    assert designer.get("/supervision/orders").status_code == 403
    for path in APIS:
        assert api_as("handler").get(path).status_code == 403, path
    assert api_as("designer").get("/supervision-orders").status_code == 403
    assert api_as("handler").post(f"/cases/{case_no}/supervision-orders", {"content": "快办"}).status_code == 403
    anonymous = app.test_client()
    assert "/login" in anonymous.get("/supervision/").headers["Location"]


def test_supervisor_and_admin_see_every_page(app):
    for username in ("supervisor", "admin"):
        client = page_login(app, username)
        for path in (*PAGES, "/supervision/orders"):
            assert client.get(path).status_code == 200, (username, path)
    home = page_login(app, "supervisor").get("/cases/").get_data(as_text=True)
    assert 'data-testid="nav-supervision"' in home
    assert 'data-testid="nav-supervision"' not in page_login(app, "handler").get("/cases/").get_data(as_text=True)


def test_the_rating_follow_ups_keep_their_address(app):
    supervisor = page_login(app, "supervisor")
    assert supervisor.get("/supervision/follow-ups").status_code == 200
    assert "/supervision/follow-ups" in supervisor.get("/supervision/").get_data(as_text=True)


# ---- bad filters ----------------------------------------------------------------------------

@pytest.mark.parametrize("path, field", [
    ("/supervision/overdue?department=NOPE", "department"),
    ("/supervision/overdue?page=0", "page"),
    ("/supervision/overdue?page=abc", "page"),
    ("/supervision/alerts?level=purple", "level"),
    ("/supervision/alerts?rule=a%20b", "rule"),
    ("/supervision/alerts?from=2026-13-01", "from"),
    ("/supervision/alerts?from=20260101", "from"),
    ("/supervision/alerts?from=2026-03-02&to=2026-03-01", "to"),
    ("/supervision/rates?to=yesterday", "to"),
    ("/supervision/rates?from=2026-03-02&to=2026-03-01", "to"),
    ("/supervision/orders?status=closed", "status"),
])
def test_bad_filter_values_are_422_with_a_reason(app, api_as, path, field):
    page = page_login(app, "supervisor").get(path)
    assert page.status_code == 422
    assert "Some filters are not valid." in page.get_data(as_text=True)
    api_path = path.replace("/supervision/orders", "/supervision-orders")
    answer = api_as("supervisor").get(api_path)
    assert answer.status_code == 422
    assert field in answer.get_json()["fields"] and f"`{field}`" in answer.get_json()["error"]


def test_api_per_page_is_bounded(api_as):
    answer = api_as("supervisor").get("/supervision/overdue?per_page=501")
    assert answer.status_code == 422 and "per_page" in answer.get_json()["fields"]


# ---- traffic lights -------------------------------------------------------------------------

def _lights(body: dict) -> dict:
    return {row["code"]: {k: row[k] for k in ("green", "yellow", "red", "paused")} for row in body["departments"]}


def test_lights_count_open_steps_per_department(app, api_as, dbx):
    cases = [new_case(api_as) for _ in range(6)]
    with dbx():
        set_due(cases[0], timedelta(hours=-2))
        set_due(cases[1], timedelta(days=-3))
        set_due(cases[2], timedelta(hours=5))
        set_due(cases[3], None)  # no due time: green
        # cases[4] keeps its committed due time, days ahead: green.
        set_due(cases[5], timedelta(days=-1))
        case_row(cases[5]).status = "suspended"  # paused, however late
        db.session.commit()

    body = api_as("supervisor").get("/supervision/lights").get_json()
    lights = _lights(body)
    assert lights["HOLDING"] == {"green": 2, "yellow": 1, "red": 2, "paused": 1}
    # Departments with nothing open are listed too.
    assert lights["SUPERVISION"] == {"green": 0, "yellow": 0, "red": 0, "paused": 0}
    assert body["as_of"]

    page = page_login(app, "supervisor").get("/supervision/").get_data(as_text=True)
    row = re.search(r'<tr data-department="HOLDING">(.*?)</tr>', page, re.S).group(1)
    shown = dict(re.findall(r'data-light="(\w+)"><span[^>]*>(\d+)<', row))
    assert shown == {"green": "2", "yellow": "1", "red": "2", "paused": "1"}
    assert "/supervision/overdue?department=HOLDING" in row
    assert "/supervision/overdue?department=USE" not in page  # no red there, no link


# ---- overdue list ---------------------------------------------------------------------------

def test_overdue_list_latest_first_with_filter_and_pages(app, api_as, dbx, monkeypatch):
    cases = [new_case(api_as) for _ in range(6)]
    with dbx():
        set_due(cases[0], timedelta(hours=-1))
        claimed = set_due(cases[1], timedelta(hours=-50)).id
        set_due(cases[2], timedelta(days=-10))
        set_due(cases[3], timedelta(hours=-5), department="USE")
        set_due(cases[4], timedelta(hours=3))  # not yet due
        set_due(cases[5], timedelta(days=-20))
        case_row(cases[5]).status = "pending_supplement"  # clock stopped: not listed
        db.session.commit()
    assert api_as("handler").post(f"/tasks/{claimed}/claim").status_code == 200

    supervisor = api_as("supervisor")
    answer = supervisor.get("/supervision/overdue")
    rows = answer.get_json()
    assert answer.headers["X-Total-Count"] == "4"
    assert [r["case_no"] for r in rows] == [cases[2], cases[1], cases[3], cases[0]]
    assert rows[1]["holder"] == "handler" and rows[0]["holder"] is None
    assert rows[1]["step"] == "档案查询" and rows[1]["department"] == "HOLDING"
    assert 50 * 3600 <= rows[1]["late_seconds"] < 50 * 3600 + 120
    assert rows[2]["department"] == "USE"
    with dbx():  # both deadlines of the case are listed next to the step's
        listed = case_row(cases[2])
        assert rows[0]["committed_due_at"] == listed.committed_due_at.isoformat()
        assert rows[0]["statutory_due_at"] == listed.statutory_due_at.isoformat()

    holding = supervisor.get("/supervision/overdue?department=HOLDING")
    assert [r["case_no"] for r in holding.get_json()] == [cases[2], cases[1], cases[0]]
    second = supervisor.get("/supervision/overdue?per_page=3&page=2").get_json()
    assert [r["case_no"] for r in second] == [cases[0]]

    client = page_login(app, "supervisor")
    page = client.get("/supervision/overdue").get_data(as_text=True)
    assert re.findall(r'data-case-no="([^"]+)"', page) == [cases[2], cases[1], cases[3], cases[0]]
    assert f'href="/cases/{cases[2]}"' in page
    assert "业务承办人" in page  # the holder's name
    late = re.findall(r'data-testid="late">([^<]+)<', page)
    assert late[0] == "10 d 0 h" and late[1] == "2 d 2 h"
    filtered = client.get("/supervision/overdue?department=USE").get_data(as_text=True)
    assert re.findall(r'data-case-no="([^"]+)"', filtered) == [cases[3]]

    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    first = client.get("/supervision/overdue?department=HOLDING").get_data(as_text=True)
    assert re.findall(r'data-case-no="([^"]+)"', first) == [cases[2], cases[1]]
    assert "page=2&amp;department=HOLDING" in first or "department=HOLDING&amp;page=2" in first
    last = client.get("/supervision/overdue?department=HOLDING&page=2").get_data(as_text=True)
    assert re.findall(r'data-case-no="([^"]+)"', last) == [cases[0]]


# ---- alerts ---------------------------------------------------------------------------------

def _alert(case: Case | None, rule: str, level: str, raised_at: datetime, department: str | None = "HOLDING",
           content: str = "预警") -> int:
    step = open_item(case.case_no) if case else None
    alert = Alert(subject=f"case:{case.id}" if case else f"department:{department}", rule=rule, level=level,
                  occurrence=raised_at.astimezone(LOCAL).date(), case_id=case.id if case else None,
                  work_item_id=step.id if step else None,
                  department_code=department, raised_at=raised_at, content=content)
    db.session.add(alert)
    db.session.commit()
    return alert.id


def test_alert_history_filters_newest_first_and_result(app, api_as, dbx):
    case_no = new_case(api_as)
    with dbx():
        case = case_row(case_no)
        a1 = _alert(case, "due_soon", "yellow", local(2026, 3, 1, 9), content="即将到期")
        a2 = _alert(case, "overdue", "red", local(2026, 3, 2, 0, 30), content="已超期")  # 2026-03-01 16:30 UTC
        a3 = _alert(None, "backlog", "info", local(2026, 3, 3, 23, 50), department="USE", content="积压")
        a4 = _alert(case, "overdue", "red", local(2026, 3, 5, 8), content="仍超期")

    api = api_as("supervisor")
    everything = api.get("/supervision/alerts")
    assert everything.headers["X-Total-Count"] == "4"
    body = everything.get_json()
    assert [a["id"] for a in body] == [a4, a3, a2, a1]
    assert body[0]["case_no"] == case_no and body[0]["step"] == "档案查询" and body[0]["level"] == "red"

    def ids(query: str) -> list[int]:
        return [a["id"] for a in api.get(f"/supervision/alerts?{query}").get_json()]

    assert ids("level=red") == [a4, a2]
    assert ids("rule=due_soon") == [a1]
    assert ids("department=USE") == [a3]
    # Days are the service centre's: 00:30 on 2 March in Beijing is still 1 March in UTC.
    assert ids("from=2026-03-02&to=2026-03-03") == [a3, a2]
    assert ids("to=2026-03-01") == [a1]
    assert ids("from=2026-03-04") == [a4]
    assert ids("level=red&department=USE") == []

    client = page_login(app, "supervisor")
    page = client.get("/supervision/alerts?level=red").get_data(as_text=True)
    assert re.findall(r'data-alert-id="(\d+)"', page) == [str(a4), str(a2)]
    assert "已超期" in page and f'href="/cases/{case_no}"' in page
    csrf = token(client, "/supervision/alerts")
    done = client.post(f"/supervision/alerts/{a2}/result?level=red",
                       data={"csrf_token": csrf, "result": "  已督促办理  "})
    assert done.status_code == 302 and done.headers["Location"].endswith("/supervision/alerts?level=red")
    with dbx():
        assert db.session.get(Alert, a2).result == "已督促办理"
    assert "已督促办理" in client.get("/supervision/alerts").get_data(as_text=True)
    assert api.get("/supervision/alerts?level=red").get_json()[1]["result"] == "已督促办理"

    assert client.post(f"/supervision/alerts/{a2}/result", data={"csrf_token": csrf, "result": " "}).status_code == 422
    too_long = client.post(f"/supervision/alerts/{a2}/result", data={"csrf_token": csrf, "result": "x" * 101})
    assert too_long.status_code == 422
    assert client.post("/supervision/alerts/999999/result", data={"csrf_token": csrf, "result": "x"}).status_code == 404
    with dbx():
        assert db.session.get(Alert, a2).result == "已督促办理"


# ---- 督办 orders ----------------------------------------------------------------------------

def _notifications(kind: str) -> dict[str, list[str]]:
    rows = db.session.execute(select(User.username, Notification.text).join(User, User.id == Notification.user_id)
                              .where(Notification.kind == kind)).all()
    found: dict[str, list[str]] = {}
    for username, text in rows:
        found.setdefault(username, []).append(text)
    return found


def members(*departments: str) -> set[str]:
    """Enabled users of the departments (other tests may have added some to the demo ones)."""
    return set(db.session.scalars(select(User.username).join(User.departments)
                                  .where(Department.code.in_(departments), User.is_enabled)))


def _events(case_no: str, action: str) -> list[CaseEvent]:
    return list(db.session.scalars(select(CaseEvent).join(Case, Case.id == CaseEvent.case_id)
                                   .where(Case.case_no == case_no, CaseEvent.action == action)))


def test_order_issue_notify_reply_through_the_api(app, api_as, ctx):
    case_no = new_case(api_as)
    supervisor = api_as("supervisor")
    before = utcnow()
    answer = supervisor.post(f"/cases/{case_no}/supervision-orders", {"content": "  请尽快办理  "})
    assert answer.status_code == 201, answer.get_json()
    order = answer.get_json()
    assert order["department"] == "HOLDING" and order["status"] == "open" and order["content"] == "请尽快办理"
    expected_due = workdays.deadline(before, 3, "working_day", "Asia/Shanghai")
    assert datetime.fromisoformat(order["reply_due_at"]) == expected_due
    # Every member of the holding department is told, nobody else.
    told = _notifications("supervision_order")
    assert {"handler", "head"} <= set(told) == members("HOLDING")
    assert told["handler"] == ["请尽快办理"]
    event = _events(case_no, "supervision_ordered")[0]
    assert event.opinion == "请尽快办理" and event.details["department"] == "HOLDING"
    assert event.actor_name == "电子监察员"

    assert supervisor.get("/supervision-orders").get_json()[0]["id"] == order["id"]
    assert [o["id"] for o in api_as("handler").get("/supervision-orders").get_json()] == [order["id"]]
    assert api_as("frontdesk").get("/supervision-orders").get_json() == []  # WINDOW is not addressed

    reply_path = f"/supervision-orders/{order['id']}/reply"
    assert api_as("frontdesk").post(reply_path, {"reply": "已办"}).status_code == 403
    empty = api_as("handler").post(reply_path, {"reply": "   "})
    assert empty.status_code == 422 and "reply" in empty.get_json()["fields"]
    assert api_as("handler").post(reply_path, {"reply": 5}).status_code == 422
    replied = api_as("handler").post(reply_path, {"reply": "已查档,明日出证"})
    assert replied.status_code == 200
    assert replied.get_json()["status"] == "replied" and replied.get_json()["replied_by"] == "handler"
    again = api_as("head").post(reply_path, {"reply": "再次答复"})
    assert again.status_code == 409
    assert api_as("handler").post("/supervision-orders/999999/reply", {"reply": "x"}).status_code == 404
    assert _events(case_no, "supervision_replied")[0].opinion == "已查档,明日出证"
    # The issuing supervisor learns of the reply.
    assert _notifications("supervision_replied") == {"supervisor": ["已查档,明日出证"]}
    listed = supervisor.get("/supervision-orders?status=replied").get_json()
    assert listed[0]["reply"] == "已查档,明日出证" and listed[0]["replied_late"] is False
    assert supervisor.get("/supervision-orders?status=open").get_json() == []


@pytest.mark.parametrize("body, field", [
    ({"content": ""}, "content"),
    ({"content": "x" * 2001}, "content"),
    ({"content": "a\x00b"}, "content"),
    ({"content": "快办", "reply_working_days": 0}, "reply_working_days"),
    ({"content": "快办", "reply_working_days": 31}, "reply_working_days"),
    ({"content": "快办", "reply_working_days": True}, "reply_working_days"),
    ({"content": "快办", "reply_working_days": "x"}, "reply_working_days"),
    ({"content": "快办", "reply_working_days": 2.5}, "reply_working_days"),
])
def test_order_refuses_bad_input(api_as, ctx, body, field):
    case_no = new_case(api_as)
    answer = api_as("supervisor").post(f"/cases/{case_no}/supervision-orders", body)
    assert answer.status_code == 422 and field in answer.get_json()["fields"]
    assert db.session.scalar(select(SupervisionOrder.id)) is None


def test_order_on_unknown_or_finished_case(api_as, ctx):
    supervisor = api_as("supervisor")
    assert supervisor.post("/cases/NOPE/supervision-orders", {"content": "快办"}).status_code == 404
    case_no = new_case(api_as)
    assert supervisor.post(f"/cases/{case_no}/supervision-orders", {"content": "快办", "reply_working_days": 5}).status_code == 201
    case = case_row(case_no)
    case.status, case.completed_at = "completed", utcnow()
    db.session.commit()
    assert supervisor.post(f"/cases/{case_no}/supervision-orders", {"content": "快办"}).status_code == 409


def test_order_goes_to_the_first_holder_and_tells_every_holding_department(api_as, ctx):
    case_no = new_case(api_as)
    first = open_item(case_no)
    db.session.add(WorkItem(case_id=first.case_id, task_id=str(uuid.uuid4()), bpmn_id="parallel", name="并行审核",
                            department_code="LEADERSHIP", state="open"))
    db.session.commit()
    order = api_as("supervisor").post(f"/cases/{case_no}/supervision-orders", {"content": "并行督办"}).get_json()
    assert order["department"] == "HOLDING"
    assert {"handler", "head", "leader"} <= set(_notifications("supervision_order")) == members("HOLDING", "LEADERSHIP")
    # The leader was told but the order is HOLDING's to answer.
    reply = api_as("leader").post(f"/supervision-orders/{order['id']}/reply", {"reply": "知悉"})
    assert reply.status_code == 403
    assert api_as("supervisor").post(f"/supervision-orders/{order['id']}/reply", {"reply": "代为答复"}).status_code == 200


def test_order_pages_issue_list_and_reply(app, api_as, dbx):
    case_no = new_case(api_as)
    supervisor = page_login(app, "supervisor")
    case_page = supervisor.get(f"/cases/{case_no}").get_data(as_text=True)
    assert 'data-testid="supervision-order"' in case_page
    assert 'data-testid="supervision-order"' not in page_login(app, "handler").get(f"/cases/{case_no}").get_data(as_text=True)

    csrf = CSRF.search(case_page).group(1)
    issued = supervisor.post(f"/supervision/cases/{case_no}/orders",
                             data={"csrf_token": csrf, "content": "请说明延误原因", "reply_working_days": "2"})
    assert issued.status_code == 302 and issued.headers["Location"].endswith(f"/cases/{case_no}")
    assert "Holdings department" in supervisor.get(f"/cases/{case_no}").get_data(as_text=True)
    with dbx():
        order = db.session.scalar(select(SupervisionOrder))
        assert order.department_code == "HOLDING" and order.issued_by_id == user_id("supervisor")
        assert order.reply_due_at == workdays.deadline(order.issued_at, 2, "working_day", "Asia/Shanghai")
        # A second, older order whose reply is overdue comes first in the open list.
        late = SupervisionOrder(case_id=order.case_id, department_code="HOLDING", issued_by_id=order.issued_by_id,
                                issued_at=utcnow() - timedelta(days=9), content="旧督办",
                                reply_due_at=utcnow() - timedelta(days=2), status="open")
        db.session.add(late)
        db.session.commit()
        order_id, late_id = order.id, late.id
    bad = supervisor.post(f"/supervision/cases/{case_no}/orders",
                          data={"csrf_token": csrf, "content": "", "reply_working_days": "3"})
    assert bad.status_code == 422
    bad_days = supervisor.post(f"/supervision/cases/{case_no}/orders",
                               data={"csrf_token": csrf, "content": "快", "reply_working_days": "-1"})
    assert bad_days.status_code == 422

    listing = supervisor.get("/supervision/orders").get_data(as_text=True)
    assert re.findall(r'data-order-id="(\d+)"', listing) == [str(late_id), str(order_id)]
    assert listing.count('data-testid="reply-overdue"') == 1

    handler = page_login(app, "handler")
    mine = handler.get("/supervision/orders").get_data(as_text=True)
    assert 'data-testid="send-reply"' in mine and "请说明延误原因" in mine
    assert 'data-testid="supervision-nav"' not in mine
    csrf = CSRF.search(mine).group(1)
    assert handler.post(f"/supervision/orders/{late_id}/reply", data={"csrf_token": csrf, "reply": ""}).status_code == 422
    sent = handler.post(f"/supervision/orders/{late_id}/reply?status=open",
                        data={"csrf_token": csrf, "reply": "已补办"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/supervision/orders?status=open")
    assert handler.post(f"/supervision/orders/{late_id}/reply", data={"csrf_token": csrf, "reply": "又一次"}).status_code == 409
    front = page_login(app, "frontdesk")
    assert front.post(f"/supervision/orders/{order_id}/reply",
                      data={"csrf_token": token(front, "/inbox"), "reply": "不是我们"}).status_code == 403
    assert 'data-order-id' not in front.get("/supervision/orders").get_data(as_text=True)

    after = supervisor.get("/supervision/orders").get_data(as_text=True)
    # Open orders first; the one answered after its deadline is flagged.
    assert re.findall(r'data-order-id="(\d+)"', after) == [str(order_id), str(late_id)]
    assert 'data-testid="replied-late"' in after and "已补办" in after
    replied = supervisor.get("/supervision/orders?status=replied").get_data(as_text=True)
    assert re.findall(r'data-order-id="(\d+)"', replied) == [str(late_id)]


# ---- on-time rates --------------------------------------------------------------------------

def _finish(case_no: str, status: str, accepted: datetime | None, due: datetime | None, completed: datetime,
            result: str = "granted") -> Case:
    case = case_row(case_no)
    case.status, case.result = status, result
    case.accepted_at, case.committed_due_at, case.completed_at = accepted, due, completed
    db.session.commit()
    return case


def _step(case_no: str, department: str, created: datetime, completed: datetime, due: datetime | None) -> None:
    case = case_row(case_no)
    db.session.add(WorkItem(case_id=case.id, task_id=str(uuid.uuid4()), bpmn_id="step", name="步骤",
                            department_code=department, state="completed", created_at=created,
                            completed_at=completed, due_at=due))
    db.session.commit()


def test_on_time_rates_arithmetic(app, api_as, dbx):
    cases = [new_case(api_as) for _ in range(8)]
    with dbx():
        _finish_all(cases)
    _check_rates(app, api_as)


def _finish_all(cases: list[str]) -> None:
    # On time, 2 days; late, 4 days; refused after review on time, 1 day.
    _finish(cases[0], "completed", local(2024, 3, 10), local(2024, 3, 15), local(2024, 3, 12))
    _finish(cases[1], "completed", local(2024, 3, 10), local(2024, 3, 13), local(2024, 3, 14))
    _finish(cases[2], "refused", local(2024, 3, 20), local(2024, 3, 25), local(2024, 3, 21), "refused")
    # Not counted: withdrawn; refused at intake (no clock); completed the next local day; before the period.
    _finish(cases[3], "withdrawn", local(2024, 3, 10), local(2024, 3, 15), local(2024, 3, 11), "withdrawn")
    _finish(cases[4], "refused", None, None, local(2024, 3, 11), "not_accepted")
    _finish(cases[5], "completed", local(2024, 3, 28), local(2024, 4, 5), local(2024, 4, 1, 0, 10))
    _finish(cases[6], "completed", local(2024, 2, 20), local(2024, 3, 5), local(2024, 2, 29, 23, 59))
    # Completed at 23:30 on the last day of the period: counted (on time, 3.5 days).
    _finish(cases[7], "completed", local(2024, 3, 28, 11, 30), local(2024, 4, 2), local(2024, 3, 31, 23, 30))

    _step(cases[0], "HOLDING", local(2024, 3, 10), local(2024, 3, 11), local(2024, 3, 12))  # on time, 1 day
    _step(cases[1], "HOLDING", local(2024, 3, 10), local(2024, 3, 14), local(2024, 3, 12))  # late, 4 days
    _step(cases[1], "HOLDING", local(2024, 3, 10), local(2024, 3, 10, 22), local(2024, 3, 10, 22))  # on the dot
    _step(cases[2], "USE", local(2024, 3, 20), local(2024, 3, 20, 22), None)  # no due time: on time, 0.5 day
    _step(cases[2], "USE", local(2024, 2, 1), local(2024, 2, 2), None)  # outside the period


def _check_rates(app, api_as) -> None:
    body = api_as("supervisor").get("/supervision/rates?from=2024-03-01&to=2024-03-31").get_json()
    assert body["from"] == "2024-03-01" and body["to"] == "2024-03-31"
    [item] = body["items"]
    assert item["completed"] == 4 and item["on_time"] == 3 and item["rate"] == 75.0
    assert item["average_days"] == round((2 + 4 + 1 + 3.5) / 4, 1)
    assert body["items_total"] == {"completed": 4, "on_time": 3, "rate": 75.0, "average_days": 2.6}
    departments = {d["code"]: d for d in body["departments"]}
    assert set(departments) == {"HOLDING", "USE"}
    assert departments["HOLDING"] == {"code": "HOLDING", "name": "Holdings department", "completed": 3,
                                      "on_time": 2, "rate": 66.7, "average_days": 1.8}
    assert departments["USE"]["completed"] == 1 and departments["USE"]["rate"] == 100.0
    assert departments["USE"]["average_days"] == 0.5
    assert body["departments_total"]["completed"] == 4 and body["departments_total"]["rate"] == 75.0

    page = page_login(app, "supervisor").get("/supervision/rates?from=2024-03-01&to=2024-03-31").get_data(as_text=True)
    item_row = re.search(r'data-testid="item-rates".*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    assert dict(re.findall(r'data-col="(\w+)">([^<]+)<', item_row)) == {
        "completed": "4", "on_time": "3", "rate": "75.0 %", "average_days": "2.6"}
    holding = re.search(r'data-testid="department-rates".*?<tr data-code="HOLDING">(.*?)</tr>', page, re.S).group(1)
    assert dict(re.findall(r'data-col="(\w+)">([^<]+)<', holding))["rate"] == "66.7 %"

    empty = api_as("supervisor").get("/supervision/rates?from=2023-01-01&to=2023-01-31").get_json()
    assert empty["items"] == [] and empty["items_total"]["rate"] is None


def test_rates_default_to_this_month(api_as, ctx):
    case_no = new_case(api_as)
    now = utcnow()
    _finish(case_no, "completed", now - timedelta(hours=1), now + timedelta(days=1), now)
    body = api_as("supervisor").get("/supervision/rates").get_json()
    today = now.astimezone(LOCAL).date()
    assert body["from"] == date(today.year, today.month, 1).isoformat() and body["to"] == today.isoformat()
    assert body["items"][0]["completed"] == 1 and body["items"][0]["rate"] == 100.0


# ---- cards ----------------------------------------------------------------------------------

def test_cards_page_and_api_tally_a_week_and_state_their_rules(app, api_as, dbx):
    from app.services.supervision import alerts as supervision

    case_no = new_case(api_as)
    with dbx():
        step = set_due(case_no, None)
        step.due_at = local(2026, 11, 25, 17)  # a Wednesday
        case_row(case_no).committed_due_at = local(2027, 3, 1)
        db.session.commit()
    with app.app_context():
        supervision.check_deadlines(local(2026, 11, 25, 18))  # the step crossed its limit: one yellow card
        supervision.check_deadlines(local(2026, 11, 27, 18))  # a reminder two days later: no card
        db.session.commit()
    answer = api_as("supervisor").get("/supervision/cards?week=2026-11-26")
    body = answer.get_json()
    assert answer.status_code == 200 and body["week_start"] == "2026-11-23"
    assert body["departments"] == [{"department": "HOLDING", "red": 0, "yellow": 1}]
    assert body["officers"] == [] and "yellow card" in body["rules"]
    assert api_as("supervisor").get("/supervision/cards?week=2026-13-01").status_code == 422
    assert api_as("handler").get("/supervision/cards").status_code == 403

    page = login(app.test_client(), "supervisor").get("/supervision/cards?week=2026-11-23")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "红黄牌" in text and "黄牌" in text and "每张牌对应一次违规" in text
    assert 'data-department="HOLDING"' in text
    empty = login(app.test_client(), "supervisor").get("/supervision/cards?week=2026-11-30").get_data(as_text=True)
    assert "本周没有红黄牌。" in empty
