"""Transfer export (移交进馆): the batch through the command line and the page, and its verification."""
from __future__ import annotations

import io
import logging
import re
import shutil
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, select

from app.archive import transfer as transfer_files
from app.extensions import db
from app.models import ArchivePackage
from tests.integration.test_filing import file_all, finish, scanned_case
from tests.integration.test_pages import CSRF, login

PAGE = "/archive/transfer/"


@pytest.fixture(autouse=True)
def _empty_archive(app):
    """Each test starts with no package files (the case tables are emptied after each test too)."""
    yield
    shutil.rmtree(app.config["ARCHIVE_DIR"], ignore_errors=True)


@pytest.fixture()
def filed(app, api_as) -> list[dict]:
    """Two completed cases of the cross-archive certificate item (保管期限 10年), filed and sealed."""
    front = api_as("frontdesk")
    case_nos = [scanned_case(front) for _case in range(2)]
    for case_no in case_nos:
        finish(api_as, case_no)
    assert file_all(app) == {"sealed": 2, "retry": 0, "failed": 0}
    with app.app_context():
        packages = db.session.scalars(select(ArchivePackage).order_by(ArchivePackage.archival_code)).all()
        rows = [{"code": p.archival_code, "year": p.year, "case_no": p.case.case_no, "sha256": p.sha256,
                 "size": p.size, "title": p.title, "item_name": p.case.item.name, "file_count": p.file_count,
                 "path": Path(app.config["ARCHIVE_DIR"]) / p.file_path} for p in packages]
        db.session.remove()
    assert sorted(r["case_no"] for r in rows) == sorted(case_nos)
    return rows


def cli(app, *args: str):
    return app.test_cli_runner().invoke(args=["archive", *args])


def list_rows(batch: bytes | Path) -> tuple[tuple, list[dict]]:
    """The 移交清单.xlsx of a batch: its summary row and its rows as dicts by column heading."""
    source = io.BytesIO(batch) if isinstance(batch, bytes) else batch
    with zipfile.ZipFile(source) as archive:
        workbook = load_workbook(io.BytesIO(archive.read(transfer_files.LIST_XLSX)), read_only=True)
    table = list(workbook.active.iter_rows(values_only=True))
    assert table[1] == transfer_files.LIST_COLUMNS
    return table[0], [dict(zip(table[1], row, strict=True)) for row in table[2:]]


def assert_rows_describe(rows: list[dict], filed: list[dict]) -> None:
    assert [row["档号"] for row in rows] == [p["code"] for p in filed]
    for number, (row, package) in enumerate(zip(rows, filed, strict=True), 1):
        assert row["序号"] == number and row["年度"] == package["year"] and row["保管期限"] == "10年"
        assert row["办件编号"] == package["case_no"] and row["事项名称"] == package["item_name"]
        assert row["题名"] == package["title"] and row["密级"] == "公开"
        assert row["SHA-256"] == package["sha256"] and row["大小(字节)"] == package["size"]
        assert row["文件数"] == package["file_count"]


def flip_a_byte(batch: Path, code: str, target: Path) -> Path:
    """A copy of the batch with one byte of one package changed."""
    with zipfile.ZipFile(batch) as source, zipfile.ZipFile(target, "w") as out:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == f"packages/{code}.zip":
                middle = len(content) // 2
                content = content[:middle] + bytes([content[middle] ^ 0x01]) + content[middle + 1:]
            out.writestr(info, content)
    return target


# Command line

def test_export_and_verify_batch_through_the_command_line(app, filed, tmp_path):
    year = filed[0]["year"]
    output = tmp_path / "out" / "batch.zip"
    output.parent.mkdir()
    result = cli(app, "export", "--year", str(year), "--retention", "D10", str(output))
    assert result.exit_code == 0, result.output
    assert f"2 packages exported to {output}" in result.output
    assert [p.name for p in output.parent.iterdir()] == ["batch.zip"]  # no partial file left behind

    summary, rows = list_rows(output)
    assert summary[:4] == ("移交单位", app.config["ISSUING_AUTHORITY"], "全宗号", app.config["FONDS_CODE"])
    assert summary[4:10] == ("年度", year, "保管期限", "10年", "件数", 2)
    assert_rows_describe(rows, filed)
    with zipfile.ZipFile(output) as archive:
        assert archive.read(f"packages/{filed[0]['code']}.zip") == filed[0]["path"].read_bytes()

    # The whole year, every retention class: the same two packages, 保管期限 全部.
    everything = tmp_path / "all.zip"
    assert cli(app, "export", "--year", str(year), str(everything)).exit_code == 0
    assert list_rows(everything)[0][7] == "全部"

    # verify-batch reads files only: not one SQL statement while it runs.
    statements = []
    with app.app_context():
        def count(*_args):
            statements.append(1)
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            verified = cli(app, "verify-batch", str(output))
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
    assert verified.exit_code == 0, verified.output
    assert statements == []
    for package in filed:
        assert f"{package['code']}: OK" in verified.output
    assert "2 of 2 packages verified; 0 problems with the batch itself" in verified.output

    altered = cli(app, "verify-batch", str(flip_a_byte(output, filed[1]["code"], tmp_path / "altered.zip")))
    assert altered.exit_code == 1
    assert f"{filed[0]['code']}: OK" in altered.output and f"{filed[1]['code']}: FAIL" in altered.output
    assert "SEC-01 (security):" in altered.output
    assert "1 of 2 packages verified" in altered.output

    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(output) as archive:
        archive.extractall(unpacked)
    (unpacked / "packages" / "extra.zip").write_bytes(b"PK")
    stray = cli(app, "verify-batch", str(unpacked))
    assert stray.exit_code == 1 and "batch: FAIL" in stray.output and "packages/extra.zip" in stray.output


