"""Pages through HTTP with CSRF on: login, intake, inbox, task, case page, languages."""
from __future__ import annotations

import io
import re

from app.services.org import DEMO_PASSWORD
from tests.conftest import ITEM_CODE, PDF_BYTES, VALID_ID
from tests.factories import sign_in

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _csrf(client, path="/login") -> str:
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def login(client, username):
    """A signed-in client (made directly: the tests of the login form post it themselves)."""
    return sign_in(client, username)


def login_through_form(client, username):
    response = client.post("/login", data={"username": username, "password": DEMO_PASSWORD,
                                           "csrf_token": _csrf(client)})
    assert response.status_code == 302
    return client


def test_anonymous_is_sent_to_login(client):
    response = client.get("/inbox")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_wrong_password_is_refused_in_chinese_by_default(client):
    response = client.post("/login", data={"username": "handler", "password": "x", "csrf_token": _csrf(client)})
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)


def test_english_on_request(client):
    page = client.get("/login?lang=en").get_data(as_text=True)
    assert "Log in" in page and "登录" not in page.replace("中文", "")
    client.get("/language/en")
    assert "Username" in client.get("/login").get_data(as_text=True)


def test_missing_csrf_token_is_400(client):
    response = client.post("/login", data={"username": "handler", "password": DEMO_PASSWORD})
    assert response.status_code == 400
    assert "令牌" in response.get_data(as_text=True) or "token" in response.get_data(as_text=True)


def _intake_form(client, **overrides):
    data = {
        "csrf_token": _csrf(client, f"/intake/{ITEM_CODE}"),
        "applicant_type": "person", "applicant_name": "李四", "applicant_id_number": VALID_ID,
        "applicant_phone": "13800138000", "record_type": "marriage", "record_holder_name": "李四",
        "holding_archive": "济南市档案馆", "purpose": "办理继承", "contact_mobile": "13800138000",
        "material_id_card": "1", "file_application": (io.BytesIO(PDF_BYTES), "申请表.pdf"),
    }
    data.update(overrides)
    return client.post(f"/intake/{ITEM_CODE}", data=data, content_type="multipart/form-data")


def test_front_desk_to_completion_through_pages(app):
    front = login(app.test_client(), "frontdesk")
    response = _intake_form(front)
    assert response.status_code == 302
    receipt = front.get(response.headers["Location"]).get_data(as_text=True)
    case_no = re.search(r'data-testid="case-no">([^<]+)<', receipt).group(1)
    assert re.search(r'data-testid="query-code">\d{6}<', receipt)

    handler = login(app.test_client(), "handler")
    inbox = handler.get("/inbox").get_data(as_text=True)
    assert case_no in inbox
    item_id = re.search(rf'data-case-no="{case_no}".*?/tasks/(\d+)/claim', inbox, re.S).group(1)
    token = _csrf(handler, "/inbox")
    assert handler.post(f"/tasks/{item_id}/claim", data={"csrf_token": token}).status_code == 302
    task_page = handler.get(f"/tasks/{item_id}").get_data(as_text=True)
    assert "档案查询" in task_page and "search_result" in task_page
    # A refused form shows the error next to the field and keeps the typed values.
    refused = handler.post(f"/tasks/{item_id}", data={"csrf_token": token, "search_result": "yes"})
    assert refused.status_code == 422 and "is-invalid" in refused.get_data(as_text=True)
    done = handler.post(f"/tasks/{item_id}", data={"csrf_token": token, "search_result": "yes", "opinion": "已查到"})
    assert done.status_code == 302

    case_page = handler.get(f"/cases/{case_no}").get_data(as_text=True)
    assert "利用审核" in case_page and "已查到" in case_page


def test_refused_intake_keeps_the_upload(app):
    front = login(app.test_client(), "frontdesk")
    response = _intake_form(front, applicant_id_number="110105194912310021")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "is-invalid" in page and "居民身份证号码" in page
    kept = re.search(r'name="stored_application" value="([^"]+)"', page).group(1)
    retry = _intake_form(front, file_application=(io.BytesIO(b""), ""), stored_application=kept)
    assert retry.status_code == 302


def test_handler_cannot_open_intake(app):
    handler = login(app.test_client(), "handler")
    assert handler.get("/intake/").status_code == 403
