"""In-app notifications (消息提醒): who is told when work arrives, comes back or moves."""
from __future__ import annotations

from sqlalchemy import Integer, func, insert, literal, select, update

from app.extensions import db
from app.models import Department, Notification, User, WorkItem, user_departments
from app.models.base import utcnow
from app.models.org import Actor


def notify_department(item: WorkItem, kind: str, text: str | None = None, exclude_user_id: int | None = None) -> None:
    """One notification per enabled member of the item's department (set-based: one INSERT … SELECT)."""
    members = (select(User.id, literal(kind, Notification.kind.type), literal(item.case_id, Integer),
                      literal(item.id, Integer), literal(text, Notification.text.type),
                      literal(utcnow(), Notification.created_at.type))
               .join(user_departments, user_departments.c.user_id == User.id)
               .join(Department, Department.id == user_departments.c.department_id)
               .where(Department.code == item.department_code, User.is_enabled))
    if exclude_user_id is not None:
        members = members.where(User.id != exclude_user_id)
    db.session.execute(insert(Notification).from_select(
        ["user_id", "kind", "case_id", "work_item_id", "text", "created_at"], members))


def notify_user(user_id: int, item: WorkItem, kind: str, text: str | None = None) -> None:
    """A notification for one person (e.g. the holder of a task that was returned past them)."""
    db.session.add(Notification(user_id=user_id, kind=kind, case_id=item.case_id, work_item_id=item.id, text=text))


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
