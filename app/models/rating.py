"""好差评 service ratings and the follow-up a bad rating opens."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

# GB/T 39046 / 国办发〔2019〕51号: 1 非常满意 … 5 非常不满意; 4 and 5 are bad ratings.
RATING_CODES = (1, 2, 3, 4, 5)
BAD_RATING_CODES = (4, 5)
RATING_CHANNELS = ("online", "window", "app", "sms", "hotline")


class CaseRating(db.Model):
    __table_args__ = (
        UniqueConstraint("case_id", "channel"),
        CheckConstraint("code BETWEEN 1 AND 5", name="code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("service_case.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    code: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case = relationship("Case")
    follow_up: Mapped[RatingFollowUp | None] = relationship(back_populates="rating", uselist=False)


class RatingFollowUp(db.Model):
    """整改: call back, verify, rectify and reply to a bad rating before its deadline."""

    __table_args__ = (Index("ix_rating_follow_up_open", "status", "due_at"),
                      CheckConstraint("status IN ('open', 'replied')", name="status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("case_rating.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replied_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    rating: Mapped[CaseRating] = relationship(back_populates="follow_up")
    replied_by = relationship("User")
