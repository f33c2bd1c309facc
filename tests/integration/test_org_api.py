"""Organisation administration through the JSON API: departments, users, own password, and their refusals."""
from __future__ import annotations

import secrets

import pytest

from app.models import AdminAuditEntry, CaseEvent, WorkItem
from app.services.org import DEMO_PASSWORD
from tests.conftest import application_payload

STRONG = "quiet-harbour-lantern-42"


def unique(prefix: str) -> str:
    """Departments and users outlive a test: every test names its own (random, since this module may be
    imported twice under two names, each with its own counter)."""
    return f"{prefix}{secrets.token_hex(4)}"


def new_user(api, **overrides) -> dict:
    body = {"username": unique("clerk"), "display_name": "测试承办人", "password": STRONG,
            "roles": ["handler"], "departments": ["HOLDING"], **overrides}
    response = api.post("/users", body)
    assert response.status_code == 201, response.get_json()
    return {**response.get_json(), "password": body["password"]}


def token_for(client, username: str, password: str) -> str:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


def bearer(token: str, lang: str = "en") -> dict:
    return {"Authorization": f"Bearer {token}", "Accept-Language": lang}


# --- departments ----------------------------------------------------------------------------------

def test_departments_list_shows_the_tree(api_as):
    departments = {d["code"]: d for d in api_as("handler").get("/departments").get_json()}
    assert departments["WINDOW"]["parent"] == "BUREAU" and departments["BUREAU"]["parent"] is None
    assert departments["WINDOW"]["active"] is True and departments["WINDOW"]["name"] == "综合受理窗口"
    assert set(departments["USE"]["heads"]) == {"head"}


def test_admin_creates_renames_moves_and_deactivates_a_department(api_as, client, dbx):
    admin = api_as("admin")
    code = unique("LEGAL")
    created = admin.post("/departments", {"code": code, "name": "法规处", "parent": "BUREAU"})
    assert created.status_code == 201
    assert created.get_json() == {"code": code, "name": "法规处", "name_en": None, "parent": "BUREAU",
                                  "active": True, "heads": []}
    renamed = client.patch(f"/api/v1/departments/{code}", json={"name": "政策法规处", "parent": "LEADERSHIP"},
                           headers=admin._headers())
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "政策法规处"
    assert renamed.get_json()["parent"] == "LEADERSHIP"
    off = client.patch(f"/api/v1/departments/{code}", json={"active": False}, headers=admin._headers())
    assert off.status_code == 200 and off.get_json()["active"] is False
    # A deactivated department takes no members and no lanes.
    refused = admin.post("/users", {"username": unique("u"), "display_name": "x", "password": STRONG,
                                    "roles": ["handler"], "departments": [code]})
    assert refused.status_code == 422 and "departments" in refused.get_json()["fields"]
    with dbx() as session:
        entries = session.query(AdminAuditEntry).filter_by(target_key=code).order_by(AdminAuditEntry.id).all()
        assert [e.action for e in entries] == ["department.created", "department.updated", "department.updated"]
        assert entries[1].before == {"name": "法规处", "parent": "BUREAU"}
        assert entries[1].after == {"name": "政策法规处", "parent": "LEADERSHIP"}
        assert entries[2].before == {"active": True} and entries[2].after == {"active": False}
        assert {e.actor_name for e in entries} == {"admin"} and {e.channel for e in entries} == {"api"}


@pytest.mark.parametrize(("body", "field"), [
    ({"code": "1BAD", "name": "x"}, "code"),
    ({"code": "has space", "name": "x"}, "code"),
    ({"code": "GOOD", "name": ""}, "name"),
    ({"code": "GOOD", "name": "x" * 101}, "name"),
    ({"code": "GOOD", "name": "x", "parent": "NOWHERE"}, "parent"),
    ({"code": "GOOD", "name": "x", "heads": ["nobody-here"]}, "heads"),
])
def test_bad_departments_are_refused_with_the_field(api_as, body, field):
    response = api_as("admin", "zh").post("/departments", body)
    assert response.status_code == 422
    assert field in response.get_json()["fields"]
    assert response.get_json()["error"] == "请更正标出的字段。"


