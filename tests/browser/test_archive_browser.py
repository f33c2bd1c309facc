"""The archive pages in a browser: an archivist finds a filed case and reads its check report."""
from __future__ import annotations

import re
import shutil

import pytest
from playwright.sync_api import expect

from tests.browser.test_case_walkthrough import log_in
from tests.integration.test_filing import file_all, finish, scanned_case


@pytest.fixture(autouse=True)
def _empty_archive(app):
    yield
    shutil.rmtree(app.config["ARCHIVE_DIR"], ignore_errors=True)


def test_archivist_searches_by_case_number_and_reads_the_check_report(new_page, api_as, app):
    case_no = scanned_case(api_as("frontdesk"))
    finish(api_as, case_no)
    other = scanned_case(api_as("frontdesk"))
    finish(api_as, other)
    assert file_all(app)["sealed"] == 2

    page = new_page("en-US")
    log_in(page, "archivist")
    page.get_by_test_id("nav-archive").click()
    expect(page.locator("[data-testid=archive-results] tbody tr")).to_have_count(2)

    page.fill("#filter-case-no", case_no)
    page.get_by_test_id("archive-search").click()
    expect(page).to_have_url(re.compile(rf"/archive/\?.*case_no={case_no}"))
    rows = page.locator("[data-testid=archive-results] tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-case-no", case_no)
    expect(rows.first.get_by_test_id("check-result")).to_have_text("Checks passed")

    rows.first.get_by_test_id("package-link").click()
    expect(page.get_by_test_id("archival-code")).to_have_text(re.compile(r"^Z109-WS·\d{4}-D10-DAS-\d{4}$"))
    report = page.get_by_test_id("check-report")
    expect(report.locator("tr[data-check=AUT-01][data-result=pass]")).to_be_visible()
    expect(report.locator("tr[data-result=fail]")).to_have_count(0)
    expect(page.get_by_test_id("package-files").locator("tr[data-path='materials/01_application.pdf']")).to_be_visible()

    # Running the checks again reports back on the same page.
    page.get_by_test_id("run-checks").click()
    expect(page.locator(".alert-success")).to_have_text("All checks passed.")
    expect(page.get_by_test_id("archival-code")).to_be_visible()
