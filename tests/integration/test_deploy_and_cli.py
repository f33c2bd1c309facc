"""Deploying processes and items, and the flask commands."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.errors import ValidationFailed
from app.extensions import db
from app.models import Case, ProcessVersion, User
from app.services.processes import catalogue
from tests.conftest import application_payload

BPMN = Path(__file__).resolve().parents[2] / "workflows" / "cross_archive_certificate.bpmn"
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&x;</bpmn:definitions>"""


def _versions(process_id="cross_archive_certificate") -> int:
    return db.session.scalar(select(func.count()).where(ProcessVersion.process_id == process_id))


def test_unchanged_file_makes_no_new_version(ctx):
    before = _versions()
    assert catalogue.deploy_bpmn("cross_archive_certificate", BPMN.read_bytes(), BPMN.name) is None
    assert _versions() == before


@pytest.mark.parametrize("payload", [XXE, b"\x00junk" * (2 * 1024 * 1024), b"<not-bpmn", b""])
def test_hostile_or_broken_bpmn_is_refused_and_previous_version_serves(ctx, payload):
    current = catalogue.current_version("cross_archive_certificate")
    with pytest.raises(ValidationFailed) as refused:
        with db.session.begin_nested():
            catalogue.deploy_bpmn("cross_archive_certificate", payload, "bad.bpmn")
    assert refused.value.message
    assert catalogue.current_version("cross_archive_certificate").id == current.id


def test_unknown_lane_is_refused(ctx):
    xml = BPMN.read_bytes().replace(b'name="HOLDING"', b'name="NO_SUCH_DEPT"')
    with pytest.raises(ValidationFailed, match="NO_SUCH_DEPT"):
        catalogue.deploy_bpmn("cross_archive_certificate", xml, "x.bpmn")


def test_changed_file_is_a_new_version_and_running_cases_stay_pinned(app, api_as):
    case_no = api_as("frontdesk").post("/cases", application_payload()).get_json()["case_no"]
    with app.app_context():
        old = catalogue.current_version("cross_archive_certificate")
        changed = BPMN.read_bytes().replace("档案查询".encode(), "馆藏查档".encode(), 1)
        new = catalogue.deploy_bpmn("cross_archive_certificate", changed, BPMN.name)
        assert new is not None and new.version == old.version + 1
        db.session.commit()
        case = db.session.scalar(select(Case).where(Case.case_no == case_no))
        assert case.process_version_id == old.id
    try:
        handler = api_as("handler")
        task = next(t for t in handler.get("/tasks").get_json() if t["case_no"] == case_no)
        assert task["name"] == "档案查询"
        assert handler.post(f"/tasks/{task['id']}/complete",
                            {"data": {"search_result": "yes", "opinion": "ok"}}).status_code == 200
        second = api_as("frontdesk").post("/cases", application_payload()).get_json()["case_no"]
        names = {t["name"] for t in handler.get("/tasks").get_json() if t["case_no"] == second}
        assert names == {"馆藏查档"}
    finally:
        with app.app_context():  # put the shipped version back on top for the other tests
            catalogue.deploy_bpmn("cross_archive_certificate", BPMN.read_bytes(), BPMN.name)
            db.session.commit()


def test_cli_create_user_and_deploy(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "--username", "clerk2", "--password", "long-enough-1",
                                 "--role", "front_desk", "--department", "WINDOW"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "clerk2"))
        assert user.role_set == {"front_desk"} and user.department_codes == ["WINDOW"]
        assert user.check_password("long-enough-1")
    bad = runner.invoke(args=["create-user", "--username", "x", "--password", "long-enough-1", "--role", "boss"])
    assert bad.exit_code == 1 and "boss" in bad.output
    bad_dept = runner.invoke(args=["create-user", "--username", "x", "--password", "long-enough-1",
                                   "--role", "handler", "--department", "MARS"])
    assert bad_dept.exit_code == 1 and "MARS" in bad_dept.output
    deploy = runner.invoke(args=["workflows", "deploy"])
    assert deploy.exit_code == 0 and "unchanged cross_archive_certificate" in deploy.output


def test_seed_demo_is_repeatable(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0 and "frontdesk" in result.output
    # A second run changes nobody: a password changed since stays changed.
    assert all(line.endswith("(already there: unchanged)") for line in result.output.splitlines()[:8])
