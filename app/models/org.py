"""Organisation: departments, users and their memberships."""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from flask_login import UserMixin
from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

ROLES = ("admin", "designer", "front_desk", "handler", "dept_head", "supervisor", "archivist")

user_departments = Table(
    "user_department",
    db.metadata,
    Column("user_id", ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True),
    Column("department_id", ForeignKey("department.id", ondelete="CASCADE"), primary_key=True),
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
    """A department (部门); BPMN lane names are department codes."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(100))

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
    departments: Mapped[list[Department]] = relationship(
        secondary=user_departments, lazy="selectin", order_by=Department.code
    )

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.is_enabled

    @property
    def department_codes(self) -> list[str]:
        return [d.code for d in self.departments]

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)
