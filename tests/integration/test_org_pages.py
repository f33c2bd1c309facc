"""Organisation pages through HTTP with CSRF on: departments, users, import with a dry run, audit log."""
from __future__ import annotations

import io
import re

from tests.integration.test_login_security import page_login
from tests.integration.test_org_api import STRONG, unique
from tests.integration.test_org_import import csv_file, department_row, user_row

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def admin_client(app, lang: str = "zh"):
    client = app.test_client()
    page_login(client, "admin")
    client.get(f"/language/{lang}")
    return client


def csrf(client, path: str) -> str:
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def test_only_admins_reach_the_organisation_pages(app):
    handler = app.test_client()
    page_login(handler, "handler")
    for path in ("/admin/departments", "/admin/users", "/admin/users/new", "/admin/departments/USE",
                 "/admin/org/import", "/admin/org/export.csv", "/admin/org/example.xlsx", "/admin/audit"):
        assert handler.get(path).status_code == 403, path
        anonymous = app.test_client().get(path)
        assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"], path


def test_the_department_tree_in_chinese_and_english(app):
    client = admin_client(app)
    page = client.get("/admin/departments").get_data(as_text=True)
    assert "组织机构" in page and "综合受理窗口" in page and 'data-code="WINDOW"' in page
    assert page.index('data-code="BUREAU"') < page.index('data-code="WINDOW"')
    client.get("/language/en")
    english = client.get("/admin/departments").get_data(as_text=True)
    assert "Organisation" in english and "Front desk" in english


def test_creating_and_editing_a_department_on_the_page(app):
    client = admin_client(app)
    code = unique("ARCH")
    created = client.post("/admin/departments", data={"code": code, "name": "档案编研处", "parent": "BUREAU",
                                                      "csrf_token": csrf(client, "/admin/departments")})
    assert created.status_code == 302
    taken = client.post("/admin/departments", data={"code": code, "name": "x",
                                                    "csrf_token": csrf(client, "/admin/departments")})
    assert taken.status_code == 409 and "已被使用" in taken.get_data(as_text=True)
    page = client.get(f"/admin/departments/{code}").get_data(as_text=True)
    assert "档案编研处" in page
    saved = client.post(f"/admin/departments/{code}", data={"name": "编研处", "parent": "BUREAU", "active": "1",
                                                           "csrf_token": csrf(client, f"/admin/departments/{code}")})
    assert saved.status_code == 302
    in_use = client.post("/admin/departments/WINDOW", data={"name": "综合受理窗口", "parent": "BUREAU",
                                                           "csrf_token": csrf(client, "/admin/departments/WINDOW")})
    assert in_use.status_code == 409 and "不能停用" in in_use.get_data(as_text=True)


def test_creating_a_user_on_the_page_and_their_login(app):
    client = admin_client(app)
    username = unique("desk")
    form = {"username": username, "display_name": "新窗口受理员", "password": "123456789", "roles": ["front_desk"],
            "departments": ["WINDOW"], "email": "desk@archives.example.cn", "active": "1"}
    weak = client.post("/admin/users/new", data={**form, "csrf_token": csrf(client, "/admin/users/new")})
    assert weak.status_code == 422 and 'data-testid="error-password"' in weak.get_data(as_text=True)
    assert "新窗口受理员" in weak.get_data(as_text=True)  # nothing typed is lost
    created = client.post("/admin/users/new", data={**form, "password": STRONG,
                                                     "csrf_token": csrf(client, "/admin/users/new")})
    assert created.status_code == 302
    listed = client.get(f"/admin/users?q={username}").get_data(as_text=True)
    assert f'data-username="{username}"' in listed and "窗口受理" in listed
    login = page_login(app.test_client(), username, STRONG)
    assert login.headers["Location"] == "/intake/"


def test_editing_a_user_resets_the_password_and_deactivates(app):
    client = admin_client(app)
    username = unique("edit")
    client.post("/admin/users/new", data={"username": username, "display_name": "待编辑", "password": STRONG,
                                          "roles": ["handler"], "departments": ["USE"], "active": "1",
                                          "csrf_token": csrf(client, "/admin/users/new")})
    own = app.test_client()
    assert page_login(own, username, STRONG).status_code == 302
    edit = f"/admin/users/{username}"
    reset = client.post(edit, data={"display_name": "待编辑", "password": "amber-violin-meadow-77", "roles": ["handler"],
                                    "departments": ["USE"], "active": "1", "csrf_token": csrf(client, edit)})
    assert reset.status_code == 302
    assert "/login" in own.get("/inbox").headers["Location"]
    off = client.post(edit, data={"display_name": "待编辑", "roles": ["handler"], "departments": ["USE"],
                                  "csrf_token": csrf(client, edit)})
    assert off.status_code == 302
    assert page_login(app.test_client(), username, "amber-violin-meadow-77").status_code == 401
    self_off = client.post("/admin/users/admin", data={"display_name": "系统管理员", "roles": ["admin"],
                                                      "csrf_token": csrf(client, "/admin/users/admin")})
    assert self_off.status_code == 422 and "不能停用自己的管理员账号" in self_off.get_data(as_text=True)


