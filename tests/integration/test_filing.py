"""Filing on completion: sealed packages, 档号, the four-property checks, failures and races."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile

import pytest
from sqlalchemy import delete as sa_delete
from sqlalchemy import select

from app.archive import metadata as metadata_xml
from app.extensions import db
from app.models import Alert, ArchivePackage, Case
from app.services.archive import filing
from tests.conftest import PDF_BYTES, application_payload

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64 + b"IEND\xaeB`\x82"

pytestmark = pytest.mark.usefixtures("empty_archive")


def scanned_case(front) -> str:
    materials = [{"code": "application", "filename": "申请表.pdf",
                  "content_base64": base64.b64encode(PDF_BYTES).decode()},
                 {"code": "id_card", "filename": "id.png", "content_base64": base64.b64encode(PNG).decode()}]
    response = front.post("/cases", application_payload(materials=materials))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["case_no"]


def finish(api_as, case_no: str) -> None:
    handler = api_as("handler")
    for _step in range(6):
        case = handler.get(f"/cases/{case_no}").get_json()
        open_tasks = [t for t in case["tasks"] if t["state"] == "open"]
        if not open_tasks:
            return
        data = {"search_result": "yes", "opinion": "同意", "decision": "approve", "certificate_no": "Z-1",
                "delivery": "window"}
        response = handler.post(f"/tasks/{open_tasks[0]['id']}/complete", {"data": data})
        assert response.status_code == 200, response.get_json()
    raise AssertionError("case did not finish")


def file_all(app) -> dict:
    with app.app_context():
        outcome = filing.file_due(batch_size=500)
        db.session.remove()
    return outcome


def package_bytes(api, case_no: str) -> bytes:
    response = api.get(f"/cases/{case_no}/archive/package")
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/zip"
    return response.data


def test_completed_case_is_filed_into_a_checked_package(app, api_as):
    front = api_as("frontdesk")
    case_no = scanned_case(front)
    archivist = api_as("archivist")
    # Not completed: nothing to file.
    assert archivist.get(f"/cases/{case_no}/archive").status_code == 404
    finish(api_as, case_no)
    queued = archivist.get(f"/cases/{case_no}/archive").get_json()
    assert queued["state"] == "queued" and queued["archival_code"] is None
    assert archivist.get(f"/cases/{case_no}/archive/package").status_code == 409

    assert file_all(app) == {"sealed": 1, "retry": 0, "failed": 0}
    body = archivist.get(f"/cases/{case_no}/archive").get_json()
    year = body["year"]
    assert body["state"] == "sealed" and body["archival_code"] == f"Z109-WS·{year}-D10-DAS-0001"
    assert body["retention"] == "D10" and body["classification"] == "公开" and body["check_passed"] is True
    codes = {check["code"]: check["result"] for check in body["checks"]}
    assert {"AUT-01", "AUT-02", "AUT-03", "AUT-04", "AUT-05", "AUT-06", "AUT-07", "AUT-08", "INT-01", "INT-02",
            "INT-03", "INT-04", "USA-01", "USA-02", "USA-03", "SEC-01", "SEC-02", "SEC-03"} == set(codes)
    assert set(codes.values()) <= {"pass", "skip"}

    data = package_bytes(archivist, case_no)
    assert hashlib.sha256(data).hexdigest() == body["sha256"]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        parsed = metadata_xml.parse(archive.read("metadata.xml"))
        manifest = archive.read("manifest-sha256.txt").decode()
        events = json.loads(archive.read("events.json"))
        assert archive.read("materials/01_application.pdf") == PDF_BYTES
    fields = parsed["fields"]
    assert fields["档号"] == body["archival_code"] and fields["文件编号"] == case_no
    assert fields["保管期限"] == "10年" and fields["密级"] == "公开" and fields["年度"] == str(year)
    assert fields["件数"] == str(len(parsed["files"])) and fields["聚合层次"] == "件"
    kinds = {f["path"]: f["kind"] for f in parsed["files"]}
    assert kinds["materials/01_application.pdf"] == "依据材料" and kinds["materials/02_id_card.png"] == "依据材料"
    result_docs = [p for p, k in kinds.items() if k == "结果材料"]
    assert len(result_docs) == 1 and result_docs[0].startswith("documents/BJ")
    assert any(p.startswith("documents/SL") for p in kinds)  # the acceptance receipt
    assert any(p.startswith("forms/01_") for p in kinds) and "forms/00_application.json" in kinds
    assert set(names) == set(kinds) | {"metadata.xml", "manifest-sha256.txt"}
    assert len(manifest.splitlines()) == len(kinds) + 1
    assert [r["业务行为"] for r in parsed["records"]][0] == "case_submitted"
    assert events[-1]["action"] == "case_finished" and events[0]["prev_hash"] is None


def test_corrupted_file_and_metadata_fail_the_right_checks(app, api_as, tmp_path):
    from app.archive.checks import check_package

    case_no = scanned_case(api_as("frontdesk"))
    finish(api_as, case_no)
    file_all(app)
    data = package_bytes(api_as("archivist"), case_no)

    def rewrite(change) -> dict:
        target = tmp_path / "altered.zip"
        with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(target, "w") as out:
            for info in source.infolist():
                out.writestr(info, change(info.filename, source.read(info)))
        report, _ = check_package(target, check_storage=False)
        return {c["code"]: c for c in report}

    altered = rewrite(lambda name, content: content.replace(b"1 0 obj", b"2 0 obj")
                      if name == "materials/01_application.pdf" else content)
    assert altered["AUT-01"]["result"] == "fail" and "materials/01_application.pdf" in altered["AUT-01"]["message"]
    assert altered["AUT-02"]["result"] == "fail" and "materials/01_application.pdf" in altered["AUT-02"]["message"]
    assert altered["USA-01"]["result"] == "pass"

    bad_field = rewrite(lambda name, content: content.replace("<密级>公开</密级>".encode(), "<密级>内部</密级>".encode())
                        if name == "metadata.xml" else content)
    assert bad_field["AUT-03"]["result"] == "fail" and "密级" in bad_field["AUT-03"]["message"]
    assert bad_field["AUT-01"]["result"] == "fail" and "metadata.xml" in bad_field["AUT-01"]["message"]

    no_code = rewrite(lambda name, content: content.replace("<档号>Z109".encode(), "<档号>z109".encode())
                      if name == "metadata.xml" else content)
    assert no_code["AUT-04"]["result"] == "fail"

    unchanged = rewrite(lambda name, content: content)  # the same content re-zipped still passes
    assert all(c["result"] != "fail" for c in unchanged.values())


def test_material_missing_on_disk_fails_the_filing_and_alerts(app, api_as):
    from app.services.cases import materials as material_store
    case_no = scanned_case(api_as("frontdesk"))
    finish(api_as, case_no)
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.case_no == case_no))
        path = material_store.path_for(case.materials[0].sha256)
        saved = path.read_bytes()
        path.unlink()
        db.session.remove()
    try:
        assert file_all(app) == {"sealed": 0, "retry": 0, "failed": 1}
    finally:
        path.write_bytes(saved)
    archivist = api_as("archivist")
    body = archivist.get(f"/cases/{case_no}/archive").get_json()
    assert body["state"] == "failed" and "missing" in body["last_error"] and body["archival_code"] is None
    assert archivist.get(f"/cases/{case_no}").get_json()["status"] == "completed"
    with app.app_context():
        rules = db.session.scalars(select(Alert.rule)).all()
        assert "ARCHIVE_FILING_FAILED" in rules
        assert not list(filing.archive_root().rglob("*.zip"))
        db.session.remove()
    # Restored: the archivist retries and the same case is sealed as 件号 0001 (nothing was used up).
    assert archivist.post(f"/cases/{case_no}/archive/retry").status_code == 200
    assert archivist.post(f"/cases/{case_no}/archive/retry").status_code == 409
    assert file_all(app)["sealed"] == 1
    assert archivist.get(f"/cases/{case_no}/archive").get_json()["archival_code"].endswith("-0001")


def test_full_disk_leaves_no_package_and_is_retried(app, api_as, monkeypatch):
    import errno

    from app.archive.package import PackageWriter

    case_no = scanned_case(api_as("frontdesk"))
    finish(api_as, case_no)
    real_add = PackageWriter.add_bytes

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PackageWriter, "add_bytes", disk_full)
    assert file_all(app) == {"sealed": 0, "retry": 1, "failed": 0}
    archivist = api_as("archivist")
    body = archivist.get(f"/cases/{case_no}/archive").get_json()
    assert body["state"] == "queued" and body["attempts"] == 1 and "No space left" in body["last_error"]
    with app.app_context():
        assert not [p for p in filing.archive_root().rglob("*") if p.is_file()]
        package = db.session.scalar(select(ArchivePackage))
        package.next_attempt_at = package.queued_at  # due again now
        db.session.commit()
        db.session.remove()
    monkeypatch.setattr(PackageWriter, "add_bytes", real_add)
    assert file_all(app)["sealed"] == 1
    assert archivist.get(f"/cases/{case_no}/archive").get_json()["archival_code"].endswith("-0001")


def test_archive_api_needs_an_archive_role(app, api_as):
    case_no = scanned_case(api_as("frontdesk"))
    assert api_as("handler").get(f"/cases/{case_no}/archive").status_code == 403
    assert api_as("archivist").get("/cases/NO-SUCH/archive").status_code == 404




def assert_files_cleanly(app, case_no: str, result_document: str = "BJ") -> dict:
    """File what is queued; the case's package is sealed, passes every check and holds its result material."""
    file_all(app)
    with app.app_context():
        package = db.session.scalar(select(ArchivePackage).join(Case).where(Case.case_no == case_no))
        assert package is not None and package.state == "sealed", package and package.last_error
        assert package.check_passed, [c for c in package.check_report if c["result"] == "fail"]
        with zipfile.ZipFile(filing.package_file(package)) as archive:
            parsed = metadata_xml.parse(archive.read("metadata.xml"))
        db.session.remove()
    results = [f["path"] for f in parsed["files"] if f["kind"] == "结果材料"]
    assert len(results) == 1 and results[0].startswith(f"documents/{result_document}"), results
    assert parsed["fields"]["文件编号"] == case_no
    return parsed["fields"]