def test_a_taken_code_is_409_and_only_admins_may_write(api_as, client):
    assert api_as("admin").post("/departments", {"code": "WINDOW", "name": "x"}).status_code == 409
    assert api_as("admin").post("/departments", {"code": "window", "name": "x"}).status_code == 409
    handler = api_as("handler")
    assert handler.post("/departments", {"code": unique("X"), "name": "x"}).status_code == 403
    assert client.patch("/api/v1/departments/USE", json={"name": "x"}, headers=handler._headers()).status_code == 403
    assert client.get("/api/v1/users", headers=handler._headers()).status_code == 403
    assert client.post("/api/v1/departments", json={"code": "X", "name": "x"}).status_code == 401


def test_a_parent_cycle_is_refused(api_as, client):
    admin = api_as("admin")
    top, below = unique("TOP"), unique("BELOW")
    assert admin.post("/departments", {"code": top, "name": "上级"}).status_code == 201
    assert admin.post("/departments", {"code": below, "name": "下级", "parent": top}).status_code == 201
    response = client.patch(f"/api/v1/departments/{top}", json={"parent": below}, headers=admin._headers())
    assert response.status_code == 422 and "parent" in response.get_json()["fields"]
    itself = client.patch(f"/api/v1/departments/{top}", json={"parent": top}, headers=admin._headers())
    assert itself.status_code == 422
    # The parent with an active sub-department stays active.
    parent_off = client.patch(f"/api/v1/departments/{top}", json={"active": False}, headers=admin._headers())
    assert parent_off.status_code == 409 and below in parent_off.get_json()["error"]


def test_a_department_in_use_is_renamed_but_not_deactivated(api_as, client):
    admin = api_as("admin", "zh")
    assert api_as("frontdesk").post("/cases", application_payload()).status_code == 201
    response = client.patch("/api/v1/departments/HOLDING", json={"active": False}, headers=admin._headers())
    assert response.status_code == 409
    message = response.get_json()["error"]
    assert "该部门还有 1 件待办任务" in message and "cross_archive_certificate" in message
    renamed = client.patch("/api/v1/departments/HOLDING", json={"name": "馆藏档案部"}, headers=admin._headers())
    assert renamed.status_code == 200
    code_change = client.patch("/api/v1/departments/HOLDING", json={"code": "HOLD2"}, headers=admin._headers())
    assert code_change.status_code == 422
    assert client.get("/api/v1/departments", headers=admin._headers()).get_json()  # still listed
    assert client.delete("/api/v1/departments/HOLDING", headers=admin._headers()).status_code == 405


# --- users --------------------------------------------------------------------------------------------

def test_admin_creates_a_user_who_logs_in_and_works(api_as, client):
    admin = api_as("admin")
    user = new_user(admin, email="Clerk@Archives.Example.CN", mobile="+86 139 0000 1111")
    assert user["roles"] == ["handler"] and user["departments"] == ["HOLDING"] and user["active"] is True
    assert user["email"] == "Clerk@archives.example.cn" and user["mobile"] == "13900001111"
    assert "password" not in admin.get(f"/users/{user['username']}").get_json()
    listed = {u["username"]: u for u in admin.get("/users").get_json()}
    assert listed[user["username"]]["display_name"] == "测试承办人"
    token = token_for(client, user["username"], STRONG)
    assert client.get("/api/v1/tasks", headers=bearer(token)).status_code == 200


def test_a_taken_username_is_409(api_as):
    admin = api_as("admin")
    body = {"username": "handler", "display_name": "x", "password": STRONG, "roles": ["handler"], "departments": []}
    assert admin.post("/users", body).status_code == 409
    assert admin.post("/users", {**body, "username": "HANDLER"}).status_code == 409


@pytest.mark.parametrize("password", ["12345678", "password", "short", "1234567890", "password12",
                                      "qwertyuiop", "administrator"])
def test_weak_passwords_are_refused(api_as, password):
    response = api_as("admin", "zh").post("/users", {
        "username": "administrator", "display_name": "x", "password": password, "roles": ["admin"], "departments": []})
    assert response.status_code == 422
    assert "password" in response.get_json()["fields"]


