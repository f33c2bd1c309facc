"""Archivist pages through HTTP: package search, detail, download, re-checks, retry, retention expiry."""
from __future__ import annotations

import hashlib
import html
import re

import pytest
from sqlalchemy import select

from app.models import ArchivePackage, Case
from app.services.cases import materials as material_store
from tests.conftest import VALID_ID
from tests.integration.test_filing import file_all, finish, scanned_case
from tests.integration.test_pages import CSRF, login

CONSULTATION = "113701000045001234400011700200X"  # 档案查阅利用: 即办件, one step
ROW = re.compile(r'<tr data-case-no="([^"]+)"')

pytestmark = pytest.mark.usefixtures("empty_archive")


def page_client(app, username: str, lang: str = "en"):
    client = login(app.test_client(), username)
    client.get(f"/language/{lang}")
    return client


def csrf(client, path: str) -> str:
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def consultation_case(api_as) -> str:
    """A completed 档案查阅利用 case of 王五 (a different item and applicant from `scanned_case`)."""
    created = api_as("frontdesk").post("/cases", {
        "item_code": CONSULTATION, "materials": [{"code": "id_card"}],
        "applicant": {"type": "person", "name": "王五", "id_number": VALID_ID, "phone": "13800138000"},
        "form": {"purpose": "personal", "archive_description": "1998年本人招工档案", "contact_mobile": "13800138000"},
    })
    assert created.status_code == 201, created.get_json()
    case_no = created.get_json()["case_no"]
    handler = api_as("handler")
    (task,) = [t for t in handler.get(f"/cases/{case_no}").get_json()["tasks"] if t["state"] == "open"]
    done = handler.post(f"/tasks/{task['id']}/complete",
                        {"data": {"decision": "provide", "files_provided": "招工登记表", "copies": 1, "opinion": "已提供"}})
    assert done.status_code == 200, done.get_json()
    return case_no


def package_of(dbx, case_no: str) -> dict:
    with dbx() as session:
        package = session.scalar(select(ArchivePackage).join(Case).where(Case.case_no == case_no))
        return {"code": package.archival_code, "sha256": package.sha256, "state": package.state,
                "checked_at": package.checked_at, "check_passed": package.check_passed, "path": package.file_path}


def set_package(dbx, case_no: str, **values) -> None:
    with dbx() as session:
        package = session.scalar(select(ArchivePackage).join(Case).where(Case.case_no == case_no))
        for name, value in values.items():
            setattr(package, name, value)
        session.commit()


def found(client, **args) -> set[str]:
    response = client.get("/archive/", query_string=args)
    assert response.status_code == 200, response.get_data(as_text=True)
    return set(ROW.findall(response.get_data(as_text=True)))


@pytest.fixture()
def filed(app, api_as):
    """Two sealed packages (different items and applicants) and one filing still queued."""
    certificate = scanned_case(api_as("frontdesk"))  # 张三, 民生档案跨馆查询出证
    finish(api_as, certificate)
    consultation = consultation_case(api_as)  # 王五, 档案查阅利用
    assert file_all(app)["sealed"] == 2
    queued = scanned_case(api_as("frontdesk"))  # 张三 again, completed after the run
    finish(api_as, queued)
    return {"certificate": certificate, "consultation": consultation, "queued": queued}


