"""The business calendar in the database (import, cache, admin page, API) and `flask jobs run --at`."""
from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy import delete, select

from app import clock
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import CalendarDay, CalendarYear, Case, User
from app.models.base import utcnow
from app.services.calendar import business_calendar, files, store, workdays
from tests.conftest import application_payload
from tests.integration.test_pages import _csrf, login

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
BEIJING = timezone(timedelta(hours=8))
MONDAY = date(2026, 3, 2)  # an ordinary working Monday between the two test vectors' dates


@pytest.fixture(autouse=True)
def _shipped_calendar(app):
    """Every test starts and ends with exactly the shipped years in the database."""

    def reset():
        with app.app_context():
            db.session.execute(delete(CalendarDay))
            db.session.execute(delete(CalendarYear))
            business_calendar.seed_shipped_years()
            db.session.commit()
            db.session.remove()

    reset()
    yield
    reset()


def _admin() -> User:
    return db.session.scalar(select(User).where(User.username == "admin"))


# The calendar as the database holds it


def test_seed_demo_loaded_the_shipped_years(ctx):
    assert [y.year for y in db.session.scalars(select(CalendarYear).order_by(CalendarYear.year))] == [2025, 2026]
    kinds = [d.kind for d in business_calendar.days_of(2026)]
    assert (kinds.count("holiday"), kinds.count("workday")) == (33, 6)
    assert business_calendar.seed_shipped_years() == []  # present years are kept, not imported again


def test_domain_vectors_through_the_database_calendar(ctx):
    assert business_calendar.working_days_in(2026) == 248
    assert business_calendar.working_days_in(2025) == 248
    assert workdays.add_working_days(date(2026, 2, 12), 20) == date(2026, 3, 18)
    assert workdays.add_working_days(date(2026, 9, 28), 5) == date(2026, 10, 10)
    accepted = datetime(2026, 2, 12, 10, 0, tzinfo=BEIJING)
    assert workdays.deadline(accepted, 20, "working_day") == datetime(2026, 3, 18, 23, 59, 59, tzinfo=BEIJING)


def test_the_database_not_the_file_is_the_calendar_inside_the_app(ctx):
    db.session.execute(delete(CalendarDay).where(CalendarDay.day == date(2026, 10, 10)))
    store.invalidate()
    assert not workdays.is_working_day(date(2026, 10, 10))  # the make-up Saturday is gone from the database
    assert files.file_calendar(2026) is not None and date(2026, 10, 10) in files.file_calendar(2026).makeup_workdays
    db.session.rollback()
    store.invalidate()


def test_editing_a_day_changes_the_arithmetic_at_once(app):
    with app.app_context():
        assert workdays.add_working_days(date(2026, 2, 12), 20) == date(2026, 3, 18)  # warms the cache
        business_calendar.set_day(2026, MONDAY, "holiday", "临时停工", _admin())
        # Same transaction, before the commit: the edit already counts.
        assert workdays.add_working_days(date(2026, 2, 12), 20) == date(2026, 3, 19)
        db.session.commit()
        row = db.session.get(CalendarYear, 2026)
        assert row.updated_by_id == _admin().id and utcnow() - row.updated_at < timedelta(minutes=1)
        db.session.remove()
    with app.app_context():  # another request of the same process
        assert business_calendar.working_days_in(2026) == 247
        assert workdays.add_working_days(date(2026, 2, 12), 20) == date(2026, 3, 19)
        business_calendar.remove_day(2026, MONDAY, _admin())
        db.session.commit()
        assert business_calendar.working_days_in(2026) == 248
        db.session.remove()


def test_a_rolled_back_edit_never_reaches_other_requests(app):
    with app.app_context():
        business_calendar.set_day(2026, MONDAY, "holiday", None, _admin())
        assert business_calendar.working_days_in(2026) == 247
        db.session.rollback()
        assert business_calendar.working_days_in(2026) == 248
        db.session.remove()
    with app.app_context():
        assert workdays.is_working_day(MONDAY)
        db.session.remove()


def test_changes_by_another_process_are_seen_after_the_check_interval(app, monkeypatch):
    monkeypatch.setitem(app.config, "CALENDAR_CACHE_SECONDS", 3600)
    with app.app_context():
        assert workdays.is_working_day(MONDAY)  # cached, stamp read now
        db.session.remove()
    # Another process (a second web worker, `flask calendar import`) writes straight to the tables.
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.insert(CalendarDay).values(day=MONDAY, year=2026, kind="holiday", note=None))
        conn.execute(sa.update(CalendarYear).where(CalendarYear.year == 2026)
                     .values(updated_at=datetime.now(UTC) + timedelta(seconds=1)))
    with app.app_context():
        assert workdays.is_working_day(MONDAY)  # within the interval: the cached year still serves
        db.session.remove()
    monkeypatch.setitem(app.config, "CALENDAR_CACHE_SECONDS", 0)
    with app.app_context():
        assert not workdays.is_working_day(MONDAY)  # stamp changed: the year is read again
        assert business_calendar.working_days_in(2026) == 247
        db.session.remove()