def test_the_username_inside_the_password_is_refused(api_as):
    name = unique("zhangwei")
    response = api_as("admin").post("/users", {"username": name, "display_name": "x",
                                               "password": f"{name}-Longer!2026", "roles": ["handler"]})
    assert response.status_code == 422 and "username" in response.get_json()["fields"]["password"]


def test_every_bad_field_is_listed_at_once(api_as):
    response = api_as("admin").post("/users", {
        "username": "a b", "display_name": "", "password": "x", "roles": ["wizard"],
        "departments": ["NOWHERE"], "email": "not-an-address", "mobile": "12012345678"})
    assert response.status_code == 422
    assert set(response.get_json()["fields"]) == {"username", "display_name", "password", "roles", "departments",
                                                  "email", "mobile"}
    no_role = api_as("admin").post("/users", {"username": unique("u"), "display_name": "x", "password": STRONG,
                                              "roles": [], "departments": []})
    assert no_role.status_code == 422 and "roles" in no_role.get_json()["fields"]


def test_changing_departments_returns_held_tasks_to_the_pool(api_as, client, dbx):
    admin = api_as("admin")
    user = new_user(admin, departments=["HOLDING", "USE"])
    assert api_as("frontdesk").post("/cases", application_payload()).status_code == 201
    token = token_for(client, user["username"], STRONG)
    task = client.get("/api/v1/tasks", headers=bearer(token)).get_json()[0]
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=bearer(token)).status_code == 200
    moved = client.patch(f"/api/v1/users/{user['username']}", json={"departments": ["USE"]}, headers=admin._headers())
    assert moved.status_code == 200 and moved.get_json()["departments"] == ["USE"]
    with dbx() as session:
        item = session.get(WorkItem, task["id"])
        assert item.claimed_by_id is None and item.state == "open"
        event = session.query(CaseEvent).filter_by(case_id=item.case_id, action="task_released").one()
        assert event.actor_name == "系统管理员" and event.details == {"holder": user["username"]}


def test_deactivation_ends_tokens_and_sessions_and_returns_tasks(api_as, client, dbx):
    admin = api_as("admin")
    user = new_user(admin)
    assert api_as("frontdesk").post("/cases", application_payload()).status_code == 201
    token = token_for(client, user["username"], STRONG)
    task = client.get("/api/v1/tasks", headers=bearer(token)).get_json()[0]
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=bearer(token)).status_code == 200
    off = client.patch(f"/api/v1/users/{user['username']}", json={"active": False}, headers=admin._headers())
    assert off.status_code == 200 and off.get_json()["active"] is False
    assert client.get("/api/v1/tasks", headers=bearer(token)).status_code == 401
    assert client.post("/api/v1/auth/token", json={"username": user["username"], "password": STRONG}).status_code == 401
    with dbx() as session:
        item = session.get(WorkItem, task["id"])
        assert item.claimed_by_id is None
        event = session.query(CaseEvent).filter_by(case_id=item.case_id, action="task_released").one()
        assert event.opinion == "Account deactivated"
        audit = session.query(AdminAuditEntry).filter_by(target_key=user["username"],
                                                         action="user.deactivated").one()
        assert audit.before == {"active": True} and audit.after == {"active": False}
    back = client.patch(f"/api/v1/users/{user['username']}", json={"active": True}, headers=admin._headers())
    assert back.status_code == 200
    assert token_for(client, user["username"], STRONG)


def test_an_admin_reset_forces_a_new_password_and_ends_old_tokens(api_as, client):
    admin = api_as("admin")
    user = new_user(admin)
    old_token = token_for(client, user["username"], STRONG)
    reset = client.patch(f"/api/v1/users/{user['username']}", json={"password": "amber-violin-meadow-77"},
                         headers=admin._headers())
    assert reset.status_code == 200 and reset.get_json()["must_change_password"] is True
    assert client.get("/api/v1/tasks", headers=bearer(old_token)).status_code == 401
    login = client.post("/api/v1/auth/token", json={"username": user["username"], "password": "amber-violin-meadow-77"})
    assert login.status_code == 200 and login.get_json()["must_change_password"] is True
    token = login.get_json()["token"]
    blocked = client.get("/api/v1/tasks", headers=bearer(token))
    assert blocked.status_code == 403 and "/users/me/password" in blocked.get_json()["error"]
    changed = client.post("/api/v1/users/me/password", json={"current": "amber-violin-meadow-77",
                                                              "new": "copper-kettle-orchard-19"}, headers=bearer(token))
    assert changed.status_code == 204
    assert client.get("/api/v1/tasks", headers=bearer(token)).status_code == 200  # the caller's own token stays


