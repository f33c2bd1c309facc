"""Public progress query (公众查询): the query password, its lockout, and what the public may see."""
from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Case, QueryGuard
from app.models.base import utcnow
from app.services.cases.public_query import mask_name
from tests.conftest import VALID_ID, application_payload

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
EN = {"Accept-Language": "en"}


def new_case(api_as) -> tuple[str, str]:
    """A case accepted at the window: its number and query password."""
    response = api_as("frontdesk").post("/cases", application_payload())
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    return body["case_no"], body["query_code"]


def wrong(code: str) -> str:
    """A well-formed query password that is not this one."""
    return f"{(int(code) + 1) % 10**6:06d}"


def query(client, case_no, code):
    return client.get(f"/api/v1/public/cases/{case_no}", query_string={"query_code": code}, headers=EN)


def guard(case_no: str) -> QueryGuard:
    case_id = db.session.scalar(select(Case.id).where(Case.case_no == case_no))
    return db.session.get(QueryGuard, case_id)


def without_noise(page: str, case_no: str) -> str:
    """The page without the case number and CSRF tokens, whose digits could match a query password."""
    for token in set(CSRF.findall(page)):
        page = page.replace(token, "")
    return page.replace(case_no, "")


def page_post(client, case_no, code):
    token = CSRF.search(client.get("/query").get_data(as_text=True)).group(1)
    return client.post("/query", data={"csrf_token": token, "case_no": case_no, "query_code": code})


@pytest.mark.parametrize(("name", "kind", "masked"), [
    ("张三", "person", "张*"), ("欧阳娜娜", "person", "欧***"), ("李", "person", "*"),
    ("济南市某某有限公司", "org", "济南***"), ("  王五 ", "person", "王*"), ("", "person", ""),
])
def test_mask_name(name, kind, masked):
    assert mask_name(name, kind) == masked


def test_right_code_shows_progress_without_personal_data(client, api_as):
    case_no, code = new_case(api_as)
    response = query(client, case_no, code)
    assert response.status_code == 200
    body = response.get_json()
    assert body["case_no"] == case_no and body["status"] == "in_progress"
    assert body["status_label"] == "In progress"
    assert body["applicant_name"] == "张*"
    assert body["current_steps"] == [{"name": "档案查询", "department": "Holdings department"}]
    assert body["submitted_at"] and body["accepted_at"] and body["committed_due_at"]
    assert body["completed_at"] is None and body["result"] is None and body["result_reason"] is None
    assert body["can_rate"] is False and body["ratings"] == []
    text = response.get_data(as_text=True)
    # Microseconds of the timestamps could hold any digits, so only distinctive fragments are checked.
    for secret in (VALID_ID, VALID_ID[-4:], "13800138000", "138****", "张三", "济南市档案馆", "form"):
        assert secret not in text
    assert code not in body.values()
    assert not {"applicant", "agent", "form_data", "id_number", "phone"} & set(body)


def test_result_reason_only_for_a_finished_case_not_granted(client, api_as, ctx):
    case_no, code = new_case(api_as)
    case = db.session.scalar(select(Case).where(Case.case_no == case_no))
    case.status, case.result, case.result_reason, case.completed_at = "refused", "refused", "档案不存在", utcnow()
    db.session.commit()
    body = query(client, case_no, code).get_json()
    assert body["result"] == "refused" and body["result_reason"] == "档案不存在"
    assert body["current_steps"] == [] and body["can_rate"] is True


def test_wrong_code_is_403_and_counted(client, api_as, ctx):
    case_no, code = new_case(api_as)
    for attempt, bad in enumerate((wrong(code), "", "12345", "abcdef", "1234567"), start=1):
        response = query(client, case_no, bad)
        assert response.status_code == 403, bad
        assert response.get_json()["error"] == "The query password is wrong."
        db.session.expire_all()
        assert guard(case_no).failures == attempt
    assert guard(case_no).locked_until > utcnow() + timedelta(minutes=59)


def test_sixth_try_is_locked_even_with_the_right_code_until_the_lock_lifts(client, api_as, ctx):
    case_no, code = new_case(api_as)
    assert [query(client, case_no, wrong(code)).status_code for _ in range(5)] == [403] * 5
    locked = query(client, case_no, code)
    assert locked.status_code == 429
    assert 3500 <= int(locked.headers["Retry-After"]) <= 3600
    assert locked.get_json()["error"].startswith("Too many wrong query passwords for this case. Try again after ")
    assert query(client, case_no, wrong(code)).status_code == 429

    row = guard(case_no)
    row.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert query(client, case_no, code).status_code == 200
    db.session.expire_all()
    assert guard(case_no).failures == 0 and guard(case_no).locked_until is None


def test_right_code_resets_the_count(client, api_as, ctx):
    case_no, code = new_case(api_as)
    for _ in range(4):
        assert query(client, case_no, wrong(code)).status_code == 403
    assert query(client, case_no, code).status_code == 200
    for _ in range(4):
        assert query(client, case_no, wrong(code)).status_code == 403
    assert query(client, case_no, code).status_code == 200


def test_failures_older_than_the_window_start_a_new_one(client, api_as, ctx):
    case_no, code = new_case(api_as)
    assert query(client, case_no, wrong(code)).status_code == 403
    row = guard(case_no)
    row.failures, row.window_started_at = 4, utcnow() - timedelta(minutes=61)
    db.session.commit()
    assert query(client, case_no, wrong(code)).status_code == 403
    db.session.expire_all()
    assert guard(case_no).failures == 1 and guard(case_no).locked_until is None
    assert query(client, case_no, code).status_code == 200


