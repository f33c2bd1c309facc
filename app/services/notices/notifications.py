"""In-app notifications (消息提醒): who is told when work arrives, comes back or moves.

The case runtime writes them with the events of its unit of work; this module says who and reads them.
"""
from __future__ import annotations

from sqlalchemy import Insert, Integer, Select, func, insert, literal, select, update

from app.extensions import db
from app.models import Department, Notification, User, WorkItem, user_departments
from app.models.base import utcnow
from app.models.org import Actor

# The columns a notice row fills, in the order the selects below give them.
NOTICE_COLUMNS = ("user_id", "kind", "case_id", "work_item_id", "text", "created_at")


def _notice_values(kind: str, item: WorkItem, text: str | None) -> tuple:
    return (literal(kind, Notification.kind.type), literal(item.case_id, Integer), literal(item.id, Integer),
            literal(text, Notification.text.type), literal(utcnow(), Notification.created_at.type))


def department_notices(item: WorkItem, kind: str, text: str | None = None,
                       exclude_user_id: int | None = None) -> Select:
    """Rows of one notice per enabled member of the item's department (for INSERT … SELECT)."""
    members = (select(User.id, *_notice_values(kind, item, text))
               .join(user_departments, user_departments.c.user_id == User.id)
               .join(Department, Department.id == user_departments.c.department_id)
               .where(Department.code == item.department_code, User.is_enabled))
    if exclude_user_id is not None:
        members = members.where(User.id != exclude_user_id)
    return members


def user_notice(user_id: int, item: WorkItem, kind: str, text: str | None = None) -> Select:
    """The row of a notice for one person (e.g. the holder of a task that was returned past them)."""
    return select(literal(user_id, Integer), *_notice_values(kind, item, text))


def insert_notices(rows: Select) -> Insert:
    """INSERT … SELECT of notice rows built above."""
    return insert(Notification).from_select(list(NOTICE_COLUMNS), rows)


def unread_count(user: Actor) -> int:
    return db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


def list_notifications(user: Actor, page: int, per_page: int):
    """The user's notifications, unread first, newest first."""
    query = (select(Notification).where(Notification.user_id == user.id)
             .order_by(Notification.read_at.is_not(None), Notification.id.desc()))
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def mark_read(user: Actor, notification_id: int | None = None) -> int:
    """Mark one (or every) unread notification of the user as read; returns how many changed."""
    stmt = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notification_id is not None:
        stmt = stmt.where(Notification.id == notification_id)
    return db.session.execute(stmt.values(read_at=utcnow())).rowcount