def test_admins_cannot_lock_themselves_or_everyone_out(api_as, client, dbx):
    admin = api_as("admin", "zh")
    own_role = client.patch("/api/v1/users/admin", json={"roles": ["handler"]}, headers=admin._headers())
    assert own_role.status_code == 422 and "roles" in own_role.get_json()["fields"]
    own_account = client.patch("/api/v1/users/admin", json={"active": False}, headers=admin._headers())
    assert own_account.status_code == 422 and "active" in own_account.get_json()["fields"]
    # The last active administrator stays, whoever acts (here the command line's service call).
    from app.errors import ValidationFailed
    from app.services.org import users as user_service

    with dbx():
        with pytest.raises(ValidationFailed) as refused:
            user_service.update_account(None, "cli", "admin", {"active": False})
        assert "active" in refused.value.fields


def test_another_admin_may_be_deactivated_while_one_remains(api_as, client):
    admin = api_as("admin")
    second = new_user(admin, roles=["admin"], departments=[])
    off = client.patch(f"/api/v1/users/{second['username']}", json={"active": False}, headers=admin._headers())
    assert off.status_code == 200


def test_unknown_users_and_fields(api_as, client):
    admin = api_as("admin")
    assert admin.get("/users/nobody-at-all").status_code == 404
    assert client.patch("/api/v1/users/nobody-at-all", json={"active": False}, headers=admin._headers()).status_code == 404
    user = new_user(admin)
    renamed = client.patch(f"/api/v1/users/{user['username']}", json={"username": "other"}, headers=admin._headers())
    assert renamed.status_code == 422 and "username" in renamed.get_json()["fields"]
    bad = client.patch(f"/api/v1/users/{user['username']}", json={"active": "no"}, headers=admin._headers())
    assert bad.status_code == 422 and "active" in bad.get_json()["fields"]
    not_json = client.patch(f"/api/v1/users/{user['username']}", data="x", headers=admin._headers())
    assert not_json.status_code == 422


def test_head_of_makes_a_department_head(api_as, client):
    admin = api_as("admin")
    user = new_user(admin, roles=["handler", "dept_head"], departments=["GUIDANCE"])
    assert user["head_of"] == ["GUIDANCE"]
    heads = {d["code"]: d["heads"] for d in admin.get("/departments").get_json()}
    assert user["username"] in heads["GUIDANCE"]
    outside = admin.post("/users", {"username": unique("u"), "display_name": "x", "password": STRONG,
                                    "roles": ["handler"], "departments": ["USE"], "head_of": ["HOLDING"]})
    assert outside.status_code == 422 and "head_of" in outside.get_json()["fields"]


# --- one's own password -------------------------------------------------------------------------------

def test_changing_ones_password_ends_other_tokens(api_as, client):
    user = new_user(api_as("admin"))
    first = token_for(client, user["username"], STRONG)
    second = token_for(client, user["username"], STRONG)
    wrong = client.post("/api/v1/users/me/password", json={"current": "not-it", "new": "copper-kettle-orchard-19"},
                        headers=bearer(first, "zh"))
    assert wrong.status_code == 422 and "current" in wrong.get_json()["fields"]
    weak = client.post("/api/v1/users/me/password", json={"current": STRONG, "new": "password1"}, headers=bearer(first))
    assert weak.status_code == 422 and "new" in weak.get_json()["fields"]
    same = client.post("/api/v1/users/me/password", json={"current": STRONG, "new": STRONG}, headers=bearer(first))
    assert same.status_code == 422
    done = client.post("/api/v1/users/me/password", json={"current": STRONG, "new": "copper-kettle-orchard-19"},
                       headers=bearer(first))
    assert done.status_code == 204 and done.data == b""
    assert client.get("/api/v1/tasks", headers=bearer(first)).status_code == 200
    assert client.get("/api/v1/tasks", headers=bearer(second)).status_code == 401
    assert client.post("/api/v1/auth/token", json={"username": user["username"], "password": STRONG}).status_code == 401
    assert token_for(client, user["username"], "copper-kettle-orchard-19")


