"""Read side of the process designer: processes, their versions, drafts and design events."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.errors import NotFound
from app.extensions import db
from app.models import Case, DesignEvent, ProcessDraft, ProcessVersion, User
from app.models.case import FINISHED_STATUSES
from app.services.processes.catalogue import current_version


@dataclass
class VersionRow:
    version: ProcessVersion
    deployed_by: str | None
    running_cases: int


def versions_of(process_id: str) -> list[VersionRow]:
    """Every version of a process, newest first, with who deployed it and its running cases."""
    running = dict(db.session.execute(
        select(Case.process_version_id, func.count()).join(ProcessVersion, ProcessVersion.id == Case.process_version_id)
        .where(ProcessVersion.process_id == process_id, Case.status.not_in(FINISHED_STATUSES))
        .group_by(Case.process_version_id)).all())
    rows = db.session.execute(
        select(ProcessVersion, User.display_name).outerjoin(User, User.id == ProcessVersion.deployed_by_id)
        .where(ProcessVersion.process_id == process_id).order_by(ProcessVersion.version.desc())).all()
    return [VersionRow(version, name, running.get(version.id, 0)) for version, name in rows]


@dataclass
class ProcessRow:
    process_id: str
    name: str | None
    latest: int | None
    deployed_at: datetime | None
    running_cases: int
    draft_revision: int | None


def process_list() -> list[ProcessRow]:
    """Every process with a version or a draft: its newest version, running cases and draft."""
    newest = (select(ProcessVersion.process_id, func.max(ProcessVersion.version).label("latest"))
              .group_by(ProcessVersion.process_id).subquery())
    latest = db.session.execute(
        select(ProcessVersion).join(newest, (newest.c.process_id == ProcessVersion.process_id)
                                    & (newest.c.latest == ProcessVersion.version))).scalars().all()
    running = dict(db.session.execute(
        select(ProcessVersion.process_id, func.count()).join(Case, Case.process_version_id == ProcessVersion.id)
        .where(Case.status.not_in(FINISHED_STATUSES)).group_by(ProcessVersion.process_id)).all())
    drafts = dict(db.session.execute(select(ProcessDraft.process_id, ProcessDraft.revision)).all())
    rows = {v.process_id: ProcessRow(v.process_id, v.name, v.version, v.deployed_at, running.get(v.process_id, 0),
                                     drafts.get(v.process_id)) for v in latest}
    for process_id, revision in drafts.items():
        rows.setdefault(process_id, ProcessRow(process_id, None, None, None, 0, revision))
    return sorted(rows.values(), key=lambda row: row.process_id)


def get_version(process_id: str, number: int) -> ProcessVersion:
    """One version of a process; NotFound when there is none."""
    version = db.session.scalar(select(ProcessVersion).where(ProcessVersion.process_id == process_id,
                                                             ProcessVersion.version == number))
    if version is None:
        raise NotFound(_("Process %(process)s has no version %(version)s.", process=process_id, version=number))
    return version


def events_of(process_id: str, limit: int = 100) -> list[DesignEvent]:
    """The newest design events of a process."""
    return list(db.session.scalars(select(DesignEvent).where(DesignEvent.process_id == process_id)
                                   .order_by(DesignEvent.id.desc()).limit(limit)))


def get_latest(process_id: str) -> ProcessVersion:
    """The newest version of a process; NotFound when it has none."""
    version = current_version(process_id)
    if version is None:
        raise NotFound(_("There is no process %(process)s.", process=process_id))
    return version


def draft_summary(process_id: str) -> dict | None:
    """Revision, author and time of the process's saved draft, if any."""
    row = db.session.execute(
        select(ProcessDraft.revision, ProcessDraft.updated_at, User.display_name)
        .outerjoin(User, User.id == ProcessDraft.updated_by_id).where(ProcessDraft.process_id == process_id)).first()
    if row is None:
        return None
    return {"revision": row.revision, "updated_at": row.updated_at, "updated_by": row.display_name}
