"""Transfer batches on synthetic packages: writing, reading back and verifying, with no app and no database."""
from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from app.archive import transfer
from app.archive.chain import event_hash, event_record
from app.archive.metadata import PackageRecord
from app.archive.package import PackageWriter

LOCAL = ZoneInfo("Asia/Shanghai")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _events(case_no: str) -> bytes:
    """A two-event chain, as the filing writes it into events.json."""
    events, prev = [], None
    for action in ("case_submitted", "case_finished"):
        record = event_record(case_no, datetime(2026, 3, 2, 9, 0, tzinfo=LOCAL), "张三", action, None, None, None)
        digest = event_hash(prev, record)
        events.append({**record, "prev_hash": prev, "hash": digest})
        prev = digest
    return json.dumps(events, ensure_ascii=False).encode()


def make_package(folder: Path, piece: int, retention: str = "D10") -> transfer.ListedPackage:
    """A sealed package as `filing.seal` builds it, and its row of the transfer list."""
    case_no = f"SL2026030200{piece:02d}"
    record = PackageRecord(
        archiving_unit="一窗通示范档案馆", fonds_code="Z109", category="WS", year=2026, retention=retention,
        organisation_code="DAS", piece_no=piece, title=f"申请人{piece}申请档案证明办件材料", creator="一窗通示范档案馆",
        case_no=case_no, date=date(2026, 3, 2), classification="公开", item_code="ITEM-1", item_name="档案证明出具",
        created_at="2026-03-02T09:00:00+08:00")
    with PackageWriter(folder / f"case-{piece}.zip", datetime(2026, 3, 2, 9, 0)) as writer:
        writer.add_bytes("materials/01_application.pdf", "申请表", "依据材料", PDF)
        writer.add_bytes("events.json", "办理过程记录", "过程材料", _events(case_no))
        writer.target = folder / f"{record.code}.zip"
        sealed = writer.seal(record)
    return transfer.ListedPackage(
        archival_code=record.code, title=record.title, year=2026, retention=retention, classification="公开",
        case_no=case_no, item_name="档案证明出具", file_count=len(sealed.files), size=sealed.size,
        sha256=sealed.sha256, source=sealed.path)


def summary_for(packages, retention: str | None = None) -> transfer.TransferSummary:
    return transfer.TransferSummary(transferring_unit="一窗通示范档案馆", fonds_code="Z109", year=2026,
                                    retention=retention, count=len(packages), generated_at="2026-04-01T10:00:00+08:00")


@pytest.fixture()
def packages(tmp_path) -> list[transfer.ListedPackage]:
    store = tmp_path / "store"
    return [make_package(store, 1), make_package(store, 2), make_package(store, 3, retention="D30")]


@pytest.fixture()
def batch(tmp_path, packages) -> Path:
    path = tmp_path / "batch.zip"
    with path.open("wb") as handle:
        written = transfer.write_batch(handle, summary_for(packages), packages)
    assert written.count == 3
    return path


