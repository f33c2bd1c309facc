"""Process designer pages through HTTP: drafts (concurrent saves), deploy, preview, upload, migration page."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import DesignEvent, ProcessDraft
from app.services.processes import catalogue
from tests.integration.test_archive_pages import csrf, page_client
from tests.integration.test_designer_api import CERT, CERT_ID, RENAMED_REVIEW, _certificate, _running_case

EDIT = f"/designer/processes/{CERT_ID}"


@pytest.fixture()
def restore_certificate(app):
    """The shipped process and its item are what serves after the test, whatever it deployed."""
    yield
    with app.app_context():
        catalogue.deploy_bpmn(CERT_ID, CERT.read_bytes(), CERT.name)
        catalogue.upsert_item(catalogue.load_item_file(CERT.with_suffix(".item.toml")))
        db.session.commit()


def _json_post(client, path: str, body: dict, token: str):
    return client.post(path, json=body, headers={"X-CSRFToken": token})


def _designer(app, name: str = "designer", lang: str = "en"):
    client = page_client(app, name, lang)
    return client, csrf(client, f"{EDIT}/edit")


def test_only_designers_reach_the_designer_pages(app):
    handler = page_client(app, "handler")
    for path in ("/designer/", f"{EDIT}", f"{EDIT}/edit", f"{EDIT}/draft.json", "/designer/upload"):
        assert handler.get(path).status_code == 403, path
    designer, _token = _designer(app)
    for path in ("/designer/", f"{EDIT}", f"{EDIT}/edit", f"{EDIT}/draft.json", "/designer/upload",
                 f"{EDIT}/versions/1", f"{EDIT}/versions/1.bpmn"):
        assert designer.get(path).status_code == 200, path


def test_the_draft_opens_on_the_newest_version_with_the_items_settings(app):
    designer, _token = _designer(app)
    draft = designer.get(f"{EDIT}/draft.json").get_json()
    assert draft["revision"] == 0 and draft["bpmn"] == CERT.read_text(encoding="utf-8")
    assert draft["item"]["code"] == "113701000045001234400011700100X" and draft["item"]["case_type"] == "committed"
    assert {"HOLDING", "USE", "WINDOW"} <= {department["code"] for department in draft["departments"]}
    assert "record_search" in draft["form_keys"]


def test_two_designers_saving_the_same_draft_the_second_is_told_and_nothing_is_overwritten(app):
    first, first_token = _designer(app, "designer")
    second, second_token = _designer(app, "admin", "zh")
    bpmn = first.get(f"{EDIT}/draft.json").get_json()["bpmn"]
    saved = _json_post(first, f"{EDIT}/draft", {"revision": 0, "bpmn": bpmn.replace("利用审核", "审核一"),
                                                 "forms": {}, "item": None}, first_token)
    assert saved.status_code == 200 and saved.get_json()["revision"] == 1
    late = _json_post(second, f"{EDIT}/draft", {"revision": 0, "bpmn": bpmn.replace("利用审核", "审核二"),
                                                 "forms": {}, "item": None}, second_token)
    assert late.status_code == 409
    body = late.get_json()
    assert body["revision"] == 1 and body["updated_by"] == "流程设计员" and "流程设计员" in body["error"]
    with app.app_context():
        draft = db.session.scalar(select(ProcessDraft).where(ProcessDraft.process_id == CERT_ID))
        assert "审核一" in draft.bpmn_xml and "审核二" not in draft.bpmn_xml
        assert [e.details["revision"] for e in db.session.scalars(
            select(DesignEvent).where(DesignEvent.action == "draft_saved"))] == [1]
    again = _json_post(second, f"{EDIT}/draft", {"revision": 1, "bpmn": bpmn.replace("利用审核", "审核二"),
                                                  "forms": {}, "item": None}, second_token)
    assert again.status_code == 200 and again.get_json()["revision"] == 2


@pytest.mark.parametrize("bpmn, code", [
    ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>', "xml.doctype"),
    ("not xml at all", "xml.not_xml"),
])
def test_an_unsafe_or_unreadable_draft_is_not_saved(app, bpmn, code):
    designer, token = _designer(app)
    response = _json_post(designer, f"{EDIT}/draft", {"revision": 0, "bpmn": bpmn, "forms": {}}, token)
    assert response.status_code == 422 and response.get_json()["problems"][0]["code"] == code
    with app.app_context():
        assert db.session.scalar(select(ProcessDraft)) is None


def test_a_draft_with_errors_is_saved_but_not_deployed(app):
    designer, token = _designer(app, lang="zh")
    bpmn = designer.get(f"{EDIT}/draft.json").get_json()["bpmn"].replace('name="USE"', 'name="NOWHERE"')
    saved = _json_post(designer, f"{EDIT}/draft", {"revision": 0, "bpmn": bpmn, "forms": {}}, token)
    assert saved.status_code == 200
    assert [p["code"] for p in saved.get_json()["problems"] if p["severity"] == "error"] == ["lane.unknown"]
    refused = _json_post(designer, f"{EDIT}/deploy", {"revision": 1}, token)
    assert refused.status_code == 422
    [problem] = [p for p in refused.get_json()["problems"] if p["severity"] == "error"]
    assert problem["element_id"] == "lane_use" and problem["message"] == "泳道 NOWHERE 不是已知的部门代码。"
    checked = _json_post(designer, f"{EDIT}/validate", {"bpmn": bpmn, "forms": {}}, token).get_json()
    assert checked["ok"] is False


def test_deploy_from_the_draft_with_a_new_form_and_item_settings(app, restore_certificate):
    designer, token = _designer(app)
    draft = designer.get(f"{EDIT}/draft.json").get_json()
    form = {"type": "object", "required": ["note"], "properties": {"note": {"type": "string", "title": "备注"}}}
    bpmn = draft["bpmn"].replace('value="utilisation_review"', 'value="review_note"')
    item = {**draft["item"], "name": "民生档案跨馆出证(新)", "supplement_days": None, "fee": ""}
    saved = _json_post(designer, f"{EDIT}/draft", {"revision": 0, "bpmn": bpmn, "forms": {"review_note": form},
                                                   "item": item}, token).get_json()
    assert [p for p in saved["problems"] if p["severity"] == "error"] == []
    stale = _json_post(designer, f"{EDIT}/deploy", {"revision": 0}, token)
    assert stale.status_code == 409
    assert _json_post(designer, f"{EDIT}/deploy", {"revision": "1"}, token).status_code == 422
    deployed = _json_post(designer, f"{EDIT}/deploy", {"revision": saved["revision"]}, token)
    assert deployed.status_code == 201, deployed.get_json()
    assert designer.get("/designer/forms/review_note.json").get_json()["schema"] == form
    with app.app_context():
        version = catalogue.current_version(CERT_ID)
        assert version.version == deployed.get_json()["version"] and "review_note" in version.bpmn_xml
        assert catalogue.get_active_item("113701000045001234400011700100X").name == "民生档案跨馆出证(新)"
        events = [e.action for e in db.session.scalars(select(DesignEvent).order_by(DesignEvent.id))]
        assert events == ["draft_saved", "deployed"]
    again = _json_post(designer, f"{EDIT}/deploy", {"revision": saved["revision"]}, token)
    assert again.status_code == 201 and again.get_json()["version"] == deployed.get_json()["version"]


def test_form_preview_renders_the_fields_or_says_what_is_wrong(app):
    designer, token = _designer(app, lang="zh")
    schema = '{"type": "object", "properties": {"opinion": {"type": "string", "title": "审核意见"}}}'
    shown = _json_post(designer, "/designer/forms/preview", {"schema": schema}, token)
    assert shown.status_code == 200 and "审核意见" in shown.get_data(as_text=True)
    assert 'name="opinion"' in shown.get_data(as_text=True)
    broken = _json_post(designer, "/designer/forms/preview", {"schema": '{"type": '}, token)
    assert broken.status_code == 422 and "不是有效的 JSON" in broken.get_data(as_text=True)


def test_upload_page_refuses_with_the_problems_listed_and_deploys_a_good_file(app, restore_certificate):
    designer, _token = _designer(app)
    token = csrf(designer, "/designer/upload")
    bad = _certificate(**{'name="USE"': 'name="NOWHERE"'})
    refused = designer.post("/designer/upload", data={"csrf_token": token, "action": "deploy",
                                                      "file": (io.BytesIO(bad), "cert.bpmn")},
                            content_type="multipart/form-data")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'data-element-id="lane_use"' in page and "NOWHERE" in page
    good = designer.post("/designer/upload", data={"csrf_token": token, "action": "deploy",
                                                   "file": (io.BytesIO(_certificate(**RENAMED_REVIEW)), "cert.bpmn")},
                         content_type="multipart/form-data", follow_redirects=True)
    assert good.status_code == 200 and "deployed" in good.get_data(as_text=True)


def test_migration_page_shows_the_dry_run_and_moves_the_ticked_cases(app, api_as, restore_certificate):
    case_no = _running_case(api_as)
    designer, _token = _designer(app)
    token = csrf(designer, "/designer/upload")
    designer.post("/designer/upload", data={"csrf_token": token, "action": "deploy",
                                            "file": (io.BytesIO(_certificate(**RENAMED_REVIEW)), "cert.bpmn")},
                  content_type="multipart/form-data")
    with app.app_context():
        number = catalogue.current_version(CERT_ID).version
    page = designer.get(f"{EDIT}/versions/{number}/migration").get_data(as_text=True)
    assert f'data-case-no="{case_no}" data-can-move="true"' in page
    moved = designer.post(f"{EDIT}/versions/{number}/migration", data={"csrf_token": token, "case_no": [case_no]},
                          follow_redirects=True)
    text = moved.get_data(as_text=True)
    assert "1 case(s) moved" in text and f'data-case-no="{case_no}" data-outcome="migrated"' in text
    assert "No running case is on an older version." in text
    nothing = designer.post(f"{EDIT}/versions/{number}/migration", data={"csrf_token": token}, follow_redirects=True)
    assert "Choose between 1 and" in nothing.get_data(as_text=True)


def test_new_process_starts_as_a_draft_from_the_template(app):
    designer, _token = _designer(app)
    token = csrf(designer, "/designer/")
    created = designer.post("/designer/processes", data={"csrf_token": token, "process_id": "new_item_process",
                                                         "name": "新事项"})
    assert created.status_code == 302 and created.headers["Location"].endswith("/designer/processes/new_item_process/edit")
    draft = designer.get("/designer/processes/new_item_process/draft.json").get_json()
    assert draft["revision"] == 1 and 'name="新事项"' in draft["bpmn"]
    again = designer.post("/designer/processes", data={"csrf_token": token, "process_id": "new_item_process"})
    assert again.status_code == 409
    bad = designer.post("/designer/processes", data={"csrf_token": token, "process_id": "1 bad id"})
    assert bad.status_code == 422


def test_workflows_check_command_reports_problems_with_file_and_line(app, tmp_path):
    bad = tmp_path / "bad.bpmn"
    bad.write_bytes(_certificate(**{'name="USE"': 'name="NOWHERE"'}))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["workflows", "check", str(bad), "--process-id", CERT_ID])
    assert result.exit_code == 1
    lane_line = next(number for number, line in enumerate(bad.read_text(encoding="utf-8").splitlines(), 1)
                     if '<bpmn:lane id="lane_use"' in line)
    assert f"bad.bpmn:{lane_line}: error [lane_use]" in result.output
    good = runner.invoke(args=["workflows", "check"])
    assert good.exit_code == 0 and "cross_archive_certificate.bpmn: ok" in good.output


def test_a_version_download_is_never_rendered_as_a_page(app):
    designer, _token = _designer(app)
    response = designer.get(f"{EDIT}/versions/1.bpmn")
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"].startswith("sandbox")


def test_a_draft_older_than_the_newest_version_is_not_deployed_over_it(app, api_as, restore_certificate):
    designer, token = _designer(app)
    bpmn = designer.get(f"{EDIT}/draft.json").get_json()["bpmn"]
    saved = _json_post(designer, f"{EDIT}/draft", {"revision": 0, "bpmn": bpmn.replace("利用审核", "审核一"),
                                                   "forms": {}}, token).get_json()
    uploaded = api_as("designer").client.post(
        "/api/v1/processes", data={"file": (io.BytesIO(_certificate(**RENAMED_REVIEW)), "cert.bpmn")},
        content_type="multipart/form-data", headers=api_as("designer")._headers())
    assert uploaded.status_code == 201
    refused = _json_post(designer, f"{EDIT}/deploy", {"revision": saved["revision"]}, token)
    assert refused.status_code == 409 and f"{uploaded.get_json()['version']}" in refused.get_json()["error"]
    with app.app_context():
        assert "利用审核(新)" in catalogue.current_version(CERT_ID).bpmn_xml
