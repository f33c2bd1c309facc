"""The case clock: step limits, pauses that move every due time, and approved extensions."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from app.errors import ValidationFailed
from app.extensions import db
from app.models import Case, WorkItem
from app.services.calendar import workdays
from app.services.cases import routing, runtime
from app.services.processes import catalogue
from app.services.processes.step_limits import parse_step_limit
from tests.conftest import application_payload

SHANGHAI = ZoneInfo("Asia/Shanghai")
SEARCH_DONE = {"data": {"search_result": "yes", "record_reference": "Z109-1998-0042", "opinion": "已查到"}}


@pytest.mark.parametrize("text, expected", [("2wd", (2, "working_day")), ("3d", (3, "calendar_day")),
                                            ("4h", (4, "hour")), (None, None), ("", None)])
def test_step_limits_parse(text, expected):
    assert parse_step_limit(text) == expected


@pytest.mark.parametrize("text", ["2 wd", "wd", "2w", "-1d", "1000h", "２wd"])
def test_malformed_step_limits_are_refused(text):
    with pytest.raises(ValueError):
        parse_step_limit(text)


def _travel(monkeypatch, module, now) -> None:
    """The service module and the case runtime both act at `now`."""
    monkeypatch.setattr(module, "utcnow", now)
    monkeypatch.setattr(runtime, "utcnow", now)


def test_a_step_with_its_own_limit_is_due_by_it(app, api_as):
    case_no = api_as("frontdesk").post("/cases", application_payload()).get_json()["case_no"]
    with app.app_context():
        item = db.session.query(WorkItem).join(Case).filter(Case.case_no == case_no, WorkItem.state == "open").one()
        assert item.step_limit == "2wd"  # 档案查询 in the shipped process
        assert item.due_at == workdays.deadline(item.created_at, 2, "working_day", "Asia/Shanghai")
        case = item.case
        assert case.committed_due_at == workdays.deadline(case.accepted_at, 5, "working_day", "Asia/Shanghai")
        assert case.statutory_due_at == workdays.deadline(case.accepted_at, 20, "working_day", "Asia/Shanghai")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_a_suspension_moves_the_case_and_step_due_times_by_the_working_days_paused(app, api_as, monkeypatch):
    front, handler = api_as("frontdesk"), api_as("handler")
    case_no = front.post("/cases", application_payload()).get_json()["case_no"]
    with app.app_context():
        item = db.session.query(WorkItem).join(Case).filter(Case.case_no == case_no, WorkItem.state == "open").one()
        item_id, before_step = item.id, item.due_at
        before_committed, before_statutory = item.case.committed_due_at, item.case.statutory_due_at
    # Suspended on Wednesday 2026-12-02, resumed on Wednesday 2026-12-09: five working days lost.
    _travel(monkeypatch, routing, lambda: _at("2026-12-02T10:00:00+08:00"))
    assert handler.post(f"/tasks/{item_id}/suspend", {"type": "expert_review", "reason": "专家评审",
                                                      "expected_end": "2026-12-31"}).status_code == 200
    _travel(monkeypatch, routing, lambda: _at("2026-12-09T10:00:00+08:00"))
    assert handler.post(f"/tasks/{item_id}/resume").status_code == 200
    with app.app_context():
        case = db.session.query(Case).filter_by(case_no=case_no).one()
        step = db.session.get(WorkItem, item_id)
        assert case.paused_working_days == 5 and case.clock_paused_at is None
        assert case.committed_due_at == workdays.deadline(case.accepted_at, 10, "working_day", "Asia/Shanghai")
        assert case.statutory_due_at == workdays.deadline(case.accepted_at, 25, "working_day", "Asia/Shanghai")
        assert case.committed_due_at > before_committed and case.statutory_due_at > before_statutory
        local = before_step.astimezone(SHANGHAI)
        assert step.due_at.astimezone(SHANGHAI).date() == workdays.add_working_days(local.date(), 5)
        assert step.due_at.astimezone(SHANGHAI).time() == local.time()


def test_a_supplement_during_handling_pauses_the_clock_until_registered(app, api_as, monkeypatch):
    front, handler = api_as("frontdesk"), api_as("handler")
    case_no = front.post("/cases", application_payload()).get_json()["case_no"]
    task = next(t for t in handler.get(f"/cases/{case_no}").get_json()["tasks"] if t["state"] == "open")
    _travel(monkeypatch, routing, lambda: _at("2026-12-07T09:00:00+08:00"))  # a Monday
    assert handler.post(f"/tasks/{task['id']}/request-supplement", {"reason": "补充亲属关系证明"}).status_code == 200
    from app.services.cases import intake
    _travel(monkeypatch, intake, lambda: _at("2026-12-09T16:00:00+08:00"))  # Wednesday: 2 days lost
    assert front.post(f"/cases/{case_no}/supplement", {"materials": [{"code": "kinship_proof"}]}).status_code == 200
    with app.app_context():
        case = db.session.query(Case).filter_by(case_no=case_no).one()
        assert case.paused_working_days == 2 and case.status == "in_progress"


def test_an_extension_adds_working_days(app, api_as):
    front, handler = api_as("frontdesk"), api_as("handler")
    case_no = front.post("/cases", application_payload()).get_json()["case_no"]
    task = next(t for t in handler.get(f"/cases/{case_no}").get_json()["tasks"] if t["state"] == "open")
    for days in (0, 61, "3", None):
        refused = handler.post(f"/tasks/{task['id']}/extend", {"days": days, "reason": "复杂"})
        assert refused.status_code == 422 and "days" in refused.get_json()["fields"]
    assert handler.post(f"/tasks/{task['id']}/extend", {"days": 10}).status_code == 422  # no reason
    extended = handler.post(f"/tasks/{task['id']}/extend", {"days": 10, "reason": "需跨省调档,经批准延长"})
    assert extended.status_code == 200 and extended.get_json()["extension_working_days"] == 10
    with app.app_context():
        case = db.session.query(Case).filter_by(case_no=case_no).one()
        assert case.committed_due_at == workdays.deadline(case.accepted_at, 15, "working_day", "Asia/Shanghai")
        assert case.statutory_due_at == workdays.deadline(case.accepted_at, 30, "working_day", "Asia/Shanghai")
    events = [e["action"] for e in handler.get(f"/cases/{case_no}").get_json()["events"]]
    assert "limit_extended" in events


def test_a_step_limit_that_does_not_parse_is_refused_at_deploy(ctx):
    xml = open(catalogue.current_app.config["WORKFLOWS_DIR"] / "cross_archive_certificate.bpmn", "rb").read()
    broken = xml.replace(b'name="stepLimit" value="1wd"', b'name="stepLimit" value="one day"', 1)
    with pytest.raises(ValidationFailed) as refused:
        catalogue.deploy_bpmn("cross_archive_certificate", broken, "broken.bpmn")
    assert "review" in refused.value.message and "one day" in refused.value.message  # names the task and the value