def test_unknown_case_and_missing_code(client, api_as):
    case_no, code = new_case(api_as)
    unknown = query(client, "NO-SUCH-CASE", code)
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "No case with this number."
    missing = client.get(f"/api/v1/public/cases/{case_no}", headers=EN)
    assert missing.status_code == 400 and "query_code" in missing.get_json()["fields"]


def test_concurrent_guesses_are_counted_exactly(app, api_as):
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("row locks need PostgreSQL")
    case_no, code = new_case(api_as)
    clients = [app.test_client() for _ in range(8)]
    barrier = threading.Barrier(len(clients))

    def guess(c):
        barrier.wait()
        return query(c, case_no, wrong(code)).status_code

    with ThreadPoolExecutor(len(clients)) as pool:
        statuses = sorted(pool.map(guess, clients))
    assert statuses == [403] * 5 + [429] * 3
    with app.app_context():
        assert guard(case_no).failures == 5 and guard(case_no).locked_until is not None


def test_query_page_shows_status_and_never_echoes_the_password(client, api_as):
    case_no, code = new_case(api_as)
    form = client.get("/query").get_data(as_text=True)
    assert "查询密码" in form and "办件编号" in form and 'name="csrf_token"' in form
    response = page_post(client, case_no, code)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'data-testid="case-status">\s*办理中\s*<', page)
    assert "张*" in page and "档案查询" in page and "馆藏档案部" in page
    assert code not in without_noise(page, case_no)
    assert VALID_ID not in page and "13800138000" not in page
    assert 'data-testid="rating-form"' not in page  # not finished yet

    refused = page_post(client, case_no, wrong(code))
    assert refused.status_code == 403
    assert wrong(code) not in without_noise(refused.get_data(as_text=True), case_no)
    assert 'data-testid="query-error"' in refused.get_data(as_text=True)
    assert page_post(client, "NO-SUCH-CASE", code).status_code == 404
    for _ in range(4):
        page_post(client, case_no, wrong(code))
    locked = page_post(client, case_no, code)
    assert locked.status_code == 429 and locked.headers["Retry-After"]


def test_query_page_without_csrf_token_is_refused(client, api_as, ctx):
    case_no, code = new_case(api_as)
    assert client.post("/query", data={"case_no": case_no, "query_code": wrong(code)}).status_code == 400
    assert guard(case_no) is None  # a refused form is no guess


def test_query_page_escapes_names(client, api_as, ctx):
    case_no, code = new_case(api_as)
    case = db.session.scalar(select(Case).where(Case.case_no == case_no))
    case.applicant_type, case.applicant_name = "org", "<b>x</b>"
    item = case.item
    original = item.name
    item.name = "<i>证明</i>"
    db.session.commit()
    try:
        page = page_post(client, case_no, code).get_data(as_text=True)
    finally:
        item.name = original
        db.session.commit()
    assert "&lt;b***" in page and "<b***" not in page
    assert "&lt;i&gt;证明&lt;/i&gt;" in page and "<i>证明</i>" not in page


def test_a_special_procedure_is_notified_in_writing_and_shown_to_the_applicant(client, api_as):
    case_no, code = new_case(api_as)
    handler = api_as("handler")
    task = next(t for t in handler.get("/tasks").get_json() if t["case_no"] == case_no)
    suspended = handler.post(f"/tasks/{task['id']}/suspend", {"type": "expert_review", "reason": "需专家评审档案真伪",
                                                             "expected_end": "2099-12-31"})
    assert suspended.status_code == 200, suspended.get_json()
    case = handler.get(f"/cases/{case_no}").get_json()
    notice = next(d for d in case["documents"] if d["kind"] == "special_procedure_notice")
    assert notice["doc_no"].startswith("TB")
    pdf = handler.get(f"/cases/{case_no}/documents/{notice['doc_no']}")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    shown = query(client, case_no, code).get_json()["special_procedures"]
    assert [(p["type"], p["notice_no"], p["ended_at"], p["expected_end"]) for p in shown] == [
        ("expert_review", notice["doc_no"], None, "2099-12-31")]
    assert handler.post(f"/tasks/{task['id']}/resume", {"note": "专家评审确认档案真实"}).status_code == 200
    ended = query(client, case_no, code).get_json()["special_procedures"][0]
    assert ended["ended_at"] and ended["working_days_used"] == 0 and ended["result"] == "专家评审确认档案真实"
    page = page_post(client, case_no, code).get_data(as_text=True)
    assert "特别程序(不计入办理时限)" in page and "专家评审确认档案真实" in page


def test_a_plain_suspension_is_no_special_procedure(client, api_as):
    case_no, code = new_case(api_as)
    handler = api_as("handler")
    task = next(t for t in handler.get("/tasks").get_json() if t["case_no"] == case_no)
    assert handler.post(f"/tasks/{task['id']}/suspend", {"type": "other", "reason": "等待上级答复",
                                                         "expected_end": "2099-12-31"}).status_code == 200
    case = handler.get(f"/cases/{case_no}").get_json()
    assert not any(d["kind"] == "special_procedure_notice" for d in case["documents"])
    assert query(client, case_no, code).get_json()["special_procedures"] == []
