"""Hostile or odd input: refused with a clear 4xx, never a 500, nothing written."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.errors import ValidationFailed
from app.extensions import db
from app.models import Case, CaseEvent, WorkItem
from app.models.base import utcnow
from app.services.cases import intake, runtime, timers
from app.services.processes import catalogue
from tests.conftest import application_payload
from tests.integration.test_deploy_and_cli import BPMN


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "null", "{"])
def test_token_with_a_body_that_is_not_an_object(client, body):
    response = client.post("/api/v1/auth/token", data=body, content_type="application/json")
    assert response.status_code == 401 and response.get_json()["error"]


@pytest.mark.parametrize("applicant_name, material", [
    ("张\u0000三", {"code": "id_card"}),
    ("张三", {"code": "id_card", "filename": ["a", "b"]}),
    ("张三", {"code": "id_card", "filename": "x" * 300}),
])
def test_intake_refuses_unstorable_text(app, api_as, applicant_name, material):
    payload = application_payload()
    payload["applicant"]["name"] = applicant_name
    payload["materials"] = [payload["materials"][0], material]
    response = api_as("frontdesk").post("/cases", payload)
    assert response.status_code == 422, response.get_json()
    with app.app_context():
        assert db.session.query(Case).count() == 0


def test_material_listed_twice(api_as):
    payload = application_payload()
    payload["materials"].append({"code": "id_card"})
    body = api_as("frontdesk").post("/cases", payload).get_json()
    assert "materials.id_card" in body["fields"]


def _search_task(api_as):
    case_no = api_as("frontdesk").post("/cases", application_payload()).get_json()["case_no"]
    handler = api_as("handler")
    return handler, next(t for t in handler.get("/tasks").get_json() if t["case_no"] == case_no)


def test_step_cannot_write_variables_of_other_steps(app, api_as):
    handler, task = _search_task(api_as)
    response = handler.post(f"/tasks/{task['id']}/complete",
                            {"data": {"search_result": "yes", "opinion": "已查到", "decision": "approve"}})
    assert response.status_code == 200
    with app.app_context():
        assert db.session.get(WorkItem, task["id"]).data == {"search_result": "yes", "opinion": "已查到"}


def test_nan_and_nul_in_task_data_are_refused(api_as):
    handler, task = _search_task(api_as)
    nul = handler.post(f"/tasks/{task['id']}/complete", {"data": {"search_result": "yes", "opinion": "a\u0000b"}})
    assert nul.status_code == 422 and "opinion" in nul.get_json()["fields"]
    raw = '{"data": {"search_result": "yes", "opinion": "ok", "record_reference": NaN}}'
    nan = handler.client.post(f"/api/v1/tasks/{task['id']}/complete", data=raw,
                              content_type="application/json", headers=handler._headers())
    assert nan.status_code == 422
    assert handler.get(f"/tasks/{task['id']}").get_json()["state"] == "open"


def test_top_level_opinion_is_kept(app, api_as):
    handler, task = _search_task(api_as)
    handler.post(f"/tasks/{task['id']}/complete", {"data": {"search_result": "no", "opinion": "未查到"}})
    review = next(t for t in handler.get("/tasks").get_json() if t["bpmn_id"] == "review")
    response = handler.post(f"/tasks/{review['id']}/complete",
                            {"data": {"decision": "refuse", "opinion": "不予出证"}, "opinion": "ignored duplicate"})
    assert response.get_json()["case_status"] == "refused"


def test_bpmn_not_in_utf8_is_refused(ctx):
    text = BPMN.read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="GBK"', 1)
    with pytest.raises(ValidationFailed, match="UTF-8"):
        catalogue.deploy_bpmn("cross_archive_certificate", text.encode("gbk"), "gbk.bpmn")


def test_item_file_naming_a_form_the_process_does_not_use_is_refused(ctx, tmp_path):
    source = (BPMN.parent / "cross_archive_certificate.item.toml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.item.toml"
    bad.write_text(source.replace('intake_form = "cross_archive_application"', 'intake_form = "record_search_typo"'),
                   encoding="utf-8")
    with pytest.raises(ValidationFailed, match="record_search_typo"):
        catalogue.upsert_item(catalogue.load_item_file(bad))


def test_query_code_is_stored_hashed(app, api_as):
    body = api_as("frontdesk").post("/cases", application_payload()).get_json()
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.case_no == body["case_no"]))
        assert body["query_code"] not in case.query_code_hash
        assert intake.check_query_code(case, body["query_code"])
        assert not intake.check_query_code(case, "000000" if body["query_code"] != "000000" else "111111")


def test_a_broken_timer_is_parked_and_does_not_stop_the_others(app, api_as, monkeypatch):
    front = api_as("frontdesk")
    numbers = [front.post("/cases", application_payload()).get_json()["case_no"] for _ in range(2)]
    with app.app_context():
        cases = [db.session.scalar(select(Case).where(Case.case_no == n)) for n in numbers]
        for case in cases:
            case.next_timer_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        broken_id = cases[0].id
        real_load = runtime.read_workflow

        def load(case):
            if case.id == broken_id:
                raise RuntimeError("boom")
            return real_load(case)

        monkeypatch.setattr(runtime, "read_workflow", load)
        assert timers.fire_due_timers() == 1
        db.session.commit()
        broken = db.session.get(Case, broken_id)
        assert broken.next_timer_at is None
        actions = db.session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == broken_id)).all()
        assert "timer_failed" in actions
