"""An administrator builds the organisation in the browser; the new user logs in and lands on their work.
The pages that draw (bpmn-js) and update themselves (htmx) run under the Content-Security-Policy."""
from __future__ import annotations

import itertools

from playwright.sync_api import expect

from tests.browser.test_case_walkthrough import log_in
from tests.conftest import application_payload

_serial = itertools.count(1)
# Collects every CSP violation the page reports, from the first script on.
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def watched_page(new_page, locale: str = "zh-CN", **viewport):
    page = new_page(locale)
    if viewport:
        page.set_viewport_size(viewport)
    page.add_init_script(CSP_WATCH)
    problems = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    return page, problems


def violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations")


def test_admin_creates_a_department_and_a_user_who_logs_in_to_the_inbox(new_page):
    code, username = f"EDIT{next(_serial)}", f"editor{next(_serial)}"
    page, problems = watched_page(new_page)
    log_in(page, "admin")
    expect(page).to_have_url("/admin/departments")
    expect(page.get_by_test_id("department-tree")).to_contain_text("综合受理窗口")

    form = page.get_by_test_id("new-department")
    form.locator("#f-code").fill(code)
    form.locator("#f-name").fill("编研处")
    form.locator("#f-parent").select_option("BUREAU")
    page.get_by_test_id("create-department").click()
    expect(page.locator(f"tr[data-code='{code}']")).to_contain_text("编研处")

    page.get_by_test_id("org-nav").get_by_text("用户").click()
    page.get_by_test_id("new-user").click()
    page.fill("#f-username", username)
    page.fill("#f-display_name", "编研处承办人")
    page.fill("#f-email", "editor@archives.example.cn")
    page.fill("#f-password", "12345678")
    page.check("#role-handler")
    page.check(f"#dept-{code}")
    page.get_by_test_id("save-user").click()
    expect(page.get_by_test_id("error-password")).to_be_visible()  # refused, and nothing typed is lost
    expect(page.locator("#f-display_name")).to_have_value("编研处承办人")
    expect(page.locator(f"#dept-{code}")).to_be_checked()
    page.fill("#f-password", "granite-orchard-violin-52")
    page.get_by_test_id("save-user").click()
    expect(page.locator(f"tr[data-username='{username}']")).to_contain_text("编研处")
    assert violations(page) == [] and problems == []

    user_page, user_problems = watched_page(new_page)
    user_page.goto("/login")
    user_page.fill("#username", username)
    user_page.fill("#password", "granite-orchard-violin-52")
    user_page.click("button[type=submit]")
    expect(user_page).to_have_url("/inbox")
    expect(user_page.get_by_test_id("current-user")).to_have_text("编研处承办人")
    assert violations(user_page) == [] and user_problems == []


def test_organisation_pages_fit_a_phone(new_page):
    page, problems = watched_page(new_page, "en-US", width=390, height=844)
    log_in(page, "admin")
    for path in ("/admin/departments", "/admin/users", "/admin/users/new", "/admin/org/import", "/admin/audit"):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, (path, width)
    assert violations(page) == [] and problems == []


def test_bpmn_js_and_htmx_work_under_the_content_security_policy(new_page, api_as):
    case_no = api_as("frontdesk").post("/cases", application_payload()).get_json()["case_no"]
    page, problems = watched_page(new_page, "en-US")
    response = page.goto("/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    log_in(page, "head")
    expect(page).to_have_url("/inbox?view=department")
    # htmx: switching tabs swaps the rows without a reload.
    page.get_by_test_id("inbox-tabs").locator("a").first.click()
    expect(page.locator(f"tr[data-case-no='{case_no}']")).to_be_visible()
    # bpmn-js viewer on the case page.
    page.goto(f"/cases/{case_no}")
    expect(page.locator("[data-testid=case-diagram][data-ready=true]")).to_be_visible()
    page.get_by_test_id("current-user").click()  # the header's name opens the password page
    expect(page.get_by_test_id("change-password")).to_be_visible()
    # bpmn-js modeller in the designer.
    designer, designer_problems = watched_page(new_page, "en-US")
    log_in(designer, "designer")
    designer.goto("/designer/processes/cross_archive_certificate/edit")
    expect(designer.get_by_test_id("modeler")).to_have_attribute("data-ready", "true")
    assert violations(page) == [] and problems == []
    assert violations(designer) == [] and designer_problems == []
