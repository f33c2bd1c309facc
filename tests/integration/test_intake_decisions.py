"""The window's intake decisions through the JSON API: 受理, 容缺受理, 补正告知, 不予受理, and their documents."""
from __future__ import annotations

import base64
import hashlib
import io
import re
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pypdf
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Case
from app.services.calendar import workdays
from app.services.cases.timers import fire_due_timers
from tests.conftest import ITEM_CODE, PDF_BYTES, VALID_ID, VALID_ID_2, application_payload
from tests.integration.test_filing import assert_files_cleanly
from tests.integration.test_pages import login

SHANGHAI = ZoneInfo("Asia/Shanghai")
ITEM_NAME = "民生档案跨馆查询出证"
MATERIAL_NAMES = {"application": "民生档案查询申请表", "id_card": "申请人有效身份证件"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# Helpers

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _scan(code: str, data: bytes = PDF_BYTES, filename: str | None = None) -> dict:
    return {"code": code, "filename": filename or f"{code}.pdf", "content_base64": _b64(data)}


def _paper(code: str) -> dict:
    return {"code": code}


def _case_count(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count(Case.id)))
        db.session.remove()
        return count


def _pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", "", "".join(page.extract_text() or "" for page in reader.pages))


def _document(body: dict, kind: str) -> dict:
    found = [d for d in body["documents"] if d["kind"] == kind]
    assert len(found) == 1, body["documents"]
    return found[0]


def _document_text(api, document: dict) -> str:
    response = api.client.get(document["url"], headers=api._headers())
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    return _pdf_text(response.data)


def _submit(front, expect: int = 201, **overrides) -> dict:
    response = front.post("/cases", application_payload(**overrides))
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def _person(**fields) -> dict:
    applicant = {"type": "person", "name": "张三", "id_number": VALID_ID, "phone": "13800138000"}
    applicant.update(fields)
    return applicant


