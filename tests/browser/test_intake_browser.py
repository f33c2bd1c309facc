"""A clerk takes applications at the window in a real browser: a receipt with two scans, and a one-time notice."""
from __future__ import annotations

import io
import re
import struct
import zlib

import pypdf
from playwright.sync_api import expect

from app.services.org import DEMO_PASSWORD
from tests.conftest import ITEM_CODE, VALID_ID


def _pdf_bytes() -> bytes:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _png_bytes() -> bytes:
    """A 1×1 grey PNG with correct chunk checksums."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # width, height, 8-bit greyscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
            + chunk(b"IEND", b""))


def _pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", "", "".join(page.extract_text() or "" for page in reader.pages))


def _log_in(page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("current-user")).to_be_visible()


def _fill_application(page, name: str) -> None:
    page.goto(f"/intake/{ITEM_CODE}")
    expect(page.get_by_test_id("intake-form")).to_be_visible()
    page.select_option("#applicant_type", "person")
    page.select_option("#applicant_id_type", "resident_id")
    page.fill("#applicant_id_number", VALID_ID)
    page.fill("#applicant_name", name)
    page.fill("#applicant_phone", "13800138000")
    page.select_option("#field-record_type", "marriage")
    page.fill("#field-record_holder_name", name)
    page.fill("#field-record_year", "1998")
    page.fill("#field-holding_archive", "济南市档案馆")
    page.fill("#field-purpose", "办理房产继承公证")
    page.fill("#field-contact_mobile", "13800138000")


def _upload(page, code: str, filename: str, mime: str, data: bytes) -> None:
    page.set_input_files(f"#file_{code}", files=[{"name": filename, "mimeType": mime, "buffer": data}])


def test_accept_with_two_scans_and_download_the_receipt(new_page):
    page = new_page("zh-CN")
    _log_in(page, "frontdesk")
    _fill_application(page, "周八")
    _upload(page, "application", "申请表.pdf", "application/pdf", _pdf_bytes())
    _upload(page, "id_card", "身份证.png", "image/png", _png_bytes())
    page.get_by_test_id("accept").click()

    expect(page.locator("h1", has_text="受理回执")).to_be_visible()
    assert re.search(rf"/cases/{re.escape(ITEM_CODE)}\d{{12}}/documents/SL\d{{10}}$", page.url)
    case_no = page.get_by_test_id("case-no").inner_text().strip()
    query_code = page.get_by_test_id("query-code").inner_text().strip()
    doc_no = page.get_by_test_id("doc-no").inner_text().strip()
    assert re.fullmatch(re.escape(ITEM_CODE) + r"\d{12}", case_no)
    assert re.fullmatch(r"\d{6}", query_code)
    assert re.fullmatch(r"SL\d{10}", doc_no)
    table = page.get_by_test_id("document-table")
    expect(table).to_contain_text("民生档案查询申请表")
    expect(table).to_contain_text("申请人有效身份证件")
    expect(table).to_contain_text("身份证.png")

    # The PDF link, fetched with the browser's own session, is the print with the password.
    href = page.get_by_test_id("pdf").get_attribute("href")
    assert href == f"/cases/{case_no}/documents/{doc_no}.pdf"
    response = page.context.request.get(href)
    assert response.ok and response.headers["content-type"] == "application/pdf"
    text = _pdf_text(response.body())
    assert case_no in text and doc_no in text
    assert "查询密码" + query_code in text
    assert "受理回执" in text
    assert "民生档案查询申请表" in text and "申请人有效身份证件" in text

    # Both scans are on the case page and open as what they are.
    page.goto(f"/cases/{case_no}")
    materials = page.get_by_test_id("case-materials")
    expect(materials).to_contain_text("申请表.pdf")
    png_link = materials.get_by_role("link", name="身份证.png").get_attribute("href")
    png = page.context.request.get(png_link)
    assert png.ok and png.headers["content-type"] == "image/png"
    assert png.headers["x-content-type-options"] == "nosniff"
    assert png.body() == _png_bytes()


def test_one_time_notice_then_supplement_then_accept(new_page):
    page = new_page("zh-CN")
    _log_in(page, "frontdesk")
    _fill_application(page, "吴九")
    page.fill("#defect_application", "申请表须申请人本人签字")
    page.get_by_test_id("supplement").click()

    expect(page.locator("h1", has_text="补正材料通知书")).to_be_visible()
    doc_no = page.get_by_test_id("doc-no").inner_text().strip()
    assert re.fullmatch(r"BZ\d{10}", doc_no)
    case_no = page.get_by_test_id("case-no").inner_text().strip()
    rows = page.get_by_test_id("document-table").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="民生档案查询申请表")).to_contain_text("缺少")
    expect(rows.filter(has_text="民生档案查询申请表")).to_contain_text("申请表须申请人本人签字")
    expect(rows.filter(has_text="申请人有效身份证件")).to_contain_text("缺少")

    # From the case page to the supplement registration.
    page.locator(f"a[href='/cases/{case_no}']").first.click()
    page.get_by_test_id("go-supplement").click()
    expect(page.get_by_test_id("requested-materials")).to_contain_text("申请表须申请人本人签字")
    expect(page.locator("h2", has_text=doc_no)).to_be_visible()
    _upload(page, "application", "补交申请表.pdf", "application/pdf", _pdf_bytes())
    _upload(page, "id_card", "身份证.png", "image/png", _png_bytes())
    page.get_by_test_id("register-supplement").click()

    expect(page).to_have_url(re.compile(rf"/intake/cases/{case_no}/decision$"))
    received = page.get_by_test_id("received-materials")
    expect(received).to_contain_text("补交申请表.pdf")
    expect(received).to_contain_text("身份证.png")
    page.get_by_test_id("accept").click()

    expect(page.locator("h1", has_text="受理回执")).to_be_visible()
    assert page.get_by_test_id("case-no").inner_text().strip() == case_no
    assert re.fullmatch(r"SL\d{10}", page.get_by_test_id("doc-no").inner_text().strip())
    expect(page.get_by_test_id("document-table")).to_contain_text("补交申请表.pdf")
