"""Filing on completion (随办随归): one sealed archival package per completed case."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.archive.metadata import CLASSIFICATIONS  # noqa: F401 - 密级, re-exported for the models
from app.extensions import db
from app.models.base import UTCDateTime, utcnow

# queued: waiting for the filing job; sealed: package written, digest stored, never changed again;
# failed: given up after retries (or a material is missing): supervisors are alerted, an archivist retries.
FILING_STATES = ("queued", "sealed", "failed")


class ArchivePackage(db.Model):
    __tablename__ = "archive_package"
    __table_args__ = (
        # 件号 is unique within its series (全宗/门类/年度/保管期限/机构).
        UniqueConstraint("fonds_code", "category", "year", "retention", "organisation_code", "piece_no",
                         name="uq_archive_package_piece"),
        CheckConstraint(f"state IN {FILING_STATES}", name="state"),
        Index("ix_archive_package_due", "state", "next_attempt_at"),
        Index("ix_archive_package_year_retention", "year", "retention"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("service_case.id", ondelete="RESTRICT"), unique=True)
    state: Mapped[str] = mapped_column(String(8), default="queued")
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Set at sealing: the 档号 and its parts, the package file and its digest.
    archival_code: Mapped[str | None] = mapped_column(String(80), unique=True)
    fonds_code: Mapped[str | None] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(8))
    year: Mapped[int | None] = mapped_column(Integer)
    retention: Mapped[str | None] = mapped_column(String(8))
    organisation_code: Mapped[str | None] = mapped_column(String(16))
    piece_no: Mapped[int | None] = mapped_column(Integer)
    classification: Mapped[str | None] = mapped_column(String(8))
    title: Mapped[str | None] = mapped_column(String(300))
    file_path: Mapped[str | None] = mapped_column(String(300))  # relative to ARCHIVE_DIR
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(Integer)
    file_count: Mapped[int | None] = mapped_column(Integer)
    sealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 四性检测: the latest report, from sealing or an on-demand run.
    check_passed: Mapped[bool | None] = mapped_column(Boolean)
    check_report: Mapped[list | None] = mapped_column(JSON)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case = relationship("Case")


class ArchiveSerial(db.Model):
    """Last 件号 per series; taken under a row lock in the sealing transaction, so numbers have no gaps."""

    __tablename__ = "archive_serial"

    fonds_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    category: Mapped[str] = mapped_column(String(8), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    retention: Mapped[str] = mapped_column(String(8), primary_key=True)
    organisation_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)
