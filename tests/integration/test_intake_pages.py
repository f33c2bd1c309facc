"""Intake pages through HTTP with CSRF on: the form, the one-time query password, notices, supplements, previews."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pypdf
from sqlalchemy import func, select

from app.extensions import db
from app.models import Case, CaseMaterial
from app.models.base import utcnow
from app.services.org import DEMO_PASSWORD
from tests.conftest import ITEM_CODE, PDF_BYTES, VALID_ID, application_payload
from tests.factories import sign_in

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SUBMISSION_KEY = re.compile(r'name="submission_key" value="([^"]+)"')
DOCUMENT_PATH = re.compile(rf"^/cases/({re.escape(ITEM_CODE)}\d{{12}})/documents/([A-Z]{{2}}\d{{10}})$")
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\x00" * 17 + b"\x00\x00\x00\x00IEND\xaeB`\x82"
TIFF_BYTES = b"II*\x00" + b"\x00" * 32


def _token(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return CSRF.search(response.get_data(as_text=True)).group(1)


def _logged_in(app, username: str):
    return sign_in(app.test_client(), username)


def _form_data(client, **overrides) -> dict:
    page = client.get(f"/intake/{ITEM_CODE}").get_data(as_text=True)
    data = {
        "csrf_token": CSRF.search(page).group(1),
        "submission_key": SUBMISSION_KEY.search(page).group(1),
        "applicant_type": "person", "applicant_id_type": "resident_id", "applicant_id_number": VALID_ID,
        "applicant_name": "孙七", "applicant_phone": "13800138000", "applicant_capacity": "self",
        "record_type": "marriage", "record_holder_name": "孙七", "record_year": "1998",
        "holding_archive": "济南市档案馆", "purpose": "办理房产继承", "contact_mobile": "13800138000",
        "material_id_card": "1", "file_application": (io.BytesIO(PDF_BYTES), "申请表.pdf"),
        "decision": "accept",
    }
    data.update(overrides)
    return data


def _post_form(client, data: dict):
    # File tuples are consumed when posted: copy them so the same form can be sent twice.
    fresh = {k: (io.BytesIO(v[0].getvalue()), v[1]) if isinstance(v, tuple) else v for k, v in data.items()}
    return client.post(f"/intake/{ITEM_CODE}", data=fresh, content_type="multipart/form-data")


def _document_location(response) -> tuple[str, str]:
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    match = DOCUMENT_PATH.match(response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1), match.group(2)


def _testid(html: str, name: str) -> str:
    match = re.search(rf'data-testid="{name}"[^>]*>([^<]*)<', html)
    assert match, name
    return match.group(1).strip()


def _pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", "", "".join(page.extract_text() or "" for page in reader.pages))


def _case_count(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count(Case.id)))
        db.session.remove()
        return count


def _status(app, case_no: str) -> str:
    with app.app_context():
        status = db.session.scalar(select(Case.status).where(Case.case_no == case_no))
        db.session.remove()
        return status


def _material_ids(app, case_no: str) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(select(CaseMaterial.code, CaseMaterial.id).join(Case)
                                  .where(Case.case_no == case_no)).all()
        db.session.remove()
        return dict(rows)


def test_accept_through_the_form_shows_the_query_code_only_right_after(app):
    front = _logged_in(app, "frontdesk")
    case_no, doc_no = _document_location(_post_form(front, _form_data(front)))
    assert doc_no.startswith("SL")

    page = front.get(f"/cases/{case_no}/documents/{doc_no}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert _testid(html, "case-no") == case_no
    assert _testid(html, "doc-no") == doc_no
    query_code = _testid(html, "query-code")
    assert re.fullmatch(r"\d{6}", query_code)
    pdf_link = re.search(r'data-testid="pdf" href="([^"]+)"', html).group(1)
    assert pdf_link == f"/cases/{case_no}/documents/{doc_no}.pdf"

    pdf = front.get(pdf_link)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = _pdf_text(pdf.data)
    assert "查询密码" + query_code in text
    assert case_no in text and "受理回执" in text and "民生档案查询申请表" in text

    # Another clerk never sees the password.
    other = _logged_in(app, "frontdesk")
    other_html = other.get(f"/cases/{case_no}/documents/{doc_no}").get_data(as_text=True)
    assert _testid(other_html, "query-code").startswith("******")
    assert "查询密码" + query_code not in _pdf_text(other.get(pdf_link).data)

    # Once the reprint time is over, the clerk who took the case no longer sees it either.
    with front.session_transaction() as session:
        receipt = dict(session["receipt"])
        assert receipt["case_no"] == case_no
        receipt["until"] = (utcnow() - timedelta(seconds=1)).isoformat()
        session["receipt"] = receipt
    expired = front.get(f"/cases/{case_no}/documents/{doc_no}").get_data(as_text=True)
    assert _testid(expired, "query-code").startswith("******")
    assert query_code not in re.sub(r"\d{7,}", "", expired)
    stored_text = _pdf_text(front.get(pdf_link).data)
    assert "查询密码******" in stored_text and "查询密码" + query_code not in stored_text
    with front.session_transaction() as session:
        assert "receipt" not in session


def test_next_user_at_the_same_browser_does_not_see_the_query_code(app):
    browser = _logged_in(app, "frontdesk")
    case_no, doc_no = _document_location(_post_form(browser, _form_data(browser)))
    html = browser.get(f"/cases/{case_no}/documents/{doc_no}").get_data(as_text=True)
    query_code = _testid(html, "query-code")
    assert re.fullmatch(r"\d{6}", query_code)
    assert browser.post("/logout", data={"csrf_token": CSRF.search(html).group(1)}).status_code == 302

    # The holding department's handler logs in at the same browser within the reprint time.
    response = browser.post("/login", data={"username": "handler", "password": DEMO_PASSWORD,
                                            "csrf_token": _token(browser, "/login")})
    assert response.status_code == 302
    page = browser.get(f"/cases/{case_no}/documents/{doc_no}")
    assert page.status_code == 200
    assert _testid(page.get_data(as_text=True), "query-code").startswith("******")
    pdf_text = _pdf_text(browser.get(f"/cases/{case_no}/documents/{doc_no}.pdf").data)
    assert "查询密码******" in pdf_text and "查询密码" + query_code not in pdf_text
    with browser.session_transaction() as session:
        assert "receipt" not in session


def test_no_reprint_window_means_no_password_on_reload(app, monkeypatch):
    monkeypatch.setitem(app.config, "RECEIPT_REPRINT_MINUTES", 0)
    front = _logged_in(app, "frontdesk")
    case_no, doc_no = _document_location(_post_form(front, _form_data(front)))
    html = front.get(f"/cases/{case_no}/documents/{doc_no}").get_data(as_text=True)
    assert _testid(html, "query-code").startswith("******")


def test_double_submit_of_the_same_form_makes_one_case(app):
    front = _logged_in(app, "frontdesk")
    data = _form_data(front)
    first = _document_location(_post_form(front, data))
    second = _document_location(_post_form(front, data))
    assert first == second
    assert _case_count(app) == 1
    # The duplicate does not take the password away from the receipt.
    html = front.get(f"/cases/{first[0]}/documents/{first[1]}").get_data(as_text=True)
    assert re.fullmatch(r"\d{6}", _testid(html, "query-code"))
    # A fresh form is a new application.
    assert _document_location(_post_form(front, _form_data(front)))[0] != first[0]
    assert _case_count(app) == 2


def test_refuse_without_reason_keeps_the_upload(app):
    front = _logged_in(app, "frontdesk")
    response = _post_form(front, _form_data(front, decision="refuse", reason=""))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "不予受理必须说明理由。" in html
    assert 'id="reason"' in html and "is-invalid" in html
    kept = re.search(r'name="stored_application" value="([0-9a-f]{64})\|申请表.pdf\|application/pdf"', html)
    assert kept, "the uploaded scan is kept for the next attempt"
    assert "申请表.pdf" in html
    assert 'value="孙七"' in html  # typed values stay
    assert _case_count(app) == 0

    # Refused again, with the kept scan and a reason: no new upload needed.
    retry = _post_form(front, _form_data(front, decision="refuse", reason="不属于本机关受理范围",
                                         file_application=(io.BytesIO(b""), ""),
                                         stored_application=f"{kept.group(1)}|申请表.pdf|application/pdf"))
    case_no, doc_no = _document_location(retry)
    assert doc_no.startswith("BY")
    assert _status(app, case_no) == "refused"
    html = front.get(f"/cases/{case_no}/documents/{doc_no}").get_data(as_text=True)
    assert "不予受理通知书" in html and "不属于本机关受理范围" in html
    assert set(_material_ids(app, case_no)) == {"application", "id_card"}


def test_supplement_through_the_pages(app):
    front = _logged_in(app, "frontdesk")
    response = _post_form(front, _form_data(front, decision="supplement", file_application=(io.BytesIO(b""), ""),
                                            defect_id_card="复印件不清晰"))
    case_no, doc_no = _document_location(response)
    assert doc_no.startswith("BZ")
    assert _status(app, case_no) == "pending_supplement"
    notice = front.get(f"/cases/{case_no}/documents/{doc_no}").get_data(as_text=True)
    assert "补正材料通知书" in notice
    assert "民生档案查询申请表" in notice and "复印件不清晰" in notice

    # The decision page does not decide a case that waits for the applicant.
    waiting = front.get(f"/intake/cases/{case_no}/decision").get_data(as_text=True)
    assert 'data-testid="accept"' not in waiting

    page = front.get(f"/intake/cases/{case_no}/supplement")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    requested = re.search(r'data-testid="requested-materials">(.*?)</ul>', html, re.S).group(1)
    assert doc_no in html and "民生档案查询申请表" in requested and "复印件不清晰" in requested
    token = CSRF.search(html).group(1)

    nothing = front.post(f"/intake/cases/{case_no}/supplement", data={"csrf_token": token},
                         content_type="multipart/form-data")
    assert nothing.status_code == 422
    assert "请至少登记一份申请人补交的材料。" in nothing.get_data(as_text=True)

    registered = front.post(f"/intake/cases/{case_no}/supplement", content_type="multipart/form-data", data={
        "csrf_token": token, "file_application": (io.BytesIO(PDF_BYTES), "补交申请表.pdf"),
        "file_id_card": (io.BytesIO(PNG_BYTES), "身份证.png")})
    assert registered.status_code == 302
    assert registered.headers["Location"] == f"/intake/cases/{case_no}/decision"
    assert _status(app, case_no) == "pre_review"

    decide = front.get(f"/intake/cases/{case_no}/decision")
    assert decide.status_code == 200
    decide_html = decide.get_data(as_text=True)
    received = re.search(r'data-testid="received-materials">(.*?)</ul>', decide_html, re.S).group(1)
    assert "补交申请表.pdf" in received and "身份证.png" in received
    accepted = front.post(f"/intake/cases/{case_no}/decision",
                          data={"csrf_token": CSRF.search(decide_html).group(1), "decision": "accept"})
    same_case, receipt_no = _document_location(accepted)
    assert same_case == case_no and receipt_no.startswith("SL")
    assert _status(app, case_no) == "in_progress"
    receipt = front.get(f"/cases/{case_no}/documents/{receipt_no}").get_data(as_text=True)
    assert "受理回执" in receipt and "补交申请表.pdf" in receipt

    # A second decision on the same case is a conflict, not a second receipt.
    again = front.post(f"/intake/cases/{case_no}/decision",
                       data={"csrf_token": CSRF.search(decide_html).group(1), "decision": "accept"})
    assert again.status_code == 409


def test_decision_page_shows_field_errors(app):
    front = _logged_in(app, "frontdesk")
    case_no, _doc = _document_location(_post_form(front, _form_data(
        front, decision="supplement", file_application=(io.BytesIO(b""), ""))))
    token = _token(front, f"/intake/cases/{case_no}/supplement")
    front.post(f"/intake/cases/{case_no}/supplement", content_type="multipart/form-data",
               data={"csrf_token": token, "material_id_card": "1"})
    decide_html = front.get(f"/intake/cases/{case_no}/decision").get_data(as_text=True)
    refused = front.post(f"/intake/cases/{case_no}/decision",
                         data={"csrf_token": CSRF.search(decide_html).group(1), "decision": "accept"})
    assert refused.status_code == 422
    assert "缺少必要材料:民生档案查询申请表" in refused.get_data(as_text=True)
    assert _status(app, case_no) == "pre_review"


def test_online_task_link_opens_the_decision_page(app, api_as):
    body = api_as("frontdesk").post("/cases", application_payload(channel="online")).get_json()
    case_no = body["case_no"]
    front = _logged_in(app, "frontdesk")
    inbox = front.get("/inbox").get_data(as_text=True)
    task_id = re.search(rf'data-case-no="{case_no}".*?/tasks/(\d+)', inbox, re.S).group(1)
    response = front.get(f"/tasks/{task_id}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/intake/cases/{case_no}/decision"
    decide_html = front.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="accept"' in decide_html and case_no in decide_html


def test_material_preview(app):
    front = _logged_in(app, "frontdesk")
    case_no, _doc = _document_location(_post_form(front, _form_data(
        front, file_id_card=(io.BytesIO(PNG_BYTES), "id.png"))))
    ids = _material_ids(app, case_no)

    pdf = front.get(f"/cases/{case_no}/materials/{ids['application']}")
    assert pdf.status_code == 200
    assert pdf.data == PDF_BYTES
    assert pdf.mimetype == "application/pdf"
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
    assert pdf.headers["Content-Disposition"].startswith("inline")
    assert "no-store" in pdf.headers["Cache-Control"]

    png = front.get(f"/cases/{case_no}/materials/{ids['id_card']}")
    assert png.status_code == 200 and png.data == PNG_BYTES
    assert png.mimetype == "image/png" and png.headers["X-Content-Type-Options"] == "nosniff"
    assert png.headers["Content-Disposition"].startswith("inline")
    assert "sandbox" in png.headers["Content-Security-Policy"]

    assert front.get(f"/cases/{case_no}/materials/999999").status_code == 404


def test_scan_that_browsers_cannot_show_is_downloaded(app):
    front = _logged_in(app, "frontdesk")
    case_no, _doc = _document_location(_post_form(front, _form_data(
        front, file_application=(io.BytesIO(TIFF_BYTES), "scan.tif"))))
    response = front.get(f"/cases/{case_no}/materials/{_material_ids(app, case_no)['application']}")
    assert response.status_code == 200 and response.data == TIFF_BYTES
    assert response.mimetype == "image/tiff"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_preview_is_refused_to_a_handler_not_on_the_case(app, api_as):
    front = _logged_in(app, "frontdesk")
    accepted, _doc = _document_location(_post_form(front, _form_data(front)))
    online = api_as("frontdesk").post("/cases", application_payload(channel="online")).get_json()["case_no"]

    # The leadership department has no step in an accepted case.
    leader = _logged_in(app, "leader")
    material_id = _material_ids(app, accepted)["application"]
    assert leader.get(f"/cases/{accepted}/materials/{material_id}").status_code == 403
    assert leader.get(f"/cases/{accepted}").status_code == 403
    # The holding department works on the accepted case, but not on one still in pre-review.
    handler = _logged_in(app, "handler")
    assert handler.get(f"/cases/{accepted}/materials/{material_id}").status_code == 200
    online_material = _material_ids(app, online)["application"]
    assert handler.get(f"/cases/{online}/materials/{online_material}").status_code == 403
    # A material id of another case is not served through this case.
    assert handler.get(f"/cases/{accepted}/materials/{online_material}").status_code == 404
