"""Import of a whole organisation from one file: a dry run listing every problem with its row, then an
all-or-nothing apply; and the export of the same file.

Departments and users in the file are created or made to match it; those not in it are left alone.
New accounts get a random first password that must be changed at first login.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import Department, User, user_departments
from app.models.org import ROLE_NAMES_ZH, ROLES, Actor
from app.services.accounts import sessions
from app.services.accounts.passwords import TEMPORARY_PASSWORD_HASH, temporary_password
from app.services.cases.tasks import return_claims_to_pool
from app.services.org import departments as department_service
from app.services.org import users as user_service
from app.services.org.audit import record_change
from app.services.org.fields import CODE_SHAPE, USERNAME_SHAPE, checked_text
from app.services.org.org_file import ROW_TYPES, FileProblem, Row, read_org_file

TRUE_WORDS = {"", "yes", "y", "true", "1", "是", "启用", "有效"}
FALSE_WORDS = {"no", "n", "false", "0", "否", "停用", "禁用", "无效"}
_ROLE_WORDS = {**{role: role for role in ROLES}, **ROLE_NAMES_ZH}


class ImportRefused(ValidationFailed):
    """422 with every problem of the file."""

    def __init__(self, problems: list[FileProblem]):
        super().__init__(_("The organisation file has %(n)s problems; nothing was imported.", n=len(problems)))
        self.problems = [p.as_dict() for p in problems]


@dataclass
class Change:
    row: int
    key: str  # department code or username
    action: str  # create | update | unchanged
    values: dict


@dataclass
class ImportPlan:
    problems: list[FileProblem] = field(default_factory=list)
    departments: list[Change] = field(default_factory=list)
    users: list[Change] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict:
        def count(changes: list[Change]) -> dict:
            return {action: sum(1 for c in changes if c.action == action) for action in ("create", "update", "unchanged")}
        return {"departments": count(self.departments), "users": count(self.users)}

    def as_dict(self) -> dict:
        return {"ok": self.ok, "counts": self.counts(), "problems": [p.as_dict() for p in self.problems]}


@dataclass
class ImportResult:
    plan: ImportPlan
    # (username, display name, first password) of every new account: shown once, never stored.
    new_passwords: list[tuple[str, str, str]]


@dataclass
class _State:
    """The organisation as it stands, read once."""

    departments: dict[str, Department]
    users: dict[str, User]
    memberships: dict[str, set[str]]  # username → department codes
    heads: dict[str, set[str]]  # department code → usernames

    @classmethod
    def read(cls) -> _State:
        departments = {d.code: d for d in db.session.scalars(select(Department))}
        users = {u.username: u for u in db.session.scalars(select(User))}
        memberships: dict[str, set[str]] = {}
        heads: dict[str, set[str]] = {}
        rows = db.session.execute(select(User.username, Department.code, user_departments.c.is_head)
                                  .join(user_departments, user_departments.c.user_id == User.id)
                                  .join(Department, Department.id == user_departments.c.department_id))
        for username, code, is_head in rows:
            memberships.setdefault(username, set()).add(code)
            if is_head:
                heads.setdefault(code, set()).add(username)
        return cls(departments, users, memberships, heads)


def _flag(row: Row, problems: list[FileProblem]) -> bool:
    word = row.get("active").lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    problems.append(FileProblem(row.number, "active", _("Write yes or no (是/否).")))
    return True


def _field_problems(row: Row, fields: dict, problems: list[FileProblem]) -> None:
    problems.extend(FileProblem(row.number, column, str(message)) for column, message in fields.items())


def _department_values(row: Row, problems: list[FileProblem]) -> dict | None:
    fields: dict[str, str] = {}
    code = row.get("code")
    if not CODE_SHAPE.fullmatch(code):
        fields["code"] = _("1 to 32 letters, digits, _ or -, starting with a letter (the BPMN lane name).")
    name = department_service.checked_name(row.get("name"), "name", True, fields)
    name_en = department_service.checked_name(row.get("name_en"), "name_en", False, fields)
    values = {"name": name, "name_en": name_en, "parent": row.get("parent") or None,
              "active": _flag(row, problems), "heads": sorted(set(row.list("heads")))}
    _field_problems(row, fields, problems)
    return values if not fields else None


def _user_values(row: Row, existing: User | None, problems: list[FileProblem]) -> dict | None:
    fields: dict[str, str] = {}
    if not USERNAME_SHAPE.fullmatch(row.get("username")):
        fields["username"] = _("2 to 64 letters, digits, _, . or -, starting with a letter or digit.")
    display_name = checked_text(row.get("display_name") or (existing.display_name if existing else None),
                                "display_name", fields, True, 100)
    roles = [_ROLE_WORDS.get(word, word) for word in row.list("roles")]
    values = {
        "display_name": display_name,
        "email": user_service.checked_email(row.get("email"), fields),
        "mobile": user_service.checked_mobile(row.get("mobile"), fields),
        "roles": user_service.checked_roles(roles, fields),
        "departments": sorted(set(row.list("departments"))),
        "active": _flag(row, problems),
    }
    _field_problems(row, fields, problems)
    return values if not fields else None


def plan_import(filename: str, content: bytes, actor: Actor | None = None) -> ImportPlan:
    """Check a whole file against the organisation as it stands; every problem is listed with its row."""
    table = read_org_file(filename, content)
    plan = ImportPlan(problems=list(table.problems))
    if table.problems:
        return plan
    state = _State.read()
    department_rows: dict[str, tuple[Row, dict]] = {}
    user_rows: dict[str, tuple[Row, dict]] = {}
    seen: dict[tuple[str, str], int] = {}
    lowered = {"department": {code.lower(): code for code in state.departments},
               "user": {username.lower(): username for username in state.users}}
    for row in table.rows:
        kind = ROW_TYPES.get(row.get("type").lower())
        if kind is None:
            plan.problems.append(FileProblem(row.number, "type", _("Write department or user (部门/用户).")))
            continue
        key = row.get("code") if kind == "department" else row.get("username")
        earlier = seen.get((kind, key.lower()))
        if key and earlier:
            column = "code" if kind == "department" else "username"
            plan.problems.append(FileProblem(row.number, column, _("%(key)s is already on row %(row)s.",
                                                                   key=key, row=earlier)))
            continue
        seen[(kind, key.lower())] = row.number
        existing = lowered[kind].get(key.lower())
        if existing is not None and existing != key:
            plan.problems.append(FileProblem(row.number, "code" if kind == "department" else "username", _(
                "%(key)s differs only in letter case from the existing %(existing)s: write it as it is.",
                key=key, existing=existing)))
            continue
        if kind == "department":
            values = _department_values(row, plan.problems)
            if values is not None:
                department_rows[key] = (row, values)
        else:
            values = _user_values(row, state.users.get(key), plan.problems)
            if values is not None:
                user_rows[key] = (row, values)
    _check_references(plan, state, department_rows, user_rows, actor)
    plan.problems.sort(key=lambda p: (p.row or 0, p.column or ""))
    plan.departments = [_change(row, code, values, _department_now(state, code)) for code, (row, values)
                        in department_rows.items()]
    plan.users = [_change(row, username, values, _user_now(state, username)) for username, (row, values)
                  in user_rows.items()]
    return plan


def _department_now(state: _State, code: str) -> dict | None:
    department = state.departments.get(code)
    if department is None:
        return None
    return {"name": department.name, "name_en": department.name_en,
            "parent": department.parent.code if department.parent else None, "active": department.is_active,
            "heads": sorted(state.heads.get(code, set()))}


def _user_now(state: _State, username: str) -> dict | None:
    user = state.users.get(username)
    if user is None:
        return None
    return {"display_name": user.display_name, "email": user.email, "mobile": user.mobile,
            "roles": sorted(user.role_set), "departments": sorted(state.memberships.get(username, set())),
            "active": user.is_enabled}


def _change(row: Row, key: str, values: dict, now: dict | None) -> Change:
    action = "create" if now is None else ("unchanged" if now == values else "update")
    return Change(row.number, key, action, values)


def _check_references(plan: ImportPlan, state: _State, department_rows: dict, user_rows: dict,
                      actor: Actor | None) -> None:
    """Parents, memberships and heads name departments and users that will exist; no cycles; nobody
    locks the organisation out of its administration; no department with running work is deactivated."""
    problems = plan.problems
    parent_of = {code: (d.parent.code if d.parent else None) for code, d in state.departments.items()}
    active = {code: d.is_active for code, d in state.departments.items()}
    for code, (_row, values) in department_rows.items():
        parent_of[code], active[code] = values["parent"], values["active"]
    for code, (row, values) in department_rows.items():
        if values["parent"] and values["parent"] not in parent_of:
            problems.append(FileProblem(row.number, "parent", _("Unknown department %(code)s.", code=values["parent"])))
            continue
        path, current = [code], values["parent"]
        while current and current not in path:
            path.append(current)
            current = parent_of.get(current)
        if current:
            problems.append(FileProblem(row.number, "parent", _("The parents form a cycle: %(path)s.",
                                                                 path=" → ".join([*path, current]))))
    members = {username: set(codes) for username, codes in state.memberships.items()}
    roles = {username: user.role_set for username, user in state.users.items()}
    enabled = {username: user.is_enabled for username, user in state.users.items()}
    for username, (row, values) in user_rows.items():
        members[username], enabled[username] = set(values["departments"]), values["active"]
        roles[username] = set(values["roles"])
        unknown = sorted(c for c in values["departments"] if c not in parent_of)
        inactive = sorted(c for c in values["departments"] if c in parent_of and not active[c])
        if unknown:
            problems.append(FileProblem(row.number, "departments", _("Unknown department: %(codes)s",
                                                                      codes=", ".join(unknown))))
        if inactive:
            problems.append(FileProblem(row.number, "departments", _("Deactivated department: %(codes)s",
                                                                      codes=", ".join(inactive))))
    heads = {code: set(usernames) for code, usernames in state.heads.items()}
    for code, (row, values) in department_rows.items():
        heads[code] = set(values["heads"])
        unknown = sorted(u for u in values["heads"] if u not in members and u not in roles)
        outside = sorted(u for u in values["heads"] if u not in unknown and code not in members.get(u, set()))
        if unknown:
            problems.append(FileProblem(row.number, "heads", _("Unknown users: %(names)s", names=", ".join(unknown))))
        if outside:
            problems.append(FileProblem(row.number, "heads", _(
                "Heads must belong to the department: add %(code)s to the departments of %(names)s.",
                code=code, names=", ".join(outside))))
    heading = {u for usernames in heads.values() for u in usernames}
    for username, (row, values) in user_rows.items():
        if "dept_head" in values["roles"] and username not in heading:
            problems.append(FileProblem(row.number, "roles", _(
                "%(name)s has the role dept_head but heads no department: list them in a department's heads.",
                name=username)))
    _check_deactivations(plan, state, department_rows, parent_of, active)
    _check_administrators(plan, user_rows, roles, enabled, actor)


def _check_deactivations(plan: ImportPlan, state: _State, department_rows: dict, parent_of: dict,
                         active: dict) -> None:
    for code, (row, values) in department_rows.items():
        department = state.departments.get(code)
        if department is None or not department.is_active or values["active"]:
            continue
        blockers = department_service.work_blockers(department)
        children = sorted(c for c, parent in parent_of.items() if parent == code and active.get(c))
        if children:
            blockers.append(_("its sub-departments are active: %(codes)s", codes=", ".join(children)))
        if blockers:
            plan.problems.append(FileProblem(row.number, "active", _(
                "%(code)s cannot be deactivated: %(reasons)s", code=code, reasons="; ".join(blockers))))


def _check_administrators(plan: ImportPlan, user_rows: dict, roles: dict, enabled: dict,
                          actor: Actor | None) -> None:
    if not any("admin" in roles[u] and enabled[u] for u in roles):
        row = next((r for r, _values in user_rows.values()), None)
        plan.problems.append(FileProblem(row.number if row else None, "roles",
                                         _("No active administrator would be left.")))
    if actor is not None and actor.username in user_rows:
        row, values = user_rows[actor.username]
        if "admin" not in values["roles"] or not values["active"]:
            plan.problems.append(FileProblem(row.number, "roles", _(
                "You cannot remove your own administrator account or role.")))


def apply_import(filename: str, content: bytes, actor: Actor | None, channel: str) -> ImportResult:
    """Check the file again and apply all of it, or nothing (ImportRefused listing every problem)."""
    department_service.lock_tree()  # the file's parents are checked against a tree nobody moves meanwhile
    plan = plan_import(filename, content, actor)
    if not plan.ok:
        raise ImportRefused(plan.problems)
    applier = _Applier(_State.read(), actor, channel)
    try:
        with db.session.begin_nested():  # another import or admin may add the same codes meanwhile
            applier.departments(plan.departments)
            new_passwords = applier.users(plan.users)
    except IntegrityError:
        raise Conflict(_("The organisation changed while the file was applied. Check the file again.")) from None
    applier.heads(plan.departments)
    applier.return_work()
    record_change(actor, channel, "organisation.imported", "organisation", filename[:100], None,
                  {"sha256": hashlib.sha256(content).hexdigest(), **plan.counts()})
    return ImportResult(plan, new_passwords)


@dataclass
class _Applier:
    state: _State
    actor: Actor | None
    channel: str
    left: dict[User, set[str]] = field(default_factory=dict)
    deactivated: list[User] = field(default_factory=list)
    touched_users: set[int] = field(default_factory=set)

    def departments(self, changes: list[Change]) -> None:
        """Create the new ones first, so that parents can point at any department of the file."""
        departments = self.state.departments
        for change in changes:
            if change.action == "create":
                departments[change.key] = Department(code=change.key, name=change.values["name"], is_active=True)
                db.session.add(departments[change.key])
        db.session.flush()
        for change in changes:
            if change.action == "unchanged":
                continue
            before = _department_now(self.state, change.key) if change.action == "update" else None
            department, values = departments[change.key], change.values
            department.name, department.name_en = values["name"], values["name_en"]
            department.is_active = values["active"]
            department.parent = departments[values["parent"]] if values["parent"] else None
            record_change(self.actor, self.channel, f"department.{change.action}d", "department", change.key,
                          before, values)

    def users(self, changes: list[Change]) -> list[tuple[str, str, str]]:
        """Create and update accounts; new ones get a first password to change at first login."""
        new_passwords = []
        for change in changes:
            if change.action == "unchanged":
                continue
            values = change.values
            if change.action == "create":
                password = temporary_password()
                user = User(username=change.key, must_change_password=True)
                user.set_password(password, TEMPORARY_PASSWORD_HASH)
                db.session.add(user)
                self.state.users[change.key] = user
                new_passwords.append((change.key, values["display_name"], password))
                before = None
            else:
                user = self.state.users[change.key]
                before = _user_now(self.state, change.key)
                self.left[user] = set(before["departments"]) - set(values["departments"])
                if before["active"] and not values["active"]:
                    self.deactivated.append(user)
            user.display_name, user.email, user.mobile = values["display_name"], values["email"], values["mobile"]
            user.roles, user.is_enabled = " ".join(values["roles"]), values["active"]
            user.departments = [self.state.departments[code] for code in values["departments"]]
            record_change(self.actor, self.channel, f"user.{change.action}d", "user", change.key, before, values)
        db.session.flush()
        self.touched_users = {self.state.users[c.key].id for c in changes}
        return new_passwords

    def heads(self, changes: list[Change]) -> None:
        """Exactly the listed heads of each department of the file; the dept_head role follows."""
        ids = {username: user.id for username, user in self.state.users.items()}
        affected = set(self.touched_users)
        for change in changes:
            department = self.state.departments[change.key]
            head_ids = [ids[u] for u in change.values["heads"]]
            affected |= {ids[u] for u in self.state.heads.get(change.key, set())} | set(head_ids)
            db.session.execute(update(user_departments).where(user_departments.c.department_id == department.id)
                               .values(is_head=user_departments.c.user_id.in_(head_ids) if head_ids else False))
        department_service.sync_head_roles(affected)

    def return_work(self) -> None:
        """Deactivated accounts lose their sessions; tasks they held, or held in departments they left,
        go back to the pool."""
        for user in self.deactivated:
            sessions.end_sessions_and_tokens(user.id)
            return_claims_to_pool(user, self.actor, _("Account deactivated"))
        for user, codes in self.left.items():
            if codes and user not in self.deactivated:
                return_claims_to_pool(user, self.actor, _("Left the department"), codes)

