"""In-app notifications: a task arriving, a return, a transfer, a countersign request."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class Notification(db.Model):
    __table_args__ = (Index("ix_notification_user_unread", "user_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    # task_arrived, task_returned, task_transferred, task_assigned …
    kind: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("service_case.id", ondelete="CASCADE"), index=True)
    work_item_id: Mapped[int | None] = mapped_column(ForeignKey("work_item.id", ondelete="CASCADE"))
    # The step's name and, for returns and transfers, the reason: shown as written.
    text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case = relationship("Case")
    work_item = relationship("WorkItem")
