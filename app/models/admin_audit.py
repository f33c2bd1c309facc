"""Administrative changes (organisation, accounts), append-only, and organisation files uploaded for import."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, event
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class AdminAuditEntry(db.Model):
    """Who changed what, when, from what to what: one row per change, never updated or deleted."""

    __table_args__ = (
        Index("ix_admin_audit_target", "target_type", "target_key", "id"),
        Index("ix_admin_audit_actor", "actor_name", "id"),
        Index("ix_admin_audit_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    # The name is kept as it was: the audit must still read right after a rename.
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    target_type: Mapped[str] = mapped_column(String(20))  # department | user | organisation
    target_key: Mapped[str] = mapped_column(String(100))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    # page | api | cli | import: where the change came from.
    channel: Mapped[str] = mapped_column(String(8))


@event.listens_for(AdminAuditEntry, "before_update")
@event.listens_for(AdminAuditEntry, "before_delete")
def _refuse_changes(mapper, connection, target):
    raise RuntimeError("the administrative audit log is append-only")


class OrgImportFile(db.Model):
    """An organisation file checked on the import page, kept so that "Apply" applies exactly what was checked."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
