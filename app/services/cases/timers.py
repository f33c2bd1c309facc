"""Fire due BPMN timers, touching only cases whose next timer is due."""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from app.extensions import db
from app.models import Case
from app.models.base import utcnow
from app.services.cases.runtime import CaseRun

log = logging.getLogger(__name__)
# A case waiting for a supplement has a live timer too: its notice lapses into 退件.
TIMED_STATUSES = ("in_progress", "pending_supplement")


def fire_due_timers(batch_size: int = 100) -> int:
    """Advance up to batch_size cases with a due timer, one case at a time; cases someone else holds
    right now are left for the next sweep."""
    now = utcnow()
    due = db.session.scalars(
        select(Case.id).where(Case.next_timer_at <= now, Case.status.in_(TIMED_STATUSES))
        .order_by(Case.next_timer_at).limit(batch_size)).all()
    fired = 0
    for case_id in due:
        # Locked before the savepoint, so a failure rolls back the step but keeps the case held.
        run = CaseRun.of_case_id(case_id, None, skip_locked=True)
        if run is None or not _still_due(run.case, now):
            continue  # held by someone else, or moved on since the list was read
        run.now = now
        try:
            # Each case in its own savepoint: one broken process must not stop every other timer.
            with db.session.begin_nested():
                run.fire_timers()
                run.save()
            fired += 1
        except Exception as exc:  # noqa: BLE001 - whatever broke, park this case and go on
            log.exception("timer of case %s failed", case_id)
            _park(run.fresh(), exc)
    return fired


def _still_due(case: Case, now: datetime) -> bool:
    return case.status in TIMED_STATUSES and case.next_timer_at is not None and case.next_timer_at <= now


def _park(run: CaseRun, exc: Exception) -> None:
    """Parked until someone looks: the failure is on the case's record, not retried every minute."""
    run.case.next_timer_at = None
    run.record("timer_failed", details={"error": str(exc)[:500]})
    run.save()
