"""The process designer in a browser: add a user task in a lane, deploy, and see it reach an inbox."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import Case
from app.services.processes import catalogue
from tests.browser.test_case_walkthrough import log_in
from tests.conftest import application_payload

CERT = Path(__file__).resolve().parents[2] / "workflows" / "cross_archive_certificate.bpmn"


@pytest.fixture()
def restore_certificate(app):
    yield
    with app.app_context():
        catalogue.deploy_bpmn("cross_archive_certificate", CERT.read_bytes(), CERT.name)
        db.session.commit()


def _screen_point(page, x: float, y: float) -> tuple[float, float]:
    """Where a diagram coordinate is on the screen, at the modeller's current zoom."""
    return tuple(page.evaluate("""([x, y]) => {
        const canvas = window.designer.modeler.get('canvas');
        const box = canvas.viewbox();
        const rect = canvas._container.getBoundingClientRect();
        return [rect.left + (x - box.x) * box.scale, rect.top + (y - box.y) * box.scale];
    }""", [x, y]))


def test_designer_adds_a_user_task_deploys_and_the_task_reaches_the_inbox(new_page, api_as, app, restore_certificate):
    page = new_page("zh-CN")
    log_in(page, "designer")
    page.get_by_test_id("nav-designer").click()
    page.locator("tr[data-process-id='cross_archive_certificate']").get_by_test_id("edit-link").click()
    expect(page.get_by_test_id("modeler")).to_have_attribute("data-ready", "true")

    # Drop a new task from the palette onto the accepted-case flow, inside the window's lane.
    page.locator('.djs-palette [data-action="create.task"]').click()
    x, y = _screen_point(page, 740, 160)  # on the flow, clear of its label
    page.mouse.move(x - 30, y - 30)
    page.mouse.move(x, y, steps=8)
    page.mouse.click(x, y)
    page.wait_for_function("window.designer.modeler.get('selection').get().length === 1")
    new_id = page.evaluate("window.designer.modeler.get('selection').get()[0].id")
    # The modeller opens the new task's label for typing; Enter ends it.
    page.keyboard.type("材料核验")
    page.keyboard.press("Enter")
    page.locator('.djs-context-pad [data-action="replace"]').click()
    page.locator('.djs-popup [data-id="replace-with-user-task"]').click()
    panel = page.get_by_test_id("properties-panel")
    expect(panel.get_by_test_id("prop-task-department")).to_contain_text("WINDOW")
    expect(panel.get_by_test_id("prop-name")).to_have_value("材料核验")
    panel.get_by_test_id("prop-form").select_option("record_search")
    panel.get_by_test_id("prop-step-limit").fill("2wd")
    panel.get_by_test_id("prop-step-limit").press("Enter")

    page.get_by_test_id("save-draft").click()
    expect(page.get_by_test_id("designer-status")).to_have_attribute("data-revision", "1")
    expect(page.get_by_test_id("designer-status")).to_have_attribute("data-dirty", "false")
    page.get_by_test_id("deploy").click()
    result = page.get_by_test_id("deploy-result")
    expect(result).to_have_attribute("data-version", re.compile(r"\d+"))
    version = int(result.get_attribute("data-version"))

    # A new case starts on the new version and, once accepted, waits at the new step.
    case_no = api_as("frontdesk").post("/cases", application_payload()).get_json()["case_no"]
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.case_no == case_no))
        assert case.process_version.version == version
        assert case.process_version.spec_json.count(new_id) > 0
    window = new_page("zh-CN")
    log_in(window, "frontdesk")
    window.goto("/inbox?view=pool")
    row = window.locator(f"tr[data-case-no='{case_no}']")
    expect(row).to_contain_text("材料核验")

    # The process page lists the version and the save and deploy as recorded events.
    page.goto("/designer/processes/cross_archive_certificate")
    expect(page.locator(f"tr[data-version='{version}']")).to_be_visible()
    expect(page.locator("[data-testid=design-events] li[data-action=deployed]")).to_have_count(1)
    expect(page.locator("[data-testid=design-events] li[data-action=draft_saved]")).to_have_count(1)
