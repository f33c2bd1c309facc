"""Filing on completion (随办随归): a completed case becomes one sealed, checked archival package.

* Completion queues the filing in the case's own transaction (the case runtime); the job `file_due`
  builds packages later, so a slow disk never holds up a clerk.
* The job takes one queued package at a time with FOR UPDATE SKIP LOCKED: two workers never build
  the same case. The build runs in a savepoint: the 件号 it takes, the package row and the file
  stand or fall together, so a failed build leaves no number used, no file and nothing sealed.
* A missing or altered material fails the filing at once; other errors (a full disk) are retried
  with a growing wait, then failed. A failed filing raises an alert to supervisors and archivists.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload

from app.archive import checks as package_checks
from app.archive.metadata import PackageRecord
from app.archive.package import MaterialProblem, PackageWriter
from app.errors import Conflict, NotFound
from app.extensions import db
from app.models import ArchivePackage, ArchiveSerial, Case, WorkItem
from app.models.base import utcnow
from app.models.org import Actor
from app.services.cases import documents
from app.services.cases import materials as material_store
from app.services.cases.events import chain_problems, chained_events
from app.services.cases.intake import is_late
from app.services.cases.runtime import CaseRun
from app.services.cases.serials import next_serial
from app.services.supervision import alerts

_EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg", "image/tiff": ".tif",
               "application/ofd": ".ofd"}
_RESULT_KINDS = {"result_notice", "refusal_notice"}  # 结果材料; other documents are 过程材料
_ERROR_LENGTH = 2000


class FilingRefused(Exception):
    """The package would not pass its checks: nothing is sealed."""


def archive_root() -> Path:
    return Path(current_app.config["ARCHIVE_DIR"])


def package_file(package: ArchivePackage) -> Path:
    return archive_root() / package.file_path


# The job

def file_due(batch_size: int = 20) -> dict:
    """Job: build and seal the queued packages that are due, one transaction each."""
    outcome = {"sealed": 0, "retry": 0, "failed": 0}
    for _attempt in range(batch_size):
        package = db.session.scalars(
            select(ArchivePackage).where(ArchivePackage.state == "queued", ArchivePackage.next_attempt_at <= utcnow())
            .order_by(ArchivePackage.next_attempt_at, ArchivePackage.id).limit(1)
            .with_for_update(skip_locked=True)).first()
        if package is None:
            break
        outcome[_file_one(package)] += 1
    return outcome


def _file_one(package: ArchivePackage) -> str:
    try:
        with db.session.begin_nested():
            seal(package)
    except (MaterialProblem, FilingRefused) as exc:
        state = _record_failure(package, str(exc), permanent=True)
    except (OSError, SQLAlchemyError) as exc:
        current_app.logger.warning("filing of case %s failed: %s", package.case_id, exc)
        state = _record_failure(package, f"{type(exc).__name__}: {exc}", permanent=False)
    else:
        state = "sealed"
    db.session.commit()
    return state


def _record_failure(package: ArchivePackage, error: str, *, permanent: bool) -> str:
    """Count the attempt; retry later, or fail it and alert. The package row is still locked by us."""
    config = current_app.config
    package.attempts += 1
    package.last_error = error[:_ERROR_LENGTH]
    if permanent or package.attempts >= config["FILING_MAX_ATTEMPTS"]:
        package.state = "failed"
        run = CaseRun.of_case_id(package.case_id, None)
        alerts.raise_filing_failure(run.case, package.last_error, utcnow())
        run.record("filing_failed", opinion=package.last_error)
        run.save()
        return "failed"
    wait = config["FILING_RETRY_BASE_SECONDS"] * 2 ** min(package.attempts - 1, 16)
    package.next_attempt_at = utcnow() + timedelta(seconds=wait)
    return "retry"


# Building and sealing

def _local(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(current_app.config["TIMEZONE"]))


def seal(package: ArchivePackage) -> None:
    """Build the package, number it, check it and mark it sealed (inside the caller's savepoint)."""
    case = db.session.scalars(select(Case).where(Case.id == package.case_id)
                              .options(selectinload(Case.materials), selectinload(Case.documents))).one()
    config = current_app.config
    now = utcnow()
    year, retention = _local(case.completed_at or now).year, case.item.retention
    series = dict(fonds_code=config["FONDS_CODE"], category=config["ARCHIVE_CATEGORY"], year=year,
                  retention=retention, organisation_code=config["ORGANISATION_CODE"])
    staging = archive_root() / str(year) / retention / f"case-{case.id}.zip"
    with PackageWriter(staging, _local(now)) as writer:
        _add_case_files(writer, case)
        # The 件号 is taken last, so its row lock is held only for the metadata and the checks.
        piece = next_serial(ArchiveSerial, **series)
        record = PackageRecord(
            archiving_unit=config["ISSUING_AUTHORITY"], piece_no=piece, title=_title(case),
            creator=config["ISSUING_AUTHORITY"], case_no=case.case_no, date=_local(case.completed_at or now).date(),
            classification=case.item.classification, item_code=case.item.code, item_name=case.item.name,
            created_at=_local(now).isoformat(timespec="seconds"), entity_records=_entity_records(case), **series)
        target = staging.with_name(f"{record.code}.zip")
        writer.target = target
        result = writer.seal(record)
    try:
        package.archival_code, package.piece_no, package.title = record.code, piece, record.title
        for name, value in series.items():
            setattr(package, name, value)
        package.classification = record.classification
        package.file_path = str(target.relative_to(archive_root()))
        package.sha256, package.size, package.file_count = result.sha256, result.size, len(result.files)
        package.state, package.sealed_at, package.last_error = "sealed", now, None
        db.session.flush()
        report = run_checks(package)
        if not package_checks.passed(report):
            failing = [f"{c['code']} {c['message']}" for c in report if c["result"] == "fail"]
            raise FilingRefused("the package failed its checks: " + "; ".join(failing))
        run = CaseRun.of_case_id(case.id, None)
        run.record("case_filed", details={"archival_code": record.code, "sha256": result.sha256})
        run.save()
    except BaseException:
        _remove_unsealed(target)
        raise


def _remove_unsealed(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:  # the next attempt overwrites it; it is not sealed in the database
        current_app.logger.warning("could not remove unsealed package %s", path)


def _title(case: Case) -> str:
    return f"{case.applicant_name}申请{case.item.name}办件材料"[:300]


def _promise_note(material) -> str:
    """容缺: a material brought after acceptance says whether it came by the date promised."""
    if material.promised_date is None or material.state != "received":
        return ""
    return "(容缺逾期补交)" if is_late(material) else "(容缺按期补交)"


def _add_case_files(writer: PackageWriter, case: Case) -> None:
    for number, material in enumerate((m for m in case.materials if m.sha256), 1):
        title = material.name + ("(已被替换)" if material.state == "superseded" else "") + _promise_note(material)
        extension = _EXTENSIONS.get(material.content_type or "", "")
        writer.add_file(f"materials/{number:02d}_{material.code}{extension}", title, "依据材料",
                        material_store.path_for(material.sha256), material.sha256, material.size)
    for document in case.documents:
        path = documents.stored_pdf(document)
        writer.add_file(f"documents/{document.doc_no}.pdf", document.title,
                        "结果材料" if document.kind in _RESULT_KINDS else "过程材料", path, document.sha256)
    writer.add_bytes("forms/00_application.json", "申请表单", "依据材料", _json(_application(case)))
    steps = db.session.scalars(select(WorkItem).where(WorkItem.case_id == case.id, WorkItem.state == "completed")
                               .order_by(WorkItem.completed_at, WorkItem.id))
    for number, step in enumerate(steps, 1):
        writer.add_bytes(f"forms/{number:02d}_{step.bpmn_id}.json", f"{step.name}办理单", "过程材料", _json({
            "step": step.name, "bpmn_id": step.bpmn_id, "department": step.department_code,
            "handler": step.completed_by.display_name if step.completed_by else None,
            "completed_at": step.completed_at.isoformat() if step.completed_at else None,
            "opinion": step.opinion, "data": step.data}))
    writer.add_bytes(package_checks.EVENTS_NAME, "办理过程记录", "过程材料", _json(chained_events(case)))


def _application(case: Case) -> dict:
    return {"case_no": case.case_no, "item": {"code": case.item.code, "name": case.item.name},
            "channel": case.channel, "created_at": case.created_at.isoformat(),
            "accepted_at": case.accepted_at.isoformat() if case.accepted_at else None,
            "completed_at": case.completed_at.isoformat() if case.completed_at else None,
            "result": case.result, "result_reason": case.result_reason,
            "applicant": {"type": case.applicant_type, "name": case.applicant_name,
                          "id_type": case.applicant_id_type, "id_number": case.applicant_id_number,
                          "phone": case.applicant_phone, "capacity": case.applicant_capacity,
                          "legal_representative": case.applicant_legal_representative},
            "agent": case.agent, "form": case.form_data,
            "materials": [{"code": m.code, "name": m.name, "state": m.state, "filename": m.filename,
                           "sha256": m.sha256, "paper_only": m.sha256 is None} for m in case.materials]}


def _entity_records(case: Case) -> list[dict]:
    """业务实体记录: one per event of the case, in order."""
    return [{"业务状态": case.status, "业务行为": event["action"], "行为时间": event["at"],
             "行为描述": event["opinion"] or event["task_name"] or "", "机构人员": event["actor_name"]}
            for event in chained_events(case)]


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True).encode()


# Checks (四性检测)

def run_checks(package: ArchivePackage) -> list[dict]:
    """Run every check on a sealed package, store the report with the package and return it."""
    config = current_app.config
    report, _ = package_checks.check_package(package_file(package), expected_sha256=package.sha256,
                                             expected_code=package.archival_code,
                                             scan_command=config["ARCHIVE_SCAN_COMMAND"])
    report += _database_checks(package)
    order = {"authenticity": 0, "integrity": 1, "usability": 2, "security": 3}
    report.sort(key=lambda check: (order[check["property"]], check["code"]))
    package.check_report, package.check_passed, package.checked_at = report, package_checks.passed(report), utcnow()
    return report


def _database_checks(package: ArchivePackage) -> list[dict]:
    result = package_checks.result
    duplicates = db.session.scalar(select(func.count()).where(ArchivePackage.archival_code == package.archival_code,
                                                              ArchivePackage.id != package.id))
    series = [getattr(ArchivePackage, name) == getattr(package, name)
              for name in ("fonds_code", "category", "year", "retention", "organisation_code")]
    count, highest = db.session.execute(select(func.count(), func.max(ArchivePackage.piece_no))
                                        .where(ArchivePackage.state == "sealed", *series)).one()
    gaps = None if count == highest else f"{highest} is the highest 件号 of the series but only {count} are sealed"
    problems = chain_problems(package.case)
    return [
        result("AUT-05", package_checks.AUTHENTICITY, f"档号 {package.archival_code} is used {duplicates + 1} times"
               if duplicates else None, "no other package has this 档号"),
        result("INT-03", package_checks.INTEGRITY, gaps, f"件号 1–{highest} of the series have no gap"),
        result("AUT-08", package_checks.AUTHENTICITY, problems, "the case's stored event chain is intact"),
    ]


def verify(packages: list[ArchivePackage]) -> list[tuple[ArchivePackage, list[dict]]]:
    """Re-hash and re-check sealed packages (`flask archive verify`); reports are stored."""
    return [(package, run_checks(package)) for package in packages if package.state == "sealed"]


# Lookups for pages, the API and the command line

ARCHIVE_READERS = ("archivist", "supervisor")


def package_of_case(case_no: str) -> ArchivePackage:
    """The filing of a case; NotFound when the case is unknown or not completed (nothing to file yet)."""
    package = db.session.scalar(select(ArchivePackage).join(Case, Case.id == ArchivePackage.case_id)
                                .where(Case.case_no == case_no))
    if package is None:
        known = db.session.scalar(select(Case.id).where(Case.case_no == case_no))
        raise NotFound(_("Case not found.") if known is None else
                       _("This case is not completed yet, so it has no archival package."))
    return package


def sealed_file(package: ArchivePackage) -> Path:
    """The sealed package file; Conflict while it is not sealed yet."""
    if package.state != "sealed":
        raise Conflict(_("The archival package is not sealed yet (filing is %(state)s).",
                         state=filing_state_label(package.state)))
    return package_file(package)


def filing_state_label(state: str) -> str:
    return str({"queued": _l("queued"), "sealed": _l("sealed"), "failed": _l("failed")}.get(state, state))


def retry_failed(package: ArchivePackage, actor: Actor) -> None:
    """An archivist puts a failed filing back in the queue (after the material was restored)."""
    if package.state != "failed":
        raise Conflict(_("Only a failed filing can be retried."))
    package.state, package.next_attempt_at, package.attempts = "queued", utcnow(), 0
    run = CaseRun.of_case_id(package.case_id, actor)
    run.record("filing_retried")
    run.save()


def check_sealed(package: ArchivePackage) -> list[dict]:
    """Run the four-property checks again on demand."""
    sealed_file(package)
    return run_checks(package)
