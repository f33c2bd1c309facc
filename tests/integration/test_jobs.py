"""Periodic jobs: the declared list, and the timer sweep touching only due cases."""
from __future__ import annotations

import os
from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.jobs import JOBS
from app.models import Case
from app.models.base import utcnow
from app.services.cases.timers import fire_due_timers
from tests.conftest import application_payload


def test_every_job_has_its_interval_setting(app):
    assert JOBS
    for job_id, function, interval_key in JOBS:
        assert callable(function) and app.config[interval_key] > 0, job_id


def test_timer_sweep_only_takes_cases_whose_timer_is_due(app, api_as):
    front = api_as("frontdesk")
    due_no = front.post("/cases", application_payload()).get_json()["case_no"]
    later_no = front.post("/cases", application_payload()).get_json()["case_no"]
    with app.app_context():
        due = db.session.scalar(select(Case).where(Case.case_no == due_no))
        later = db.session.scalar(select(Case).where(Case.case_no == later_no))
        assert due.next_timer_at is None  # the shipped process has no timers
        due.next_timer_at = utcnow() - timedelta(minutes=1)
        later.next_timer_at = utcnow() + timedelta(days=1)
        db.session.commit()
        version_before = later.lock_version

        assert fire_due_timers() == 1
        db.session.commit()
        # The due case was advanced and its next timer recomputed from the engine (none left).
        assert db.session.get(Case, due.id).next_timer_at is None
        assert db.session.get(Case, later.id).lock_version == version_before
        assert fire_due_timers() == 0


def test_orphan_sweep_keeps_referenced_and_recent_files(app, api_as):
    from app.services.cases import materials as material_store
    from app.services.cases.documents import store_pending_pdfs

    case_no = api_as("frontdesk").post("/cases", application_payload()).get_json()["case_no"]
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.case_no == case_no))
        assert case.documents[0].sha256 is None  # the receipt's PDF is stored by a job, off the request
        assert store_pending_pdfs() == 1 and store_pending_pdfs() == 0
        referenced = material_store.path_for(next(m.sha256 for m in case.materials if m.sha256))
        receipt = material_store.path_for(case.documents[0].sha256)
        old_orphan = material_store.path_for(material_store.store(b"%PDF-1.4 orphan old", "application/pdf").sha256)
        new_orphan = material_store.path_for(material_store.store(b"%PDF-1.4 orphan new", "application/pdf").sha256)
        long_ago = (utcnow() - timedelta(days=3)).timestamp()
        for path in (referenced, receipt, old_orphan):
            os.utime(path, (long_ago, long_ago))

        assert material_store.remove_orphans() == 1
        assert not old_orphan.exists()
        assert referenced.exists() and receipt.exists() and new_orphan.exists()
