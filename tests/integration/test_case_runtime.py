"""The case runtime: its lock, the open items it reads under it, and the table of allowed status changes."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from app.errors import Conflict
from app.extensions import db
from app.models import WorkItem
from app.services.cases.runtime import NEXT_STATUSES, CaseRun
from tests.factories import accepted_case, user_named


def test_a_run_waiting_for_the_lock_sees_the_items_the_first_run_created(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("row locks need PostgreSQL")
    case_no, step = accepted_case(app)
    first_locked, seen = threading.Event(), {}

    def first():
        with app.app_context():
            run = CaseRun.of_case_no(case_no, user_named("handler"))
            first_locked.set()
            time.sleep(0.3)  # the second run is now waiting for the lock
            run.complete(run.open_item(step), {"search_result": "yes", "opinion": "查到"})
            run.save()
            db.session.commit()
            db.session.remove()

    def second():
        first_locked.wait(5)
        with app.app_context():
            run = CaseRun.of_case_no(case_no, user_named("handler"))
            seen["open"] = sorted(item.bpmn_id for item in run.open_items)
            seen["version"] = run.case.lock_version
            db.session.rollback()
            db.session.remove()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    with app.app_context():
        now_open = sorted(db.session.scalars(select(WorkItem.bpmn_id).join(WorkItem.case).where(
            WorkItem.state == "open", WorkItem.case.has(case_no=case_no))))
    # Not the items as they were when the second run's statement began: the step it waited on is done.
    assert seen["open"] == now_open and "record_search" not in seen["open"]


def test_the_status_table_refuses_what_no_verb_may_do(app):
    case_no, _step = accepted_case(app)
    with app.app_context():
        run = CaseRun.of_case_no(case_no, user_named("handler"))
        with pytest.raises(Conflict):
            run.set_status("pre_review")  # back to the window only from a supplement
        run.set_status("suspended")
        with pytest.raises(Conflict):
            run.set_status("pending_supplement")
        run.set_status("withdrawn")
        for status in ("in_progress", "pre_review", "suspended", "completed"):
            with pytest.raises(Conflict):
                run.set_status(status)  # a finished case changes no more
        db.session.rollback()
    assert all(status not in NEXT_STATUSES for status in ("completed", "refused", "withdrawn", "returned"))