def _id_with_check_char(first17: str) -> str:
    """An 18-character citizen ID with a correct GB 11643 check character."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    return first17 + "10X98765432"[total % 11]


def _uscc_with_check_char(first17: str) -> str:
    """A unified social credit code with a correct GB 32100 check character."""
    charset = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    total = sum(charset.index(c) * w for c, w in zip(first17, weights, strict=True))
    return first17 + charset[(31 - total % 31) % 31]


def _today_shanghai() -> date:
    return datetime.now(SHANGHAI).date()


def _chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


# 受理 (accept)

def test_accept_issues_receipt_with_committed_due_date(api_as):
    front = api_as("frontdesk")
    body = _submit(front)
    assert body["status"] == "in_progress" and body["result"] is None
    receipt = _document(body, "acceptance_receipt")
    assert re.fullmatch(r"SL\d{4}\d{6}", receipt["doc_no"])
    assert receipt["title"] == "受理回执"
    assert [d["kind"] for d in body["documents"]] == ["acceptance_receipt"]

    accepted_at = datetime.fromisoformat(body["accepted_at"])
    committed = datetime.fromisoformat(body["committed_due_at"])
    statutory = datetime.fromisoformat(body["statutory_due_at"])
    assert committed == workdays.deadline(accepted_at, 5, "working_day", "Asia/Shanghai")
    assert statutory == workdays.deadline(accepted_at, 20, "working_day", "Asia/Shanghai")
    local_due = committed.astimezone(SHANGHAI)
    assert (local_due.hour, local_due.minute, local_due.second) == (23, 59, 59)
    assert local_due.date() > accepted_at.astimezone(SHANGHAI).date()
    assert body["supplement_due_at"] is None

    text = _document_text(front, receipt)
    case_no, query_code = body["case_no"], body["query_code"]
    assert "受理回执" in text and receipt["doc_no"] in text
    assert case_no in text and ITEM_NAME in text
    assert "承诺办结日期" + _chinese_date(local_due.date()) in text
    assert "5个工作日" in text
    # The stored copy never holds the query password.
    assert "查询密码******" in text
    assert query_code not in text.replace(case_no, "").replace(receipt["doc_no"], "")

    # The document list of the case agrees with the answer to the submission, and names the stored PDF.
    stored = front.get(f"/cases/{case_no}/documents/{receipt['doc_no']}").data
    detail = front.get(f"/cases/{case_no}").get_json()
    assert [d["doc_no"] for d in detail["documents"]] == [receipt["doc_no"]]
    assert detail["documents"][0]["sha256"] == hashlib.sha256(stored).hexdigest()
    assert {m["code"]: m["state"] for m in detail["materials"]} == {"application": "received", "id_card": "received"}


def test_document_of_another_case_is_not_found(api_as):
    front = api_as("frontdesk")
    first, second = _submit(front), _submit(front)
    doc_no = first["documents"][0]["doc_no"]
    assert front.get(f"/cases/{second['case_no']}/documents/{doc_no}").status_code == 404
    assert front.get(f"/cases/{first['case_no']}/documents/SL000000000000").status_code == 404


# 不予受理 (refuse)

def test_refuse_without_reason_creates_nothing(app, api_as):
    front = api_as("frontdesk")
    response = front.post("/cases", application_payload(decision="refuse", reason="   "))
    assert response.status_code == 422
    assert "reason" in response.get_json()["fields"]
    assert _case_count(app) == 0
    # Nothing was numbered either: the next case is the day's first.
    assert _submit(front)["case_no"].endswith("0001")


def test_refuse_with_reason_ends_case_not_accepted(app, api_as):
    front = api_as("frontdesk")
    reason = "申请事项不属于本机关职权范围,请向户籍所在地档案馆申请。"
    body = _submit(front, decision="refuse", reason=reason)
    assert body["status"] == "refused"
    assert body["result"] == "not_accepted"
    assert body["result_reason"] == reason
    assert body["accepted_at"] is None and body["committed_due_at"] is None
    notice = _document(body, "refusal_notice")
    assert re.fullmatch(r"BY\d{10}", notice["doc_no"]) and notice["title"] == "不予受理通知书"
    text = _document_text(front, notice)
    assert "不予受理通知书" in text and body["case_no"] in text
    assert re.sub(r"\s+", "", reason) in text
    assert "行政复议" in text

    detail = front.get(f"/cases/{body['case_no']}").get_json()
    assert detail["status"] == "refused" and detail["completed_at"]
    assert not [t for t in detail["tasks"] if t["state"] == "open"]
    # The 不予受理通知书 is the result material of its package; no second notice is issued.
    assert [d["kind"] for d in detail["documents"]] == ["refusal_notice"]
    assert_files_cleanly(app, body["case_no"], result_document="BY")


# 补正告知 (one-time notice) and the supplement

def test_supplement_notice_lists_every_missing_material(api_as):
    front = api_as("frontdesk")
    body = _submit(front, materials=[], decision="supplement")
    assert body["status"] == "pending_supplement"
    due = datetime.fromisoformat(body["supplement_due_at"])
    created = datetime.fromisoformat(front.get(f"/cases/{body['case_no']}").get_json()["submitted_at"])
    assert due == workdays.deadline(created, 30, "working_day", "Asia/Shanghai")
    notice = _document(body, "supplement_notice")
    assert re.fullmatch(r"BZ\d{10}", notice["doc_no"])
    text = _document_text(front, notice)
    assert "补正材料通知书" in text and body["case_no"] in text
    assert MATERIAL_NAMES["application"] + "缺少" in text
    assert MATERIAL_NAMES["id_card"] + "缺少" in text
    assert "补正期限" + _chinese_date(due.astimezone(SHANGHAI).date()) in text
    # Materials that are not required for this applicant are not asked for.
    assert "授权委托书" not in text and "亲属关系证明" not in text


def test_supplement_notice_lists_defective_materials_with_their_note(api_as):
    front = api_as("frontdesk")
    body = _submit(front, materials=[_scan("application")], decision="supplement",
                   defects=[{"code": "application", "note": "申请表缺少申请人签名"}])
    text = _document_text(front, _document(body, "supplement_notice"))
    assert MATERIAL_NAMES["application"] + "不符合要求申请表缺少申请人签名" in text
    assert MATERIAL_NAMES["id_card"] + "缺少" in text


def test_supplement_with_nothing_wrong_is_refused(app, api_as):
    response = api_as("frontdesk").post("/cases", application_payload(decision="supplement"))
    assert response.status_code == 422 and "defects" in response.get_json()["fields"]
    assert _case_count(app) == 0


def test_defect_of_a_material_not_on_the_checklist(app, api_as):
    response = api_as("frontdesk").post("/cases", application_payload(
        decision="supplement", defects=[{"code": "passport_photo", "note": "模糊"}]))
    assert response.status_code == 422 and "defects.passport_photo" in response.get_json()["fields"]
    assert _case_count(app) == 0


def test_supplement_then_decision_accept_keeps_the_case_number(api_as):
    front = api_as("frontdesk")
    body = _submit(front, materials=[_paper("id_card")], decision="supplement")
    case_no = body["case_no"]
    assert body["status"] == "pending_supplement"

    # The window cannot decide while the case waits for the applicant.
    assert front.post(f"/cases/{case_no}/decision", {"decision": "accept"}).status_code == 409
    # A supplement needs at least one material.
    empty = front.post(f"/cases/{case_no}/supplement", {"materials": []})
    assert empty.status_code == 422 and "materials" in empty.get_json()["fields"]

    supplemented = front.post(f"/cases/{case_no}/supplement", {"materials": [_scan("application")]})
    assert supplemented.status_code == 200, supplemented.get_json()
    assert supplemented.get_json()["status"] == "pre_review"
    assert supplemented.get_json()["supplement_due_at"] is None
    assert front.post(f"/cases/{case_no}/supplement", {"materials": [_scan("application")]}).status_code == 409

    decided = front.post(f"/cases/{case_no}/decision", {"decision": "accept"})
    assert decided.status_code == 200, decided.get_json()
    result = decided.get_json()
    assert result["case_no"] == case_no
    assert result["status"] == "in_progress"
    assert result["committed_due_at"] == workdays.deadline(
        datetime.fromisoformat(result["accepted_at"]), 5, "working_day", "Asia/Shanghai").isoformat()
    assert [d["kind"] for d in result["documents"]] == ["supplement_notice", "acceptance_receipt"]

    detail = front.get(f"/cases/{case_no}").get_json()
    materials = {m["code"]: m for m in detail["materials"]}
    assert materials["application"]["state"] == "received" and materials["application"]["sha256"]
    assert materials["id_card"]["state"] == "received" and materials["id_card"]["sha256"] is None
    # The holding archive now has the search step.
    assert [t["department"] for t in detail["tasks"] if t["state"] == "open"] == ["HOLDING"]
    actions = [e["action"] for e in detail["events"]]
    assert actions.index("intake_supplement") < actions.index("supplement_registered") < actions.index("intake_accept")


def test_supplement_for_a_case_not_waiting_conflicts(api_as):
    front = api_as("frontdesk")
    case_no = _submit(front)["case_no"]
    response = front.post(f"/cases/{case_no}/supplement", {"materials": [_scan("application")]})
    assert response.status_code == 409 and response.get_json()["error"]
    assert front.post("/cases/NO-SUCH-CASE/supplement", {"materials": [_scan("application")]}).status_code == 404


def test_decision_on_a_case_not_in_pre_review_conflicts(api_as):
    front = api_as("frontdesk")
    case_no = _submit(front)["case_no"]
    response = front.post(f"/cases/{case_no}/decision", {"decision": "refuse", "reason": "重复决定"})
    assert response.status_code == 409
    detail = front.get(f"/cases/{case_no}").get_json()
    assert detail["status"] == "in_progress" and detail["result"] is None
    assert [d["kind"] for d in detail["documents"]] == ["acceptance_receipt"]


# 容缺受理 (accept with a non-key material missing)

def test_accept_with_deficiency_promises_the_missing_material(api_as):
    front = api_as("frontdesk")
    promised = _today_shanghai() + timedelta(days=7)
    body = _submit(front, materials=[_paper("id_card")], decision="accept_with_deficiency",
                   promised_date=promised.isoformat())
    assert body["status"] == "in_progress"
    assert body["accepted_at"] and body["committed_due_at"]
    receipt = _document(body, "deficiency_receipt")
    assert re.fullmatch(r"RQ\d{10}", receipt["doc_no"]) and receipt["title"] == "容缺受理回执"
    detail = front.get(f"/cases/{body['case_no']}").get_json()
    materials = {m["code"]: m for m in detail["materials"]}
    assert materials["application"]["state"] == "promised"
    assert materials["application"]["promised_date"] == promised.isoformat()
    assert materials["id_card"]["state"] == "received" and materials["id_card"]["promised_date"] is None
    text = _document_text(front, receipt)
    assert "容缺受理回执" in text
    assert "承诺于" + _chinese_date(promised) + "前补交" in text


def test_accept_with_deficiency_of_a_key_material_is_refused(app, api_as):
    response = api_as("frontdesk").post("/cases", application_payload(
        materials=[_scan("application")], decision="accept_with_deficiency",
        promised_date=(_today_shanghai() + timedelta(days=3)).isoformat()))
    assert response.status_code == 422
    assert "materials.id_card" in response.get_json()["fields"]
    assert _case_count(app) == 0


def test_accept_with_deficiency_of_a_defective_key_material_is_refused(app, api_as):
    # 容缺 needs the key materials present and in order: a defective ID cannot be promised for later.
    response = api_as("frontdesk").post("/cases", application_payload(
        materials=[_paper("id_card")], decision="accept_with_deficiency",
        promised_date=(_today_shanghai() + timedelta(days=3)).isoformat(),
        defects=[{"code": "id_card", "note": "身份证已过有效期"}]))
    assert response.status_code == 422
    assert "materials.id_card" in response.get_json()["fields"]
    assert _case_count(app) == 0


@pytest.mark.parametrize("promised, field", [
    ((date.today() - timedelta(days=30)).isoformat(), "promised_date"),
    (None, "promised_date"),
    ("2026-02-30", "promised_date"),
])
def test_accept_with_deficiency_needs_a_future_promised_date(app, api_as, promised, field):
    response = api_as("frontdesk").post("/cases", application_payload(
        materials=[_paper("id_card")], decision="accept_with_deficiency", promised_date=promised))
    assert response.status_code == 422
    assert field in response.get_json()["fields"]
    assert _case_count(app) == 0


def test_accept_with_deficiency_when_nothing_is_missing(app, api_as):
    response = api_as("frontdesk").post("/cases", application_payload(
        decision="accept_with_deficiency", promised_date=(_today_shanghai() + timedelta(days=3)).isoformat()))
    assert response.status_code == 422 and "decision" in response.get_json()["fields"]
    assert _case_count(app) == 0


def test_plain_accept_with_a_required_material_missing(app, api_as):
    response = api_as("frontdesk").post("/cases", application_payload(materials=[_paper("id_card")]))
    assert response.status_code == 422 and "materials.application" in response.get_json()["fields"]
    assert _case_count(app) == 0


# 退件 (returned when the supplement period passes)

def test_case_is_returned_when_the_supplement_period_passes(app, api_as, monkeypatch):
    real_deadline = workdays.deadline

    def deadline_in_two_seconds(start, value, unit, tz="Asia/Shanghai", **kw):
        if unit == "working_day" and value == app.config["SUPPLEMENT_PERIOD_WORKING_DAYS"]:
            return start + timedelta(seconds=2)
        return real_deadline(start, value, unit, tz, **kw)

    # The engine fires a timer already due at once, so the period must still be running at the notice.
    monkeypatch.setattr(workdays, "deadline", deadline_in_two_seconds)
    front = api_as("frontdesk")
    body = _submit(front, materials=[], decision="supplement")
    case_no = body["case_no"]
    assert body["status"] == "pending_supplement"
    due = datetime.fromisoformat(body["supplement_due_at"])
    with app.app_context():
        assert fire_due_timers() == 0  # not due yet
        db.session.commit()
        db.session.remove()
    time.sleep(max(0.0, (due - datetime.now(SHANGHAI)).total_seconds()) + 0.5)

    with app.app_context():
        assert fire_due_timers() == 1
        db.session.commit()
        db.session.remove()

    detail = front.get(f"/cases/{case_no}").get_json()
    assert detail["status"] == "returned"
    assert detail["result"] == "returned"
    assert "退件" in detail["result_reason"]
    assert detail["completed_at"]
    assert not [t for t in detail["tasks"] if t["state"] == "open"]
    # A supplement arriving after the return is too late.
    assert front.post(f"/cases/{case_no}/supplement", {"materials": [_scan("application")]}).status_code == 409
    # The sweep does not touch the case again.
    with app.app_context():
        assert fire_due_timers() == 0
        db.session.commit()
        db.session.remove()
    assert_files_cleanly(app, case_no)


def test_supplement_period_not_yet_over_leaves_the_case_waiting(app, api_as):
    front = api_as("frontdesk")
    case_no = _submit(front, materials=[], decision="supplement")["case_no"]
    with app.app_context():
        assert fire_due_timers() == 0
        db.session.commit()
        db.session.remove()
    assert front.get(f"/cases/{case_no}").get_json()["status"] == "pending_supplement"


# Online submissions wait for the window's pre-review

def test_online_application_waits_in_the_window_inbox(api_as):
    front = api_as("frontdesk")
    body = _submit(front, channel="online", decision="refuse")  # the decision is ignored online
    case_no = body["case_no"]
    assert body["status"] == "pre_review"
    assert body["documents"] == [] and body["accepted_at"] is None
    assert re.fullmatch(r"\d{6}", body["query_code"])

    tasks = [t for t in front.get("/tasks?per_page=500").get_json() if t["case_no"] == case_no]
    assert len(tasks) == 1
    assert tasks[0]["department"] == "WINDOW" and tasks[0]["state"] == "open"
    handler_tasks = api_as("handler").get("/tasks?per_page=500").get_json()
    assert case_no not in [t["case_no"] for t in handler_tasks]

    decided = front.post(f"/cases/{case_no}/decision", {"decision": "accept"})
    assert decided.status_code == 200, decided.get_json()
    assert decided.get_json()["status"] == "in_progress"
    assert _document(decided.get_json(), "acceptance_receipt")
    assert case_no not in [t["case_no"] for t in front.get("/tasks?per_page=500").get_json()
                           if t["state"] == "open"]
    assert case_no in [t["case_no"] for t in api_as("handler").get("/tasks?per_page=500").get_json()]
    assert front.post(f"/cases/{case_no}/decision", {"decision": "accept"}).status_code == 409


def test_online_pre_review_can_end_in_a_notice(api_as):
    front = api_as("frontdesk")
    case_no = _submit(front, channel="online", materials=[_scan("application")])["case_no"]
    refused = front.post(f"/cases/{case_no}/decision", {"decision": "accept"})
    assert refused.status_code == 422 and "materials.id_card" in refused.get_json()["fields"]
    notice = front.post(f"/cases/{case_no}/decision", {"decision": "supplement"})
    assert notice.status_code == 200
    assert notice.get_json()["status"] == "pending_supplement"
    text = _document_text(front, _document(notice.get_json(), "supplement_notice"))
    assert MATERIAL_NAMES["id_card"] + "缺少" in text
    assert MATERIAL_NAMES["application"] not in text


def test_unknown_channel_is_refused(app, api_as):
    response = api_as("frontdesk").post("/cases", application_payload(channel="fax"))
    assert response.status_code == 422 and "channel" in response.get_json()["fields"]
    assert _case_count(app) == 0


# Idempotency

def _post_with_key(api, key: str):
    return api.client.post("/api/v1/cases", json=application_payload(),
                           headers={**api._headers(), "Idempotency-Key": key})


def test_idempotency_key_makes_one_case(app, api_as):
    front = api_as("frontdesk")
    first = _post_with_key(front, "counter-3-ticket-0042")
    second = _post_with_key(front, "counter-3-ticket-0042")
    assert first.status_code == 201 and second.status_code == 200
    assert second.get_json()["duplicate"] is True
    assert second.get_json()["case_no"] == first.get_json()["case_no"]
    assert "query_code" not in second.get_json()
    assert [d["doc_no"] for d in second.get_json()["documents"]] == \
        [d["doc_no"] for d in first.get_json()["documents"]]
    assert _case_count(app) == 1
    other = _post_with_key(front, "counter-3-ticket-0043")
    assert other.status_code == 201 and other.get_json()["case_no"] != first.get_json()["case_no"]
    assert _case_count(app) == 2


def test_overlong_idempotency_key_is_refused(app, api_as):
    response = _post_with_key(api_as("frontdesk"), "k" * 65)
    assert response.status_code == 422
    assert _case_count(app) == 0


# Identity of applicants and agents

@pytest.mark.parametrize("id_type, id_number", [
    ("resident_id", VALID_ID),
    ("resident_id", VALID_ID.lower()),
    ("passport", "E12345678"),
    ("hk_macao_permit", "H12345678"),
    ("taiwan_permit", "12345678"),
])
def test_identity_documents_accepted(api_as, id_type, id_number):
    front = api_as("frontdesk")
    body = _submit(front, applicant=_person(id_type=id_type, id_number=id_number))
    applicant = front.get(f"/cases/{body['case_no']}").get_json()["applicant"]
    assert applicant["id_type"] == id_type
    assert id_number.upper() not in str(applicant)  # masked
    assert "*" in applicant["id_number"] and len(applicant["id_number"]) == len(id_number)


@pytest.mark.parametrize("id_type, id_number", [
    ("resident_id", VALID_ID[:-1] + "1"),  # wrong check character
    ("resident_id", _id_with_check_char("11010519490231002")),  # 31 February, correct check character
    ("resident_id", _id_with_check_char(f"110105{date.today().year + 1}0101002")),  # born in the future
    ("passport", "E1"),
    ("passport", "ABCDEFG"),  # a name typed into the number field
    ("hk_macao_permit", "X12345678"),
    ("taiwan_permit", "1234567"),
])
def test_bad_identity_numbers_are_refused(app, api_as, id_type, id_number):
    response = api_as("frontdesk").post("/cases", application_payload(
        applicant=_person(id_type=id_type, id_number=id_number)))
    assert response.status_code == 422
    assert "applicant.id_number" in response.get_json()["fields"]
    assert _case_count(app) == 0


def test_unknown_identity_document_type(app, api_as):
    response = api_as("frontdesk").post("/cases", application_payload(applicant=_person(id_type="library_card")))
    assert response.status_code == 422 and "applicant.id_type" in response.get_json()["fields"]


def test_agent_must_be_someone_else(app, api_as):
    agent = {"kind": "entrusted", "name": "张三", "id_number": VALID_ID, "phone": "13900139000"}
    response = api_as("frontdesk").post("/cases", application_payload(
        applicant=_person(agent=agent),
        materials=[_scan("application"), _paper("id_card"), _scan("authorisation")]))
    assert response.status_code == 422
    assert "applicant.agent.id_number" in response.get_json()["fields"]
    assert _case_count(app) == 0


def test_agent_makes_the_authorisation_required(app, api_as):
    front = api_as("frontdesk")
    agent = {"kind": "entrusted", "name": "李四", "id_number": VALID_ID_2, "phone": "13900139000"}
    missing = front.post("/cases", application_payload(applicant=_person(agent=agent)))
    assert missing.status_code == 422
    assert "materials.authorisation" in missing.get_json()["fields"]
    assert _case_count(app) == 0

    body = _submit(front, applicant=_person(agent=agent),
                   materials=[_scan("application"), _paper("id_card"), _scan("authorisation")])
    detail = front.get(f"/cases/{body['case_no']}").get_json()
    assert detail["applicant"]["agent"]["name"] == "李四"
    assert detail["applicant"]["agent"]["kind"] == "entrusted"
    assert VALID_ID_2 not in str(detail["applicant"])
    text = _document_text(front, _document(body, "acceptance_receipt"))
    assert "委托代理人李四" in text


def test_guardian_also_needs_the_authorisation_in_a_notice(api_as):
    front = api_as("frontdesk")
    guardian = {"kind": "guardian", "name": "李四", "id_number": VALID_ID_2}
    body = _submit(front, applicant=_person(agent=guardian), decision="supplement")
    text = _document_text(front, _document(body, "supplement_notice"))
    assert "授权委托书及代理人身份证件(委托办理时)缺少" in text


def test_heir_needs_proof_of_kinship(app, api_as):
    front = api_as("frontdesk")
    missing = front.post("/cases", application_payload(applicant=_person(capacity="heir")))
    assert missing.status_code == 422
    assert "materials.kinship_proof" in missing.get_json()["fields"]
    assert _case_count(app) == 0
    body = _submit(front, applicant=_person(capacity="heir"),
                   materials=[_scan("application"), _paper("id_card"), _scan("kinship_proof")])
    assert front.get(f"/cases/{body['case_no']}").get_json()["applicant"]["capacity"] == "heir"


def test_unknown_capacity_is_refused(api_as):
    response = api_as("frontdesk").post("/cases", application_payload(applicant=_person(capacity="neighbour")))
    assert response.status_code == 422 and "applicant.capacity" in response.get_json()["fields"]


def test_organisation_applicant_with_legal_representative(app, api_as):
    front = api_as("frontdesk")
    credit_code = _uscc_with_check_char("91370100MA3C00012")
    applicant = {"type": "org", "name": "济南某某档案服务有限公司", "id_number": credit_code,
                 "phone": "13900139000"}
    missing = front.post("/cases", application_payload(applicant=applicant))
    assert missing.status_code == 422 and "applicant.legal_representative" in missing.get_json()["fields"]
    wrong_check = credit_code[:-1] + ("1" if credit_code.endswith("0") else "0")
    bad_code = front.post("/cases", application_payload(
        applicant={**applicant, "legal_representative": "王五", "id_number": wrong_check}))
    assert bad_code.status_code == 422 and "applicant.id_number" in bad_code.get_json()["fields"]
    assert _case_count(app) == 0

    body = _submit(front, applicant={**applicant, "legal_representative": "王五"})
    detail = front.get(f"/cases/{body['case_no']}").get_json()
    assert detail["applicant"]["type"] == "org"
    assert detail["applicant"]["id_type"] == "uscc"
    assert detail["applicant"]["legal_representative"] == "王五"
    text = _document_text(front, _document(body, "acceptance_receipt"))
    assert "统一社会信用代码" in text and "法定代表人王五" in text


def test_returning_applicant_is_prefilled(api_as):
    front = api_as("frontdesk")
    assert front.get(f"/applicants?id_number={VALID_ID}").status_code == 404
    _submit(front, applicant=_person(name="赵六", phone="13700137000"))
    found = front.get(f"/applicants?id_number={VALID_ID.lower()}")
    assert found.status_code == 200
    prefill = found.get_json()
    assert prefill["name"] == "赵六" and prefill["phone"] == "13700137000"
    assert prefill["id_type"] == "resident_id" and prefill["id_number"] == VALID_ID
    # A later case with a new phone number refreshes the register.
    _submit(front, applicant=_person(name="赵六", phone="13600136000"))
    assert front.get(f"/applicants?id_number={VALID_ID}").get_json()["phone"] == "13600136000"
    assert api_as("handler").get(f"/applicants?id_number={VALID_ID}").status_code == 403


# Uploads

def test_upload_that_only_claims_to_be_a_pdf_is_refused(app, api_as):
    response = api_as("frontdesk").post("/cases", application_payload(
        materials=[_scan("application", b"hello", "x.pdf"), _paper("id_card")]))
    assert response.status_code == 422
    assert "materials.application" in response.get_json()["fields"]
    assert _case_count(app) == 0


@pytest.mark.parametrize("content", [12345, ["JVBERi0="], {"data": "JVBERi0="}])
def test_content_that_is_not_a_base64_string_is_refused(app, api_as, content):
    front = api_as("frontdesk")
    response = front.post("/cases", application_payload(
        materials=[{"code": "application", "filename": "a.pdf", "content_base64": content}, _paper("id_card")]))
    assert response.status_code == 422
    assert "materials.application" in response.get_json()["fields"]
    assert _case_count(app) == 0
    case_no = _submit(front, materials=[], decision="supplement")["case_no"]
    supplement = front.post(f"/cases/{case_no}/supplement",
                            {"materials": [{"code": "application", "content_base64": content}]})
    assert supplement.status_code == 422
    assert front.get(f"/cases/{case_no}").get_json()["status"] == "pending_supplement"


def test_oversize_upload_is_refused(app, api_as, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_MATERIAL_BYTES", len(PDF_BYTES) - 1)
    response = api_as("frontdesk").post("/cases", application_payload())
    assert response.status_code == 422
    assert "materials.application" in response.get_json()["fields"]
    assert _case_count(app) == 0
    monkeypatch.setitem(app.config, "MAX_MATERIAL_BYTES", len(PDF_BYTES))
    assert api_as("frontdesk").post("/cases", application_payload()).status_code == 201


def test_png_and_jpeg_scans_are_accepted_and_typed_by_content(api_as):
    front = api_as("frontdesk")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 16
    body = _submit(front, materials=[_scan("application", png, "scan.pdf"), _scan("id_card", jpeg, "id.png")])
    materials = {m["code"]: m for m in front.get(f"/cases/{body['case_no']}").get_json()["materials"]}
    assert materials["application"]["content_type"] == "image/png"
    assert materials["id_card"]["content_type"] == "image/jpeg"
    assert materials["application"]["size"] == len(png)


def test_material_not_on_the_checklist(app, api_as):
    response = api_as("frontdesk").post("/cases", application_payload(
        materials=[_scan("application"), _paper("id_card"), _scan("house_deed")]))
    assert response.status_code == 422 and "materials.house_deed" in response.get_json()["fields"]
    assert _case_count(app) == 0


# Escaping

def test_html_in_text_fields_is_escaped_on_pages(app, api_as):
    front = api_as("frontdesk")
    script = "<script>alert(1)</script>"
    body = _submit(front, applicant=_person(name=script))
    case_no, doc_no = body["case_no"], body["documents"][0]["doc_no"]
    assert front.get(f"/cases/{case_no}").get_json()["applicant"]["name"] == script

    pages = login(app.test_client(), "frontdesk")
    for path in (f"/cases/{case_no}", f"/cases/{case_no}/documents/{doc_no}", f"/cases/?q={case_no}"):
        response = pages.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert script not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    text = _document_text(front, body["documents"][0])
    assert "<script>alert(1)</script>" in text  # the PDF prints the name as typed


def test_item_code_of_the_case_number(api_as):
    body = _submit(api_as("frontdesk"))
    local_day = datetime.fromisoformat(body["accepted_at"]).astimezone(SHANGHAI)
    assert body["case_no"] == f"{ITEM_CODE}{local_day:%Y%m%d}0001"


def test_plain_accept_with_a_material_marked_defective_is_refused(app, api_as):
    before = _case_count(app)
    refused = api_as("frontdesk").post("/cases", application_payload(
        decision="accept", defects=[{"code": "id_card", "note": "证件已过期"}]))
    assert refused.status_code == 422 and "defects.id_card" in refused.get_json()["fields"]
    assert _case_count(app) == before


def test_a_replaced_material_is_kept_but_not_listed_on_the_receipt(api_as):
    front = api_as("frontdesk")
    case_no = _submit(front, decision="supplement",
                      defects=[{"code": "application", "note": "未签字"}])["case_no"]
    supplemented = front.post(f"/cases/{case_no}/supplement",
                              {"materials": [_scan("application", filename="signed.pdf")]})
    assert supplemented.status_code == 200, supplemented.get_json()
    decided = front.post(f"/cases/{case_no}/decision", {"decision": "accept"}).get_json()
    detail = front.get(f"/cases/{case_no}").get_json()
    states = [(m["code"], m["filename"], m["state"]) for m in detail["materials"] if m["code"] == "application"]
    assert states == [("application", "application.pdf", "superseded"), ("application", "signed.pdf", "received")]
    text = _document_text(front, _document(decided, "acceptance_receipt"))
    assert "signed.pdf" in text and "application.pdf" not in text


# 容缺 follow-up: the promised material registered later

def _deficient_case(front, days_ahead: int = 7) -> str:
    promised = _today_shanghai() + timedelta(days=days_ahead)
    return _submit(front, materials=[_paper("id_card")], decision="accept_with_deficiency",
                   promised_date=promised.isoformat())["case_no"]


def _set_promised_date(app, case_no: str, day: date) -> None:
    from app.models import CaseMaterial

    with app.app_context():
        case_id = db.session.scalar(select(Case.id).where(Case.case_no == case_no))
        for material in db.session.scalars(select(CaseMaterial).where(CaseMaterial.case_id == case_id,
                                                                        CaseMaterial.state == "promised")):
            material.promised_date = day
        db.session.commit()
        db.session.remove()


def _promised_event(app, case_no: str) -> dict:
    from app.models import CaseEvent

    with app.app_context():
        details = db.session.scalar(select(CaseEvent.details).join(Case, Case.id == CaseEvent.case_id).where(
            Case.case_no == case_no, CaseEvent.action == "promised_materials_registered"))
        db.session.remove()
    return details


def test_a_promised_material_is_registered_later_and_marked_on_time(app, api_as):
    front = api_as("frontdesk")
    case_no = _deficient_case(front)
    assert api_as("handler").post(f"/cases/{case_no}/promised-materials",
                                  {"materials": [_scan("application")]}).status_code == 403
    assert front.post(f"/cases/{case_no}/promised-materials", {"materials": [_scan("id_card")]}).status_code == 422
    assert front.post(f"/cases/{case_no}/promised-materials", {"materials": []}).status_code == 422
    done = front.post(f"/cases/{case_no}/promised-materials", {"materials": [_scan("application")]})
    assert done.status_code == 200, done.get_json()
    detail = front.get(f"/cases/{case_no}").get_json()
    current = [m for m in detail["materials"] if m["code"] == "application" and m["state"] == "received"]
    assert len(current) == 1 and current[0]["promised_date"]
    assert _promised_event(app, case_no)["materials"][0]["late"] is False
    # Nothing is awaited any more.
    assert front.post(f"/cases/{case_no}/promised-materials", {"materials": [_scan("application")]}).status_code == 409
    assert front.post(f"/cases/{_submit(front)['case_no']}/promised-materials",
                      {"materials": [_scan("application")]}).status_code == 409


def test_a_promised_material_brought_after_its_date_shows_as_late(app, api_as):
    front = api_as("frontdesk")
    case_no = _deficient_case(front)
    _set_promised_date(app, case_no, _today_shanghai() - timedelta(days=2))
    assert front.post(f"/cases/{case_no}/promised-materials", {"materials": [_scan("application")]}).status_code == 200
    assert _promised_event(app, case_no)["materials"][0]["late"] is True
    page = login(app.test_client(), "frontdesk").get(f"/cases/{case_no}").get_data(as_text=True)
    assert 'data-testid="promised-received"' in page and "逾期补交" in page


def test_promised_materials_are_warned_before_their_date_and_alerted_after(app, api_as):
    from app.models import Alert
    from app.services.supervision import alerts as supervision

    front = api_as("frontdesk")
    soon, late = _deficient_case(front), _deficient_case(front)
    today = _today_shanghai()
    next_working_day = workdays.add_working_days(today, 1)
    _set_promised_date(app, soon, next_working_day)
    _set_promised_date(app, late, today - timedelta(days=1))
    with app.app_context():
        supervision.check_deadlines()
        db.session.commit()
        raised = {(a.details["case_no"], a.rule, a.level) for a in db.session.scalars(
            select(Alert).where(Alert.rule.in_(("PROMISE_DUE_SOON", "PROMISE_OVERDUE"))))}
        db.session.remove()
    assert raised == {(soon, "PROMISE_DUE_SOON", "yellow"), (late, "PROMISE_OVERDUE", "red")}


# 第32条: the 5-day rule for online applications

def test_an_online_application_undecided_for_five_working_days_is_deemed_accepted(app, api_as, client):
    from app.models import Alert, CaseEvent
    from app.services.supervision import alerts as supervision

    front = api_as("frontdesk")
    body = _submit(front, channel="online")
    case_no = body["case_no"]
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.case_no == case_no))
        due = case.pre_review_due_at
        local_due = due.astimezone(ZoneInfo("Asia/Shanghai")).date()
        submitted = case.created_at.astimezone(ZoneInfo("Asia/Shanghai")).date()
        assert local_due == workdays.add_working_days(submitted, 5)
        db.session.remove()
    the_day_before = datetime.combine(workdays.add_working_days(submitted, 4), datetime.min.time(),
                                      ZoneInfo("Asia/Shanghai")) + timedelta(hours=9)
    for moment, expected in ((the_day_before - timedelta(days=1), set()),
                             (the_day_before, {"PRE_REVIEW_DUE_SOON"}),
                             (due + timedelta(minutes=1), {"PRE_REVIEW_DUE_SOON", "PRE_REVIEW_OVERDUE"}),
                             (due + timedelta(hours=2), {"PRE_REVIEW_DUE_SOON", "PRE_REVIEW_OVERDUE"})):
        with app.app_context():
            supervision.check_deadlines(moment)
            db.session.commit()
            raised = set(db.session.scalars(select(Alert.rule).where(Alert.rule.like("PRE_REVIEW%"))))
            db.session.remove()
        assert raised == expected, moment
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.case_no == case_no))
        # Accepted from the moment the five days ended; its clock runs from then.
        assert case.status == "pre_review" and case.deemed_accepted_at == due and case.accepted_at == due
        assert case.committed_due_at is not None
        deemed = db.session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case.id,
                                                                   CaseEvent.action == "deemed_accepted")).all()
        db.session.remove()
    assert deemed == ["deemed_accepted"]
    shown = client.get(f"/api/v1/public/cases/{case_no}", query_string={"query_code": body["query_code"]})
    assert shown.get_json()["deemed_accepted_at"] == due.isoformat()
    # The window's acceptance keeps the clock that started when the case was deemed accepted.
    assert front.post(f"/cases/{case_no}/decision", {"decision": "accept"}).status_code == 200
    assert front.get(f"/cases/{case_no}").get_json()["accepted_at"] == due.isoformat()


def test_a_window_application_has_no_pre_review_deadline(app, api_as):
    case_no = _submit(api_as("frontdesk"))["case_no"]
    with app.app_context():
        assert db.session.scalar(select(Case.pre_review_due_at).where(Case.case_no == case_no)) is None
        db.session.remove()
