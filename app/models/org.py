"""Organisation: departments, users and their memberships."""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from flask_login import UserMixin
from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, false
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

ROLES = ("admin", "designer", "front_desk", "handler", "dept_head", "supervisor", "archivist")
# The Chinese names an organisation file may use instead of role codes.
ROLE_NAMES_ZH = {"系统管理员": "admin", "流程设计": "designer", "窗口受理": "front_desk", "业务承办": "handler",
                 "部门负责人": "dept_head", "电子监察": "supervisor", "档案管理": "archivist"}

user_departments = Table(
    "user_department",
    db.metadata,
    Column("user_id", ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True),
    Column("department_id", ForeignKey("department.id", ondelete="CASCADE"), primary_key=True),
    # A head (负责人) of the department: escalations reach them, and they see and assign its tasks.
    Column("is_head", Boolean, nullable=False, default=False, server_default=false()),
)


class Actor(Protocol):
    """What services need to know about whoever acts: a logged-in user or an API caller."""

    id: int
    username: str
    display_name: str

    @property
    def department_codes(self) -> list[str]: ...

    def has_role(self, *roles: str) -> bool: ...


class RoleMixin:
    """Role checks from a space-separated `roles` string; admin holds every role."""

    roles: str

    @property
    def role_set(self) -> set[str]:
        return set(self.roles.split())

    def has_role(self, *roles: str) -> bool:
        return "admin" in self.role_set or bool(self.role_set.intersection(roles))


class Department(db.Model):
    """A department (部门) in the organisation's tree (局 → 处室/科室); BPMN lane names are department codes.

    Never deleted: cases, work items and process versions keep naming it. Deactivated ones take no
    new work and are offered nowhere.
    """

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(100))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[Department | None] = relationship(remote_side=[id], lazy="joined", join_depth=1)

    def display_name(self, locale: str) -> str:
        return self.name_en if locale.startswith("en") and self.name_en else self.name


class User(RoleMixin, UserMixin, db.Model):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(256))
    # Space-separated role names from ROLES; a handful per user at most.
    roles: Mapped[str] = mapped_column(String(200), default="")
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Where notifications reach the user besides the app (e-mail, SMS gateways).
    email: Mapped[str | None] = mapped_column(String(254))
    mobile: Mapped[str | None] = mapped_column(String(20))
    # Set by an administrator's reset (and for machine-made first passwords): every page and API
    # call but the password change is refused until the user chooses their own.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    departments: Mapped[list[Department]] = relationship(
        secondary=user_departments, lazy="selectin", order_by=Department.code
    )

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.is_enabled

    @property
    def department_codes(self) -> list[str]:
        return [d.code for d in self.departments]

    def set_password(self, password: str, method: str = "scrypt") -> None:
        self.password_hash = generate_password_hash(password, method)
        self.password_changed_at = utcnow()

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)
