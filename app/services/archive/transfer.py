"""Transfer export (移交进馆): choose the sealed packages of a year (and retention class) and write the batch.

The batch itself is written by `app.archive.transfer`, which knows nothing of the database; this
module picks the packages, fills the list's summary from the config and records who exported what.
A batch covers this installation's 全宗 (config FONDS_CODE): a transfer list is per 全宗.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.archive import transfer as transfer_files
from app.archive.metadata import RETENTION_LABELS
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import ArchivePackage, Case
from app.services.archive.filing import package_file

_YEAR = re.compile(r"[0-9]{4}")
ALL = "ALL"  # the form's and the file name's word for "every retention class"


@dataclass(frozen=True)
class Selection:
    year: int
    retention: str | None  # Y / D30 / D10; None: every class

    @property
    def retention_name(self) -> str:
        return self.retention or ALL

    @property
    def file_name(self) -> str:
        return f"移交-{self.year}-{self.retention_name}.zip"

    @property
    def ascii_file_name(self) -> str:
        return f"transfer-{self.year}-{self.retention_name}.zip"


def parse_selection(year: str | None, retention: str | None) -> Selection:
    """Year and retention as typed (form or command line); ValidationFailed naming each bad field."""
    year, retention = (year or "").strip(), (retention or "").strip()
    errors = {}
    if not _YEAR.fullmatch(year):
        errors["year"] = _("The year must be a four-digit number, such as 2026.")
    if retention.upper() == ALL:
        retention = ""
    if retention and retention not in RETENTION_LABELS:
        errors["retention"] = _("The retention period must be Y, D30 or D10 (or empty for all).")
    if errors:
        raise ValidationFailed(_("The transfer selection is not valid."), errors)
    return Selection(int(year), retention or None)


def _selected(selection: Selection):
    """The WHERE of a selection: sealed packages of this 全宗, 年度 and (optionally) 保管期限."""
    conditions = [ArchivePackage.state == "sealed", ArchivePackage.year == selection.year,
                  ArchivePackage.fonds_code == current_app.config["FONDS_CODE"]]
    if selection.retention:
        conditions.append(ArchivePackage.retention == selection.retention)
    return conditions


def count_sealed(selection: Selection) -> int:
    return db.session.scalar(select(func.count()).select_from(ArchivePackage).where(*_selected(selection)))


def sealed_counts() -> dict[int, dict[str, int]]:
    """{year: {retention: count}} of sealed packages of this 全宗, newest year first, for the form."""
    rows = db.session.execute(
        select(ArchivePackage.year, ArchivePackage.retention, func.count())
        .where(ArchivePackage.state == "sealed", ArchivePackage.fonds_code == current_app.config["FONDS_CODE"])
        .group_by(ArchivePackage.year, ArchivePackage.retention).order_by(ArchivePackage.year.desc()))
    counts: dict[int, dict[str, int]] = {}
    for year, retention, count in rows:
        counts.setdefault(year, {})[retention] = count
    return counts


def sealed_packages(selection: Selection) -> list[ArchivePackage]:
    return list(db.session.scalars(
        select(ArchivePackage).where(*_selected(selection)).order_by(ArchivePackage.archival_code)
        .options(selectinload(ArchivePackage.case).selectinload(Case.item))))


def _listed(package: ArchivePackage) -> transfer_files.ListedPackage:
    return transfer_files.ListedPackage(
        archival_code=package.archival_code, title=package.title or "", year=package.year,
        retention=package.retention, classification=package.classification or "", case_no=package.case.case_no,
        item_name=package.case.item.name, file_count=package.file_count or 0, size=package.size or 0,
        sha256=package.sha256 or "", source=package_file(package))


def export_batch(selection: Selection, target: BinaryIO, exported_by: str) -> transfer_files.BatchWritten:
    """Write the batch of the selection into `target`; ValidationFailed when nothing is selected,
    Conflict when a package file is missing or no longer the sealed one (nothing usable is written)."""
    packages = sealed_packages(selection)
    if not packages:
        raise ValidationFailed(_("Nothing to transfer: there is no sealed package for %(year)d (%(retention)s).",
                                 year=selection.year, retention=selection.retention_name))
    config = current_app.config
    now = datetime.now(ZoneInfo(config["TIMEZONE"]))
    summary = transfer_files.TransferSummary(
        transferring_unit=config["ISSUING_AUTHORITY"], fonds_code=config["FONDS_CODE"], year=selection.year,
        retention=selection.retention, count=len(packages), generated_at=now.isoformat(timespec="seconds"))
    try:
        written = transfer_files.write_batch(target, summary, [_listed(package) for package in packages])
    except transfer_files.TransferProblem as exc:
        current_app.logger.warning("transfer export %s-%s by %s refused: %s", selection.year,
                                   selection.retention_name, exported_by, exc)
        raise Conflict(_("The batch was not written: %(problem)s", problem=str(exc))) from None
    # Who exported what is kept in the log only: the batch changes nothing in the database.
    current_app.logger.info("transfer batch exported by %s: 年度 %s, 保管期限 %s, %d packages (%s … %s), "
                            "移交清单.xml SHA-256 %s", exported_by, selection.year, selection.retention_name,
                            written.count, packages[0].archival_code, packages[-1].archival_code,
                            written.list_sha256)
    return written
