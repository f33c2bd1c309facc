"""The process designer's workspace: drafts, deployed form versions, design events, migrations."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class ProcessDraft(db.Model):
    """The one working draft of a process, saved whole; `revision` detects concurrent saves."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), unique=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    bpmn_xml: Mapped[str] = deferred(mapped_column(Text, nullable=False))
    # Forms edited with this draft: {form key: JSON Schema}; deployed with the draft.
    forms: Mapped[dict] = deferred(mapped_column(JSON, nullable=False, default=dict))
    # The service item's settings (the shape of an item file), or None for a process without one.
    item: Mapped[dict | None] = deferred(mapped_column(JSON))
    base_version_id: Mapped[int | None] = mapped_column(ForeignKey("process_version.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    updated_by = relationship("User")


class FormVersion(db.Model):
    """A task form deployed from the designer; the newest version of a key is the form in use."""

    __table_args__ = (UniqueConstraint("form_key", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form_key: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    schema: Mapped[dict] = deferred(mapped_column(JSON, nullable=False))
    sha256: Mapped[str] = mapped_column(String(64))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    process_version_id: Mapped[int | None] = mapped_column(ForeignKey("process_version.id"))


class DesignEvent(db.Model):
    """Append-only record of what designers did: draft saves, uploads, deploys, migrations."""

    __table_args__ = (Index("ix_design_event_process_at", "process_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    actor_name: Mapped[str] = mapped_column(String(100))
    details: Mapped[dict | None] = mapped_column(JSON)


@event.listens_for(DesignEvent, "before_update")
@event.listens_for(DesignEvent, "before_delete")
def _refuse_changes(mapper, connection, target):
    raise RuntimeError("design events are append-only")


class ProcessMigration(db.Model):
    """One case moved (or refused) from one process version to another."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("service_case.id", ondelete="CASCADE"), index=True)
    from_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    to_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(20))  # migrated | refused
    reasons: Mapped[list | None] = mapped_column(JSON)
    changes: Mapped[dict | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    actor_name: Mapped[str] = mapped_column(String(100))

    case = relationship("Case")
