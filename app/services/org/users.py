"""User accounts: who they are, how to reach them, their roles and departments, and whether they may log in."""
from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import Department, User, user_departments
from app.models.org import ROLES, Actor
from app.services.accounts import sessions, throttle
from app.services.accounts.passwords import check_new_password, password_problem
from app.services.cases.tasks import return_claims_to_pool
from app.services.org.audit import record_change
from app.services.org.departments import sync_head_roles
from app.services.org.fields import CODE_SHAPE, USERNAME_SHAPE, checked_text
from app.taskforms.formats import is_cn_mobile

EDITABLE = ("display_name", "password", "roles", "departments", "head_of", "email", "mobile", "active")


class UsernameTaken(ValidationFailed):
    status = 409


def user_record(user: User, head_of: list[str] | None = None) -> dict:
    """The API shape of a user (no secret ever)."""
    return {"username": user.username, "display_name": user.display_name, "roles": sorted(user.role_set),
            "departments": user.department_codes, "active": user.is_enabled, "email": user.email,
            "mobile": user.mobile, "head_of": head_of if head_of is not None else heads_of_users(user.id).get(user.id, []),
            "must_change_password": user.must_change_password}


def get_user(username: str) -> User:
    """The user with this username, or 404."""
    user = db.session.scalar(select(User).where(User.username == username)) \
        if USERNAME_SHAPE.fullmatch(username) else None
    if user is None:
        raise NotFound(_("There is no user %(username)s.", username=username))
    return user


def search_users(text: str = "", role: str = "", department: str = "", active: bool | None = None):
    """A statement for users matching the filters, by username."""
    statement = select(User).order_by(User.username)
    if text:
        pattern = f"%{text.lower()}%"
        statement = statement.where(or_(func.lower(User.username).like(pattern),
                                        func.lower(User.display_name).like(pattern)))
    if role:
        statement = statement.where((" " + User.roles + " ").like(f"% {role} %"))
    if department:
        statement = statement.where(User.departments.any(Department.code == department))
    if active is not None:
        statement = statement.where(User.is_enabled.is_(active))
    return statement


def heads_of_users(user_id: int | None = None) -> dict[int, list[str]]:
    """User id → codes of the departments they head (of every user, or of one), in one query."""
    statement = (select(user_departments.c.user_id, Department.code)
                 .join(Department, Department.id == user_departments.c.department_id)
                 .where(user_departments.c.is_head).order_by(Department.code))
    if user_id is not None:
        statement = statement.where(user_departments.c.user_id == user_id)
    rows = db.session.execute(statement)
    heads: dict[int, list[str]] = {}
    for user_id, code in rows:
        heads.setdefault(user_id, []).append(code)
    return heads


# --- validation: every field checked, every problem reported at once -------------------------------

def checked_email(value, fields: dict, field: str = "email") -> str | None:
    """A syntactically valid address (normalised), or None when empty; problems go to `fields`."""
    value = checked_text(value, field, fields, False, 254)
    if value is None or field in fields:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        fields[field] = _("Not a valid e-mail address.")
        return None


def checked_mobile(value, fields: dict, field: str = "mobile") -> str | None:
    value = checked_text(value, field, fields, False, 20)
    if value is None or field in fields:
        return None
    value = value.replace(" ", "").replace("-", "")
    if value.startswith("+86"):
        value = value[3:]
    if not is_cn_mobile(value):
        fields[field] = _("Not a mainland mobile number (11 digits starting 13 to 19).")
        return None
    return value


def checked_roles(value, fields: dict, field: str = "roles") -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        fields[field] = _("Must be a list of roles.")
        return None
    unknown = sorted(set(value) - set(ROLES))
    if unknown:
        fields[field] = _("Unknown role: %(roles)s. Known roles: %(known)s", roles=", ".join(unknown),
                          known=", ".join(ROLES))
        return None
    if not value:
        fields[field] = _("Give at least one role.")
        return None
    return sorted(set(value))


def _departments(value, fields: dict, field: str = "departments") -> list[Department] | None:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        fields[field] = _("Must be a list of department codes.")
        return None
    found = list(db.session.scalars(select(Department).where(
        Department.code.in_([code for code in value if CODE_SHAPE.fullmatch(code)]))))
    unknown = sorted(set(value) - {d.code for d in found})
    inactive = sorted(d.code for d in found if not d.is_active)
    if unknown:
        fields[field] = _("Unknown department: %(codes)s", codes=", ".join(unknown))
    elif inactive:
        fields[field] = _("Deactivated department: %(codes)s", codes=", ".join(inactive))
    return found if not (unknown or inactive) else None