def test_year_without_a_calendar_counts_monday_to_friday(ctx):
    assert store.year_calendar(2030) is None
    assert business_calendar.working_days_in(2030) == 261
    assert workdays.is_working_day(date(2030, 1, 1))  # a Tuesday; unknown without data


def test_import_replaces_the_year_and_keeps_unchanged_rows(ctx):
    text = "date,kind,note\n2026-01-01,holiday,元旦\n2026-01-04,workday,调休\n"
    row = business_calendar.import_file("2026.csv", text.encode(), _admin())
    db.session.commit()
    assert row.source == "2026.csv" and row.updated_by_id == _admin().id
    assert [(d.day, d.kind, d.note) for d in business_calendar.days_of(2026)] == [
        (date(2026, 1, 1), "holiday", "元旦"), (date(2026, 1, 4), "workday", "调休")]
    assert business_calendar.working_days_in(2026) == 261 - 1 + 1


@pytest.mark.parametrize(
    ("filename", "text", "named"),
    [
        ("2026.toml", 'year = 2026\nholidays = ["2026-01-03"]\nmakeup_workdays = ["2026-01-03"]\n', "2026-01-03"),
        ("2026.toml", 'year = 2026\nholidays = ["2027-01-01"]\n', "2027-01-01"),
        ("2026.toml", 'year = 2026\nmakeup_workdays = ["2026-01-05"]\n', "2026-01-05"),
        ("2026.csv", "2026-01-03,holiday\n2026-01-03,workday\n", "2026-01-03"),
        ("2026.csv", "2026-03-04,workday\n", "2026-03-04"),
    ],
)
def test_refused_import_changes_nothing(ctx, filename, text, named):
    with pytest.raises(ValidationFailed, match=named):
        business_calendar.import_file(filename, text.encode(), _admin())
    db.session.rollback()
    assert business_calendar.working_days_in(2026) == 248 and len(business_calendar.days_of(2026)) == 39


def test_removing_a_day_that_is_not_there_is_not_found(ctx):
    with pytest.raises(NotFound):
        business_calendar.remove_day(2026, MONDAY, _admin())


# flask calendar


def test_cli_imports_toml_and_csv_and_refuses_bad_files(app, tmp_path):
    runner = app.test_cli_runner()
    toml = tmp_path / "2031.toml"
    toml.write_text('year = 2031\nholidays = ["2031-01-01"]\nmakeup_workdays = ["2031-01-04"]\n', encoding="utf-8")
    csv = tmp_path / "extra.csv"
    csv.write_text("2032-01-01,holiday,元旦\n", encoding="utf-8")
    result = runner.invoke(args=["calendar", "import", str(toml), str(csv)])
    assert result.exit_code == 0, result.output
    assert "2031: 2031.toml, 261 working days" in result.output
    with app.app_context():
        assert {y.year for y in db.session.scalars(select(CalendarYear))} == {2025, 2026, 2031, 2032}
        assert not workdays.is_working_day(date(2031, 1, 1)) and workdays.is_working_day(date(2031, 1, 4))

    bad = tmp_path / "2033.csv"
    bad.write_text("2033-01-01,holiday\n2033-01-05,workday\n", encoding="utf-8")  # Jan 5 2033 is a Wednesday
    result = runner.invoke(args=["calendar", "import", str(bad)])
    assert result.exit_code == 1 and "2033-01-05" in result.output
    with app.app_context():
        assert db.session.get(CalendarYear, 2033) is None

    listed = runner.invoke(args=["calendar", "list"])
    assert listed.exit_code == 0 and "2026  248 working days" in listed.output


# The admin page


def test_admin_page_lists_years_with_their_working_days(app):
    client = login(app.test_client(), "admin")
    page = client.get("/admin/calendar").get_data(as_text=True)
    assert re.search(r'data-year="2026">.*?data-testid="working-days">248<', page, re.S)
    assert 'data-testid="nav-calendar"' in page
    year_page = client.get("/admin/calendar/2026")
    assert year_page.status_code == 200
    text = year_page.get_data(as_text=True)
    assert 'data-testid="working-days">248<' in text and 'data-day="2026-10-10"' in text
    assert client.get("/admin/calendar?year=2030").headers["Location"].endswith("/admin/calendar/2030")
    assert client.get("/admin/calendar/1999").status_code == 422


