"""The administrative audit log: every change to the organisation and its accounts, before → after."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, or_, select

from app.extensions import db
from app.models import AdminAuditEntry
from app.models.org import Actor

CHANNELS = ("page", "api", "cli", "import")


def record_change(actor: Actor | None, channel: str, action: str, target_type: str, target_key: str,
                  before: dict | None, after: dict | None) -> AdminAuditEntry | None:
    """Append one entry; only the fields that changed are kept on either side. None when nothing changed."""
    if before is not None and after is not None:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        if not changed:
            return None
        before = {k: before.get(k) for k in changed}
        after = {k: after.get(k) for k in changed}
    entry = AdminAuditEntry(actor_id=actor.id if actor else None,
                            actor_name=actor.username if actor else "system", action=action,
                            target_type=target_type, target_key=target_key, before=before, after=after,
                            channel=channel)
    db.session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditQuery:
    text: str = ""
    action: str = ""
    date_from: date | None = None
    date_to: date | None = None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, ZoneInfo(current_app.config["TIMEZONE"]))


def search(query: AuditQuery, page: int, per_page: int):
    """Entries newest first, filtered by who or what (username, department code), action and local dates."""
    statement = select(AdminAuditEntry)
    if query.text:
        pattern = f"%{query.text.lower()}%"
        statement = statement.where(or_(func.lower(AdminAuditEntry.actor_name).like(pattern),
                                        func.lower(AdminAuditEntry.target_key).like(pattern)))
    if query.action:
        statement = statement.where(AdminAuditEntry.action == query.action)
    if query.date_from:
        statement = statement.where(AdminAuditEntry.at >= _day_start(query.date_from))
    if query.date_to:
        statement = statement.where(AdminAuditEntry.at < _day_start(query.date_to + timedelta(days=1)))
    return db.paginate(statement.order_by(AdminAuditEntry.id.desc()), page=page, per_page=per_page,
                       error_out=False)


def actions() -> list[str]:
    """The actions recorded so far, for the filter."""
    return list(db.session.scalars(select(AdminAuditEntry.action).distinct().order_by(AdminAuditEntry.action)))

