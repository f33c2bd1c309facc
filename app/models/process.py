"""Deployed BPMN process versions; every case is pinned to one."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class ProcessVersion(db.Model):
    __table_args__ = (
        UniqueConstraint("process_id", "version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(200))
    source_file: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    # Large columns are deferred so lists of versions stay cheap.
    bpmn_xml: Mapped[str] = deferred(mapped_column(Text))
    # The parsed spec, serialized once per version; case states are stored without it.
    spec_json: Mapped[str] = deferred(mapped_column(Text))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
