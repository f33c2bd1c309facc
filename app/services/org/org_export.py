"""Export of the whole organisation in the organisation file's format."""
from __future__ import annotations

from app.extensions import db
from app.services.org import departments as department_service
from app.services.org import users as user_service
from app.services.org.org_file import org_rows, write_csv, write_xlsx


def export_rows() -> list[list[str]]:
    """The whole organisation as file rows: departments in tree order, then users by username."""
    heads = department_service.heads_by_department()
    departments = [department_service.department_record(d, heads.get(d.id, []))
                   for _depth, d in department_service.tree(department_service.all_departments())]
    user_heads = user_service.heads_of_users()
    users = [user_service.user_record(u, user_heads.get(u.id, []))
             for u in db.session.scalars(user_service.search_users())]
    return org_rows(departments, users)


def export_file(kind: str) -> bytes:
    """The organisation file as `csv` or `xlsx`."""
    rows = export_rows()
    return write_xlsx(rows) if kind == "xlsx" else write_csv(rows)
