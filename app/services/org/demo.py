"""The demo organisation of the first run, and the small helpers older callers use."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Department, User
from app.services.org import users

DEMO_PASSWORD = "demo-pass-2026"
# (code, name, English name); every department but the bureau itself sits under the bureau.
DEMO_BUREAU = ("BUREAU", "一窗通示范档案馆", "OneWindow demonstration archives")
DEMO_DEPARTMENTS = (
    ("WINDOW", "综合受理窗口", "Front desk"),
    ("HOLDING", "馆藏档案部", "Holdings department"),
    ("USE", "利用服务部", "Utilisation services"),
    ("SUPERVISION", "电子监察室", "Supervision office"),
    ("RECORDS", "档案管理部", "Records management"),
    ("GUIDANCE", "监督指导处", "Supervision and guidance division"),
    ("LEADERSHIP", "局领导", "Bureau leadership"),
)
# (username, display name, roles, departments): one user per role.
DEMO_USERS = (
    ("admin", "系统管理员", ["admin"], []),
    ("designer", "流程设计员", ["designer"], []),
    ("frontdesk", "窗口受理员", ["front_desk"], ["WINDOW"]),
    ("handler", "业务承办人", ["handler"], ["HOLDING", "USE", "GUIDANCE"]),
    # 科室负责人: sees every open task of USE and HOLDING and assigns them; also handles tasks.
    ("head", "利用服务部负责人", ["dept_head", "handler"], ["USE", "HOLDING"]),
    ("leader", "分管局领导", ["handler"], ["LEADERSHIP"]),
    ("supervisor", "电子监察员", ["supervisor"], ["SUPERVISION"]),
    ("archivist", "档案管理员", ["archivist"], ["RECORDS"]),
)


def ensure_department(code: str, name: str, name_en: str | None = None, parent: Department | None = None) -> Department:
    """Create the department or update its names (and parent, when given)."""
    department = db.session.scalar(select(Department).where(Department.code == code))
    if department is None:
        department = Department(code=code, is_active=True)
        db.session.add(department)
    department.name, department.name_en = name, name_en
    if parent is not None:
        department.parent = parent
    return department


def create_user(username: str, password: str, roles: list[str], department_codes: list[str],
                display_name: str | None = None, must_change_password: bool = False) -> User:
    """Create a user, or reset an existing one's password, roles and departments and enable it; with
    must_change_password the reset password must be replaced at the next login."""
    data = {"password": password, "roles": list(roles), "departments": list(department_codes)}
    if display_name:
        data["display_name"] = display_name
    if db.session.scalar(select(User.id).where(User.username == username)) is None:
        return users.create_account(None, "cli", {"username": username, "display_name": username, **data})
    return users.update_account(None, "cli", username, {**data, "active": True},
                                must_change_password=must_change_password)


def foreign_accounts() -> list[str]:
    """Accounts of a real organisation: usernames of a database that is not the demo's. A database
    holding the demo users already (all but admin, a name real bureaus use too) is the demo's."""
    demo = {username for username, *_rest in DEMO_USERS}
    existing = set(db.session.scalars(select(User.username)))
    if demo - {"admin"} <= existing:
        return []
    return sorted(existing - demo)


def seed_demo() -> list[tuple[User, bool]]:
    """The demo departments and one user per role (with DEMO_PASSWORD), and the shipped calendar years.

    Only what is missing is added: departments, accounts and passwords someone changed stay as they are
    (the first run's server seeds at every start). Returns (user, created) per demo user."""
    from app.services.calendar import business_calendar
    existing = {d.code: d for d in db.session.scalars(select(Department))}
    bureau = existing.get(DEMO_BUREAU[0]) or ensure_department(*DEMO_BUREAU)
    for code, name, name_en in DEMO_DEPARTMENTS:
        if code not in existing:
            ensure_department(code, name, name_en, parent=bureau)
    db.session.flush()
    # Years already in the database are kept: an admin may have corrected them.
    business_calendar.seed_shipped_years()
    accounts = {u.username: u for u in db.session.scalars(select(User))}
    return [(accounts[username], False) if username in accounts else
            (create_user(username, DEMO_PASSWORD, roles, departments, display_name), True)
            for username, display_name, roles, departments in DEMO_USERS]