# Races (PostgreSQL: row locks and SKIP LOCKED)

def _in_threads(count: int, work) -> list:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=count) as pool:
        return [future.result() for future in [pool.submit(work, n) for n in range(count)]]


def _is_postgres(app) -> bool:
    with app.app_context():
        return db.engine.dialect.name == "postgresql"


def test_fifty_completions_and_four_workers_give_gap_free_piece_numbers(app, api_as):
    from tests.conftest import Api

    if not _is_postgres(app):
        pytest.skip("row locks need PostgreSQL")
    front = api_as("frontdesk")
    case_nos = [front.post("/cases", application_payload()).get_json()["case_no"] for _n in range(50)]
    _in_threads(10, lambda n: [finish(lambda _user: Api(app.test_client(), "handler"), case_no)
                               for case_no in case_nos[n::10]])
    outcomes = _in_threads(4, lambda _n: file_all(app))
    assert sum(o["sealed"] for o in outcomes) == 50 and not any(o["failed"] or o["retry"] for o in outcomes)
    with app.app_context():
        packages = db.session.scalars(select(ArchivePackage)).all()
        assert sorted(p.piece_no for p in packages) == list(range(1, 51))
        assert len({p.archival_code for p in packages}) == 50 and all(p.check_passed for p in packages)
        db.session.remove()