@pytest.mark.parametrize("username", ["handler", "supervisor", "frontdesk"])
def test_admin_page_is_for_admins_only(app, username):
    client = login(app.test_client(), username)
    assert client.get("/admin/calendar").status_code == 403
    assert client.get("/admin/calendar/2026").status_code == 403
    assert 'data-testid="nav-calendar"' not in client.get("/cases/").get_data(as_text=True)


def test_anonymous_is_sent_to_login(client):
    response = client.get("/admin/calendar")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_admin_adds_changes_and_removes_a_day(app):
    client = login(app.test_client(), "admin")
    token = _csrf(client, "/admin/calendar/2026")
    response = client.post("/admin/calendar/2026/days", data={"csrf_token": token, "date": "2026-03-02",
                                                              "kind": "holiday", "note": "停电"})
    assert response.status_code == 302
    page = client.get("/admin/calendar/2026").get_data(as_text=True)
    assert 'data-testid="working-days">247<' in page and 'value="停电"' in page
    # Changing the note keeps the count; the change is recorded against the admin.
    client.post("/admin/calendar/2026/days", data={"csrf_token": token, "date": "2026-03-02", "kind": "holiday",
                                                   "note": "设备检修"})
    with app.app_context():
        assert db.session.get(CalendarDay, MONDAY).note == "设备检修"
        assert db.session.get(CalendarYear, 2026).updated_by_id == _admin().id
    assert client.post("/admin/calendar/2026/days/2026-03-02/remove", data={"csrf_token": token}).status_code == 302
    assert 'data-testid="working-days">248<' in client.get("/admin/calendar/2026").get_data(as_text=True)
    # Without the form's token nothing happens.
    assert client.post("/admin/calendar/2026/days", data={"date": "2026-03-02", "kind": "holiday"}).status_code == 400


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"date": "2026-03-04", "kind": "workday"}, "2026-03-04"),  # a Wednesday as a make-up day
        ({"date": "2027-01-01", "kind": "holiday"}, "2027-01-01"),
        ({"date": "2026-02-30", "kind": "holiday"}, "2026-02-30"),
        ({"date": "2026-03-02", "kind": "vacation"}, "2026-03-02"),
    ],
)
def test_bad_day_is_422_naming_the_date(app, data, named):
    client = login(app.test_client(), "admin")
    response = client.post("/admin/calendar/2026/days", data={"csrf_token": _csrf(client, "/admin/calendar/2026"),
                                                              **data})
    assert response.status_code == 422
    error = re.search(r'data-testid="calendar-error">([^<]*)<', response.get_data(as_text=True)).group(1)
    assert named in error
    with app.app_context():
        assert business_calendar.working_days_in(2026) == 248


def test_admin_imports_a_file_through_the_page(app):
    client = login(app.test_client(), "admin")
    token = _csrf(client, "/admin/calendar")
    refused = client.post("/admin/calendar/2026/import", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (io.BytesIO(b"2026-01-01,holiday\n2026-01-01,workday\n"), "2026.csv")})
    assert refused.status_code == 422
    assert "2026-01-01 同时被列为节假日和工作日。" in refused.get_data(as_text=True)  # Chinese by default
    wrong_year = client.post("/admin/calendar/2027/import", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (io.BytesIO(b'year = 2026\n'), "2026.toml")})
    assert wrong_year.status_code == 422
    assert client.post("/admin/calendar/2026/import", content_type="multipart/form-data",
                       data={"csrf_token": token}).status_code == 422

    shipped = (files.CALENDAR_DIR / "2026.toml").read_bytes()
    toml = shipped.replace(b'"2026-10-10",  # Saturday, for', b'# "2026-10-10" dropped for the test;')
    response = client.post("/admin/calendar/import", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (io.BytesIO(toml), "2026-revised.toml")})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/calendar/2026")
    assert 'data-testid="working-days">247<' in client.get("/admin/calendar/2026").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(CalendarYear, 2026).source == "2026-revised.toml"
        assert workdays.add_working_days(date(2026, 9, 28), 5) == date(2026, 10, 12)


# The API


def test_api_shows_a_year_to_any_user(api_as):
    body = api_as("handler").get("/calendar/2026").get_json()
    assert body["year"] == 2026 and body["working_days"] == 248 and len(body["days"]) == 39
    assert {"date": "2026-10-10", "kind": "workday", "note": None} in body["days"]
    unknown = api_as("handler").get("/calendar/2030").get_json()
    assert unknown["days"] == [] and unknown["working_days"] == 261 and unknown["source"] is None


def test_api_needs_a_token(client):
    assert client.get("/api/v1/calendar/2026").status_code == 401