def rewrite(source: Path, target: Path, change=lambda name, content: content, add: dict | None = None,
            drop: str | None = None) -> Path:
    """A copy of a batch ZIP with entries changed, added or dropped."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as out:
        for info in original.infolist():
            if info.filename != drop:
                out.writestr(info, change(info.filename, original.read(info)))
        for name, content in (add or {}).items():
            out.writestr(name, content)
    return target


def with_list(source: Path, target: Path, edit, *, refresh_manifest: bool) -> Path:
    """A copy whose 移交清单.xml is edited; with refresh_manifest the forger also rewrites the manifest."""
    with zipfile.ZipFile(source) as original:
        document = edit(original.read(transfer.LIST_XML))
        xlsx = original.read(transfer.LIST_XLSX)
    manifest = "".join(f"{hashlib.sha256(content).hexdigest()}  {name}\n"
                       for name, content in ((transfer.LIST_XML, document), (transfer.LIST_XLSX, xlsx)))

    def change(name, content):
        if name == transfer.LIST_XML:
            return document
        if name == transfer.LIST_MANIFEST and refresh_manifest:
            return manifest.encode()
        return content
    return rewrite(source, target, change)


def failing(report: transfer.BatchReport) -> dict[str, list[str]]:
    return {verdict.archival_code: [c["code"] for c in verdict.report if c["result"] == "fail"]
            for verdict in report.packages if not verdict.ok}


def test_batch_layout_and_lists(batch, packages):
    with zipfile.ZipFile(batch) as archive:
        names = archive.namelist()
        document = archive.read(transfer.LIST_XML)
        workbook = load_workbook(io.BytesIO(archive.read(transfer.LIST_XLSX)), read_only=True)
        manifest = archive.read(transfer.LIST_MANIFEST).decode()
        assert archive.read(f"packages/{packages[0].archival_code}.zip") == packages[0].source.read_bytes()
    codes = sorted(p.archival_code for p in packages)
    assert names == [transfer.LIST_XML, transfer.LIST_XLSX, transfer.LIST_MANIFEST, *[f"packages/{c}.zip" for c in codes]]
    assert f"{hashlib.sha256(document).hexdigest()}  {transfer.LIST_XML}" in manifest.splitlines()

    summary, rows = transfer.parse_list(document)
    assert summary == {"移交单位": "一窗通示范档案馆", "全宗号": "Z109", "年度": "2026", "保管期限": "全部", "件数": "3",
                       "生成时间": "2026-04-01T10:00:00+08:00"}
    assert [row["档号"] for row in rows] == codes and [row["序号"] for row in rows] == ["1", "2", "3"]
    assert rows[0]["保管期限"] == "10年" and rows[0]["大小"] == str(packages[0].size)

    sheet = workbook.active
    table = list(sheet.iter_rows(values_only=True))
    assert table[0][:6] == ("移交单位", "一窗通示范档案馆", "全宗号", "Z109", "年度", 2026)
    assert table[0][6:10] == ("保管期限", "全部", "件数", 3)
    assert table[1] == transfer.LIST_COLUMNS
    first = dict(zip(transfer.LIST_COLUMNS, table[2], strict=True))
    assert first["序号"] == 1 and first["档号"] == codes[0] and first["SHA-256"] == packages[0].sha256
    assert first["大小(字节)"] == packages[0].size and first["办件编号"] == packages[0].case_no
    assert len(table) == 5


def test_clean_batch_verifies_as_zip_and_as_directory(batch, tmp_path, packages):
    report = transfer.verify_batch(batch)
    assert report.ok, (report.problems, failing(report))
    assert [v.archival_code for v in report.packages] == sorted(p.archival_code for p in packages)
    codes = {c["code"]: c["result"] for c in report.packages[0].report}
    assert codes["TRF-01"] == codes["TRF-02"] == codes["SEC-01"] == codes["AUT-01"] == "pass"
    assert "SEC-02" not in codes  # storage mode is the receiver's business

    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(batch) as archive:
        archive.extractall(unpacked)
    assert transfer.verify_batch(unpacked).ok


def test_package_with_one_byte_changed_is_named(batch, tmp_path, packages):
    victim = sorted(p.archival_code for p in packages)[1]

    def flip(name, content):
        if name != f"packages/{victim}.zip":
            return content
        middle = len(content) // 2
        return content[:middle] + bytes([content[middle] ^ 0x01]) + content[middle + 1:]

    report = transfer.verify_batch(rewrite(batch, tmp_path / "altered.zip", flip))
    assert not report.ok and report.problems == []
    assert list(failing(report)) == [victim]
    assert "SEC-01" in failing(report)[victim]


def test_missing_and_unlisted_packages(batch, tmp_path, packages):
    gone = packages[0].archival_code
    report = transfer.verify_batch(rewrite(batch, tmp_path / "missing.zip", drop=f"packages/{gone}.zip"))
    assert failing(report) == {gone: ["TRF-01"]}

    stray = make_package(tmp_path / "other", 9)
    report = transfer.verify_batch(rewrite(batch, tmp_path / "extra.zip",
                                           add={f"packages/{stray.archival_code}.zip": stray.source.read_bytes(),
                                                "notes.txt": b"hello"}))
    assert failing(report) == {}
    assert any(stray.archival_code in p and "not in 移交清单.xml" in p for p in report.problems)
    assert any(p.startswith("notes.txt") for p in report.problems)


def test_tampered_list_fails_the_list_manifest(batch, tmp_path, packages):
    target = packages[0]
    forged = "0" * 64

    def edit(document: bytes) -> bytes:
        return document.replace(target.sha256.encode(), forged.encode())

    report = transfer.verify_batch(with_list(batch, tmp_path / "tampered.zip", edit, refresh_manifest=False))
    assert any(p.startswith(transfer.LIST_XML) and "manifest-sha256.txt" in p for p in report.problems)
    # The package no longer matches what the (forged) list says of it either.
    assert "SEC-01" in failing(report)[target.archival_code]


def test_list_errors_are_batch_problems(batch, tmp_path, packages):
    code = packages[0].archival_code

    def duplicate_and_malformed(document: bytes) -> bytes:
        text = document.decode()
        text = text.replace(f"<档号>{packages[1].archival_code}</档号>", f"<档号>{code}</档号>")
        return text.replace(f"<档号>{packages[2].archival_code}</档号>", "<档号>../../etc/passwd</档号>").encode()

    report = transfer.verify_batch(with_list(batch, tmp_path / "bad-codes.zip", duplicate_and_malformed,
                                             refresh_manifest=True))
    assert any(f"档号 {code} is listed 2 times" == p for p in report.problems)
    assert any("'../../etc/passwd'" in p and "is not" in p for p in report.problems)
    assert [v.archival_code for v in report.packages] == [code]
    assert not report.ok


def test_retention_of_the_batch_must_hold_for_every_package(tmp_path, packages):
    path = tmp_path / "d10.zip"
    with path.open("wb") as handle:
        transfer.write_batch(handle, summary_for(packages, retention="D10"), packages)
    report = transfer.verify_batch(path)
    assert any("保管期限 30年 is not the batch's 10年" in p for p in report.problems)


def test_xxe_in_the_list_is_refused(batch, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")

    def inject(document: bytes) -> bytes:
        text = document.decode().replace("<?xml version='1.0' encoding='UTF-8'?>\n", "")
        doctype = f'<!DOCTYPE 移交清单 [<!ENTITY leak SYSTEM "file://{secret}">]>\n'
        return (doctype + text.replace("<移交单位>一窗通示范档案馆", "<移交单位>&leak;", 1)).encode()

    report = transfer.verify_batch(with_list(batch, tmp_path / "xxe.zip", inject, refresh_manifest=True))
    assert not report.ok and report.packages == []
    assert any("DTD" in p and "refused" in p for p in report.problems)
    assert "TOP-SECRET" not in json.dumps(report.summary, ensure_ascii=False)


def test_not_a_batch(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    assert "neither a directory nor a readable ZIP" in transfer.verify_batch(junk).problems[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    problems = transfer.verify_batch(empty).problems
    assert any("manifest-sha256.txt is missing" in p for p in problems)
    assert any("移交清单.xml is missing" in p for p in problems)


def test_writing_refuses_nothing_and_a_changed_package(tmp_path, packages):
    with pytest.raises(transfer.TransferProblem, match="nothing to transfer"):
        transfer.write_batch(io.BytesIO(), summary_for([]), [])
    changed = packages[0]
    changed.source.chmod(0o644)
    changed.source.write_bytes(changed.source.read_bytes() + b"\x00")
    with pytest.raises(transfer.TransferProblem, match=re.escape(changed.archival_code)):
        transfer.write_batch(io.BytesIO(), summary_for(packages), packages)
    missing = packages[1]
    missing.source.unlink()
    with pytest.raises(transfer.TransferProblem, match="cannot be read"):
        transfer.write_batch(io.BytesIO(), summary_for(packages[1:]), packages[1:])
