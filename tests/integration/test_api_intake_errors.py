"""Bad intake input is refused with field messages and leaves nothing behind."""
from __future__ import annotations

import base64

import pytest

from app.extensions import db
from app.models import Case
from tests.conftest import application_payload


def _no_case_written(app):
    with app.app_context():
        assert db.session.query(Case).count() == 0


@pytest.mark.parametrize("change, field", [
    ({"item_code": "NOPE"}, "item_code"),
    ({"applicant": {"type": "person", "name": "张三", "id_number": "110105194912310021", "phone": "13800138000"}},
     "applicant.id_number"),
    ({"applicant": {"type": "person", "name": "张三", "id_number": "11010519490231002X", "phone": "13800138000"}},
     "applicant.id_number"),
    ({"applicant": {"type": "org", "name": "某公司", "id_number": "91350100M000100Y44", "phone": "13800138000"}},
     "applicant.id_number"),
    ({"applicant": {"type": "person", "name": "张三", "id_number": "11010519491231002X", "phone": "23800138000"}},
     "applicant.phone"),
    ({"materials": [{"code": "application"}]}, "materials.id_card"),
    ({"materials": [{"code": "application", "content_base64": base64.b64encode(b"MZ\x90\x00 not a scan").decode()},
                    {"code": "id_card"}]}, "materials.application"),
    ({"materials": [{"code": "application", "content_base64": "***"}, {"code": "id_card"}]}, "materials.application"),
])
def test_invalid_application_is_refused(app, api_as, change, field):
    response = api_as("frontdesk").post("/cases", application_payload(**change))
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] and field in body["fields"], body
    _no_case_written(app)


def test_form_violating_its_schema(app, api_as):
    payload = application_payload()
    payload["form"] = {**payload["form"], "record_type": "pets", "record_year": "last year"}
    del payload["form"]["purpose"]
    body = api_as("frontdesk").post("/cases", payload).get_json()
    assert {"form.record_type", "form.record_year", "form.purpose"} <= set(body["fields"])
    _no_case_written(app)


def test_messages_follow_the_requested_language(api_as):
    payload = application_payload(item_code="NOPE")
    zh = api_as("frontdesk", lang="zh").post("/cases", payload).get_json()
    en = api_as("frontdesk", lang="en").post("/cases", payload).get_json()
    assert zh["error"] != en["error"]
    assert "item" in en["error"].lower()


def test_only_front_desk_accepts(app, api_as):
    assert api_as("handler").post("/cases", application_payload()).status_code == 403
    _no_case_written(app)


def test_valid_org_applicant(api_as):
    applicant = {"type": "org", "name": "某某有限公司", "id_number": "91350100M000100Y43", "phone": "13900139000"}
    missing = api_as("frontdesk").post("/cases", application_payload(applicant=applicant))
    assert missing.status_code == 422 and "applicant.legal_representative" in missing.get_json()["fields"]
    applicant["legal_representative"] = "李四"
    assert api_as("frontdesk").post("/cases", application_payload(applicant=applicant)).status_code == 201


def test_non_json_body(api_as):
    api = api_as("frontdesk")
    response = api.client.post("/api/v1/cases", data="not json", headers=api._headers())
    assert response.status_code == 422 and response.get_json()["error"]
