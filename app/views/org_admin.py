"""Organisation administration pages (admin): the department tree and user accounts."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth import SESSION_ID_KEY, roles_required
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import User
from app.models.org import ROLES
from app.services.org import departments as department_service
from app.services.org import users as user_service
from app.views.helpers import page_arg, text_arg

bp = Blueprint("org_admin", __name__, url_prefix="/admin")


@bp.route("/departments", methods=["GET", "POST"])
@roles_required("admin")
def departments():
    """The department tree, and a new department."""
    errors, values, status = {}, {}, 200
    if request.method == "POST":
        values = {key: request.form.get(key, "").strip() for key in ("code", "name", "name_en", "parent")}
        try:
            department = department_service.create_department(current_user, "page", values)
        except (ValidationFailed, Conflict) as exc:
            db.session.rollback()
            errors, status = exc.fields or {"code": exc.message}, exc.status
        else:
            flash(_("Department %(code)s created.", code=department.code), "success")
            return redirect(url_for("org_admin.departments"))
    tree = department_service.tree(department_service.all_departments())
    head_names = department_service.heads_by_department(User.display_name)
    return render_template("admin/org/departments.html", tree=tree, head_names=head_names, errors=errors,
                           values=values), status


@bp.route("/departments/<code>", methods=["GET", "POST"])
@roles_required("admin")
def edit_department(code: str):
    """Rename, move, set heads, deactivate or reactivate one department."""
    department = department_service.get_department(code)
    errors, status = {}, 200
    if request.method == "POST":
        changes = {"name": request.form.get("name", ""), "name_en": request.form.get("name_en", ""),
                   "parent": request.form.get("parent") or None, "heads": request.form.getlist("heads"),
                   "active": request.form.get("active") == "1"}
        try:
            department_service.update_department(current_user, "page", code, changes)
        except (ValidationFailed, Conflict) as exc:  # in use (409) is shown on the field, as bad input is
            db.session.rollback()
            errors, status = exc.fields or {"name": exc.message}, exc.status
            department = department_service.get_department(code)
        else:
            flash(_("Department %(code)s saved.", code=code), "success")
            return redirect(url_for("org_admin.departments"))
    tree = department_service.tree(department_service.all_departments())
    heads = department_service.heads_by_department(department_id=department.id)
    members = db.session.scalars(user_service.search_users(department=code)).all()
    return render_template("admin/org/department.html", department=department, tree=tree,
                           heads=heads.get(department.id, []), members=members, errors=errors,
                           blockers=department_service.deactivation_blockers(department)
                           if department.is_active else []), status


@bp.route("/users")
@roles_required("admin")
def users():
    """Accounts with search by name, role, department and state."""
    active = {"1": True, "0": False}.get(request.args.get("active", ""))
    statement = user_service.search_users(text_arg("q"), text_arg("role"), text_arg("department"), active)
    pagination = db.paginate(statement, page=page_arg(), per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_template("admin/org/users.html", pagination=pagination, heads=user_service.heads_of_users(),
                           roles=ROLES, departments=department_service.all_departments(), args=request.args)


def _user_form() -> dict:
    form = request.form
    data = {"display_name": form.get("display_name", ""), "email": form.get("email", ""),
            "mobile": form.get("mobile", ""), "roles": form.getlist("roles"),
            # No head ticked: a dept_head heads the departments they headed, or all of theirs.
            "departments": form.getlist("departments"), "head_of": form.getlist("head_of") or None,
            "active": form.get("active") == "1"}
    if form.get("password"):
        data["password"] = form["password"]
    return data


def _render_user(user, values: dict, errors: dict, status: int = 200):
    return render_template("admin/org/user.html", user=user, values=values, errors=errors, roles=ROLES,
                           tree=department_service.tree(department_service.all_departments())), status


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required("admin")
def new_user():
    if request.method == "GET":
        return _render_user(None, {"roles": [], "departments": [], "head_of": [], "active": True}, {})
    values = {**_user_form(), "username": request.form.get("username", "").strip()}
    try:
        user = user_service.create_account(current_user, "page", values)
    except ValidationFailed as exc:
        db.session.rollback()
        return _render_user(None, values, exc.fields or {"username": exc.message}, exc.status)
    flash(_("User %(username)s created. They can log in now.", username=user.username), "success")
    return redirect(url_for("org_admin.users"))


@bp.route("/users/<username>", methods=["GET", "POST"])
@roles_required("admin")
def edit_user(username: str):
    user = user_service.get_user(username)
    if request.method == "GET":
        return _render_user(user, user_service.user_record(user), {})
    values = _user_form()
    try:
        # An administrator changing their own password here stays logged in on this browser.
        user_service.update_account(current_user, "page", username, values, keep_session=session.get(SESSION_ID_KEY))
    except ValidationFailed as exc:
        db.session.rollback()
        return _render_user(user_service.get_user(username), {**values, "username": username},
                            exc.fields or {"display_name": exc.message}, exc.status)
    flash(_("User %(username)s saved.", username=username), "success")
    return redirect(url_for("org_admin.users"))
