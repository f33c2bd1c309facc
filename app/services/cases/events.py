"""The case's event log (办理过程记录), append-only and hash-chained for tamper evidence.

Each event stores the hash of the previous event of its case and its own hash over its fields and
that previous hash. The chain tip is read once per transaction under the case's row lock, then
followed in memory as the transaction adds events, so two writers can never fork a chain.
"""
from __future__ import annotations

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.archive.chain import chain_breaks, event_hash, event_record
from app.extensions import db
from app.models import Case, CaseEvent, WorkItem
from app.models.base import utcnow
from app.models.org import Actor

_TIPS = "case_event_tips"


def record_event(case: Case, actor: Actor | None, action: str, *, work_item: WorkItem | None = None,
                 opinion: str | None = None, details: dict | None = None) -> CaseEvent:
    """Append one audit event to the case, linked to the previous one."""
    actor_name = actor.display_name if actor else "system"
    task_name = work_item.name if work_item else None
    at = utcnow()
    prev = _chain_tip(case)
    digest = event_hash(prev, event_record(case.case_no, at, actor_name, action, task_name, opinion, details))
    event = CaseEvent(case_id=case.id, at=at, actor_id=actor.id if actor else None, actor_name=actor_name,
                      action=action, work_item=work_item, task_name=task_name, opinion=opinion,
                      details=details, prev_hash=prev, hash=digest)
    db.session.add(event)
    db.session.info[_TIPS][case.id] = digest
    return event


def _chain_tip(case: Case) -> str | None:
    tips = db.session.info.setdefault(_TIPS, {})
    if case.id not in tips:
        with db.session.no_autoflush:
            # The row lock orders writers of the same case (a no-op when the caller holds it already).
            db.session.execute(select(Case.id).where(Case.id == case.id).with_for_update())
            tips[case.id] = db.session.scalar(select(CaseEvent.hash).where(CaseEvent.case_id == case.id)
                                              .order_by(CaseEvent.id.desc()).limit(1))
    return tips[case.id]


@sa_event.listens_for(Session, "after_commit")
@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_tips(session, *args) -> None:
    """Tips are only good within their transaction: the next one reads them again."""
    session.info.pop(_TIPS, None)


def chained_events(case: Case) -> list[dict]:
    """The case's events oldest first, as records with their hashes (for packages and checks)."""
    rows = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id))
    return [{**event_record(case.case_no, e.at, e.actor_name, e.action, e.task_name, e.opinion, e.details),
             "actor_id": e.actor_id, "prev_hash": e.prev_hash, "hash": e.hash} for e in rows]


def chain_problems(case: Case) -> list[str]:
    """What is wrong with the case's stored event chain; empty when intact."""
    return chain_breaks(chained_events(case))
