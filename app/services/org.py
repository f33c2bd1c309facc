"""Departments and users, including the demo organisation."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from app.models import Department, User
from app.models.org import ROLES
from app.services.errors import ValidationFailed

DEMO_PASSWORD = "demo-pass-2026"
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


def departments() -> list[Department]:
    """Every department, by code."""
    return list(db.session.scalars(select(Department).order_by(Department.code)))


def department_names(english: bool) -> dict[str, str]:
    """Department code → name in the chosen language."""
    return {d.code: (d.name_en if english and d.name_en else d.name) for d in departments()}


def ensure_department(code: str, name: str, name_en: str | None = None) -> Department:
    """Create the department or update its names."""
    department = db.session.scalar(select(Department).where(Department.code == code))
    if department is None:
        department = Department(code=code)
        db.session.add(department)
    department.name, department.name_en = name, name_en
    return department


def create_user(username: str, password: str, roles: list[str], department_codes: list[str],
                display_name: str | None = None) -> User:
    """Create a user or reset an existing one's password, roles and departments."""
    unknown_roles = [r for r in roles if r not in ROLES]
    if unknown_roles or not roles:
        raise ValidationFailed(_("Unknown role: %(roles)s. Known roles: %(known)s",
                                 roles=", ".join(unknown_roles) or "-", known=", ".join(ROLES)))
    if len(password) < 8:
        raise ValidationFailed(_("The password must have at least 8 characters."))
    departments = list(db.session.scalars(select(Department).where(Department.code.in_(department_codes))))
    missing = set(department_codes) - {d.code for d in departments}
    if missing:
        raise ValidationFailed(_("Unknown department: %(codes)s", codes=", ".join(sorted(missing))))
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username, display_name=display_name or username)
        db.session.add(user)
    elif display_name:
        user.display_name = display_name
    user.set_password(password)
    user.roles = " ".join(roles)
    user.departments = departments
    user.is_enabled = True
    return user


def seed_demo() -> list[User]:
    """Demo departments, one user per role (all with DEMO_PASSWORD), and the shipped calendar years."""
    from app.services import calendar

    for code, name, name_en in DEMO_DEPARTMENTS:
        ensure_department(code, name, name_en)
    db.session.flush()
    # Years already in the database are kept: an admin may have corrected them.
    calendar.seed_shipped_years()
    return [create_user(username, DEMO_PASSWORD, roles, departments, display_name)
            for username, display_name, roles, departments in DEMO_USERS]
