"""Small helpers shared by page views and templates."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import current_app, g
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from app.services import org
from app.taskforms.formats import mask_id_number

STATUS_LABELS = {
    "in_progress": _l("In progress"),
    "pending_supplement": _l("Awaiting supplement"),
    "suspended": _l("Suspended"),
    "completed": _l("Completed"),
    "refused": _l("Refused"),
    "withdrawn": _l("Withdrawn"),
}
ACTION_LABELS = {
    "case_accepted": _l("Case accepted"),
    "task_routed": _l("Routed to department"),
    "task_claimed": _l("Task claimed"),
    "task_released": _l("Task released"),
    "task_completed": _l("Step completed"),
    "task_cancelled": _l("Step withdrawn by the process"),
    "timer_failed": _l("Timer failed"),
    "case_finished": _l("Case finished"),
}
RESULT_LABELS = {"granted": _l("Granted"), "refused": _l("Refused"), "withdrawn": _l("Withdrawn")}
CASE_TYPE_LABELS = {"immediate": _l("On-the-spot (即办件)"), "committed": _l("Committed deadline (承诺件)")}
UNIT_LABELS = {"working_day": _l("working days"), "calendar_day": _l("calendar days"), "hour": _l("hours")}


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
    }