def test_each_filter_finds_its_package_and_not_the_others(app, filed, dbx):
    certificate, consultation, queued = filed["certificate"], filed["consultation"], filed["queued"]
    first, second = package_of(dbx, certificate)["code"], package_of(dbx, consultation)["code"]
    assert first.endswith("-0001") and second.endswith("-0002")
    # One package moved to another year and retention, so those filters have something to tell apart.
    set_package(dbx, consultation, year=2016, retention="D30")
    client = page_client(app, "archivist")

    assert found(client) == {certificate, consultation, queued}
    assert found(client, code=first) == {certificate}
    assert found(client, code=first.split("·")[0].lower()) == {certificate, consultation}  # prefix, any case
    assert found(client, code="%") == set()  # a wildcard is a character, not a pattern
    assert found(client, case_no=consultation) == {consultation}
    assert found(client, case_no=certificate) == {certificate}
    assert found(client, title="民生档案跨馆") == {certificate}
    assert found(client, applicant="王五") == {consultation}
    assert found(client, applicant="张") == {certificate, queued}
    assert found(client, item=CONSULTATION) == {consultation}
    assert found(client, year="2016") == {consultation}
    assert found(client, retention="D30") == {consultation}
    assert found(client, retention="D10") == {certificate}
    assert found(client, state="queued") == {queued}
    assert found(client, state="sealed") == {certificate, consultation}
    assert found(client, state="sealed", applicant="张三") == {certificate}

    page = client.get("/archive/").get_data(as_text=True)
    # Newest filing first; the queued one has no 档号 yet and links to its filing page.
    assert ROW.findall(page) == [queued, consultation, certificate]
    assert f'href="/archive/case/{queued}"' in page and f'href="/cases/{certificate}"' in page
    assert "档案查阅利用" in page and "30年" in page and "公开" in page


def test_search_pages_keep_the_filters(app, filed):
    client = page_client(app, "archivist")
    app.config["PAGE_SIZE"] = 1
    try:
        first = client.get("/archive/?applicant=张").get_data(as_text=True)
        second = client.get("/archive/?applicant=张&page=2").get_data(as_text=True)
    finally:
        app.config["PAGE_SIZE"] = 50
    assert ROW.findall(first) == [filed["queued"]] and ROW.findall(second) == [filed["certificate"]]
    assert "1 / 2" in first and "page=2" in first and "applicant=%E5%BC%A0" in first


@pytest.mark.parametrize("args, message", [
    ({"year": "20x6"}, "`year` must be a year of four digits"),
    ({"retention": "D99"}, "`retention` must be one of: Y, D30, D10."),
    ({"state": "lost"}, "`state` must be one of: queued, sealed, failed."),
    ({"item": "NO-SUCH-ITEM"}, "`item` must be the code of a service item."),
    ({"code": "Z" * 81}, "`code` must be at most 80 characters."),
])
def test_a_bad_filter_is_shown_above_the_form(app, args, message):
    client = page_client(app, "archivist")
    response = client.get("/archive/", query_string=args)
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "Some filters are not valid." in body and message in body
    assert 'data-testid="archive-filters"' in body  # the form is still there to correct it


def test_a_bad_page_number_is_a_clear_error(app):
    response = page_client(app, "archivist").get("/archive/?page=0")
    assert response.status_code == 422 and "`page` must be a positive whole number." in html.unescape(
        response.get_data(as_text=True))


