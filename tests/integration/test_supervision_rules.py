"""Supervision rules at their boundaries, idempotent and safe with two schedulers at once."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from app.extensions import db
from app.models import Alert, Case, OutboxMessage, RatingFollowUp, User, WorkItem
from app.services.supervision import alerts as supervision
from tests.conftest import application_payload

MINUTE = timedelta(minutes=1)
# A Wednesday deadline, far from holidays, in Beijing time.
DUE = datetime.fromisoformat("2026-12-09T17:00:00+08:00").astimezone(UTC)


def _open_task(app, api_as, due=DUE, created=DUE - timedelta(days=10)) -> int:
    case_no = api_as("frontdesk").post("/cases", application_payload()).get_json()["case_no"]
    with app.app_context():
        item = db.session.scalar(select(WorkItem).join(Case).where(Case.case_no == case_no, WorkItem.state == "open"))
        item.due_at, item.created_at = due, created
        # Keep the case-level rules out of the way: its own deadline is far off.
        item.case.committed_due_at = due + timedelta(days=60)
        db.session.commit()
        return item.id


def _alerts(app, rule=None) -> list[tuple[str, str, str]]:
    with app.app_context():
        query = select(Alert.subject, Alert.rule, Alert.level).order_by(Alert.id)
        if rule:
            query = query.where(Alert.rule == rule)
        rows = [tuple(row) for row in db.session.execute(query)]
        db.session.remove()
        return rows


def _run(app, job, now):
    with app.app_context():
        result = job(now)
        db.session.commit()
        return result


def test_warning_comes_on_at_its_moment_not_a_minute_before(app, api_as):
    item_id = _open_task(app, api_as)
    with app.app_context():
        warn = supervision.warning_moment(DUE - timedelta(days=10), DUE, 20, 1)
    # 1 working day before (Tuesday 17:00) comes after 20 % of ten days before (two days): the latter wins.
    assert warn == DUE - timedelta(days=2)
    _run(app, supervision.check_deadlines, warn - MINUTE)
    assert _alerts(app) == []
    _run(app, supervision.check_deadlines, warn + MINUTE)
    assert _alerts(app) == [(f"task:{item_id}", "TASK_DUE_SOON", "yellow")]
    _run(app, supervision.check_deadlines, warn + 2 * MINUTE)
    assert len(_alerts(app)) == 1  # never twice


def test_one_working_day_rule_when_the_share_comes_later(app, api_as):
    # A short step (two hours long): 20 % would warn 24 minutes before; one working day comes first.
    _open_task(app, api_as, created=DUE - timedelta(hours=2))
    with app.app_context():
        warn = supervision.warning_moment(DUE - timedelta(hours=2), DUE, 20, 1)
    assert warn == DUE - timedelta(days=1)  # Tuesday is a working day
    _run(app, supervision.check_deadlines, warn - MINUTE)
    assert _alerts(app) == []
    _run(app, supervision.check_deadlines, warn + MINUTE)
    assert [a[1] for a in _alerts(app)] == ["TASK_DUE_SOON"]


def test_red_alert_at_the_deadline_then_a_daily_reminder(app, api_as):
    item_id = _open_task(app, api_as)
    _run(app, supervision.check_deadlines, DUE - MINUTE)
    assert [a[2] for a in _alerts(app)] == ["yellow"]
    _run(app, supervision.check_deadlines, DUE + MINUTE)
    assert _alerts(app)[-1] == (f"task:{item_id}", "TASK_OVERDUE", "red")
    _run(app, supervision.check_deadlines, DUE + timedelta(hours=2))
    assert len(_alerts(app, "TASK_OVERDUE")) == 1 and _alerts(app, "TASK_REMINDER") == []
    _run(app, supervision.check_deadlines, DUE + timedelta(days=1))
    _run(app, supervision.check_deadlines, DUE + timedelta(days=1, hours=3))
    _run(app, supervision.check_deadlines, DUE + timedelta(days=2))
    assert len(_alerts(app, "TASK_REMINDER")) == 2  # one per day
    with app.app_context():
        # The holder's department, its head and the supervisors are told, in-app, through the outbox.
        red = db.session.scalar(select(Alert).where(Alert.rule == "TASK_OVERDUE"))
        recipients = {m.recipient for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.alert_id == red.id))}
        ids = dict(db.session.execute(select(User.username, User.id)).all())
        # The head (负责人) of the task's department and the supervisor, not an admin who is no head.
        assert {str(ids["head"]), str(ids["supervisor"])} <= recipients


def test_a_finished_step_raises_nothing(app, api_as):
    item_id = _open_task(app, api_as)
    with app.app_context():
        db.session.get(WorkItem, item_id).state = "completed"
        db.session.commit()
    _run(app, supervision.check_deadlines, DUE + timedelta(days=3))
    assert _alerts(app) == []


def test_two_schedulers_at_once_raise_each_alert_once(app, api_as):
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("concurrent writers need PostgreSQL")
    for _ in range(5):
        _open_task(app, api_as)
    barrier = threading.Barrier(2)

    def run():
        barrier.wait()
        return _run(app, supervision.check_deadlines, DUE + timedelta(days=1))

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: run(), range(2)))
    assert sum(r["raised"] for r in results) == 10  # 5 red + 5 reminders, whoever raised them
    assert len(_alerts(app)) == 10
    with app.app_context():
        per_alert = db.session.execute(select(OutboxMessage.alert_id, OutboxMessage.recipient, func.count())
                                       .group_by(OutboxMessage.alert_id, OutboxMessage.recipient)).all()
        assert per_alert and all(count == 1 for _a, _r, count in per_alert)


def test_case_deadline_rules(app, api_as):
    case_no = api_as("frontdesk").post("/cases", application_payload()).get_json()["case_no"]
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.case_no == case_no))
        case.accepted_at, case.committed_due_at = DUE - timedelta(days=10), DUE
        for item in db.session.scalars(select(WorkItem).where(WorkItem.case_id == case.id)):
            item.due_at = DUE + timedelta(days=60)
        db.session.commit()
    _run(app, supervision.check_deadlines, DUE - timedelta(days=2) - MINUTE)
    assert _alerts(app) == []
    _run(app, supervision.check_deadlines, DUE - timedelta(days=2) + MINUTE)
    _run(app, supervision.check_deadlines, DUE + MINUTE)
    assert [a[1] for a in _alerts(app)] == ["CASE_DUE_SOON", "CASE_OVERDUE"]


def test_daily_audit_rules(app, api_as):
    front = api_as("frontdesk")
    late_no = front.post("/cases", application_payload()).get_json()["case_no"]
    refused_no = front.post("/cases", application_payload()).get_json()["case_no"]
    stuck_id = _open_task(app, api_as, due=DUE - timedelta(days=3) - MINUTE)
    now = DUE
    with app.app_context():
        late = db.session.scalar(select(Case).where(Case.case_no == late_no))
        late.status, late.result, late.completed_at = "completed", "granted", now - timedelta(hours=5)
        late.committed_due_at = now - timedelta(days=1)
        refused = db.session.scalar(select(Case).where(Case.case_no == refused_no))
        refused.status, refused.result, refused.completed_at, refused.result_reason = (
            "refused", "refused", now - timedelta(hours=1), "  ")
        refused.committed_due_at = now + timedelta(days=30)
        for case in (late, refused):
            for item in db.session.scalars(select(WorkItem).where(WorkItem.case_id == case.id, WorkItem.state == "open")):
                item.state = "cancelled"
        db.session.commit()
    _run(app, supervision.daily_audit, now)
    rules = sorted(a[1] for a in _alerts(app))
    assert rules == ["COMPLETED_LATE", "OVERDUE_NOT_HANDLED", "REFUSED_WITHOUT_REASON"]
    _run(app, supervision.daily_audit, now + MINUTE)
    assert len(_alerts(app)) == 3
    # The overdue-not-handled boundary: a step overdue by just under three days is not yet audited.
    with app.app_context():
        db.session.get(WorkItem, stuck_id).due_at = DUE + timedelta(days=1) - timedelta(days=3) + MINUTE
        db.session.commit()
    _run(app, supervision.daily_audit, now + timedelta(days=1))
    assert len(_alerts(app, "OVERDUE_NOT_HANDLED")) == 1


def test_bad_rating_without_follow_up(app, api_as):
    from app.models import CaseRating

    case_no = api_as("frontdesk").post("/cases", application_payload()).get_json()["case_no"]
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.case_no == case_no))
        rating = CaseRating(case_id=case.id, channel="online", code=5)
        db.session.add(rating)
        db.session.flush()
        db.session.add(RatingFollowUp(rating_id=rating.id, due_at=DUE))
        db.session.commit()
    _run(app, supervision.daily_audit, DUE - MINUTE)
    assert _alerts(app, "BAD_RATING_NOT_FOLLOWED") == []
    _run(app, supervision.daily_audit, DUE + MINUTE)
    assert len(_alerts(app, "BAD_RATING_NOT_FOLLOWED")) == 1


def test_weekly_cards_per_department(app, api_as):
    for _ in range(2):
        _open_task(app, api_as)
    _run(app, supervision.check_deadlines, DUE + MINUTE)  # two red alerts in HOLDING, Wednesday
    _run(app, supervision.weekly_cards, DUE + timedelta(days=7))
    with app.app_context():
        card = db.session.scalar(select(Alert).where(Alert.rule == "WEEKLY_CARDS"))
        # Two steps crossed their own limits: two yellow cards (reminders and warnings are not cards).
        assert card.department_code == "HOLDING" and card.details["red"] == 0 and card.details["yellow"] == 2
    _run(app, supervision.weekly_cards, DUE + timedelta(days=7, hours=1))
    assert len(_alerts(app, "WEEKLY_CARDS")) == 1


def test_the_statutory_deadline_is_watched_on_its_own_and_reaches_the_bureau_leader(app, api_as):
    case_no = api_as("frontdesk").post("/cases", application_payload()).get_json()["case_no"]
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.case_no == case_no))
        # The committed deadline and the step are far off: only the statutory deadline is near.
        case.accepted_at, case.statutory_due_at = DUE - timedelta(days=10), DUE
        case.committed_due_at = DUE + timedelta(days=60)
        for item in db.session.scalars(select(WorkItem).where(WorkItem.case_id == case.id)):
            item.due_at = DUE + timedelta(days=60)
        leader = db.session.scalar(select(User).where(User.username == "supervisor"))
        db.session.execute(sa.text(
            "INSERT INTO user_department (user_id, department_id, is_head) "
            "SELECT :user, id, true FROM department WHERE parent_id IS NULL"), {"user": leader.id})
        head = db.session.scalar(select(User).where(User.username == "head"))
        db.session.execute(sa.text(
            "INSERT INTO user_department (user_id, department_id, is_head) "
            "SELECT :user, id, true FROM department WHERE parent_id IS NULL"), {"user": head.id})
        expected = {str(leader.id), str(head.id)}
        db.session.commit()
    try:
        _run(app, supervision.check_deadlines, DUE - timedelta(days=2) - MINUTE)
        assert _alerts(app) == []
        _run(app, supervision.check_deadlines, DUE - timedelta(days=2) + MINUTE)
        _run(app, supervision.check_deadlines, DUE + MINUTE)
        _run(app, supervision.check_deadlines, DUE + 2 * MINUTE)  # rerun: nothing new
        assert [a[1:] for a in _alerts(app)] == [("STATUTORY_DUE_SOON", "yellow"), ("STATUTORY_OVERDUE", "red")]
        with app.app_context():
            told = set(db.session.scalars(select(OutboxMessage.recipient).join(
                Alert, Alert.id == OutboxMessage.alert_id).where(Alert.rule == "STATUTORY_OVERDUE",
                                                                 OutboxMessage.channel == "inapp")))
            db.session.remove()
        assert expected <= told
    finally:
        with app.app_context():
            db.session.execute(sa.text("DELETE FROM user_department WHERE department_id IN "
                                       "(SELECT id FROM department WHERE parent_id IS NULL)"))
            db.session.commit()


def test_a_simulated_week_gives_one_card_per_violation(app, api_as):
    pooled = _open_task(app, api_as)                 # crosses its limit on Wednesday, nobody holds it
    held = _open_task(app, api_as)                   # crosses it too, held by the handler
    later = _open_task(app, api_as, due=DUE + timedelta(days=20))  # due in three weeks: no card this week
    assert api_as("handler").post(f"/tasks/{held}/claim").status_code == 200
    late_case = api_as("frontdesk").post("/cases", application_payload()).get_json()["case_no"]
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.case_no == late_case))
        case.accepted_at, case.committed_due_at = DUE - timedelta(days=10), DUE  # the case itself is late
        for item in db.session.scalars(select(WorkItem).where(WorkItem.case_id == case.id)):
            item.due_at = DUE + timedelta(days=60)
        db.session.commit()
    # A week of sweeps every few hours, from the Monday before the deadlines to Sunday night.
    monday = DUE - timedelta(days=2, hours=8)
    for hour in range(0, 7 * 24, 3):
        _run(app, supervision.check_deadlines, monday + timedelta(hours=hour))
    with app.app_context():
        raised = dict(db.session.execute(select(Alert.rule, func.count()).group_by(Alert.rule)).all())
    assert raised["TASK_REMINDER"] >= 8 and raised["TASK_DUE_SOON"] >= 2  # plenty of reminders and warnings
    _run(app, supervision.weekly_cards, monday + timedelta(days=7, hours=9))
    with app.app_context():
        card = db.session.scalar(select(Alert).where(Alert.rule == "WEEKLY_CARDS"))
        # Two steps late (yellow), one case late (red), against the department holding them.
        assert (card.department_code, card.details["yellow"], card.details["red"]) == ("HOLDING", 2, 1)
        assert card.details["officers"] == {"handler": {"red": 0, "yellow": 1}}
    assert later and pooled
