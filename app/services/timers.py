"""Fire due BPMN timers, touching only cases whose next timer is due."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Case
from app.models.base import utcnow
from app.services.case_runtime import load_workflow, save_workflow


def fire_due_timers(batch_size: int = 100) -> int:
    """Advance up to batch_size cases with a due timer; rows locked elsewhere are skipped."""
    now = utcnow()
    cases = db.session.scalars(
        select(Case).where(Case.next_timer_at <= now, Case.status == "in_progress")
        .order_by(Case.next_timer_at).limit(batch_size)
        .with_for_update(skip_locked=True, of=Case)
    ).all()
    for case in cases:
        wf = load_workflow(case)
        wf.fire_due_timers()
        save_workflow(case, wf, None, now)
    return len(cases)