def _put(api, year: int, body):
    return api.client.put(f"/api/v1/calendar/{year}", json=body, headers=api._headers())


def test_api_replace_is_for_admins_and_checked(app, api_as):
    days = [{"date": "2027-01-01", "kind": "holiday", "note": "元旦"}, {"date": "2027-01-09", "kind": "workday"}]
    assert _put(api_as("handler"), 2027, {"days": days}).status_code == 403
    admin = api_as("admin")
    bad = _put(admin, 2027, {"days": [*days, {"date": "2027-01-01", "kind": "workday"}]})
    assert bad.status_code == 422 and "2027-01-01" in bad.get_json()["error"]
    assert "2027-01-01" in bad.get_json()["fields"]
    weekday = _put(admin, 2027, {"days": [{"date": "2027-01-11", "kind": "workday"}]})
    assert weekday.status_code == 422 and "2027-01-11" in weekday.get_json()["error"]
    assert _put(admin, 2027, {"nope": []}).status_code == 422

    saved = _put(admin, 2027, {"days": days})
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["working_days"] == 261 - 1 + 1 and saved.get_json()["source"] == "api"
    assert admin.get("/calendar/2027").get_json()["days"] == [
        {"date": "2027-01-01", "kind": "holiday", "note": "元旦"}, {"date": "2027-01-09", "kind": "workday", "note": None}]
    with app.app_context():
        assert not workdays.is_working_day(date(2027, 1, 1))
        assert db.session.get(CalendarYear, 2027).updated_by_id == _admin().id


# Time travel: flask jobs run


def test_clock_is_frozen_only_inside_the_block():
    instant = datetime(2030, 1, 1, tzinfo=BEIJING)
    with clock.frozen_at(instant) as moment:
        assert utcnow() == instant and moment.tzinfo is UTC and clock.is_frozen()
    assert not clock.is_frozen() and abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=5)
    with pytest.raises(ValueError):
        with clock.frozen_at(datetime(2030, 1, 1)):
            pass


def _supplement_case(api) -> dict:
    response = api.post("/cases", application_payload(materials=[], decision="supplement"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_jobs_run_at_a_later_moment_returns_a_lapsed_supplement_case(app, api_as):
    front = api_as("frontdesk")
    body = _supplement_case(front)
    case_no = body["case_no"]
    assert body["status"] == "pending_supplement" and body["supplement_due_at"]
    runner = app.test_cli_runner()

    now = runner.invoke(args=["jobs", "run", "fire_due_timers"])
    assert now.exit_code == 0, now.output
    assert now.output.strip() == "fire_due_timers: 0"
    assert front.get(f"/cases/{case_no}").get_json()["status"] == "pending_supplement"

    travelled = runner.invoke(args=["jobs", "run", "fire_due_timers", "--at", "2030-01-01T00:00:00+08:00"])
    assert travelled.exit_code == 0, travelled.output
    assert travelled.output.strip() == "fire_due_timers at 2030-01-01T00:00:00+08:00: 1"
    detail = front.get(f"/cases/{case_no}").get_json()
    assert detail["status"] == "returned" and detail["result"] == "returned"
    # Everything the job recorded carries the travelled time.
    assert datetime.fromisoformat(detail["completed_at"]) == datetime(2030, 1, 1, tzinfo=BEIJING)
    assert not clock.is_frozen()
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.case_no == case_no))
        assert case.status == "returned"


@pytest.mark.parametrize(
    "args",
    [
        ["jobs", "run", "no_such_job"],
        ["jobs", "run", "fire_due_timers", "--at", "2030-01-01T00:00:00"],  # no offset
        ["jobs", "run", "fire_due_timers", "--at", "2030-01-01"],
        ["jobs", "run", "fire_due_timers", "--at", "next tuesday"],
    ],
)
def test_jobs_run_usage_errors_exit_2(app, args):
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 2
    assert ("no_such_job" in result.output and "fire_due_timers" in result.output) or "--at" in result.output


def test_a_failing_job_is_rolled_back_and_exits_non_zero(app, monkeypatch):
    import app.jobs as jobs_module

    def breaks_after_writing():
        db.session.add(CalendarYear(year=2040, source="half-done"))
        db.session.flush()
        raise RuntimeError("disk full")

    monkeypatch.setattr(jobs_module, "JOBS", (*jobs_module.JOBS, ("breaks", breaks_after_writing, "TIMER_SWEEP_SECONDS")))
    result = app.test_cli_runner().invoke(args=["jobs", "run", "breaks"])
    assert result.exit_code == 1 and "disk full" in result.output
    with app.app_context():
        assert db.session.get(CalendarYear, 2040) is None