def test_wrong_current_passwords_are_throttled(api_as, client):
    user = new_user(api_as("admin"))
    token = token_for(client, user["username"], STRONG)
    statuses = [client.post("/api/v1/users/me/password", json={"current": f"guess-{n}", "new": "copper-kettle-orchard-19"},
                            headers=bearer(token)).status_code for n in range(12)]
    assert 429 in statuses and statuses.count(422) <= 10
    right = client.post("/api/v1/users/me/password", json={"current": STRONG, "new": "copper-kettle-orchard-19"},
                        headers=bearer(token))
    assert right.status_code == 429 and int(right.headers["Retry-After"]) >= 1


def test_demo_password_still_passes_the_policy(client):
    assert token_for(client, "handler", DEMO_PASSWORD)


def test_notifications_reach_the_users_email_and_mobile(api_as, app, monkeypatch, dbx):
    from app.models import User
    from app.services.notices import outbox
    user = new_user(api_as("admin"), email="notify@archives.example.cn", mobile="13900003333")
    monkeypatch.setitem(app.config, "NOTIFY_EMAILS", {})
    monkeypatch.setitem(app.config, "WEBHOOKS", {"sms": {"url": "http://127.0.0.1:9/", "secret": "s"}})
    with dbx() as session:
        account = session.query(User).filter_by(username=user["username"]).one()
        rows = outbox.message_rows_for_users([account], "subject", "body", {"rule": "X"})
    assert ("email", "notify@archives.example.cn") in [(r["channel"], r["recipient"]) for r in rows]
    hook = next(r for r in rows if r["channel"] == "webhook")
    assert hook["payload"]["recipients"] == [{"username": user["username"], "display_name": "测试承办人",
                                              "mobile": "13900003333"}]
    assert hook["payload"]["rule"] == "X"


def test_a_long_passphrase_is_accepted(api_as):
    phrase = "the quiet harbour keeps its lanterns lit for every boat that comes home late at night, 2026"
    assert len(phrase) > 72
    user = new_user(api_as("admin"), password=phrase)
    assert user["username"]
    too_long = api_as("admin").post("/users", {"username": unique("u"), "display_name": "x", "password": "x" * 129,
                                               "roles": ["handler"], "departments": []})
    assert too_long.status_code == 422 and "password" in too_long.get_json()["fields"]


def test_a_head_without_a_department_is_refused(api_as):
    response = api_as("admin").post("/users", {"username": unique("u"), "display_name": "x", "password": STRONG,
                                               "roles": ["dept_head"], "departments": []})
    assert response.status_code == 422 and "departments" in response.get_json()["fields"]


def test_nul_characters_are_bad_input_not_server_errors(api_as, client):
    admin = api_as("admin")
    assert client.post("/api/v1/auth/token", json={"username": "a\u0000b", "password": "x"}).status_code == 401
    assert admin.get("/users/a%00b").status_code == 404
    assert client.patch("/api/v1/departments/A%00", json={"name": "x"}, headers=admin._headers()).status_code == 404
    bad = admin.post("/users", {"username": unique("u"), "display_name": "x\u0000", "password": STRONG,
                                "roles": ["handler"], "departments": ["A\u0000"]})
    assert bad.status_code == 422 and {"display_name", "departments"} <= set(bad.get_json()["fields"])
    heads = admin.post("/departments", {"code": unique("NUL"), "name": "x", "heads": ["a\u0000"]})
    assert heads.status_code == 422


def test_deeply_nested_json_is_bad_input(api_as, client):
    deep = "[" * 100_000 + "]" * 100_000
    token = client.post("/api/v1/auth/token", data=deep, content_type="application/json")
    assert token.status_code == 401
    admin = api_as("admin")
    for path in ("/users", "/departments"):
        response = client.post(f"/api/v1{path}", data=deep, content_type="application/json", headers=admin._headers())
        assert response.status_code == 422, path
    assert client.post("/api/v1/users/me/password", data='{"a":' * 50_000 + "1" + "}" * 50_000,
                       content_type="application/json", headers=admin._headers()).status_code == 422
