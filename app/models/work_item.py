"""Work items: the SQL mirror of READY user tasks that inboxes read."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow
from app.models.case import Case
from app.models.org import User

WORK_ITEM_STATES = ("open", "completed", "cancelled")


class WorkItem(db.Model):
    __table_args__ = (
        # The department inbox: open items of a department ordered by due time.
        Index("ix_work_item_inbox", "department_code", "state", "due_at", "id"),
        Index("ix_work_item_case_state", "case_id", "state"),
        Index("ix_work_item_claimed", "claimed_by_id", "state"),
        # The unclaimed pool: its page and its count read only this (small, hot) partial index.
        Index("ix_work_item_pool", "department_code", "due_at", "id",
              postgresql_where=text("state = 'open' AND claimed_by_id IS NULL"),
              sqlite_where=text("state = 'open' AND claimed_by_id IS NULL")),
        # The deadline sweep: open steps by due time, whatever their department.
        Index("ix_work_item_open_due", "due_at", postgresql_where=text("state = 'open'"),
              sqlite_where=text("state = 'open'")),
        # "Handled by me", newest first, read backwards along this index (no sort of a year's work).
        Index("ix_work_item_handled", "completed_by_id", "completed_at", "id"),
        # A returned step reuses its engine task: one OPEN item per task, any number of closed ones.
        Index("uq_work_item_open_task", "task_id", unique=True,
              postgresql_where=text("state = 'open'"), sqlite_where=text("state = 'open'")),
        Index("ix_work_item_task_id", "task_id"),
        CheckConstraint(f"state IN {WORK_ITEM_STATES!r}", name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("service_case.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(String(36))  # engine task UUID
    bpmn_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    department_code: Mapped[str] = mapped_column(String(32))
    form_key: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16), default="open")
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    # The submitted form data of the step, kept for the timeline and the archive.
    data: Mapped[dict | None] = mapped_column(JSON)
    opinion: Mapped[str | None] = mapped_column(Text)
    # The step's own limit from the BPMN (`stepLimit`, e.g. 2wd / 3d / 4h), or None for the case's.
    step_limit: Mapped[str | None] = mapped_column(String(16))
    # How the item reached its department (routed / returned / transferred), and the reason given,
    # shown in the inbox so a returned step says why it came back.
    arrived_via: Mapped[str] = mapped_column(String(16), default="routed")
    note: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship()
    claimed_by: Mapped[User | None] = relationship(foreign_keys=[claimed_by_id])
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])