def _bool(value, field: str, fields: dict) -> bool | None:
    if not isinstance(value, bool):
        fields[field] = _("Must be true or false.")
        return None
    return value


def _refuse(fields: dict) -> None:
    if fields:
        raise ValidationFailed(_("Please correct the highlighted fields."), fields)


# --- the verbs ---------------------------------------------------------------------------------------

def create_account(actor: Actor | None, channel: str, data: dict) -> User:
    """A new account; 409 when the username is taken, 422 listing every bad field."""
    fields: dict[str, str] = {}
    username = data.get("username")
    if not isinstance(username, str) or not USERNAME_SHAPE.fullmatch(username):
        fields["username"] = _("2 to 64 letters, digits, _, . or -, starting with a letter or digit.")
    display_name = checked_text(data.get("display_name"), "display_name", fields, True, 100)
    email = checked_email(data.get("email"), fields)
    mobile = checked_mobile(data.get("mobile"), fields)
    roles = checked_roles(data.get("roles"), fields)
    departments = _departments(data.get("departments", []), fields)
    active = _bool(data.get("active", True), "active", fields)
    password = data.get("password")
    if not isinstance(password, str) or not password:
        fields["password"] = _("Required.")
    else:
        problem = password_problem(password, username if isinstance(username, str) else "",
                                   tuple(v for v in (display_name, email, mobile) if v))
        if problem:
            fields["password"] = problem
    head_of = _head_of(data, roles, departments, fields)
    _refuse(fields)
    if db.session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise UsernameTaken(_("The username %(username)s is taken.", username=username), {"username": _("Taken.")})
    user = User(username=username, display_name=display_name, email=email, mobile=mobile,
                roles=" ".join(roles), is_enabled=active, departments=departments)
    user.set_password(password)
    try:
        with db.session.begin_nested():  # another admin may create the same username at this moment
            db.session.add(user)
    except IntegrityError:
        raise UsernameTaken(_("The username %(username)s is taken.", username=username),
                            {"username": _("Taken.")}) from None
    _set_heads(user, head_of)
    record_change(actor, channel, "user.created", "user", username, None, user_record(user, head_of))
    return user


def _head_of(data: dict, roles: list[str] | None, departments: list[Department] | None,
             fields: dict, current: list[str] | None = None) -> list[str]:
    """The departments the user heads: as given; else for a dept_head those of `current` they still
    belong to, or all their departments."""
    codes = [d.code for d in departments or []]
    if roles and "dept_head" in roles and departments is not None and not codes:
        fields["departments"] = _("A department head belongs to at least one department.")
        return []
    if data.get("head_of") is None:
        if not roles or "dept_head" not in roles:
            return []
        return [code for code in current or [] if code in codes] or codes
    head_of = data["head_of"]
    if not isinstance(head_of, list) or not all(isinstance(c, str) for c in head_of):
        fields["head_of"] = _("Must be a list of department codes.")
        return []
    outside = sorted(set(head_of) - set(codes))
    if outside:
        fields["head_of"] = _("Heads only departments they belong to: %(codes)s", codes=", ".join(outside))
        return []
    return sorted(set(head_of))


def _set_heads(user: User, head_of: list[str]) -> None:
    ids = [d.id for d in user.departments if d.code in head_of]
    db.session.execute(update(user_departments).where(user_departments.c.user_id == user.id)
                       .values(is_head=user_departments.c.department_id.in_(ids) if ids else False))
    sync_head_roles({user.id})


