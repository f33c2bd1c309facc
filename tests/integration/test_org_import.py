"""Organisation files: the dry run lists every problem with its row, apply is all or nothing, export reads back."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app.models import AdminAuditEntry, Department, User
from app.services.org import org_export, org_import
from app.services.org.org_file import COLUMNS
from tests.integration.test_org_api import unique

HEADER = ",".join(COLUMNS)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csv_file(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode("utf-8")


def department_row(code, name="部门", parent="", heads="", active="yes") -> str:
    return f"department,{code},{name},,{parent},{heads},,,,,,,{active}"


def user_row(username, display="姓名", roles="handler", departments="", email="", mobile="", active="yes") -> str:
    return f"user,,,,,,{username},{display},{email},{mobile},{roles},{departments},{active}"


def counts(session) -> tuple[int, int]:
    return (session.scalar(select(func.count(Department.id))), session.scalar(select(func.count(User.id))))


def test_a_file_with_every_kind_of_problem_lists_them_all_and_applies_nothing(dbx):
    a, b, c, dup = unique("CYA"), unique("CYB"), unique("NEW"), unique("DUP")
    content = csv_file(
        department_row(dup),                              # 2
        department_row(dup.lower()),                      # 3 duplicate code
        department_row(a, parent=b),                      # 4 cycle a → b → a
        department_row(b, parent=a),                      # 5
        department_row(c, parent="NOWHERE"),              # 6 unknown parent
        user_row(unique("u"), roles=""),                  # 7 no role
        user_row(unique("u"), email="not-an-email"),      # 8 bad e-mail
        user_row(unique("u"), departments="GHOST"),       # 9 unknown department
        user_row(unique("u"), roles="wizard"),            # 10 unknown role
        "team,X,,,,,,,,,,,",                              # 11 unknown type
    )
    with dbx() as session:
        before = counts(session)
        plan = org_import.plan_import("org.csv", content)
        rows = {(p.row, p.column) for p in plan.problems}
        assert {(3, "code"), (4, "parent"), (5, "parent"), (6, "parent"), (7, "roles"), (8, "email"),
                (9, "departments"), (10, "roles"), (11, "type")} <= rows
        with pytest.raises(org_import.ImportRefused) as refused:
            org_import.apply_import("org.csv", content, None, "cli")
        assert len(refused.value.problems) == len(plan.problems)
        session.rollback()
        assert counts(session) == before


def test_a_non_utf8_csv_is_refused_with_its_line():
    content = csv_file(department_row("GBK", name="综合")).decode().encode("gb18030")
    plan = org_import.plan_import("org.csv", content)
    assert len(plan.problems) == 1 and plan.problems[0].row == 2
    assert "UTF-8" in plan.problems[0].message


@pytest.fixture(autouse=True)
def _context(ctx):
    yield


def xlsx(rows: list[list]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_an_xlsx_with_formulas_is_refused_cell_by_cell():
    content = xlsx([list(COLUMNS), ["department", "FORMULA", "=1+1", "", "", "", "", "", "", "", "", "", "yes"],
                    ["user", "", "", "", "", "", "f.user", "x", "", "", "=HYPERLINK(\"x\")", "", "yes"]])
    plan = org_import.plan_import("org.xlsx", content)
    assert [(p.row, "公式" in p.message) for p in plan.problems[:2]] == [(2, True), (3, True)]
    assert "C2" in plan.problems[0].message and "K3" in plan.problems[1].message


@pytest.mark.parametrize(("name", "content"), [
    ("org.xlsx", b"PK\x03\x04 not really a zip"),
    ("org.pdf", b"%PDF-1.4"),
    ("org.csv", b""),
    ("org.csv", "类型,部门代码\n".encode() + b"\x00\x01"),
    ("org.csv", b"kind,code\nuser,x\n"),
])
def test_unreadable_files_are_problems_not_errors(name, content):
    plan = org_import.plan_import(name, content)
    assert not plan.ok and plan.problems[0].message


def test_chinese_headers_and_role_names_are_read():
    code, name = unique("CN"), unique("cn.user")
    content = ("类型,部门代码,部门名称,上级部门,负责人,用户名,姓名,角色,所属部门,启用\n"
               f"部门,{code},法规科,BUREAU,{name},,,,,是\n"
               f"用户,,,,,{name},法规科负责人,业务承办;部门负责人,{code},是\n").encode("utf-8-sig")
    plan = org_import.plan_import("组织机构.csv", content)
    assert plan.ok, [p.as_dict() for p in plan.problems]
    result = org_import.apply_import("组织机构.csv", content, None, "cli")
    user = result.plan.users[0]
    assert user.values["roles"] == ["dept_head", "handler"]
    from app.services.org import users as user_service

    assert user_service.user_record(user_service.get_user(name))["head_of"] == [code]


def test_the_example_file_matches_the_shipped_processes_and_applies():
    from app.services.org.org_file import read_org_file
    from app.services.processes import catalogue
    from app.views.org_files import EXAMPLE_FILE

    table = read_org_file(EXAMPLE_FILE.name, EXAMPLE_FILE.read_bytes())
    codes = {row.get("code") for row in table.rows if row.get("type") == "department"}
    lanes = {task.lane for item in catalogue.active_items()
             for task in catalogue.user_tasks_of(catalogue.current_version(item.process_id)) if task.lane}
    assert lanes <= codes
    plan = org_import.plan_import(EXAMPLE_FILE.name, EXAMPLE_FILE.read_bytes())
    assert plan.ok, [p.as_dict() for p in plan.problems]


def test_apply_creates_updates_and_reads_back_through_export(dbx):
    code, clerk = unique("IMP"), unique("imp.clerk")
    content = csv_file(department_row(code, name="导入科", parent="BUREAU", heads=clerk),
                       user_row(clerk, display="导入承办人", roles="handler;dept_head", departments=code,
                                email="imp@archives.example.cn", mobile="13900002222"))
    result = org_import.apply_import("org.csv", content, None, "cli")
    assert [(u, d) for u, d, _p in result.new_passwords] == [(clerk, "导入承办人")]
    from app.extensions import db

    db.session.commit()
    user = db.session.scalar(select(User).where(User.username == clerk))
    assert user.must_change_password and user.check_password(result.new_passwords[0][2])
    assert user.department_codes == [code] and user.email == "imp@archives.example.cn"
    # Changing a name and deactivating the user: only those rows change.
    changed = csv_file(department_row(code, name="导入二科", parent="BUREAU", heads=""),
                       user_row(clerk, display="导入承办人", roles="handler", departments=code,
                                email="imp@archives.example.cn", mobile="13900002222", active="no"))
    plan = org_import.plan_import("org.csv", changed)
    assert plan.counts() == {"departments": {"create": 0, "update": 1, "unchanged": 0},
                             "users": {"create": 0, "update": 1, "unchanged": 0}}
    org_import.apply_import("org.csv", changed, None, "cli")
    db.session.commit()
    db.session.refresh(user)
    assert not user.is_enabled and user.role_set == {"handler"}
    actions = [e.action for e in db.session.scalars(select(AdminAuditEntry).order_by(AdminAuditEntry.id))]
    assert actions.count("organisation.imported") == 2 and "user.updated" in actions
    # The export is a file the import reads as "nothing to change".
    for kind, name in (("csv", "org.csv"), ("xlsx", "org.xlsx")):
        exported = org_export.export_file(kind)
        plan = org_import.plan_import(name, exported)
        assert plan.ok, [p.as_dict() for p in plan.problems]
        assert plan.counts()["departments"]["create"] == plan.counts()["users"]["create"] == 0
        assert plan.counts()["departments"]["update"] == plan.counts()["users"]["update"] == 0
    book = load_workbook(io.BytesIO(org_export.export_file("xlsx")))
    assert [c.value for c in book.active[1]] == list(COLUMNS)


def test_deactivating_a_department_in_use_or_every_admin_is_refused():
    content = csv_file(department_row("WINDOW", name="综合受理窗口", parent="BUREAU", active="no"),
                       user_row("admin", display="系统管理员", roles="handler"))
    plan = org_import.plan_import("org.csv", content)
    messages = {(p.row, p.column): p.message for p in plan.problems}
    assert "WINDOW" in messages[(2, "active")]
    assert (3, "roles") in messages


def test_cli_dry_run_lists_rows_and_apply_writes_first_passwords(app, tmp_path):
    runner = app.test_cli_runner()
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_file(user_row(unique("u"), roles="")))
    result = runner.invoke(args=["org", "import", str(bad), "--dry-run"])
    assert result.exit_code == 1 and "row 2, roles:" in result.output
    good = tmp_path / "good.csv"
    clerk = unique("cli.clerk")
    good.write_bytes(csv_file(user_row(clerk, roles="front_desk", departments="WINDOW")))
    dry = runner.invoke(args=["org", "import", str(good), "--dry-run"])
    assert dry.exit_code == 0 and "users: 1 to create" in dry.output
    passwords = tmp_path / "first.csv"
    applied = runner.invoke(args=["org", "import", str(good), "--passwords-file", str(passwords)])
    assert applied.exit_code == 0, applied.output
    assert passwords.read_text().splitlines()[1].startswith(f"{clerk},")
    assert oct(passwords.stat().st_mode & 0o777) == "0o600"
    again = runner.invoke(args=["org", "import", str(good), "--passwords-file", str(passwords)])
    assert again.exit_code != 0  # never over an existing file
    exported = tmp_path / "org.xlsx"
    assert runner.invoke(args=["org", "export", str(exported)]).exit_code == 0
    assert load_workbook(exported).active["G1"].value == "username"


def test_create_user_on_the_command_line_asks_for_a_strong_password(app):
    runner = app.test_cli_runner()
    name = unique("cli.admin")
    weak = runner.invoke(args=["create-user", "--username", name, "--role", "admin", "--password", "12345678"])
    assert weak.exit_code == 1 and "password" in weak.output
    asked = runner.invoke(args=["create-user", "--username", name, "--role", "admin", "--display-name", "第二管理员"],
                          input="harbour-lantern-quiet-71\nharbour-lantern-quiet-71\n")
    assert asked.exit_code == 0, asked.output
    from app.services.org import users as user_service

    user = user_service.get_user(name)
    assert user.check_password("harbour-lantern-quiet-71") and not user.must_change_password
    # Run again on an existing user: an administrator's reset, replaced at next login.
    reset = runner.invoke(args=["create-user", "--username", name, "--role", "admin",
                                "--password", "ember-compass-willow-26"])
    assert reset.exit_code == 0
    from app.extensions import db

    db.session.refresh(user)
    assert user.must_change_password


def test_names_differing_only_in_case_and_overlong_display_names_are_problems():
    content = csv_file(user_row("HANDLER"), department_row("window", name="窗口"), user_row(unique("u"), display="名" * 101))
    plan = org_import.plan_import("org.csv", content)
    problems = {(p.row, p.column) for p in plan.problems}
    assert {(2, "username"), (3, "code"), (4, "display_name")} <= problems
    assert "handler" in next(p.message for p in plan.problems if p.row == 2)


def test_files_beyond_the_row_limit_are_refused_whole(monkeypatch):
    from app.services.org import org_file

    monkeypatch.setattr(org_file, "MAX_ROWS", 3)
    rows = [user_row(f"limit{n}", departments="WINDOW", roles="front_desk") for n in range(4)]
    assert not org_import.plan_import("org.csv", csv_file(*rows)).ok
    sheet = [list(COLUMNS)] + [r.split(",") for r in rows]
    plan = org_import.plan_import("org.xlsx", xlsx(sheet))
    assert not plan.ok and "3" in plan.problems[0].message


def _zip(files: dict[str, bytes]) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_damaged_and_hostile_xlsx_files_are_problems():
    import time

    good = xlsx([list(COLUMNS), ["department", unique("X"), "x", "", "", "", "", "", "", "", "", "", "yes"]])
    import zipfile

    parts = {name: zipfile.ZipFile(io.BytesIO(good)).read(name) for name in zipfile.ZipFile(io.BytesIO(good)).namelist()}
    broken = _zip({**parts, "xl/worksheets/sheet1.xml": b"<worksheet><sheetData><row"})
    assert not org_import.plan_import("org.xlsx", broken).ok
    sheet = parts["xl/worksheets/sheet1.xml"].replace(b"<sheetData>", b"<dimension ref=\"A1:XFD3000\"/><sheetData>", 1)
    started = time.perf_counter()
    plan = org_import.plan_import("org.xlsx", _zip({**parts, "xl/worksheets/sheet1.xml": sheet}))
    assert time.perf_counter() - started < 5 and plan.ok, [p.as_dict() for p in plan.problems]
    entities = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><worksheet>&a;</worksheet>'
    assert not org_import.plan_import("org.xlsx", _zip({**parts, "xl/worksheets/sheet1.xml": entities})).ok
