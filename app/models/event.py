"""Append-only audit trail of every action on a case."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class CaseEvent(db.Model):
    __table_args__ = (Index("ix_case_event_case_at", "case_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("service_case.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    # Snapshot of the actor's name so the record reads the same after renames.
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    work_item_id: Mapped[int | None] = mapped_column(ForeignKey("work_item.id"))
    task_name: Mapped[str | None] = mapped_column(String(200))
    opinion: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict | None] = mapped_column(JSON)
    # Hash chain (tamper evidence): each event's hash covers its fields and the previous event's hash.
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
    # Set through the object so a new work item and its event go out in one flush.
    work_item = relationship("WorkItem")


@event.listens_for(CaseEvent, "before_update")
@event.listens_for(CaseEvent, "before_delete")
def _refuse_changes(mapper, connection, target):
    raise RuntimeError("case events are append-only")
