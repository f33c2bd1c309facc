"""The inbox in a browser: tabs and filters reload only the list (htmx), counts follow a claim."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.test_case_walkthrough import log_in
from tests.conftest import application_payload

MARKER = "window.inboxMarker"


def _accept(api_as) -> str:
    response = api_as("frontdesk").post("/cases", application_payload())
    assert response.status_code == 201, response.get_json()
    return response.get_json()["case_no"]


def _still_same_page(page) -> None:
    # A full page load would have dropped the variable set before the click.
    assert page.evaluate(MARKER) == "kept"


def test_tabs_and_filters_without_a_page_reload(new_page, api_as):
    first, second = _accept(api_as), _accept(api_as)
    page = new_page("en-US")
    log_in(page, "handler")
    page.goto("/inbox")
    expect(page.get_by_test_id("count-pool")).to_have_text("2")
    expect(page.get_by_test_id("count-mine")).to_have_text("0")

    # Claiming leads to the task page; back in the inbox the counts have moved.
    page.locator(f"tr[data-case-no='{first}']").get_by_test_id("claim").click()
    expect(page.get_by_test_id("complete")).to_be_visible()
    page.get_by_role("link", name="Inbox").click()
    expect(page.get_by_test_id("count-pool")).to_have_text("1")
    expect(page.get_by_test_id("count-mine")).to_have_text("1")
    expect(page.locator(f"tr[data-case-no='{second}']")).to_be_visible()
    expect(page.locator(f"tr[data-case-no='{first}']")).to_have_count(0)

    page.evaluate(f"{MARKER} = 'kept'")
    page.get_by_test_id("tab-mine").click()
    expect(page.locator("[data-testid=inbox][data-view=mine]")).to_be_visible()
    expect(page.locator(f"tr[data-case-no='{first}']").get_by_test_id("handle")).to_be_visible()
    expect(page.get_by_test_id("tab-mine")).to_have_class(re.compile(r"\bactive\b"))
    expect(page).to_have_url(re.compile(r"/inbox\?view=mine$"))
    _still_same_page(page)

    # A filter narrows the current tab; the tabs keep it when switching.
    page.select_option("#filter-due", "overdue")
    expect(page.get_by_test_id("inbox-empty")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/inbox\?view=mine&due=overdue$"))
    page.get_by_test_id("tab-pool").click()
    expect(page.locator("[data-testid=inbox][data-view=pool]")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/inbox\?view=pool&due=overdue$"))
    expect(page.get_by_test_id("inbox-empty")).to_be_visible()
    page.select_option("#filter-due", "on_time")  # the committed deadline is days away
    expect(page.locator(f"tr[data-case-no='{second}']")).to_be_visible()
    expect(page.get_by_test_id("count-pool")).to_have_text("1")
    _still_same_page(page)

    # Back restores the earlier list and its address.
    page.go_back()
    expect(page).to_have_url(re.compile(r"/inbox\?view=pool&due=overdue$"))
    expect(page.get_by_test_id("inbox-empty")).to_be_visible()