def test_detail_shows_the_code_metadata_files_and_check_report(app, filed, dbx):
    code = package_of(dbx, filed["certificate"])["code"]
    client = page_client(app, "supervisor")
    response = client.get(f"/archive/{code}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'data-testid="archival-code">{code}<' in page
    assert "<th class=\"text-nowrap fw-normal text-muted\">文件编号</th><td class=\"text-break\">" \
           f"{filed['certificate']}</td>" in page
    for path in ("materials/01_application.pdf", "materials/02_id_card.png", "forms/00_application.json",
                 "events.json"):
        assert f'data-path="{path}"' in page
    assert "依据材料" in page and "结果材料" in page
    assert 'data-check="AUT-01" data-result="pass"' in page and 'data-check="SEC-01"' in page
    assert 'data-result="fail"' not in page and "Checks passed" in page and "Authenticity" in page
    # Supervisors read and download; only archivists run checks.
    assert "download-package" in page and "run-checks" not in page
    assert "run-checks" in page_client(app, "archivist").get(f"/archive/{code}").get_data(as_text=True)


def test_unknown_or_malformed_code_is_a_404_page(app, filed):
    client = page_client(app, "archivist")
    for path in ("/archive/Z109-WS·1999-D10-DAS-0001", "/archive/not-a-code", "/archive/Z109-WS·1999-D10-DAS-0001/package"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert 'data-testid="error-message"' in response.get_data(as_text=True)
    assert client.get("/archive/case/NO-SUCH-CASE").status_code == 404


def test_download_is_the_sealed_zip_with_its_digest(app, filed, dbx):
    package = package_of(dbx, filed["certificate"])
    response = page_client(app, "archivist").get(f"/archive/{package['code']}/package")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert hashlib.sha256(response.data).hexdigest() == package["sha256"]
    assert response.headers["Digest"] == f"sha-256={package['sha256']}"
    assert "attachment" in response.headers["Content-Disposition"]


def test_rechecking_stores_a_new_report_and_is_for_archivists(app, filed, dbx):
    case_no = filed["certificate"]
    before = package_of(dbx, case_no)
    detail = f"/archive/{before['code']}"
    handler, supervisor = page_client(app, "handler"), page_client(app, "supervisor")
    assert handler.post(f"{detail}/check", data={"csrf_token": csrf(handler, "/cases/")}).status_code == 403
    assert supervisor.post(f"{detail}/check", data={"csrf_token": csrf(supervisor, detail)}).status_code == 403

    archivist = page_client(app, "archivist")
    response = archivist.post(f"{detail}/check", data={"csrf_token": csrf(archivist, detail)}, follow_redirects=True)
    assert response.status_code == 200 and "All checks passed." in response.get_data(as_text=True)
    after = package_of(dbx, case_no)
    assert after["check_passed"] is True and after["checked_at"] > before["checked_at"]

    # The stored file altered behind our back: the next run says which checks failed.
    with app.app_context():
        path = app.config["ARCHIVE_DIR"] / after["path"]
    with open(path, "ab") as handle:
        handle.write(b"tampered")
    response = archivist.post(f"{detail}/check", data={"csrf_token": csrf(archivist, detail)}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Some checks failed: " in page and "SEC-01" in page and 'data-result="fail"' in page
    assert package_of(dbx, case_no)["check_passed"] is False
    # Without the form's token nothing runs.
    assert archivist.post(f"{detail}/check").status_code == 400


def test_failed_filing_has_a_page_by_case_number_and_is_retried(app, api_as, dbx):
    case_no = scanned_case(api_as("frontdesk"))
    finish(api_as, case_no)
    with dbx() as session:
        case = session.scalar(select(Case).where(Case.case_no == case_no))
        path = material_store.path_for(case.materials[0].sha256)
    saved = path.read_bytes()
    path.unlink()
    try:
        assert file_all(app)["failed"] == 1
    finally:
        path.write_bytes(saved)

    archivist = page_client(app, "archivist")
    assert found(archivist, state="failed") == {case_no}
    filing_page = f"/archive/case/{case_no}"
    page = archivist.get(filing_page).get_data(as_text=True)
    assert 'data-state="failed"' in page and "missing" in page and 'data-testid="retry-filing"' in page
    assert 'data-testid="filing-attempts">1<' in page
    case_page = archivist.get(f"/cases/{case_no}").get_data(as_text=True)
    assert 'data-testid="case-filing-error"' in case_page and f'href="{filing_page}"' in case_page

    handler = page_client(app, "handler")
    assert handler.post(f"{filing_page}/retry", data={"csrf_token": csrf(handler, "/cases/")}).status_code == 403
    response = archivist.post(f"{filing_page}/retry", data={"csrf_token": csrf(archivist, filing_page)},
                              follow_redirects=True)
    assert response.status_code == 200 and 'data-state="queued"' in response.get_data(as_text=True)
    assert package_of(dbx, case_no)["state"] == "queued"
    again = archivist.post(f"{filing_page}/retry", data={"csrf_token": csrf(archivist, filing_page)})
    assert again.status_code == 409 and "Only a failed filing can be retried." in again.get_data(as_text=True)

    assert file_all(app)["sealed"] == 1
    code = package_of(dbx, case_no)["code"]
    sealed = archivist.get(filing_page)  # once sealed, the case number leads to the 档号 page
    assert sealed.status_code == 302 and sealed.headers["Location"].endswith(f"/archive/{code}".replace("·", "%C2%B7"))


def test_case_page_shows_the_filing_step(app, filed, dbx):
    case_no = filed["certificate"]
    code = package_of(dbx, case_no)["code"]
    archivist_page = page_client(app, "archivist").get(f"/cases/{case_no}").get_data(as_text=True)
    assert 'data-testid="case-filing"' in archivist_page and 'data-state="sealed"' in archivist_page
    assert f'href="/archive/{code}"' in archivist_page.replace("%C2%B7", "·")
    # The handler who worked on it sees the 档号 but has no archive pages to link to.
    handler_page = page_client(app, "handler").get(f"/cases/{case_no}").get_data(as_text=True)
    assert f'data-testid="case-archival-code">{code}<' in handler_page and "/archive/Z109" not in handler_page
    queued_page = page_client(app, "archivist").get(f"/cases/{filed['queued']}").get_data(as_text=True)
    assert 'data-state="queued"' in queued_page and "case-archival-code" not in queued_page


def test_expiry_list_counts_retention_from_the_end_of_the_year(app, filed, dbx):
    certificate, consultation = filed["certificate"], filed["consultation"]
    set_package(dbx, certificate, year=2026, retention="D10")  # kept to the end of 2036
    set_package(dbx, consultation, year=2026, retention="Y")  # 永久: never on the list
    client = page_client(app, "archivist")

    def listed(until):
        response = client.get("/archive/expiry", query_string={"until": until})
        assert response.status_code == 200
        return re.findall(r'<tr data-code="([^"]+)"', response.get_data(as_text=True))

    code = package_of(dbx, certificate)["code"]
    assert listed(2035) == []
    assert listed(2036) == [code]
    assert listed(2200) == [code]
    set_package(dbx, consultation, year=2000, retention="D30")  # kept to the end of 2030
    assert listed(2036) == [package_of(dbx, consultation)["code"], code]  # the earliest expiry first
    page = client.get("/archive/expiry?until=2036").get_data(as_text=True)
    assert "This list deletes nothing." in page and 'data-testid="expiry-year">2036<' in page
    assert client.get("/archive/expiry").status_code == 200  # this year by default
    bad = client.get("/archive/expiry?until=soon")
    assert bad.status_code == 422 and "`until` must be a year of four digits" in html.unescape(
        bad.get_data(as_text=True))


def test_archive_pages_need_an_archive_role(app, filed, dbx):
    code = package_of(dbx, filed["certificate"])["code"]
    paths = ("/archive/", "/archive/expiry", f"/archive/{code}", f"/archive/{code}/package",
             f"/archive/case/{filed['certificate']}")
    handler = page_client(app, "handler")
    anonymous = app.test_client()
    for path in paths:
        assert handler.get(path).status_code == 403, path
        response = anonymous.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    assert page_client(app, "supervisor").get("/archive/").status_code == 200
    assert page_client(app, "admin").get("/archive/").status_code == 200
    # The menu shows Archive to archive readers only.
    assert 'data-testid="nav-archive"' in page_client(app, "archivist").get("/cases/").get_data(as_text=True)
    assert 'data-testid="nav-archive"' not in handler.get("/cases/").get_data(as_text=True)


def test_a_package_file_lost_from_the_store_is_reported_not_a_500(app, filed, dbx):
    package = package_of(dbx, filed["certificate"])
    (app.config["ARCHIVE_DIR"] / package["path"]).unlink()
    client = page_client(app, "archivist")
    detail = client.get(f"/archive/{package['code']}")
    assert detail.status_code == 200
    assert 'data-testid="contents-problem"' in detail.get_data(as_text=True)
    download = client.get(f"/archive/{package['code']}/package")
    assert download.status_code == 404 and "missing from the archive store" in download.get_data(as_text=True)
    rechecked = client.post(f"/archive/{package['code']}/check",
                            data={"csrf_token": csrf(client, f"/archive/{package['code']}")}, follow_redirects=True)
    assert "Some checks failed: " in rechecked.get_data(as_text=True)
    assert package_of(dbx, filed["certificate"])["check_passed"] is False
