"""The business calendar (节假日与调休): yearly holiday and make-up working-day data, editable by admins."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

DAY_KINDS = ("holiday", "workday")  # a day off on a weekday, or a 调休 working weekend day


class CalendarYear(db.Model):
    """A year whose calendar is known; years without one count Monday to Friday."""

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))


class CalendarDay(db.Model):
    """One exception to the Monday-to-Friday rule; a day is listed once, so it cannot be both kinds."""

    __table_args__ = (CheckConstraint(f"kind IN {DAY_KINDS!r}", name="kind"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    year: Mapped[int] = mapped_column(ForeignKey("calendar_year.year", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(String(100))