def update_account(actor: Actor | None, channel: str, username: str, changes: dict,
                   keep_session: str | None = None, keep_token_hash: str | None = None,
                   must_change_password: bool | None = None) -> User:
    """Change any editable field. A new password set by someone else must be changed at next login; a
    password change or deactivation ends the user's sessions and tokens; tasks they hold in departments
    they leave (or all, when deactivated) go back to the pool."""
    user = get_user(username)
    before = user_record(user)
    fields: dict[str, str] = {}
    if "username" in changes and changes["username"] != username:
        fields["username"] = _("A username cannot be changed.")
    unknown = sorted(set(changes) - set(EDITABLE) - {"username"})
    if unknown:
        fields.update({name: _("Unknown field.") for name in unknown})
    if "display_name" in changes:
        user.display_name = checked_text(changes["display_name"], "display_name", fields, True, 100) or user.display_name
    if "email" in changes:
        user.email = checked_email(changes["email"], fields)
    if "mobile" in changes:
        user.mobile = checked_mobile(changes["mobile"], fields)
    roles = checked_roles(changes["roles"], fields) if "roles" in changes else sorted(user.role_set)
    departments = _departments(changes["departments"], fields) if "departments" in changes else user.departments
    active = _bool(changes["active"], "active", fields) if "active" in changes else user.is_enabled
    head_of = (_head_of(changes, roles, departments, fields, before["head_of"])
               if {"head_of", "roles", "departments"} & set(changes) else before["head_of"])
    is_self = actor is not None and actor.id == user.id
    new_password = changes.get("password")
    if "password" in changes:
        if not isinstance(new_password, str) or not new_password:
            fields["password"] = _("Required.")
        else:
            problem = password_problem(new_password, username,
                                       tuple(v for v in (user.display_name, user.email, user.mobile) if v))
            if problem:
                fields["password"] = problem
    _refuse_admin_lockout(user, is_self, roles, active, fields)
    _refuse(fields)
    left = {d.code for d in user.departments} - {d.code for d in departments}
    user.roles = " ".join(roles)
    user.departments = list(departments)
    user.is_enabled = active
    db.session.flush()
    _set_heads(user, head_of)
    after = user_record(user, head_of)
    if new_password:
        user.set_password(new_password)
        # Someone else chose it, so it is known to two people: its owner must replace it.
        user.must_change_password = (not is_self) if must_change_password is None else must_change_password
        before["password"], after["password"] = "—", "reset" if not is_self else "changed"
        after["must_change_password"] = user.must_change_password
    if new_password or not active:
        sessions.end_sessions_and_tokens(user.id, keep_session if is_self else None,
                                         keep_token_hash if is_self else None)
    if not active:
        return_claims_to_pool(user, actor, _("Account deactivated"))
    elif left:
        return_claims_to_pool(user, actor, _("Left the department"), left)
    record_change(actor, channel, "user.deactivated" if before["active"] and not active else "user.updated",
                  "user", username, before, after)
    return user


def _refuse_admin_lockout(user: User, is_self: bool, roles: list[str] | None, active: bool | None,
                          fields: dict) -> None:
    """Nobody removes their own admin role or account, and the last active admin stays."""
    was_admin = "admin" in user.role_set and user.is_enabled
    stays_admin = roles is not None and "admin" in roles and active is not False
    if not was_admin or stays_admin:
        return
    if is_self:
        field = "active" if active is False else "roles"
        fields[field] = _("You cannot remove your own administrator account or role.")
        return
    # Lock the active administrators: two admins deactivating each other at once cannot both succeed.
    admins = db.session.scalars(select(User.id).where(
        User.is_enabled, (" " + User.roles + " ").like("% admin %")).with_for_update()).all()
    other_admins = len(set(admins) - {user.id})
    if not other_admins:
        fields["active" if active is False else "roles"] = _("This is the last active administrator.")


def change_own_password(actor: Actor, current: str, new: str, keep_session: str | None = None,
                        keep_token_hash: str | None = None) -> User:
    """The user replaces their password after proving the current one; their other sessions and tokens end.
    Wrong current passwords count against the login throttle of the account (flushed: commit it)."""
    user = db.session.get(User, actor.id)
    bucket = throttle.account_bucket(user.username)
    throttle.check_allowed(bucket)
    if not isinstance(current, str) or not user.check_password(current):
        throttle.record_failure(bucket)
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"current": _("This is not your current password.")})
    if not isinstance(new, str) or new == current:
        raise ValidationFailed(_("Please correct the highlighted fields."),
                               {"new": _("Choose a password different from the current one.")})
    check_new_password(new, user.username, tuple(v for v in (user.display_name, user.email, user.mobile) if v),
                       field="new")
    user.set_password(new)
    user.must_change_password = False
    throttle.record_success(bucket)
    sessions.end_sessions_and_tokens(user.id, keep_session, keep_token_hash)
    record_change(user, "api" if keep_token_hash else "page", "user.password_changed", "user", user.username,
                  None, None)
    return user
