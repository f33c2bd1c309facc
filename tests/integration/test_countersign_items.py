"""Countersign (会签) and call activities through the API: the delayed-opening licence, whose
countersign goes to the holding and utilisation departments' own inboxes, and the cross-archive
certificate, whose search runs in a called process."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import ValidationFailed
from app.extensions import db
from app.services.processes import catalogue
from tests.conftest import application_payload
from tests.integration.test_filing import assert_files_cleanly

DELAYED_OPENING = "113701000045001234400011700500X"
ORG = {"type": "org", "name": "济南市某某局", "id_number": "91350100M000100Y43",
       "legal_representative": "李四", "phone": "13800138000"}
FORM = {"fonds_name": "济南市某某局", "fonds_no": "Z109", "file_range": "Z109-WS·1996-Y-0001 至 0120",
        "file_count": 120, "reason": "涉及尚未解密的工作秘密，到期开放可能影响有关工作。", "delay_years": 10,
        "contact_mobile": "13800138000"}
MATERIALS = [{"code": c} for c in ("sealed_application", "unit_letter", "file_list", "appraisal_opinion")]


def _apply(api_as) -> str:
    created = api_as("frontdesk").post("/cases", {"item_code": DELAYED_OPENING, "applicant": ORG,
                                                 "form": FORM, "materials": MATERIALS})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["status"] == "in_progress"
    return created.get_json()["case_no"]


def _inbox(api, department: str, case_no: str) -> list[dict]:
    response = api.get(f"/tasks?department={department}")
    assert response.status_code == 200, response.get_json()
    return [t for t in response.get_json() if t["case_no"] == case_no]


def _complete(api, task: dict, data: dict) -> dict:
    response = api.post(f"/tasks/{task['id']}/complete", {"data": data})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _undertake(api_as, case_no: str) -> None:
    handler = api_as("handler")
    (undertake,) = _inbox(handler, "GUIDANCE", case_no)
    assert (undertake["name"], undertake["form_key"]) == ("承办", "licence_undertake")
    _complete(handler, undertake, {"recommendation": "approve", "opinion": "材料齐全，理由充分，拟同意延期开放"})


def _countersigns(api_as, case_no: str) -> tuple[dict, dict]:
    head = api_as("head")  # 负责人 of USE and HOLDING
    (holding,) = _inbox(head, "HOLDING", case_no)
    (use,) = _inbox(head, "USE", case_no)
    for task in (holding, use):
        assert (task["name"], task["bpmn_id"], task["form_key"]) == ("会签", "countersign", "countersign_opinion")
    return holding, use


def test_delayed_opening_is_granted_after_countersign_review_and_approval(app, api_as):
    case_no = _apply(api_as)
    _undertake(api_as, case_no)
    holding, use = _countersigns(api_as, case_no)
    handler, head, leader = api_as("handler"), api_as("head"), api_as("leader")
    # Nobody else sees the countersign: not the organising division, not the leadership.
    assert _inbox(handler, "GUIDANCE", case_no) == []
    assert leader.get(f"/tasks/{holding['id']}").status_code == 403
    assert _complete(head, holding, {"decision": "agree", "opinion": "馆藏部同意延期开放"})["case_status"] == "in_progress"
    assert _inbox(handler, "GUIDANCE", case_no) == []  # still waiting for the utilisation department
    _complete(handler, use, {"decision": "agree", "opinion": "利用部同意，延期期间暂停提供利用"})

    (review,) = _inbox(handler, "GUIDANCE", case_no)
    assert (review["name"], review["bpmn_id"]) == ("审核", "review")
    _complete(handler, review, {"decision": "approve", "opinion": "会签各部门均同意，报局领导批准"})
    (approve,) = _inbox(leader, "LEADERSHIP", case_no)
    body = _complete(leader, approve, {"decision": "approve", "opinion": "同意延期十年开放",
                                       "licence_no": "档延〔2026〕1号"})
    assert body["case_status"] == "completed" and body["result"] == "granted"

    case = handler.get(f"/cases/{case_no}").get_json()
    signed = [(t["department"], t["state"], t["opinion"]) for t in case["tasks"] if t["bpmn_id"] == "countersign"]
    assert sorted(signed) == [("HOLDING", "completed", "馆藏部同意延期开放"),
                              ("USE", "completed", "利用部同意，延期期间暂停提供利用")]
    assert [t["department"] for t in case["tasks"]] == [
        "WINDOW", "GUIDANCE", "HOLDING", "USE", "GUIDANCE", "LEADERSHIP"]
    assert assert_files_cleanly(app, case_no)["保管期限"] == "永久"


def test_a_disagreement_ends_the_countersign_and_the_review_refuses(app, api_as):
    case_no = _apply(api_as)
    _undertake(api_as, case_no)
    holding, use = _countersigns(api_as, case_no)
    head, handler = api_as("head"), api_as("handler")
    _complete(head, use, {"decision": "disagree", "opinion": "该批档案已有同类开放先例，不同意延期"})
    # The holding department's countersign is withdrawn from its inbox; the case goes to review.
    assert _inbox(head, "HOLDING", case_no) == []
    assert head.post(f"/tasks/{holding['id']}/complete",
                     {"data": {"decision": "agree", "opinion": "同意"}}).status_code == 409
    (review,) = _inbox(handler, "GUIDANCE", case_no)
    body = _complete(handler, review, {"decision": "refuse", "opinion": "利用服务部会签不同意，不予许可"})
    assert body["result"] == "refused"
    case = handler.get(f"/cases/{case_no}").get_json()
    assert case["result_reason"] == "利用服务部会签不同意，不予许可"
    states = {t["department"]: t["state"] for t in case["tasks"] if t["bpmn_id"] == "countersign"}
    assert states == {"USE": "completed", "HOLDING": "cancelled"}
    assert_files_cleanly(app, case_no)


def test_a_countersign_opinion_is_validated_and_nothing_moves_on_refusal(api_as):
    case_no = _apply(api_as)
    _undertake(api_as, case_no)
    holding, use = _countersigns(api_as, case_no)
    head = api_as("head")
    for data in ({"decision": "agree"}, {"decision": "maybe", "opinion": "再议"}, {"opinion": "同意"}):
        response = head.post(f"/tasks/{holding['id']}/complete", {"data": data})
        assert response.status_code == 422, data
    assert _countersigns(api_as, case_no) == (holding, use)


def test_an_agent_must_bring_the_power_of_attorney(api_as):
    agent = {"kind": "entrusted", "name": "赵六", "id_number": "110105195001010039", "phone": "13900139000"}
    refused = api_as("frontdesk").post("/cases", {"item_code": DELAYED_OPENING, "applicant": {**ORG, "agent": agent},
                                                 "form": FORM, "materials": MATERIALS})
    assert refused.status_code == 422
    assert "materials.authorisation" in refused.get_json()["fields"]


def test_delayed_opening_guide_shows_limits_materials_and_countersign_departments(client):
    html = client.get(f"/guide/{DELAYED_OPENING}?lang=zh").get_data(as_text=True)
    assert 'data-testid="statutory-limit">20' in html and 'data-testid="committed-limit">10' in html
    for text in ("密封的延期开放申请书", "单位介绍信", "文件级目录", "鉴定意见", "授权委托书", "监督指导处", "局领导"):
        assert text in html, text


def test_revised_cross_archive_item_searches_in_the_called_process(api_as):
    case_no = api_as("frontdesk").post("/cases", application_payload()).get_json()["case_no"]
    handler = api_as("handler")
    (search,) = _inbox(handler, "HOLDING", case_no)
    assert (search["name"], search["bpmn_id"], search["form_key"]) == ("档案查询", "record_search", "record_search")
    _complete(handler, search, {"search_result": "yes", "record_reference": "Z109-WS·1998-D30-0001",
                                "opinion": "查得婚姻登记档案"})
    (review,) = _inbox(handler, "USE", case_no)
    assert review["bpmn_id"] == "review"
    _complete(handler, review, {"decision": "approve", "opinion": "同意出证"})
    (issue,) = _inbox(handler, "USE", case_no)
    body = _complete(handler, issue, {"certificate_no": "JN-2026-0001", "delivery": "window",
                                         "opinion": "已出具证明"})
    assert body["result"] == "granted"


# The deploy check (catalogue._check_references) for called processes and countersigns

_HEADER = ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions'
           ' xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
           ' xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="x">')


def _calling(lane: str, called_task: str = '<bpmn:userTask id="inner" name="Inner">{ext}</bpmn:userTask>') -> bytes:
    ext = ('<bpmn:extensionElements><spiffworkflow:properties>'
           '<spiffworkflow:property name="formKey" value="record_search" />'
           "</spiffworkflow:properties></bpmn:extensionElements>")
    return (_HEADER + f'<bpmn:process id="deploy_check" isExecutable="true"><bpmn:laneSet id="ls">'
            f'<bpmn:lane id="l" name="{lane}"><bpmn:flowNodeRef>s</bpmn:flowNodeRef>'
            "<bpmn:flowNodeRef>call</bpmn:flowNodeRef><bpmn:flowNodeRef>e</bpmn:flowNodeRef></bpmn:lane>"
            '</bpmn:laneSet><bpmn:startEvent id="s" /><bpmn:callActivity id="call" calledElement="sub" />'
            '<bpmn:endEvent id="e" /><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="call" />'
            '<bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="e" /></bpmn:process>'
            '<bpmn:process id="sub" isExecutable="true"><bpmn:startEvent id="ss" />'
            + called_task.format(ext=ext)
            + '<bpmn:endEvent id="se" /><bpmn:sequenceFlow id="g1" sourceRef="ss" targetRef="inner" />'
            '<bpmn:sequenceFlow id="g2" sourceRef="inner" targetRef="se" /></bpmn:process>'
            "</bpmn:definitions>").encode()


def _deploys(xml: bytes) -> bool:
    savepoint = db.session.begin_nested()
    try:
        catalogue.deploy_bpmn("deploy_check", xml, "deploy_check.bpmn")
    except ValidationFailed as exc:
        # The refusal names the task without a department, or the lane that is no department.
        assert "inner" in exc.message or "NO_SUCH_DEPT" in exc.message
        return False
    finally:
        savepoint.rollback()  # only the check matters: leave no version behind
    return True


def test_a_called_task_is_checked_against_the_calling_lane(ctx):
    assert _deploys(_calling("HOLDING"))
    assert not _deploys(_calling("NO_SUCH_DEPT"))
    assert not _deploys(_calling("HOLDING").replace(b'name="HOLDING"', b""))  # no lane anywhere


COUNTERSIGN_TASK = (
    '<bpmn:userTask id="inner" name="会签"><bpmn:extensionElements><spiffworkflow:properties>'
    '<spiffworkflow:property name="formKey" value="countersign_opinion" />'
    '<spiffworkflow:property name="departmentFrom" value="department" />'
    "</spiffworkflow:properties></bpmn:extensionElements>"
    "<bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>departments</bpmn:loopDataInputRef>"
    '<bpmn:inputDataItem id="department" /></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>'
)


def test_a_countersign_needs_no_lane_but_a_lane_it_has_must_be_a_department(ctx):
    # Without any lane on the way up, a departmentFrom task is accepted: its department is data.
    no_lane = _calling("HOLDING", COUNTERSIGN_TASK).replace(b'name="HOLDING"', b"")
    assert _deploys(no_lane)
    assert _deploys(_calling("HOLDING", COUNTERSIGN_TASK))
    # Its lane is the fallback when the data names no department: it must be a real one.
    assert not _deploys(_calling("NO_SUCH_DEPT", COUNTERSIGN_TASK))


@pytest.mark.parametrize("name", ["delayed_opening_approval", "cross_archive_certificate"])
def test_shipped_items_are_deployed(ctx, name):
    version = catalogue.current_version(name)
    assert version is not None
    xml = (Path(__file__).resolve().parents[2] / "workflows" / f"{name}.bpmn").read_bytes()
    assert version.bpmn_xml.encode() == xml


def test_returning_from_review_asks_the_whole_countersign_again(api_as):
    case_no = _apply(api_as)
    _undertake(api_as, case_no)
    holding, use = _countersigns(api_as, case_no)
    handler, head = api_as("handler"), api_as("head")
    _complete(head, holding, {"decision": "agree", "opinion": "同意"})
    _complete(handler, use, {"decision": "agree", "opinion": "同意"})
    (review,) = _inbox(handler, "GUIDANCE", case_no)
    targets = handler.get(f"/tasks/{review['id']}/return-targets").get_json()
    assert targets[0]["bpmn_id"] == "countersign"
    returned = handler.post(f"/tasks/{review['id']}/return", {"reason": "会签意见过于简略,请重新会签"})
    assert returned.status_code == 200, returned.get_json()
    again = {t["department"]: t for t in returned.get_json()["open_tasks"]}
    assert sorted(again) == ["HOLDING", "USE"]
    assert all(t["bpmn_id"] == "countersign" and t["arrived_via"] == "returned" for t in again.values())
    _complete(head, again["HOLDING"], {"decision": "agree", "opinion": "同意延期,理由见鉴定意见"})
    _complete(handler, again["USE"], {"decision": "agree", "opinion": "同意延期,期间暂停利用"})
    (review,) = _inbox(handler, "GUIDANCE", case_no)
    assert review["bpmn_id"] == "review"
