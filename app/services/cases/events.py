"""The case's event log (办理过程记录), append-only and hash-chained for tamper evidence.

Each event stores the hash of the previous event of its case and its own hash over its fields and
that previous hash. The newest hash lives on the case row (`event_tip`), which the case runtime
holds locked while it appends, so two writers can never fork a chain and no append reads the log.
"""
from __future__ import annotations

from sqlalchemy import select

from app.archive.chain import chain_breaks, event_hash, event_record
from app.extensions import db
from app.models import Case, CaseEvent, WorkItem
from app.models.base import utcnow
from app.models.org import Actor


def chain_event(case: Case, actor: Actor | None, action: str, *, work_item: WorkItem | None = None,
                opinion: str | None = None, details: dict | None = None) -> dict:
    """The case's next event as a row to insert, chained to its tip, which moves to it.

    Call only under the case's lock (the case runtime): the tip read here must be the newest.
    """
    actor_name = actor.display_name if actor else "system"
    task_name = work_item.name if work_item else None
    at = utcnow()
    prev = case.event_tip
    digest = event_hash(prev, event_record(case.case_no, at, actor_name, action, task_name, opinion, details))
    case.event_tip = digest
    return {"case_id": case.id, "at": at, "actor_id": actor.id if actor else None, "actor_name": actor_name,
            "action": action, "work_item": work_item, "task_name": task_name, "opinion": opinion,
            "details": details, "prev_hash": prev, "hash": digest}


def chained_events(case: Case) -> list[dict]:
    """The case's events oldest first, as records with their hashes (for packages and checks)."""
    rows = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id))
    return [{**event_record(case.case_no, e.at, e.actor_name, e.action, e.task_name, e.opinion, e.details),
             "actor_id": e.actor_id, "prev_hash": e.prev_hash, "hash": e.hash} for e in rows]


def chain_problems(case: Case) -> list[str]:
    """What is wrong with the case's stored event chain; empty when intact."""
    return chain_breaks(chained_events(case))
