"""Claim → return → complete in a browser: the returned step shows why it came back."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.test_case_walkthrough import log_in
from tests.conftest import application_payload

SEARCH_DONE = {"data": {"search_result": "yes", "record_reference": "Z109-1998-0042", "opinion": "已查到"}}


def test_claim_return_and_complete(new_page, api_as):
    case_no = api_as("frontdesk").post("/cases", application_payload()).get_json()["case_no"]
    handler_api = api_as("handler")
    search = next(t for t in handler_api.get(f"/cases/{case_no}").get_json()["tasks"] if t["state"] == "open")
    assert handler_api.post(f"/tasks/{search['id']}/complete", SEARCH_DONE).status_code == 200

    page = new_page("en-US")
    log_in(page, "handler")
    page.goto("/inbox")
    page.locator(f"tr[data-case-no='{case_no}']").get_by_test_id("claim").click()
    expect(page.get_by_test_id("complete")).to_be_visible()

    # Return the review to the search step, with a reason.
    page.get_by_text("Return (退回)").click()
    page.get_by_test_id("return-reason").fill("档号缺失,请补充")
    page.get_by_test_id("return").click()
    expect(page).to_have_url(re.compile(r".*/inbox$"))

    # The search step is back in the pool, and its page says why.
    page.locator(f"tr[data-case-no='{case_no}']").get_by_test_id("claim").click()
    expect(page.get_by_test_id("arrival-note")).to_contain_text("档号缺失,请补充")
    page.locator("#field-search_result").select_option("yes")
    page.locator("#field-record_reference").fill("Z109-1998-0042")
    page.locator("#field-opinion").fill("已补充档号")
    page.get_by_test_id("complete").click()
    expect(page.get_by_role("alert").first).to_contain_text(case_no)

    page.goto(f"/cases/{case_no}")
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text("Returned")
    expect(timeline).to_contain_text("档号缺失,请补充")
