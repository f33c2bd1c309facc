"""Inbox per user: views and counts, filters, order and paging, the department head's view and assignment."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select, update

from app.extensions import db
from app.models import Case, CaseEvent, User, WorkItem
from app.services import org
from tests.conftest import ITEM_CODE, VALID_ID, application_payload
from tests.integration.test_pages import _csrf, login

CONSULTATION = "113701000045001234400011700200X"
SEARCH_OK = {"search_result": "yes", "record_reference": "Z109-1998-0042", "opinion": "已查到"}


@pytest.fixture(autouse=True)
def _postgres_only(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the inbox tests run on PostgreSQL")


def _accept(api_as, payload: dict | None = None) -> str:
    response = api_as("frontdesk").post("/cases", payload or application_payload())
    assert response.status_code == 201, response.get_json()
    return response.get_json()["case_no"]


def _consultation(api_as) -> str:
    return _accept(api_as, {
        "item_code": CONSULTATION, "materials": [{"code": "id_card"}],
        "applicant": {"type": "person", "name": "王五", "id_number": VALID_ID, "phone": "13800138000"},
        "form": {"purpose": "personal", "archive_description": "1998年本人招工档案", "contact_mobile": "13800138000"},
    })


def _list(api, query: str = "") -> list[dict]:
    response = api.get(f"/tasks?per_page=500&{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _case_nos(api, query: str = "") -> list[str]:
    return [t["case_no"] for t in _list(api, query)]


def _task(api, case_no: str) -> dict:
    (task,) = [t for t in _list(api) if t["case_no"] == case_no]
    return task


def _set_item(app, item_id: int, **values) -> None:
    """Change a work item directly in the database (deadlines, receipt times)."""
    with app.app_context():
        db.session.execute(update(WorkItem).where(WorkItem.id == item_id).values(**values))
        db.session.commit()


def _user_id(app, username: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.username == username))


@pytest.fixture()
def handler2(app):
    """A second handler of the holdings department."""
    with app.app_context():
        org.create_user("handler2", org.DEMO_PASSWORD, ["handler"], ["HOLDING"], "第二承办人")
        db.session.commit()
    return "handler2"


# Views and counts


def test_counts_and_views_follow_claim_and_complete(api_as, handler2):
    first, second = _accept(api_as), _accept(api_as)
    handler, other = api_as("handler"), api_as(handler2)
    assert handler.get("/tasks/counts").get_json() == {"mine": 0, "pool": 2, "handled": 0}

    task = _task(handler, first)
    assert handler.post(f"/tasks/{task['id']}/claim").status_code == 200
    assert handler.get("/tasks/counts").get_json() == {"mine": 1, "pool": 1, "handled": 0}
    assert _case_nos(handler, "view=mine") == [first]
    assert _case_nos(handler, "view=pool") == [second]
    # The other handler of the department no longer sees the claimed item in the pool.
    assert _case_nos(other, "view=pool") == [second] and _case_nos(other, "view=mine") == []
    # Without a view the list is what it always was: every open item of my departments.
    assert sorted(_case_nos(handler)) == sorted([first, second])

    done = handler.post(f"/tasks/{task['id']}/complete", {"data": SEARCH_OK})
    assert done.status_code == 200, done.get_json()
    # The next step (利用审核, USE) goes to the pool; the completed one to handled.
    assert handler.get("/tasks/counts").get_json() == {"mine": 0, "pool": 2, "handled": 1}
    (handled,) = _list(handler, "view=handled")
    assert (handled["case_no"], handled["bpmn_id"], handled["state"]) == (first, "record_search", "completed")
    assert handled["completed_at"] is not None
    assert {(t["case_no"], t["bpmn_id"]) for t in _list(handler, "view=pool")} == {
        (first, "review"), (second, "record_search")}
    assert other.get("/tasks/counts").get_json() == {"mine": 0, "pool": 1, "handled": 0}


def test_handled_is_newest_first(app, api_as):
    handler = api_as("handler")
    cases = [_accept(api_as) for _ in range(3)]
    for case_no in cases:
        task = _task(handler, case_no)
        assert handler.post(f"/tasks/{task['id']}/complete", {"data": SEARCH_OK}).status_code == 200
    assert _case_nos(handler, "view=handled") == cases[::-1]
    assert _case_nos(handler, "view=handled&sort=-created") == cases[::-1]
    assert _case_nos(handler, "view=handled&sort=created") == cases


# Filters


def test_filter_by_item_step_and_department(api_as):
    handler = api_as("handler")
    reviewed, searched, consulted = _accept(api_as), _accept(api_as), _consultation(api_as)
    search = _task(handler, reviewed)
    assert handler.post(f"/tasks/{search['id']}/complete", {"data": SEARCH_OK}).status_code == 200

    assert sorted(_case_nos(handler, f"view=pool&item={ITEM_CODE}")) == sorted([reviewed, searched])
    assert _case_nos(handler, f"view=pool&item={CONSULTATION}") == [consulted]
    assert _case_nos(handler, "view=pool&item=NO-SUCH-ITEM") == []
    # A step by its BPMN id or by its name.
    assert _case_nos(handler, "view=pool&step=review") == [reviewed]
    assert _case_nos(handler, "view=pool&step=利用审核") == [reviewed]
    assert _case_nos(handler, "view=pool&step=record_search") == [searched]
    assert sorted(_case_nos(handler, "view=pool&department=USE")) == sorted([reviewed, consulted])
    assert _case_nos(handler, f"view=pool&department=USE&item={ITEM_CODE}&step=review") == [reviewed]
    # Filters apply to the handled view too.
    assert _case_nos(handler, "view=handled&step=record_search") == [reviewed]
    assert _case_nos(handler, "view=handled&step=review") == []


@pytest.fixture()
def four_deadlines(app, api_as):
    """Four pooled items, one per due state, received in the order overdue, soon, later, none."""
    handler = api_as("handler")
    now = datetime.now(UTC)
    deadlines = {"overdue": now - timedelta(hours=1), "due_soon": now + timedelta(hours=2),
                 "on_time": now + timedelta(days=3), "no_due": None}
    cases = {}
    for state, due_at in deadlines.items():
        case_no = _accept(api_as)
        _set_item(app, _task(handler, case_no)["id"], due_at=due_at)
        cases[state] = case_no
    return handler, cases


@pytest.mark.parametrize("state", ["overdue", "due_soon", "on_time", "no_due"])
def test_filter_by_due_state(four_deadlines, state):
    handler, cases = four_deadlines
    assert _case_nos(handler, f"view=pool&due={state}") == [cases[state]]
    assert _case_nos(handler, f"due={state}") == [cases[state]]


def test_sorting(four_deadlines):
    handler, cases = four_deadlines
    by_due = [cases[s] for s in ("overdue", "due_soon", "on_time", "no_due")]
    assert _case_nos(handler, "view=pool") == by_due  # sort=due is the default
    assert _case_nos(handler, "view=pool&sort=due") == by_due
    # Latest deadline first; items without a deadline stay last.
    assert _case_nos(handler, "view=pool&sort=-due") == [cases[s] for s in ("on_time", "due_soon", "overdue", "no_due")]
    received = list(cases.values())
    assert _case_nos(handler, "view=pool&sort=created") == received
    assert _case_nos(handler, "view=pool&sort=-created") == received[::-1]


def test_equal_deadlines_keep_a_stable_order(app, api_as):
    handler = api_as("handler")
    due = datetime.now(UTC) + timedelta(days=2)
    ids = []
    for _ in range(3):
        task = _task(handler, _accept(api_as))
        _set_item(app, task["id"], due_at=due)
        ids.append(task["id"])
    assert [t["id"] for t in _list(handler, "view=pool")] == sorted(ids)


def test_created_date_range_uses_local_days(app, api_as):
    handler = api_as("handler")
    late, early = _accept(api_as), _accept(api_as)
    # 15:59 UTC is 23:59 on 1 March in Shanghai; 16:00 UTC is already 2 March there.
    _set_item(app, _task(handler, late)["id"], created_at=datetime(2026, 3, 1, 15, 59, tzinfo=UTC))
    _set_item(app, _task(handler, early)["id"], created_at=datetime(2026, 3, 1, 16, 0, tzinfo=UTC))
    assert _case_nos(handler, "view=pool&from=2026-03-01&to=2026-03-01") == [late]
    assert _case_nos(handler, "view=pool&from=2026-03-02&to=2026-03-02") == [early]
    assert _case_nos(handler, "view=pool&from=2026-03-02") == [early]
    assert _case_nos(handler, "view=pool&to=2026-03-01") == [late]
    assert sorted(_case_nos(handler, "view=pool&from=2026-03-01&to=2026-03-02")) == sorted([late, early])
    assert _case_nos(handler, "view=pool&from=2026-03-03") == []


def test_paging_and_total_count(api_as):
    handler = api_as("handler")
    for _ in range(5):
        _accept(api_as)
    pages = [handler.get(f"/tasks?view=pool&per_page=2&page={page}") for page in (1, 2, 3, 4)]
    assert [r.headers["X-Total-Count"] for r in pages] == ["5"] * 4
    ids = [[t["id"] for t in r.get_json()] for r in pages]
    assert [len(p) for p in ids] == [2, 2, 1, 0]
    flat = [i for page in ids for i in page]
    assert flat == sorted(flat) and len(set(flat)) == 5  # no overlap, nothing skipped
    assert handler.get("/tasks?view=mine").headers["X-Total-Count"] == "0"
    assert handler.get("/tasks?view=pool&due=overdue").headers["X-Total-Count"] == "0"


@pytest.mark.parametrize(("query", "field"), [
    ("from=2026/03/01", "from"), ("from=20260301", "from"), ("to=2026-02-30", "to"), ("to=tomorrow", "to"),
    ("from=2026-03-02&to=2026-03-01", "to"), ("due=late", "due"), ("sort=name", "sort"), ("view=everything", "view"),
    ("per_page=501", "per_page"), ("per_page=0", "per_page"), ("per_page=-1", "per_page"), ("page=x", "page"),
    ("page=0", "page"), (f"step={'x' * 201}", "step"),
])
def test_bad_filter_values_are_refused(api_as, query, field):
    response = api_as("handler").get(f"/tasks?{query}")
    assert response.status_code == 422
    body = response.get_json()
    assert f"`{field}`" in body["error"] and field in body["fields"]


def test_per_page_500_is_still_allowed(api_as):
    assert api_as("handler").get("/tasks?per_page=500").status_code == 200


# Department head


def test_department_head_sees_claimed_items_and_assigns(app, api_as, handler2):
    first, second = _accept(api_as), _accept(api_as)
    handler, head = api_as("handler"), api_as("head")
    task = _task(handler, first)
    assert handler.post(f"/tasks/{task['id']}/claim").status_code == 200

    department = {t["case_no"]: t["claimed_by"] for t in _list(head, "view=department")}
    assert department == {first: "handler", second: None}
    assert _case_nos(head, "view=pool") == [second]
    assert head.get("/tasks/counts").get_json() == {"mine": 0, "pool": 1, "handled": 0, "department": 2}
    assert handler.get("/tasks?view=department").status_code == 403

    to_id = _user_id(app, handler2)
    response = head.post(f"/tasks/{task['id']}/assign", {"user_id": to_id})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["claimed_by"] == handler2
    assert _case_nos(api_as(handler2), "view=mine") == [first]
    notes = [n for n in api_as(handler2).get("/notifications").get_json() if n["kind"] == "task_assigned"]
    assert [(n["case_no"], n["task_id"]) for n in notes] == [(first, task["id"])]
    assert handler.get("/tasks/counts").get_json()["mine"] == 0
    # The new holder may complete it; the former one may not.
    assert handler.post(f"/tasks/{task['id']}/complete", {"data": SEARCH_OK}).status_code == 409

    # An unclaimed item can be assigned too, also to the head.
    pooled = _task(head, second)
    assert head.post(f"/tasks/{pooled['id']}/assign", {"user_id": _user_id(app, "head")}).get_json()["claimed_by"] == "head"
    with app.app_context():
        events = db.session.scalars(select(CaseEvent).where(CaseEvent.action == "task_assigned")
                                    .order_by(CaseEvent.id)).all()
        assert [(e.work_item_id, e.actor_name, e.details) for e in events] == [
            (task["id"], "利用服务部负责人", {"to": to_id, "to_name": "第二承办人"}),
            (pooled["id"], "利用服务部负责人", {"to": _user_id(app, "head"), "to_name": "利用服务部负责人"}),
        ]
    # Assigning to whoever already holds it changes nothing and records nothing.
    assert head.post(f"/tasks/{task['id']}/assign", {"user_id": to_id}).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(CaseEvent)
                                 .where(CaseEvent.action == "task_assigned")) == 2


def test_assign_refusals(app, api_as, handler2):
    case_no = _accept(api_as)
    head, handler = api_as("head"), api_as("handler")
    task = _task(head, case_no)
    to_id = _user_id(app, handler2)
    with app.app_context():
        org.create_user("guidance_head", org.DEMO_PASSWORD, ["dept_head", "handler"], ["GUIDANCE"], "指导处负责人")
        disabled = org.create_user("handler3", org.DEMO_PASSWORD, ["handler"], ["HOLDING"], "停用承办人")
        disabled.is_enabled = False
        db.session.commit()

    # 403: not a head, or a head of another department.
    assert handler.post(f"/tasks/{task['id']}/assign", {"user_id": to_id}).status_code == 403
    assert api_as("guidance_head").post(f"/tasks/{task['id']}/assign", {"user_id": to_id}).status_code == 403
    assert head.post("/tasks/999999/assign", {"user_id": to_id}).status_code == 404
    # 422: nobody named, not a member of the item's department (HOLDING), disabled, or no such user.
    for body in ({}, {"user_id": str(to_id)}, {"user_id": True},
                 {"user_id": _user_id(app, "frontdesk")}, {"user_id": _user_id(app, "handler3")}, {"user_id": 999999}):
        response = head.post(f"/tasks/{task['id']}/assign", body)
        assert response.status_code == 422, body
        assert "user_id" in response.get_json()["fields"]
    # 409: the case is not in progress, or the item is no longer open.
    with app.app_context():
        db.session.execute(update(Case).where(Case.case_no == case_no).values(status="suspended"))
        db.session.commit()
    assert head.post(f"/tasks/{task['id']}/assign", {"user_id": to_id}).status_code == 409
    with app.app_context():
        db.session.execute(update(Case).where(Case.case_no == case_no).values(status="in_progress"))
        db.session.commit()
    assert handler.post(f"/tasks/{task['id']}/complete", {"data": SEARCH_OK}).status_code == 200
    assert head.post(f"/tasks/{task['id']}/assign", {"user_id": to_id}).status_code == 409
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(CaseEvent)
                                 .where(CaseEvent.action == "task_assigned")) == 0


# Lists read SQL only and eager-load what rows show


def _statements(app, call) -> list[str]:
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def test_lists_use_a_fixed_number_of_queries_and_never_read_workflows(app, api_as, monkeypatch):
    head = api_as("head")
    # Loading a workflow from a list would be a bug: make it loud.
    monkeypatch.setattr("app.services.cases.runtime.read_workflow", lambda case: pytest.fail("workflow loaded"))
    _accept(api_as)
    head.get("/tasks/counts")  # the caller behind the token is read once, then kept
    one = _statements(app, lambda: head.get("/tasks?view=department"))
    for _ in range(3):
        _accept(api_as)
    task = _task(head, _list(head)[0]["case_no"])
    assert head.post(f"/tasks/{task['id']}/claim").status_code == 200
    four = _statements(app, lambda: head.get("/tasks?view=department"))
    assert len(four) == len(one)
    assert not any("workflow_state" in s for s in four)

    page = login(app.test_client(), "head")
    rows = _statements(app, lambda: page.get("/inbox?view=department", headers={"HX-Request": "true"}))
    for _ in range(2):
        _accept(api_as)
    more_rows = _statements(app, lambda: page.get("/inbox?view=department", headers={"HX-Request": "true"}))
    assert len(more_rows) == len(rows)
    assert not any("workflow_state" in s for s in more_rows)


# Pages


def test_inbox_page_tabs_counts_and_rows(app, api_as):
    first, second = _accept(api_as), _accept(api_as)
    handler = api_as("handler")
    assert handler.post(f"/tasks/{_task(handler, first)['id']}/claim").status_code == 200
    page = login(app.test_client(), "handler")

    html = page.get("/inbox").get_data(as_text=True)
    assert 'data-view="pool"' in html and 'id="inbox-filters"' in html
    assert re.search(r'data-testid="count-pool">1<', html) and re.search(r'data-testid="count-mine">1<', html)
    assert 'data-testid="tab-department"' not in html  # not a head
    assert f'data-case-no="{second}"' in html and f'data-case-no="{first}"' not in html

    mine = page.get("/inbox?view=mine").get_data(as_text=True)
    assert f'data-case-no="{first}"' in mine and 'data-testid="handle"' in mine

    # htmx asks for the rows: no page around them, tabs out of band, a clean address to push.
    response = page.get("/inbox?view=mine&item=&step=&due=&from=&to=&sort=", headers={"HX-Request": "true"})
    rows = response.get_data(as_text=True)
    assert "<html" not in rows and 'hx-swap-oob="true"' in rows and f'data-case-no="{first}"' in rows
    assert response.headers["HX-Push-Url"] == "/inbox?view=mine"
    assert "HX-Request" in response.headers["Vary"]
    filtered = page.get("/inbox?view=pool&due=overdue", headers={"HX-Request": "true"})
    assert 'data-testid="inbox-empty"' in filtered.get_data(as_text=True)
    assert filtered.headers["HX-Push-Url"] == "/inbox?view=pool&due=overdue"
    # Going Back to a pushed address asks for the whole page again.
    restore = page.get("/inbox?view=mine", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)

    handled = page.get("/inbox?view=handled").get_data(as_text=True)
    assert 'data-testid="inbox-empty"' in handled

    assert page.get("/inbox?view=department").status_code == 403
    bad = page.get("/inbox?from=yesterday")
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.get_data(as_text=True)


def test_head_assigns_through_the_page(app, api_as, handler2):
    case_no = _accept(api_as)
    page = login(app.test_client(), "head")
    html = page.get("/inbox?view=department").get_data(as_text=True)
    assert 'data-testid="tab-department"' in html and 'data-testid="assign"' in html
    item_id = int(re.search(rf'data-case-no="{case_no}" data-item-id="(\d+)"', html).group(1))
    to_id = _user_id(app, handler2)
    assert page.post(f"/tasks/{item_id}/assign", data={"user_id": to_id}).status_code == 400  # no CSRF token
    token = _csrf(page, "/inbox")
    response = page.post(f"/tasks/{item_id}/assign", data={
        "csrf_token": token, "user_id": to_id, "next": "/inbox?view=department&department=HOLDING"})
    assert response.status_code == 302 and response.headers["Location"] == "/inbox?view=department&department=HOLDING"
    after = page.get("/inbox?view=department").get_data(as_text=True)
    assert "第二承办人" in after
    # A forged `next` does not lead off the inbox.
    response = page.post(f"/tasks/{item_id}/assign", data={"csrf_token": token, "user_id": to_id,
                                                            "next": "https://example.org/"})
    assert response.headers["Location"] == "/inbox?view=department"

    refused = page.post(f"/tasks/{item_id}/assign", data={"csrf_token": token, "user_id": _user_id(app, "frontdesk")})
    assert refused.status_code == 422
    handler = login(app.test_client(), "handler")
    assert handler.post(f"/tasks/{item_id}/assign", data={"csrf_token": _csrf(handler, "/inbox"),
                                                          "user_id": to_id}).status_code == 403
