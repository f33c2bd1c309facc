"""Departments: the organisation's tree, renamed and deactivated only as far as running work allows."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import Case, Department, ProcessVersion, User, WorkItem, user_departments
from app.models.case import FINISHED_STATUSES
from app.models.org import Actor
from app.services.org.audit import record_change
from app.services.org.fields import CODE_SHAPE, USERNAME_SHAPE, checked_text
from app.services.processes import catalogue

MAX_NAME_CHARS = 100


def department_record(department: Department, heads: list[str] | None = None) -> dict:
    """The API shape of a department (also what the audit log compares)."""
    record = {"code": department.code, "name": department.name, "name_en": department.name_en,
              "parent": department.parent.code if department.parent else None, "active": department.is_active}
    if heads is not None:
        record["heads"] = heads
    return record


def heads_by_department(column=User.username, department_id: int | None = None) -> dict[int, list[str]]:
    """Department id → usernames (or another column, e.g. display names) of the heads of every
    department, or of one, in one query."""
    statement = (select(user_departments.c.department_id, column)
                 .join(User, User.id == user_departments.c.user_id)
                 .where(user_departments.c.is_head).order_by(column))
    if department_id is not None:
        statement = statement.where(user_departments.c.department_id == department_id)
    rows = db.session.execute(statement)
    heads: dict[int, list[str]] = {}
    for department_id, username in rows:
        heads.setdefault(department_id, []).append(username)
    return heads


def department_names(english: bool, active_only: bool = False) -> dict[str, str]:
    """Department code → name in the chosen language (of every department, or of active ones only)."""
    statement = select(Department).order_by(Department.code)
    if active_only:
        statement = statement.where(Department.is_active)
    return {d.code: (d.name_en if english and d.name_en else d.name) for d in db.session.scalars(statement)}


def all_departments() -> list[Department]:
    """Every department, active or not, by code."""
    return list(db.session.scalars(select(Department).order_by(Department.code)))


def tree(departments: list[Department]) -> list[tuple[int, Department]]:
    """(depth, department) in tree order: each department under its parent, siblings by code."""
    children: dict[int | None, list[Department]] = {}
    known = {d.id for d in departments}
    for department in departments:
        parent = department.parent_id if department.parent_id in known else None
        children.setdefault(parent, []).append(department)
    ordered: list[tuple[int, Department]] = []

    def visit(parent_id: int | None, depth: int) -> None:
        for child in sorted(children.get(parent_id, []), key=lambda d: d.code):
            ordered.append((depth, child))
            visit(child.id, depth + 1)

    visit(None, 0)
    # A cycle (only a database edited by hand makes one) has no way down from the top: list it anyway.
    placed = {d.id for _depth, d in ordered}
    ordered += [(0, d) for d in sorted(departments, key=lambda d: d.code) if d.id not in placed]
    return ordered


def get_department(code: str) -> Department:
    """The department with this code, or 404."""
    department = db.session.scalar(select(Department).where(Department.code == code)) \
        if CODE_SHAPE.fullmatch(code) else None
    if department is None:
        raise NotFound(_("There is no department %(code)s.", code=code))
    return department


def checked_name(value, field: str, required: bool, fields: dict) -> str | None:
    return checked_text(value, field, fields, required, MAX_NAME_CHARS)


def _parent_of(code, fields: dict, child: Department | None = None) -> Department | None:
    """The parent named by `code` (None for a top-level department); cycles and unknown codes are refused."""
    if code in (None, ""):
        return None
    if not isinstance(code, str):
        fields["parent"] = _("Must be a department code.")
        return None
    parent = db.session.scalar(select(Department).where(Department.code == code)) \
        if CODE_SHAPE.fullmatch(code) else None
    if parent is None:
        fields["parent"] = _("There is no department %(code)s.", code=code)
        return None
    if child is not None:
        lock_tree()
        parents = dict(db.session.execute(select(Department.id, Department.parent_id)).all())
        ancestor, seen = parent.id, set()
        while ancestor is not None and ancestor not in seen:
            if ancestor == child.id:
                fields["parent"] = _("A department cannot be placed under itself or one of its sub-departments.")
                return None
            seen.add(ancestor)
            ancestor = parents.get(ancestor)
    return parent


def lock_tree() -> None:
    """Moves in the tree wait for each other, so two concurrent moves cannot close a cycle."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtext('onewindow.department_tree'))"))


def _refuse(fields: dict) -> None:
    if fields:
        raise ValidationFailed(_("Please correct the highlighted fields."), fields)


def create_department(actor: Actor, channel: str, data: dict) -> Department:
    """A new active department; 409 when the code is taken, 422 listing every bad field."""
    fields: dict[str, str] = {}
    code = data.get("code")
    if not isinstance(code, str) or not CODE_SHAPE.fullmatch(code):
        fields["code"] = _("1 to 32 letters, digits, _ or -, starting with a letter (the BPMN lane name).")
    name = checked_name(data.get("name"), "name", True, fields)
    name_en = checked_name(data.get("name_en"), "name_en", False, fields)
    parent = _parent_of(data.get("parent"), fields)
    heads = _usernames(data.get("heads"), fields)
    _refuse(fields)
    if db.session.scalar(select(Department.id).where(func.lower(Department.code) == code.lower())):
        raise Conflict(_("The department code %(code)s is taken.", code=code), {"code": _("Taken.")})
    department = Department(code=code, name=name, name_en=name_en, parent=parent, is_active=True)
    try:
        with db.session.begin_nested():  # another admin may create the same code at this moment
            db.session.add(department)
    except IntegrityError:
        raise Conflict(_("The department code %(code)s is taken.", code=code), {"code": _("Taken.")}) from None
    if heads is not None:
        set_heads(department, heads)
    record_change(actor, channel, "department.created", "department", code, None,
                  department_record(department, heads))
    return department