def test_import_page_checks_then_applies_and_shows_first_passwords_once(app):
    client = admin_client(app)
    code, clerk = unique("PG"), unique("pg.clerk")
    content = csv_file(department_row(code, name="页面导入科", parent="BUREAU"),
                       user_row(clerk, display="页面导入人", roles="handler", departments=code))
    checked = client.post("/admin/org/import", data={"file": (io.BytesIO(content), "org.csv"),
                                                     "csrf_token": csrf(client, "/admin/org/import")},
                          content_type="multipart/form-data")
    page = checked.get_data(as_text=True)
    assert checked.status_code == 200 and 'data-testid="import-ok"' in page
    apply_path = re.search(r'action="(/admin/org/import/\d+/apply)"', page).group(1)
    applied = client.post(apply_path, data={"csrf_token": csrf(client, "/admin/org/import")})
    result = applied.get_data(as_text=True)
    assert applied.status_code == 200 and clerk in result and 'data-testid="first-passwords"' in result
    assert "新建部门 1 个,更新 0 个;新建用户 1 个,更新 0 个" in result
    assert applied.headers["Cache-Control"] == "no-store"
    password = re.search(rf"{clerk}</td><td><code>([^<]+)</code>", result).group(1)
    assert page_login(app.test_client(), clerk, password).headers["Location"] == "/account/password"
    again = client.post(apply_path, data={"csrf_token": csrf(client, "/admin/org/import")})
    assert again.status_code == 302  # a kept file is applied once


def test_import_page_lists_problems_with_rows(app):
    client = admin_client(app)
    content = csv_file(user_row(unique("u"), roles="", email="nope"))
    checked = client.post("/admin/org/import", data={"file": (io.BytesIO(content), "org.csv"),
                                                     "csrf_token": csrf(client, "/admin/org/import")},
                          content_type="multipart/form-data")
    page = checked.get_data(as_text=True)
    assert checked.status_code == 422 and 'data-testid="import-problems"' in page
    assert "电子邮箱地址无效" in page and "apply-import" not in page
    empty = client.post("/admin/org/import", data={"csrf_token": csrf(client, "/admin/org/import")})
    assert empty.status_code == 422


def test_export_example_and_audit_search(app):
    client = admin_client(app)
    export = client.get("/admin/org/export.csv")
    assert export.status_code == 200 and export.data.startswith("\ufeff".encode()) and b"WINDOW" in export.data
    assert "attachment" in export.headers["Content-Disposition"]
    example = client.get("/admin/org/example.xlsx")
    assert example.status_code == 200 and example.data[:2] == b"PK"
    assert client.get("/admin/org/export.pdf").status_code == 404
    code = unique("AUD")
    client.post("/admin/departments", data={"code": code, "name": "审计测试科",
                                            "csrf_token": csrf(client, "/admin/departments")})
    audit = client.get(f"/admin/audit?q={code.lower()}").get_data(as_text=True)
    assert code in audit and "新建部门" in audit and "审计测试科" in audit
    none = client.get("/admin/audit?q=nothing-like-this&from=2020-01-01&to=not-a-date").get_data(as_text=True)
    assert "没有符合条件的记录" in none


def test_odd_search_arguments_are_harmless(app):
    client = admin_client(app)
    for path in ("/admin/users?page=99999999999999999999&q=%00&department=%00", "/admin/audit?page=-4&q=%00",
                 "/admin/users?page=x&role=wizard"):
        assert client.get(path).status_code == 200, path


def test_an_admin_changing_their_own_password_on_their_page_stays_logged_in(app, api_as):
    from tests.integration.test_org_api import new_user

    other_admin = new_user(api_as("admin"), roles=["admin"], departments=[])
    client = app.test_client()
    assert page_login(client, other_admin["username"], STRONG).status_code == 302
    edit = f"/admin/users/{other_admin['username']}"
    saved = client.post(edit, data={"display_name": "第二管理员", "password": "copper-kettle-orchard-19",
                                    "roles": ["admin"], "active": "1", "csrf_token": csrf(client, edit)})
    assert saved.status_code == 302
    assert client.get("/admin/users").status_code == 200


def test_ids_beyond_the_database_are_not_found(app, api_as):
    client = admin_client(app)
    huge = "188750305448645093169875820478464"
    assert client.post(f"/admin/org/import/{huge}/apply", data={"csrf_token": csrf(client, "/admin/org/import")}
                       ).status_code == 404
    assert api_as("handler").get(f"/tasks/{huge}").status_code == 404
    assert api_as("handler").get("/tasks/2147483648").status_code == 404
