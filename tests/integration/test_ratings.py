"""好差评: rating finished cases, follow-ups of bad ratings, and the supervisors' answers."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Case, CaseEvent, CaseRating, RatingFollowUp
from app.models.base import utcnow
from app.services.calendar import workdays
from tests.integration.test_pages import login
from tests.integration.test_public_query import CSRF, EN, guard, new_case, page_post, without_noise, wrong


def finish(case_no: str) -> None:
    """Mark the case completed directly in the database (the workflow itself is tested elsewhere)."""
    case = db.session.scalar(select(Case).where(Case.case_no == case_no))
    case.status, case.result, case.completed_at = "completed", "granted", utcnow()
    db.session.commit()


def rate(client, case_no, code, rating=1, **extra):
    body = {"query_code": code, "code": rating, **extra}
    return client.post(f"/api/v1/public/cases/{case_no}/rating", json=body, headers=EN)


def events(case_no: str, action: str) -> list[CaseEvent]:
    case_id = db.session.scalar(select(Case.id).where(Case.case_no == case_no))
    return list(db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id,
                                                           CaseEvent.action == action)))


@pytest.fixture()
def finished_case(api_as, ctx):
    case_no, code = new_case(api_as)
    finish(case_no)
    return case_no, code


def test_unfinished_case_cannot_be_rated(client, api_as, ctx):
    case_no, code = new_case(api_as)
    response = rate(client, case_no, code)
    assert response.status_code == 409
    assert response.get_json()["error"] == "Only a completed case can be rated."
    assert db.session.scalar(select(CaseRating.id)) is None


def test_good_rating_once_per_channel_and_no_follow_up(client, finished_case):
    case_no, code = finished_case
    response = rate(client, case_no, code, 1, comment="  办事很快  ")
    assert response.status_code == 201
    assert response.get_json() == {"case_no": case_no, "channel": "online", "code": 1, "follow_up_due_at": None}
    rating = db.session.scalar(select(CaseRating))
    assert rating.comment == "办事很快" and rating.follow_up is None
    assert db.session.scalar(select(RatingFollowUp.id)) is None
    assert [e.details for e in events(case_no, "case_rated")] == [{"channel": "online", "code": 1}]
    assert events(case_no, "rating_follow_up_opened") == []

    twice = rate(client, case_no, code, 2)
    assert twice.status_code == 409
    assert twice.get_json()["error"] == "This case has already been rated on this channel."
    assert rate(client, case_no, code, 2, channel="window").status_code == 201

    view = client.get(f"/api/v1/public/cases/{case_no}", query_string={"query_code": code}).get_json()
    assert view["can_rate"] is False
    assert [(r["channel"], r["code"]) for r in view["ratings"]] == [("online", 1), ("window", 2)]


@pytest.mark.parametrize("bad", [0, 6, -1, "a", "1", 2.5, True, None])
def test_rating_code_must_be_1_to_5(client, finished_case, bad):
    case_no, code = finished_case
    response = rate(client, case_no, code, bad)
    assert response.status_code == 422
    assert set(response.get_json()["fields"]) == {"code"}
    assert db.session.scalar(select(CaseRating.id)) is None


@pytest.mark.parametrize(("extra", "field"), [
    ({"comment": "x" * 501}, "comment"), ({"comment": "bad\x00text"}, "comment"), ({"comment": 5}, "comment"),
    ({"channel": "fax"}, "channel"),
])
def test_comment_and_channel_are_checked(client, finished_case, extra, field):
    case_no, code = finished_case
    response = rate(client, case_no, code, 2, **extra)
    assert response.status_code == 422 and set(response.get_json()["fields"]) == {field}


def test_rating_needs_the_query_password(client, finished_case):
    case_no, code = finished_case
    assert rate(client, case_no, wrong(code)).status_code == 403
    assert guard(case_no).failures == 1  # committed although the request failed
    assert rate(client, "NO-SUCH-CASE", code).status_code == 404
    missing = client.post(f"/api/v1/public/cases/{case_no}/rating", json={"code": 1})
    assert missing.status_code == 400 and "query_code" in missing.get_json()["fields"]
    for _ in range(4):
        rate(client, case_no, wrong(code))
    locked = rate(client, case_no, code)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert db.session.scalar(select(CaseRating.id)) is None


@pytest.mark.parametrize("bad", [4, 5])
def test_bad_rating_opens_a_follow_up_due_in_15_working_days(client, finished_case, bad, app):
    case_no, code = finished_case
    response = rate(client, case_no, code, bad, comment="等了很久")
    assert response.status_code == 201
    rating = db.session.scalar(select(CaseRating))
    expected = workdays.deadline(rating.rated_at, 15, "working_day", app.config["TIMEZONE"])
    assert rating.follow_up.status == "open" and rating.follow_up.due_at == expected
    assert response.get_json()["follow_up_due_at"] == expected.isoformat()
    assert workdays.working_days_between(rating.rated_at.date(), expected.date()) >= 15
    [opened] = events(case_no, "rating_follow_up_opened")
    assert opened.details["due_at"] == expected.isoformat()


def _bad_rating(client, case_no, code) -> int:
    assert rate(client, case_no, code, 5, comment="态度差").status_code == 201
    return db.session.scalar(select(RatingFollowUp.id))


def test_supervisor_lists_notes_and_replies_through_the_api(client, api_as, finished_case):
    case_no, code = finished_case
    follow_up_id = _bad_rating(client, case_no, code)
    supervisor = api_as("supervisor")
    listing = supervisor.get("/follow-ups?status=open")
    assert listing.status_code == 200 and listing.headers["X-Total-Count"] == "1"
    [row] = listing.get_json()
    assert row["id"] == follow_up_id and row["case_no"] == case_no and row["code"] == 5
    assert row["comment"] == "态度差" and row["status"] == "open" and row["overdue"] is False

    noted = supervisor.post(f"/follow-ups/{follow_up_id}", {"note": "已电话回访申请人", "action": "note"})
    assert noted.status_code == 200 and noted.get_json()["status"] == "open"
    [event] = events(case_no, "rating_follow_up_noted")
    assert event.opinion == "已电话回访申请人" and event.actor_name == "电子监察员"

    replied = supervisor.post(f"/follow-ups/{follow_up_id}", {"note": "已整改,向您致歉", "action": "reply"})
    assert replied.status_code == 200
    assert replied.get_json()["status"] == "replied" and replied.get_json()["replied_by"] == "电子监察员"
    assert [e.opinion for e in events(case_no, "rating_follow_up_replied")] == ["已整改,向您致歉"]
    again = supervisor.post(f"/follow-ups/{follow_up_id}", {"note": "再次答复", "action": "reply"})
    assert again.status_code == 409
    assert supervisor.get("/follow-ups?status=open").get_json() == []
    [row] = supervisor.get("/follow-ups").get_json()
    assert row["status"] == "replied" and row["reply"] == "已整改,向您致歉"


def test_follow_up_input_and_roles_are_checked(client, api_as, finished_case):
    case_no, code = finished_case
    follow_up_id = _bad_rating(client, case_no, code)
    supervisor = api_as("supervisor")
    empty = supervisor.post(f"/follow-ups/{follow_up_id}", {"note": "   ", "action": "reply"})
    assert empty.status_code == 422 and "note" in empty.get_json()["fields"]
    assert supervisor.post(f"/follow-ups/{follow_up_id}", {"note": "x", "action": "close"}).status_code == 422
    assert supervisor.post("/follow-ups/999999", {"note": "x", "action": "note"}).status_code == 404
    handler = api_as("handler")
    assert handler.get("/follow-ups").status_code == 403
    assert handler.post(f"/follow-ups/{follow_up_id}", {"note": "x", "action": "reply"}).status_code == 403
    assert client.get("/api/v1/follow-ups").status_code == 401
    assert db.session.get(RatingFollowUp, follow_up_id).status == "open"


def test_rating_through_the_pages_with_csrf(client, finished_case):
    case_no, code = finished_case
    page = page_post(client, case_no, code).get_data(as_text=True)
    assert 'data-testid="rating-form"' in page
    assert f'name="query_code" value="{code}"' in page
    assert without_noise(page, case_no).count(code) == 1  # only as the rating form's hidden field
    assert page.count('type="radio" name="code"') == 5 and "★★★★★" in page
    token = CSRF.search(page).group(1)
    form = {"case_no": case_no, "query_code": code, "code": "5", "comment": "没人接电话"}

    assert client.post("/query/rate", data=form).status_code == 400  # no CSRF token
    invalid = client.post("/query/rate", data={**form, "code": "9", "csrf_token": token})
    assert invalid.status_code == 422 and 'id="rating-code-error"' in invalid.get_data(as_text=True)
    assert client.post("/query/rate", data={**form, "query_code": wrong(code), "csrf_token": token}).status_code == 403

    done = client.post("/query/rate", data={**form, "csrf_token": token})
    assert done.status_code == 200
    text = done.get_data(as_text=True)
    assert 'data-testid="rating-form"' not in text and 'data-testid="ratings"' in text
    assert code not in without_noise(text, case_no)
    rating = db.session.scalar(select(CaseRating))
    assert (rating.code, rating.channel, rating.comment) == (5, "online", "没人接电话")
    assert rating.follow_up is not None
    assert client.post("/query/rate", data={**form, "csrf_token": token}).status_code == 409


def test_unfinished_case_rated_through_the_page_is_409(client, api_as, ctx):
    case_no, code = new_case(api_as)
    token = CSRF.search(client.get("/query").get_data(as_text=True)).group(1)
    response = client.post("/query/rate", data={"csrf_token": token, "case_no": case_no, "query_code": code,
                                                "code": "1"})
    assert response.status_code == 409
    assert 'data-testid="query-error"' in response.get_data(as_text=True)
    assert db.session.scalar(select(CaseRating.id)) is None


def test_supervisor_page_lists_notes_and_replies(app, client, api_as):
    # No shared app context here: it would share one CSRF token between the two logged-in clients.
    case_no, code = new_case(api_as)
    with app.app_context():
        finish(case_no)
        follow_up_id = _bad_rating(client, case_no, code)
    handler = login(app.test_client(), "handler")
    assert handler.get("/supervision/follow-ups").status_code == 403
    assert "Rating follow-ups" not in handler.get("/inbox?lang=en").get_data(as_text=True)

    supervisor = login(app.test_client(), "supervisor")
    page = supervisor.get("/supervision/follow-ups").get_data(as_text=True)
    assert case_no in page and f'data-follow-up-id="{follow_up_id}"' in page and "态度差" in page
    assert "/supervision/follow-ups" in supervisor.get("/cases/").get_data(as_text=True)  # nav link
    token = CSRF.search(page).group(1)
    url = f"/supervision/follow-ups/{follow_up_id}"
    assert supervisor.post(url, data={"note": "x", "action": "reply"}).status_code == 400  # no CSRF token
    noted = supervisor.post(url, data={"csrf_token": token, "note": "已核实", "action": "note"})
    assert noted.status_code == 302
    replied = supervisor.post(url, data={"csrf_token": token, "note": "已整改", "action": "reply"})
    assert replied.status_code == 302
    page = supervisor.get(replied.headers["Location"]).get_data(as_text=True)
    assert re.search(r'data-testid="reply">已整改<', page)
    assert supervisor.post(url, data={"csrf_token": token, "note": "again", "action": "reply"}).status_code == 409
    with app.app_context():
        assert db.session.get(RatingFollowUp, follow_up_id).status == "replied"
        assert [e.opinion for e in events(case_no, "rating_follow_up_noted")] == ["已核实"]


def test_progress_query_link_is_shown_to_everyone(client):
    assert 'href="/query"' in client.get("/query").get_data(as_text=True)
    assert 'href="/query"' in client.get("/login").get_data(as_text=True)
