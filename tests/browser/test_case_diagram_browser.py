"""The case page draws the process with bpmn-js and marks the steps done and in progress."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.test_case_walkthrough import log_in
from tests.conftest import application_payload


def test_case_page_marks_intake_done_and_search_active(new_page, api_as):
    response = api_as("frontdesk").post("/cases", application_payload())
    assert response.status_code == 201, response.get_json()
    case_no = response.get_json()["case_no"]

    page = new_page("en-US")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, "frontdesk")
    page.goto(f"/cases/{case_no}")

    diagram = page.locator("[data-testid=case-diagram][data-ready=true]")
    expect(diagram).to_be_visible()
    expect(diagram.locator("svg [data-element-id=intake].step-completed")).to_have_count(1)
    expect(diagram.locator("svg [data-element-id=record_search].step-active")).to_have_count(1)
    expect(diagram.locator("svg [data-element-id=review].step-active")).to_have_count(0)
    expect(diagram.locator(".step-overdue, .step-paused")).to_have_count(0)
    assert diagram.get_attribute("data-completed") == "intake"
    assert diagram.get_attribute("data-active") == "record_search"
    assert page.evaluate("window.caseDiagramMarkers.active") == ["record_search"]
    # The marker styles apply: the active task's outline is drawn blue.
    stroke = page.eval_on_selector("[data-element-id=record_search] .djs-visual > :first-child",
                                   "el => getComputedStyle(el).stroke")
    assert stroke == "rgb(13, 110, 253)"
    # The rest of the case page is still there.
    expect(page.get_by_test_id("steps")).to_be_visible()
    expect(page.get_by_test_id("timeline")).to_be_visible()
    assert errors == []