def test_two_workers_filing_the_same_case_make_one_package(app, api_as):
    case_no = scanned_case(api_as("frontdesk"))
    finish(api_as, case_no)
    outcomes = _in_threads(2, lambda _n: file_all(app))
    assert sorted(o["sealed"] for o in outcomes) == [0, 1]
    with app.app_context():
        (package,) = db.session.scalars(select(ArchivePackage)).all()
        assert package.piece_no == 1
        assert [p.name for p in filing.archive_root().rglob("*.zip")] == [f"{package.archival_code}.zip"]
        db.session.remove()


# Verification after sealing

def test_altered_package_and_altered_event_are_reported_by_verify(app, api_as):
    import os

    from sqlalchemy import text

    case_no = scanned_case(api_as("frontdesk"))
    finish(api_as, case_no)
    file_all(app)
    runner = app.test_cli_runner()
    clean = runner.invoke(args=["archive", "verify", "--all"])
    assert clean.exit_code == 0 and "1 of 1 packages verified" in clean.output
    with app.app_context():
        package = db.session.scalar(select(ArchivePackage))
        code, path = package.archival_code, filing.package_file(package)
        db.session.remove()
    # Change one byte of a material inside the sealed ZIP (stored uncompressed).
    os.chmod(path, 0o644)
    data = path.read_bytes()
    at = data.index(PDF_BYTES)
    path.write_bytes(data[:at + 5] + b"9" + data[at + 6:])
    broken = runner.invoke(args=["archive", "verify", code])
    assert broken.exit_code == 1
    assert "SEC-01" in broken.output and "SEC-02" in broken.output and "materials/01_application.pdf" in broken.output
    # The case's event log, altered in the database behind the app's back, breaks its chain.
    with app.app_context():
        db.session.execute(text("UPDATE case_event SET opinion = '改过' WHERE action = 'case_submitted'"))
        db.session.commit()
        db.session.remove()
    assert "AUT-08" in runner.invoke(args=["archive", "verify", code]).output
    assert runner.invoke(args=["archive", "verify"]).exit_code == 2  # neither a 档号 nor --all
    assert runner.invoke(args=["archive", "verify", "NO-SUCH"]).exit_code == 1


def test_daily_audit_flags_a_case_completed_a_day_ago_without_a_package(app, api_as):
    from datetime import timedelta

    from app import clock
    from app.services.supervision.alerts import daily_audit

    case_no = scanned_case(api_as("frontdesk"))
    finish(api_as, case_no)
    with app.app_context():
        completed = db.session.scalar(select(Case.completed_at).where(Case.case_no == case_no))
        grace = timedelta(hours=app.config["ARCHIVE_AUDIT_GRACE_HOURS"])
        for moment, expected in ((completed + grace - timedelta(minutes=1), 0), (completed + grace + timedelta(minutes=1), 1)):
            with clock.frozen_at(moment):
                daily_audit()
                db.session.commit()
            rules = db.session.scalars(select(Alert.rule).where(Alert.rule == "COMPLETED_NOT_ARCHIVED")).all()
            assert len(rules) == expected
        db.session.remove()
    file_all(app)
    with app.app_context():
        db.session.execute(sa_delete(Alert))
        with clock.frozen_at(completed + grace + timedelta(minutes=1)):
            daily_audit()
        assert not db.session.scalars(select(Alert).where(Alert.rule == "COMPLETED_NOT_ARCHIVED")).all()
        db.session.rollback()
        db.session.remove()