def update_department(actor: Actor, channel: str, code: str, changes: dict) -> Department:
    """Rename, move in the tree, set heads, deactivate or reactivate; a code never changes."""
    department = get_department(code)
    heads_before = heads_by_department(department_id=department.id).get(department.id, [])
    before = department_record(department, heads_before)
    fields: dict[str, str] = {}
    if "code" in changes and changes["code"] != code:
        fields["code"] = _("A department code cannot be changed: processes and cases name it.")
    if "name" in changes:
        department.name = checked_name(changes["name"], "name", True, fields) or department.name
    if "name_en" in changes:
        department.name_en = checked_name(changes["name_en"], "name_en", False, fields)
    if "parent" in changes:
        parent = _parent_of(changes["parent"], fields, child=department)
        if "parent" not in fields:
            department.parent = parent
    heads = _usernames(changes.get("heads"), fields) if "heads" in changes else None
    active = changes.get("active", department.is_active)
    if not isinstance(active, bool):
        fields["active"] = _("Must be true or false.")
    _refuse(fields)
    if department.is_active and active is False:
        blockers = deactivation_blockers(department)
        if blockers:
            raise Conflict(_("%(code)s cannot be deactivated: %(reasons)s", code=code,
                             reasons="; ".join(blockers)), {"active": "; ".join(blockers)})
    department.is_active = active
    if heads is not None:
        set_heads(department, heads)
    db.session.flush()
    record_change(actor, channel, "department.updated", "department", code, before,
                  department_record(department, heads if heads is not None else heads_before))
    return department


def deactivation_blockers(department: Department) -> list[str]:
    """Why deactivating would strand work or sub-departments, in the user's language; empty when safe."""
    blockers = work_blockers(department)
    children = [d.code for d in db.session.scalars(select(Department).where(
        Department.parent_id == department.id, Department.is_active))]
    if children:
        blockers.append(_("its sub-departments are active: %(codes)s", codes=", ".join(sorted(children))))
    return blockers


def work_blockers(department: Department) -> list[str]:
    """Open tasks in the department and processes routing to it."""
    blockers = []
    open_items = db.session.scalar(select(func.count(WorkItem.id)).where(
        WorkItem.department_code == department.code, WorkItem.state == "open")) or 0
    if open_items:
        blockers.append(_("%(n)s open tasks are in this department (finish or transfer them first)", n=open_items))
    processes = sorted(processes_routing_to(department.code))
    if processes:
        blockers.append(_("processes route steps to it: %(processes)s (deploy versions without this lane first)",
                          processes=", ".join(processes)))
    return blockers


def processes_routing_to(code: str) -> set[str]:
    """Processes whose newest version, or a version cases still run on, has a lane for this department."""
    newest = select(ProcessVersion.process_id, func.max(ProcessVersion.version).label("version")) \
        .group_by(ProcessVersion.process_id).subquery()
    versions = set(db.session.scalars(select(ProcessVersion).join(
        newest, (newest.c.process_id == ProcessVersion.process_id) & (newest.c.version == ProcessVersion.version))))
    versions |= set(db.session.scalars(select(ProcessVersion).where(ProcessVersion.id.in_(
        select(Case.process_version_id).where(Case.status.not_in(FINISHED_STATUSES)).distinct()))))
    return {f"{v.process_id} v{v.version}" for v in versions
            if any(task.lane == code for task in catalogue.user_tasks_of(v))}


def _usernames(value, fields: dict) -> list[str] | None:
    """A list of existing usernames (for heads); None when not given."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        fields["heads"] = _("Must be a list of usernames.")
        return None
    known = set(db.session.scalars(select(User.username).where(
        User.username.in_([v for v in value if USERNAME_SHAPE.fullmatch(v)]))))
    unknown = sorted(set(value) - known)
    if unknown:
        fields["heads"] = _("Unknown users: %(names)s", names=", ".join(unknown))
        return None
    return sorted(set(value))


def set_heads(department: Department, usernames: list[str]) -> None:
    """Make exactly these users the department's heads: members of it, with the dept_head role; a former
    head who heads nothing else any more loses the role."""
    users = list(db.session.scalars(select(User).where(User.username.in_(usernames))))
    for user in users:
        if department not in user.departments:
            user.departments.append(department)
    db.session.flush()
    former = set(db.session.scalars(select(user_departments.c.user_id).where(
        user_departments.c.department_id == department.id, user_departments.c.is_head)))
    db.session.execute(update(user_departments).where(user_departments.c.department_id == department.id)
                       .values(is_head=user_departments.c.user_id.in_([u.id for u in users]) if users else False))
    sync_head_roles(former | {u.id for u in users})


def sync_head_roles(user_ids: set[int]) -> None:
    """The dept_head role follows the memberships: held exactly by users who head some department."""
    if not user_ids:
        return
    heading = set(db.session.scalars(select(user_departments.c.user_id).where(
        user_departments.c.user_id.in_(user_ids), user_departments.c.is_head)))
    for user in db.session.scalars(select(User).where(User.id.in_(user_ids))):
        roles = user.role_set | {"dept_head"} if user.id in heading else user.role_set - {"dept_head"}
        if roles:  # never an account without any role: a former head keeps the bare role
            user.roles = " ".join(sorted(roles))
