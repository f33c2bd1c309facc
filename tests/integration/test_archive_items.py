"""The shipped archives service items, each walked through the API, and their public guide pages."""
from __future__ import annotations

import pytest

from tests.conftest import VALID_ID
from tests.integration.test_filing import assert_files_cleanly

CONSULTATION = "113701000045001234400011700200X"
MARRIAGE = "113701000045001234400011700300X"
ABROAD = "113701000045001234400011700400X"
PERSON = {"type": "person", "name": "王五", "id_number": VALID_ID, "phone": "13800138000"}
OTHER_ID = "110105195001010039"


def _open_task(api, case_no):
    case = api.get(f"/cases/{case_no}").get_json()
    (task,) = [t for t in case["tasks"] if t["state"] == "open"]
    return task


def _complete(api, case_no, data):
    task = _open_task(api, case_no)
    response = api.post(f"/tasks/{task['id']}/complete", {"data": data})
    assert response.status_code == 200, response.get_json()
    return task, response.get_json()["case_status"]


def test_archive_consultation_is_handled_on_the_spot(app, api_as):
    front, handler = api_as("frontdesk"), api_as("handler")
    created = front.post("/cases", {
        "item_code": CONSULTATION, "applicant": PERSON, "materials": [{"code": "id_card"}],
        "form": {"purpose": "personal", "archive_description": "1998年本人招工档案", "contact_mobile": "13800138000"},
    })
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    # 即办件: the committed limit of 0 working days falls at the end of the day of acceptance.
    assert body["committed_due_at"][:10] <= body["statutory_due_at"][:10]
    task, status = _complete(handler, body["case_no"], {"decision": "provide", "files_provided": "招工登记表",
                                                        "copies": 1, "opinion": "已提供查阅"})
    assert task["department"] == "USE" and status == "completed"
    assert assert_files_cleanly(app, body["case_no"])["保管期限"] == "10年"


def test_marriage_certificate_asks_agent_materials_and_refuses_when_nothing_is_found(app, api_as):
    front, handler = api_as("frontdesk"), api_as("handler")
    agent = {"kind": "entrusted", "name": "赵六", "id_number": OTHER_ID, "phone": "13900139000"}
    payload = {
        "item_code": MARRIAGE, "applicant": {**PERSON, "agent": agent},
        "form": {"record_kind": "marriage", "party_one_name": "王五", "party_two_name": "李梅",
                 "purpose": "办理出国公证", "contact_mobile": "13800138000"},
        "materials": [{"code": "id_card"}, {"code": "household_register"}],
    }
    refused = front.post("/cases", payload)
    assert refused.status_code == 422
    assert {"materials.agent_id", "materials.principal_originals", "materials.authorisation"} <= set(
        refused.get_json()["fields"])
    payload["materials"] += [{"code": "agent_id"}, {"code": "principal_originals"}, {"code": "authorisation"}]
    case_no = front.post("/cases", payload).get_json()["case_no"]
    _task, status = _complete(handler, case_no, {"decision": "not_found", "opinion": "馆藏无该登记记录"})
    case = handler.get(f"/cases/{case_no}").get_json()
    assert status == "refused" and case["result"] == "refused" and case["result_reason"] == "馆藏无该登记记录"
    assert_files_cleanly(app, case_no)
    assert case["applicant"]["agent"]["id_number"] == "110105********0039"


def test_marriage_certificate_for_an_heir_needs_death_certificate_and_kinship_proof(api_as):
    payload = {
        "item_code": MARRIAGE, "applicant": {**PERSON, "capacity": "heir"},
        "form": {"record_kind": "marriage", "party_one_name": "王大", "party_two_name": "刘芳",
                 "purpose": "继承公证", "contact_mobile": "13800138000"},
        "materials": [{"code": "id_card"}, {"code": "household_register"}],
    }
    fields = api_as("frontdesk").post("/cases", payload).get_json()["fields"]
    assert {"materials.death_certificate", "materials.kinship_proof"} <= set(fields)


@pytest.mark.parametrize("review, approval, result", [
    ("approve", "approve", "granted"), ("approve", "refuse", "refused"), ("refuse", None, "refused")])
def test_archives_abroad_licence_runs_undertake_review_approve(app, api_as, review, approval, result):
    front, handler, leader = api_as("frontdesk"), api_as("handler"), api_as("leader")
    created = front.post("/cases", {
        "item_code": ABROAD, "applicant": PERSON,
        "form": {"archive_titles": "家族契约文书三件", "quantity": 3, "method": "carry", "destination": "新加坡",
                 "exit_date": "2027-03-01", "purpose": "家族史研究展览", "contact_mobile": "13800138000"},
        "materials": [{"code": c} for c in ("purpose_statement", "id_card", "household_register", "unit_letter")],
    }).get_json()
    case_no = created["case_no"]
    assert created["status"] == "in_progress"
    task, _ = _complete(handler, case_no, {"recommendation": review, "opinion": "拟同意" if review == "approve" else "拟不同意"})
    assert task["department"] == "GUIDANCE"
    task, status = _complete(handler, case_no, {"decision": review, "opinion": "审核意见"})
    if approval:
        assert status == "in_progress"
        assert _open_task(leader, case_no)["department"] == "LEADERSHIP"
        data = {"decision": approval, "opinion": "批准" if approval == "approve" else "不予批准"}
        if approval == "approve":
            data["licence_no"] = "档出〔2026〕1号"
        _task, status = _complete(leader, case_no, data)
    assert handler.get(f"/cases/{case_no}").get_json()["result"] == result
    assert assert_files_cleanly(app, case_no)["保管期限"] == "30年"


def test_guide_pages_are_public_and_show_materials_limits_fees_and_departments(client):
    index = client.get("/guide/?lang=zh").get_data(as_text=True)
    for name in ("档案查阅利用", "婚姻登记档案查阅/出具证明", "携带、运输、邮寄档案出境审批", "民生档案跨馆查询出证"):
        assert name in index
    page = client.get(f"/guide/{ABROAD}?lang=zh")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="statutory-limit">20' in html and 'data-testid="committed-limit">5' in html
    assert "档案出境用途说明" in html and "不收费" in html and "中华人民共和国档案法" in html
    assert "监督指导处" in html and "局领导" in html
    assert client.get("/guide/NOPE").status_code == 404
