"""Test factories: signed-in clients and cases built by the services directly, not through HTTP.

Logging in through the form or the token endpoint costs a password hash (about 0.1 s); tests that are
not about logging in start with a session or token made here instead. Tests of the login itself
still use the form and the endpoint.
"""
from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.auth import SESSION_ID_KEY
from app.extensions import db
from app.models import User, WorkItem
from app.services.accounts import credentials, sessions
from app.services.cases.intake import Application, IntakeDecision, MaterialIn, submit_application


def user_named(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username))
    assert user is not None, f"no user {username}"
    return user


def token_for(app: Flask, username: str) -> str:
    """A bearer token of the user, issued directly."""
    with app.app_context():
        token = credentials.issue_token(user_named(username))
        db.session.commit()
        db.session.remove()
    return token


def sign_in(client: FlaskClient, username: str) -> FlaskClient:
    """The client carries a live server-side session of the user, as after a login through the form."""
    app = client.application
    with app.app_context():
        user = user_named(username)
        raw = sessions.start_session(user, "127.0.0.1", "test client")
        user_id = user.id
        db.session.commit()
        db.session.remove()
    with client.session_transaction() as session:
        session[SESSION_ID_KEY] = raw
        session["_user_id"] = str(user_id)
        session["_fresh"] = True
        session.permanent = True
    return client


def accepted_case(app: Flask, frontdesk: str = "frontdesk", **form) -> tuple[str, int]:
    """A window application accepted at once, waiting at its first back-office step: (case number,
    id of that open step)."""
    with app.app_context():
        application = Application(
            item_code="113701000045001234400011700100X",
            applicant={"type": "person", "name": "张三", "id_number": "11010519491231002X", "phone": "13800138000"},
            form={"record_type": "marriage", "record_holder_name": "张三", "record_year": 1998,
                  "holding_archive": "济南市档案馆", "purpose": "办理房产继承手续", "contact_mobile": "13800138000",
                  **form},
            materials=[MaterialIn(code="application"), MaterialIn(code="id_card")])
        case = submit_application(application, user_named(frontdesk), IntakeDecision()).case
        db.session.commit()
        step = db.session.scalar(select(WorkItem.id).where(WorkItem.case_id == case.id, WorkItem.state == "open"))
        case_no = case.case_no
        db.session.remove()
    return case_no, step
