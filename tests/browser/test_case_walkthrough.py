"""A person walks one case from the front desk through both departments to completion."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from app.services.org import DEMO_PASSWORD
from tests.conftest import ITEM_CODE, VALID_ID


def log_in(page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("current-user")).to_be_visible()


def log_out(page) -> None:
    page.click("text=退出")
    expect(page.locator("#username")).to_be_visible()


def open_task_of(page, case_no: str) -> None:
    page.goto("/inbox")
    row = page.locator(f"tr[data-case-no='{case_no}']")
    row.get_by_test_id("claim").click()
    expect(page.get_by_test_id("complete")).to_be_visible()


def test_front_desk_to_completion(new_page):
    page = new_page("zh-CN")
    log_in(page, "frontdesk")
    page.click("text=新建办件")
    page.get_by_test_id(f"item-{ITEM_CODE}").click()

    # A wrong ID number is refused next to its field, in Chinese, and nothing else is lost.
    page.fill("#applicant_name", "王五")
    page.fill("#applicant_id_number", "110105194912310021")
    page.fill("#applicant_phone", "13800138000")
    page.select_option("#field-record_type", "marriage")
    page.fill("#field-record_holder_name", "王五")
    page.fill("#field-holding_archive", "济南市档案馆")
    page.fill("#field-purpose", "办理继承公证")
    page.fill("#field-contact_mobile", "13800138000")
    page.check("#material_application")
    page.check("#material_id_card")
    page.get_by_test_id("accept").click()
    expect(page.locator(".invalid-feedback", has_text="居民身份证号码")).to_be_visible()
    expect(page.locator("#field-purpose")).to_have_value("办理继承公证")

    page.fill("#applicant_id_number", VALID_ID)
    page.get_by_test_id("accept").click()
    expect(page.locator("h1", has_text="受理回执")).to_be_visible()
    case_no = page.get_by_test_id("case-no").inner_text().strip()
    assert re.fullmatch(re.escape(ITEM_CODE) + r"\d{12}", case_no)
    assert re.fullmatch(r"\d{6}", page.get_by_test_id("query-code").inner_text().strip())
    log_out(page)

    log_in(page, "handler")
    open_task_of(page, case_no)
    expect(page.locator("h1", has_text="档案查询")).to_be_visible()
    page.select_option("#field-search_result", "yes")
    page.fill("#field-opinion", "已查到1998年婚姻登记档案")
    page.get_by_test_id("complete").click()
    expect(page.locator(".alert-success")).to_be_visible()

    open_task_of(page, case_no)
    expect(page.locator("h1", has_text="利用审核")).to_be_visible()
    expect(page.get_by_text("已查到1998年婚姻登记档案")).to_be_visible()  # earlier opinion shown
    page.select_option("#field-decision", "approve")
    page.get_by_test_id("complete").click()
    expect(page.locator("#field-opinion-error")).to_be_visible()  # opinion is required
    page.fill("#field-opinion", "同意出具证明")
    page.get_by_test_id("complete").click()

    open_task_of(page, case_no)
    page.fill("#field-certificate_no", "ZM-2026-0007")
    page.select_option("#field-delivery", "window")
    page.get_by_test_id("complete").click()

    page.goto(f"/cases/{case_no}")
    expect(page.get_by_test_id("case-status")).to_have_text("已办结")
    expect(page.get_by_test_id("timeline")).to_contain_text("同意出具证明")


def test_pages_speak_english_on_request(new_page):
    page = new_page("en-US")
    page.goto("/login?lang=en")
    expect(page.locator("h1")).to_have_text("Log in")
    log_in(page, "handler")
    page.goto("/inbox")
    expect(page.locator("h1")).to_have_text("Department inbox")
