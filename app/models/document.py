"""Documents issued on a case (受理回执, 不予受理通知书, 补正告知书 …), each numbered and kept."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

DOCUMENT_KINDS = ("acceptance_receipt", "deficiency_receipt", "refusal_notice", "supplement_notice")


class CaseDocument(db.Model):
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("service_case.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    # 文书编号: kind prefix + year + serial, unique across the service centre.
    doc_no: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    # What was printed, as data. The PDF is rendered from it (deterministically) after the request
    # by a job, or at the first download, and stored write-once; until then sha256 is NULL.
    content: Mapped[dict] = mapped_column(JSON)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    size: Mapped[int | None] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))


class DocumentSerial(db.Model):
    """Last serial issued per document kind and year."""

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)
