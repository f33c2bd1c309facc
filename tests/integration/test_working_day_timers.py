"""BPMN timers written with the working-day calendar: `working_days_ahead(n)` in a timeDate."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Case
from app.services.cases.timers import fire_due_timers
from app.services.processes import catalogue
from tests.conftest import application_payload

BEIJING = ZoneInfo("Asia/Shanghai")
BPMN = Path(__file__).resolve().parents[2] / "workflows" / "cross_archive_certificate.bpmn"
# Friday 13 November 2026; thirty working days on (no holiday in between) is Friday 25 December.
NOTICE_AT = datetime(2026, 11, 13, 10, 0, tzinfo=BEIJING)
EXPECTED_DUE = datetime(2026, 12, 25, 23, 59, 59, tzinfo=BEIJING)


@pytest.fixture()
def designer_timer(app):
    """The shipped process with its 退件 timer rewritten by a designer as 30 working days."""
    original = BPMN.read_bytes()
    rewritten = original.replace(b">supplement_due</bpmn:timeDate>", b">working_days_ahead(30)</bpmn:timeDate>")
    assert rewritten != original
    with app.app_context():
        catalogue.deploy_bpmn("cross_archive_certificate", rewritten, BPMN.name)
        db.session.commit()
    yield
    with app.app_context():  # the shipped version back on top for the other tests
        catalogue.deploy_bpmn("cross_archive_certificate", original, BPMN.name)
        db.session.commit()


def _sweep_at(app, instant: datetime) -> int:
    with app.app_context(), clock.frozen_at(instant):
        fired = fire_due_timers()
        db.session.commit()
        db.session.remove()
    return fired


def test_working_day_timer_returns_the_case_after_thirty_working_days(app, api_as, designer_timer):
    front = api_as("frontdesk")
    with clock.frozen_at(NOTICE_AT):
        response = front.post("/cases", application_payload(materials=[], decision="supplement"))
    assert response.status_code == 201, response.get_json()
    case_no = response.get_json()["case_no"]
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.case_no == case_no))
        assert case.next_timer_at == EXPECTED_DUE

    assert _sweep_at(app, datetime(2026, 12, 25, 23, 58, tzinfo=BEIJING)) == 0
    assert front.get(f"/cases/{case_no}").get_json()["status"] == "pending_supplement"
    assert _sweep_at(app, datetime(2026, 12, 26, 0, 1, tzinfo=BEIJING)) == 1
    assert front.get(f"/cases/{case_no}").get_json()["status"] == "returned"


def test_working_day_function_in_a_timer_follows_holidays(app):
    from app.services.cases.deadlines import working_days_ahead

    with app.app_context(), clock.frozen_at(datetime(2026, 9, 30, 9, 0, tzinfo=BEIJING)):
        # National Day 2026: 1-7 October off, Saturday 10 October worked (调休).
        assert datetime.fromisoformat(working_days_ahead(1)) == datetime(2026, 10, 8, 23, 59, 59, tzinfo=BEIJING)
