"""Small helpers shared by page views and templates."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Response, current_app, g, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from app.labels import (
    ACTION_LABELS,
    AUDIT_ACTION_LABELS,
    AUDIT_CHANNEL_LABELS,
    AUDIT_FIELD_LABELS,
    CASE_TYPE_LABELS,
    DECISION_LABELS,
    ID_TYPE_LABELS,
    NOTIFICATION_LABELS,
    RESULT_LABELS,
    ROLE_LABELS,
    STATUS_LABELS,
    SUSPENSION_LABELS,
    UNIT_LABELS,
)
from app.services import org
from app.services.notices.notifications import unread_count
from app.taskforms.formats import mask_id_number


def locale_code() -> str:
    """'zh' or 'en' for the current request."""
    return str(get_locale() or "zh")


def local_time(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC timestamp shown in the service centre's time zone."""
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).strftime(fmt)


def department_name(code: str) -> str:
    """A department's name in the current language (codes are what BPMN lanes carry)."""
    names = g.get("department_names")
    if names is None:  # one query per request, only on pages that show departments
        names = g.department_names = org.department_names(locale_code().startswith("en"))
    return names.get(code, code)


def template_helpers() -> dict:
    """Names every template can use."""
    return {
        "locale_code": locale_code,
        "local_time": local_time,
        "mask_id": mask_id_number,
        "department_name": department_name,
        "STATUS_LABELS": STATUS_LABELS,
        "ACTION_LABELS": ACTION_LABELS,
        "RESULT_LABELS": RESULT_LABELS,
        "CASE_TYPE_LABELS": CASE_TYPE_LABELS,
        "UNIT_LABELS": UNIT_LABELS,
        "ID_TYPE_LABELS": ID_TYPE_LABELS,
        "DECISION_LABELS": DECISION_LABELS,
        "SUSPENSION_LABELS": SUSPENSION_LABELS,
        "NOTIFICATION_LABELS": NOTIFICATION_LABELS,
        "ROLE_LABELS": ROLE_LABELS,
        "audit_changes": audit_changes,
        "AUDIT_ACTION_LABELS": AUDIT_ACTION_LABELS,
        "AUDIT_CHANNEL_LABELS": AUDIT_CHANNEL_LABELS,
        "unread_notifications": _unread_notifications,
        "department_choices": _department_choices,
    }


def _shown(key: str, value) -> str:
    """An audited value as text for people: role names, yes/no, lists, nested counts."""
    if value is None or value in ([], ""):
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if key == "roles" and isinstance(value, list):
        return "、".join(str(ROLE_LABELS.get(role, role)) for role in value)
    if isinstance(value, list):
        return "、".join(map(str, value))
    if isinstance(value, dict):
        return "; ".join(f"{AUDIT_FIELD_LABELS.get(k, k)}: {_shown(k, v)}" for k, v in value.items())
    return str(value)


def audit_changes(entry) -> list[tuple[str, str, str]]:
    """(field label, before, after) of an audit entry; a creation lists only the fields it set."""
    before, after = entry.before or {}, entry.after or {}
    keys = [key for key in dict.fromkeys([*after, *before])
            if entry.before is not None or _shown(key, after.get(key)) != "—"]
    return [(str(AUDIT_FIELD_LABELS.get(key, key)), _shown(key, before.get(key)), _shown(key, after.get(key)))
            for key in keys]


def _unread_notifications() -> int:
    """The header's unread count: one indexed COUNT, only on pages that show the header."""
    return unread_count(current_user) if current_user.is_authenticated else 0


def _department_choices() -> list[tuple[str, str]]:
    """(code, name) of every active department, for transfer forms."""
    return sorted(org.department_names(locale_code().startswith("en"), active_only=True).items())


# Far beyond any list; larger page numbers would overflow the database's OFFSET.
MAX_PAGE = 100_000


def page_arg() -> int:
    """The `page` query argument, 1 when absent or malformed, never beyond MAX_PAGE."""
    return min(max(request.args.get("page", 1, type=int), 1), MAX_PAGE)


def text_arg(name: str, limit: int = 100) -> str:
    """A text query argument for a search, trimmed, without NUL characters (the database refuses them)."""
    return request.args.get(name, "").replace("\x00", "").strip()[:limit]


def bpmn_download(version) -> Response:
    """A process version's BPMN as a download; uploaded XML could carry XHTML scripts, so never a page."""
    return Response(version.bpmn_xml, mimetype="application/xml", headers={
        "Content-Disposition": f'attachment; filename="{version.process_id}-v{version.version}.bpmn"',
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox; default-src 'none'"})
