"""Supervision (电子监察): alerts raised by the scheduled rules, the outbox that delivers them, and
督办 orders issued by supervisors."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

ALERT_LEVELS = ("yellow", "red", "info")
OUTBOX_CHANNELS = ("inapp", "email", "webhook")
OUTBOX_STATES = ("pending", "sent", "failed")


class Alert(db.Model):
    """One alert (GB/T 39046 table 11): case, rule id, level, time raised, responsible department.

    The unique key makes every job idempotent: the same subject, rule, level and occurrence (a day
    for daily reminders, a fixed date otherwise) is raised once, whoever runs the job and how often.
    """

    __table_args__ = (
        UniqueConstraint("subject", "rule", "level", "occurrence"),
        Index("ix_alert_department_level", "department_code", "level", "raised_at"),
        CheckConstraint(f"level IN {ALERT_LEVELS!r}", name="level"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # case:<id>, task:<id> or department:<code> — what the alert is about.
    subject: Mapped[str] = mapped_column(String(60))
    rule: Mapped[str] = mapped_column(String(40))
    level: Mapped[str] = mapped_column(String(8))
    occurrence: Mapped[date] = mapped_column(Date)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("service_case.id", ondelete="CASCADE"), index=True)
    work_item_id: Mapped[int | None] = mapped_column(ForeignKey("work_item.id", ondelete="CASCADE"))
    department_code: Mapped[str | None] = mapped_column(String(32))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    content: Mapped[str] = mapped_column(Text)
    details: Mapped[dict | None] = mapped_column(JSON)
    # What came of it (e.g. handled, replied, dismissed), filled in by supervisors.
    result: Mapped[str | None] = mapped_column(String(100))

    case = relationship("Case")
    work_item = relationship("WorkItem")


class OutboxMessage(db.Model):
    """A notification to deliver after commit: written in the alert's transaction, sent by a job."""

    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        CheckConstraint(f"channel IN {OUTBOX_CHANNELS!r}", name="channel"),
        CheckConstraint(f"status IN {OUTBOX_STATES!r}", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id", ondelete="SET NULL"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    # A user id (inapp), an e-mail address, or the webhook's name.
    recipient: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SupervisionOrder(db.Model):
    """督办: a supervisor's order on a case, with a reply deadline and the reply."""

    __table_args__ = (CheckConstraint("status IN ('open', 'replied')", name="status"),
                      Index("ix_supervision_order_open", "status", "reply_due_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("service_case.id", ondelete="CASCADE"), index=True)
    department_code: Mapped[str | None] = mapped_column(String(32))
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    content: Mapped[str] = mapped_column(Text)
    reply_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(8), default="open")
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replied_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    case = relationship("Case")
    issued_by = relationship("User", foreign_keys=[issued_by_id])
    replied_by = relationship("User", foreign_keys=[replied_by_id])
