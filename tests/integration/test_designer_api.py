"""Process designer API: upload with every check, versions, deploying while cases run, migration."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from app.extensions import db
from app.models import Case, CaseEvent, DesignEvent, FormVersion, ProcessMigration, ProcessVersion
from app.services.processes import catalogue
from tests.conftest import application_payload

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
CERT = WORKFLOWS / "cross_archive_certificate.bpmn"
CERT_ID = "cross_archive_certificate"
TIMER = '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">supplement_due</bpmn:timeDate>'


def _consultation(**replacements: str) -> bytes:
    """The shipped consultation process as a new process `consultation_copy`, with text replaced."""
    text = (WORKFLOWS / "archive_consultation.bpmn").read_text(encoding="utf-8")
    text = text.replace("archive_consultation\"", "consultation_copy\"")
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    return text.encode()


def _upload(api, xml: bytes, name: str = "consultation_copy.bpmn", forms: dict | None = None, **fields):
    data = {"file": (io.BytesIO(xml), name), **fields}
    if forms:
        data["forms"] = [(io.BytesIO(json.dumps(schema).encode()), f"{key}.json") for key, schema in forms.items()]
    return api.client.post("/api/v1/processes", data=data, content_type="multipart/form-data",
                           headers=api._headers())


@pytest.fixture(autouse=True)
def _remove_copied_process(app):
    """The copied process exists only for its test."""
    yield
    with app.app_context():
        copies = select(ProcessVersion.id).where(ProcessVersion.process_id == "consultation_copy")
        db.session.execute(delete(FormVersion).where(FormVersion.process_version_id.in_(copies)))
        db.session.execute(delete(ProcessVersion).where(ProcessVersion.process_id == "consultation_copy"))
        db.session.commit()


@pytest.fixture()
def restore_certificate(app):
    """Tests that deploy the certificate process leave its shipped file as the newest version."""
    yield
    with app.app_context():
        catalogue.deploy_bpmn(CERT_ID, CERT.read_bytes(), CERT.name)
        db.session.commit()


def test_upload_deploys_a_new_process_and_lists_its_versions(api_as):
    designer = api_as("designer")
    response = _upload(designer, _consultation())
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["process_id"] == "consultation_copy" and body["version"] == 1 and body["deployed"] is True
    assert [p["code"] for p in body["problems"]] == ["bpmn.gateway_loop"]
    again = _upload(designer, _consultation())
    assert again.status_code == 200 and again.get_json()["unchanged"] is True and again.get_json()["version"] == 1
    listed = {p["process_id"]: p for p in designer.get("/processes").get_json()["processes"]}
    assert listed["consultation_copy"]["latest_version"] == 1
    detail = designer.get("/processes/consultation_copy").get_json()
    assert [(v["version"], v["deployed_by"], v["running_cases"]) for v in detail["versions"]] == [(1, "流程设计员", 0)]
    bpmn = designer.get("/processes/consultation_copy/versions/1/bpmn")
    assert bpmn.status_code == 200 and bpmn.data == _consultation()
    events = designer.get("/processes/consultation_copy/events").get_json()["events"]
    assert [(e["action"], e["details"]["version"]) for e in events] == [("uploaded", 1)]


def test_check_only_deploys_nothing(api_as):
    designer = api_as("designer")
    response = _upload(designer, _consultation(), check_only="true")
    assert response.status_code == 200 and response.get_json()["deployed"] is False
    assert designer.get("/processes/consultation_copy").status_code == 404


def test_only_designers_and_admins_reach_the_process_api(api_as, client):
    assert _upload(api_as("handler"), _consultation()).status_code == 403
    assert api_as("frontdesk").get("/processes").status_code == 403
    assert client.get("/api/v1/processes").status_code == 401
    assert _upload(api_as("admin"), _consultation()).status_code == 201


REFUSALS = {
    "xxe": (b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
            b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&x;</bpmn:definitions>',
            "xml.doctype", None),
    "billion-laughs": (b'<?xml version="1.0"?>\n<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>\n'
                       b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&b;'
                       b"</bpmn:definitions>", "xml.doctype", None),
    "not-xml": (b"PK\x03\x04 this is a zip", "xml.not_xml", None),
    "not-bpmn": (b"<html><body>hello</body></html>", "xml.not_bpmn", None),
    "too-large": (b"<x>" + b" " * (2 * 1024 * 1024) + b"</x>", "xml.too_large", None),
    "schema": (_consultation(**{'<bpmn:startEvent id="start" name="申请提交">': '<bpmn:startEvent id="start" name="申请提交" bogus="1">'}),
               "bpmn.schema", None),
    "unknown-lane": (_consultation(**{'name="USE"': 'name="NOWHERE"'}), "lane.unknown", "lane_use"),
    "import-os": (_consultation(**{"decision == \"provide\"": "__import__('os').system('id')"}),
                  "bpmn.script_refused", "access_decision"),
    "dunder-escape": (_consultation(**{'intake_decision == "refuse"': "().__class__.__base__.__subclasses__()"}),
                      "bpmn.script_refused", "intake_decision"),
    "timer-expression": (_consultation(**{TIMER: TIMER.replace("supplement_due", "open('/etc/passwd').read()")}),
                         "bpmn.script_refused", "supplement_expired"),
    "unknown-form": (_consultation(**{'value="archive_access_result"': 'value="no_such_form"'}),
                     "form.unknown", "provide_access"),
    "no-form": (_consultation(**{'<spiffworkflow:property name="formKey" value="archive_access_result" />': ""}),
                "form.missing", "provide_access"),
    "step-limit": (_consultation(**{'<spiffworkflow:property name="formKey" value="archive_access_result" />':
                                    '<spiffworkflow:property name="formKey" value="archive_access_result" />'
                                    '<spiffworkflow:property name="stepLimit" value="two weeks" />'}),
                   "step_limit.invalid", "provide_access"),
    "called-process": (_consultation(**{'<bpmn:userTask id="provide_access" name="提供利用">':
                                        '<bpmn:callActivity id="provide_access" name="提供利用" calledElement="nowhere">',
                                        "</bpmn:userTask>\n    <bpmn:exclusiveGateway id=\"access_decision\"":
                                        "</bpmn:callActivity>\n    <bpmn:exclusiveGateway id=\"access_decision\""}),
                       "bpmn.called_process_missing", "provide_access"),
    "service-task": (_consultation(**{'<bpmn:userTask id="provide_access" name="提供利用">':
                                      '<bpmn:serviceTask id="provide_access" name="提供利用">',
                                      "</bpmn:userTask>\n    <bpmn:exclusiveGateway id=\"access_decision\"":
                                      "</bpmn:serviceTask>\n    <bpmn:exclusiveGateway id=\"access_decision\""}),
                     "bpmn.service_task", "provide_access"),
    "dangling-flow": (_consultation(**{'targetRef="end_granted"': 'targetRef="end_gone"'}), "bpmn.reference", "flow_provide"),
}


@pytest.mark.parametrize("name", list(REFUSALS))
def test_every_rule_refuses_its_bad_file_with_element_and_line(api_as, name):
    xml, code, element_id = REFUSALS[name]
    response = _upload(api_as("designer", "zh"), xml)
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    codes = [(p["code"], p["element_id"]) for p in body["problems"] if p["severity"] == "error"]
    assert (code, element_id) in codes, codes
    problem = next(p for p in body["problems"] if p["code"] == code)
    if element_id:
        lines = xml.decode("utf-8").splitlines()
        assert f'"{element_id}"' in lines[problem["line"] - 1]
    assert body["error"].startswith("BPMN 文件被拒绝")
    assert api_as("designer").get("/processes/consultation_copy").status_code == 404


def test_an_unknown_lane_is_named_in_the_users_language(api_as):
    response = _upload(api_as("designer", "zh"), REFUSALS["unknown-lane"][0])
    [problem] = [p for p in response.get_json()["problems"] if p["code"] == "lane.unknown"]
    assert problem["message"] == "泳道 NOWHERE 不是已知的部门代码。"


def test_forms_uploaded_with_the_process_are_deployed_and_used(api_as, ctx):
    form = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "required": ["decision"], "properties": {"decision": {"type": "string", "title": "结论",
                                                                  "enum": ["provide", "refuse"]}}}
    xml = _consultation(**{'value="archive_access_result"': 'value="copy_access_result"'})
    assert _upload(api_as("designer"), xml).status_code == 422
    response = _upload(api_as("designer"), xml, forms={"copy_access_result": form})
    assert response.status_code == 201, response.get_json()
    from app.taskforms import get_registry
    assert get_registry().get("copy_access_result").schema == form
    bad = _upload(api_as("designer"), xml, forms={"copy_access_result": {"type": "object", "properties": 3}})
    assert bad.status_code == 422 and bad.get_json()["problems"][0]["code"] == "form.invalid"


def _running_case(api_as) -> str:
    response = api_as("frontdesk").post("/cases", application_payload())
    assert response.status_code == 201, response.get_json()
    return response.get_json()["case_no"]


def _certificate(**replacements: str) -> bytes:
    text = CERT.read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    return text.encode()


RENAMED_REVIEW = {'<bpmn:userTask id="review" name="利用审核">': '<bpmn:userTask id="review" name="利用审核(新)">',
                  '<spiffworkflow:property name="stepLimit" value="1wd" />': '<spiffworkflow:property name="stepLimit" value="3wd" />'}
LONGER_SEARCH = {'<spiffworkflow:property name="stepLimit" value="2wd" />': '<spiffworkflow:property name="stepLimit" value="5wd" />'}


def test_deploying_while_cases_run_leaves_them_on_their_version(api_as, ctx, restore_certificate):
    case_no = _running_case(api_as)
    old_version = db.session.scalar(select(Case.process_version_id).where(Case.case_no == case_no))
    assert _upload(api_as("designer"), _certificate(**RENAMED_REVIEW), "cert.bpmn").status_code == 201
    db.session.expire_all()
    assert db.session.scalar(select(Case.process_version_id).where(Case.case_no == case_no)) == old_version
    handler = api_as("handler")
    task = [t for t in handler.get(f"/cases/{case_no}").get_json()["tasks"] if t["state"] == "open"][0]
    done = handler.post(f"/tasks/{task['id']}/complete", {"data": {"search_result": "yes", "opinion": "查到"}})
    assert done.status_code == 200, done.get_json()
    newer = _running_case(api_as)
    assert db.session.scalar(select(Case.process_version_id).where(Case.case_no == newer)) != old_version


def test_migration_moves_cases_whose_active_task_is_unchanged_and_refuses_the_others(api_as, ctx, restore_certificate):
    designer = api_as("designer")
    moving, staying = _running_case(api_as), _running_case(api_as)
    # `staying` goes on to the review, which the new version changes; `moving` waits at the search.
    handler = api_as("handler")
    task = [t for t in handler.get(f"/cases/{staying}").get_json()["tasks"] if t["state"] == "open"][0]
    assert handler.post(f"/tasks/{task['id']}/complete", {"data": {"search_result": "yes", "opinion": "查到"}}).status_code == 200
    version = _upload(designer, _certificate(**RENAMED_REVIEW), "cert.bpmn").get_json()["version"]
    dry = designer.get(f"/processes/{CERT_ID}/versions/{version}/migration").get_json()
    plans = {case["case_no"]: case for case in dry["cases"]}
    assert plans[moving]["can_move"] is True
    assert plans[staying]["can_move"] is False and "review" in plans[staying]["blockers"][0]
    assert [(c["element_id"], c["active"]) for c in plans[staying]["changed"] if c["element_id"] == "review"] == [("review", True)]
    response = designer.post(f"/processes/{CERT_ID}/versions/{version}/migration", {"cases": [moving, staying, "NOPE"]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["moved"] == [moving] and set(body["refused"]) == {staying, "NOPE"}
    db.session.expire_all()
    cases = {c.case_no: c for c in db.session.scalars(select(Case).where(Case.case_no.in_([moving, staying])))}
    assert cases[moving].process_version.version == version and cases[staying].process_version.version < version
    records = {(r.case.case_no, r.outcome) for r in db.session.scalars(select(ProcessMigration))}
    assert records == {(moving, "migrated"), (staying, "refused")}
    assert db.session.scalar(select(CaseEvent.details).where(CaseEvent.case_id == cases[moving].id,
                                                             CaseEvent.action == "process_migrated"))["to_version"] == version
    assert db.session.scalar(select(DesignEvent.details).where(DesignEvent.action == "cases_migrated")) == {
        "version": version, "moved": 1, "refused": 2}
    # The moved case goes on and reaches the new version's review.
    task = [t for t in handler.get(f"/cases/{moving}").get_json()["tasks"] if t["state"] == "open"][0]
    assert handler.post(f"/tasks/{task['id']}/complete", {"data": {"search_result": "yes", "opinion": "查到"}}).status_code == 200
    review = [t for t in handler.get(f"/cases/{moving}").get_json()["tasks"] if t["state"] == "open"][0]
    assert review["name"] == "利用审核(新)"


def test_a_changed_active_task_blocks_its_case(api_as, ctx, restore_certificate):
    case_no = _running_case(api_as)
    designer = api_as("designer")
    version = _upload(designer, _certificate(**LONGER_SEARCH), "cert.bpmn").get_json()["version"]
    [plan] = designer.get(f"/processes/{CERT_ID}/versions/{version}/migration").get_json()["cases"]
    assert plan["case_no"] == case_no and plan["can_move"] is False
    assert [c["element_id"] for c in plan["changed"] if c["active"]] == ["record_search"]
    body = designer.post(f"/processes/{CERT_ID}/versions/{version}/migration", {"cases": [case_no]}).get_json()
    assert body["moved"] == [] and list(body["refused"]) == [case_no]
    assert designer.post(f"/processes/{CERT_ID}/versions/{version}/migration", {"cases": []}).status_code == 422
