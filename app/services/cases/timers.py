"""Fire due BPMN timers, touching only cases whose next timer is due."""
from __future__ import annotations

import logging

from sqlalchemy import select

from app.extensions import db
from app.models import Case
from app.models.base import utcnow
from app.services.cases.events import record_event
from app.services.cases.runtime import load_workflow, save_workflow

log = logging.getLogger(__name__)
# A case waiting for a supplement has a live timer too: its notice lapses into 退件.
TIMED_STATUSES = ("in_progress", "pending_supplement")


def fire_due_timers(batch_size: int = 100) -> int:
    """Advance up to batch_size cases with a due timer; rows locked elsewhere are skipped."""
    now = utcnow()
    cases = db.session.scalars(
        select(Case).where(Case.next_timer_at <= now, Case.status.in_(TIMED_STATUSES))
        .order_by(Case.next_timer_at).limit(batch_size)
        .with_for_update(skip_locked=True, of=Case)
    ).all()
    fired = 0
    for case in cases:
        try:
            # Each case in its own savepoint: one broken process must not stop every other timer.
            with db.session.begin_nested():
                wf = load_workflow(case)
                wf.fire_due_timers()
                save_workflow(case, wf, None, now)
            fired += 1
        except Exception as exc:  # noqa: BLE001 - whatever broke, park this case and go on
            log.exception("timer of case %s failed", case.case_no)
            # Parked until someone looks: the failure is on the case's record, not retried every minute.
            case.next_timer_at = None
            record_event(case, None, "timer_failed", details={"error": str(exc)[:500]})
    return fired