@pytest.mark.parametrize("args", [["--year", "26"], ["--year", "２０２６"], ["--year", "2026", "--retention", "D20"],
                                  ["--year", "1999"], ["--year", "{year}", "--retention", "D30"]])
def test_export_refuses_bad_or_empty_selections(app, filed, tmp_path, args):
    output = tmp_path / "batch.zip"
    args = [arg.format(year=filed[0]["year"]) for arg in args]
    result = cli(app, "export", *args, str(output))
    assert result.exit_code == 1
    assert "error:" in result.output
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_a_package_changed_on_disk(app, filed, tmp_path):
    damaged = filed[1]["path"]
    damaged.chmod(0o644)
    damaged.write_bytes(damaged.read_bytes() + b"\x00")
    result = cli(app, "export", "--year", str(filed[0]["year"]), str(tmp_path / "batch.zip"))
    assert result.exit_code == 1 and filed[1]["code"] in result.output
    assert list(tmp_path.iterdir()) == []


# The page

def _csrf(client) -> str:
    return CSRF.search(client.get(PAGE).get_data(as_text=True)).group(1)


def test_archivist_exports_through_the_page(app, client, filed, caplog):
    year = filed[0]["year"]
    login(client, "archivist")
    client.get("/language/en")
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert re.search(rf'<tr data-year="{year}">.*?data-retention="D10"><a [^>]*>2</a>', html, re.S)

    preview = client.get(PAGE, query_string={"year": year, "retention": "D10"}).get_data(as_text=True)
    assert 'data-testid="transfer-would-go" data-count="2"' in preview
    none = client.get(PAGE, query_string={"year": year, "retention": "D30"}).get_data(as_text=True)
    assert 'data-count="0"' in none and 'data-testid="transfer-export"' not in none

    caplog.set_level(logging.INFO, logger=app.logger.name)
    response = client.post(PAGE, data={"year": str(year), "retention": "", "csrf_token": _csrf(client)})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    disposition = response.headers["Content-Disposition"]
    assert f'filename=transfer-{year}-ALL.zip' in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == f"移交-{year}-ALL.zip"
    data = response.get_data()
    assert int(response.headers["Content-Length"]) == len(data)

    summary, rows = list_rows(data)
    assert summary[6:10] == ("保管期限", "全部", "件数", 2)
    assert_rows_describe(rows, filed)
    assert any("transfer batch exported by archivist" in record.getMessage() for record in caplog.records)

    batch = Path(app.config["ARCHIVE_DIR"]).parent / "downloaded-batch.zip"
    batch.write_bytes(data)
    try:
        report = transfer_files.verify_batch(batch)
    finally:
        batch.unlink()
    assert report.ok, (report.problems, [v.report for v in report.packages if not v.ok])


@pytest.mark.parametrize(("form", "status", "text"), [
    ({"year": "20x6"}, 422, "four-digit"),
    ({"year": "2026", "retention": "D5"}, 422, "Y, D30 or D10"),
    ({"year": "1999"}, 422, "Nothing to transfer"),
])
def test_page_shows_refusals_on_the_form(app, client, filed, form, status, text):
    login(client, "archivist")
    client.get("/language/en")
    response = client.post(PAGE, data={**form, "csrf_token": _csrf(client)})
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert 'data-testid="transfer-error"' in html and text in html
    assert 'data-testid="transfer-selection"' in html  # the form is shown again
    bad_query = client.get(PAGE, query_string={"year": "x"})
    assert bad_query.status_code == 422 and "four-digit" in bad_query.get_data(as_text=True)


def test_only_archivists_and_admins_may_export(app, client, filed):
    anonymous = client.get(PAGE)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    login(client, "handler")
    token = CSRF.search(client.get("/inbox").get_data(as_text=True)).group(1)
    assert client.get(PAGE).status_code == 403
    refused = client.post(PAGE, data={"year": str(filed[0]["year"]), "csrf_token": token})
    assert refused.status_code == 403 and refused.mimetype == "text/html"
    client.post("/logout", data={"csrf_token": token})
    login(client, "admin")
    assert client.get(PAGE).status_code == 200
