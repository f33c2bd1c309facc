"""Supervisor pages (电子监察): traffic lights, overdue work, alert history, 督办 orders, on-time rates.

Rating follow-ups live at /supervision/follow-ups in the public blueprint; nothing here uses that path.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.auth import roles_required
from app.errors import Forbidden, ValidationFailed
from app.models.supervision import ALERT_LEVELS
from app.services.supervision import cards, orders, reports
from app.views.helpers import department_name

bp = Blueprint("supervision", __name__, url_prefix="/supervision")

LEVEL_LABELS = {"red": _l("Red"), "yellow": _l("Yellow"), "info": _l("Information")}
LEVEL_STYLES = {"red": "danger", "yellow": "warning", "info": "info"}
ORDER_STATUS_LABELS = {"open": _l("Awaiting reply"), "replied": _l("Replied")}


def _filters(parse: Callable, args=None):
    """Parsed query-string filters; on a page the heading says what failed and the list says why."""
    try:
        return parse(request.args if args is None else args)
    except ValidationFailed as exc:
        raise ValidationFailed(_("Some filters are not valid."), exc.fields) from None


def _paging() -> reports.Paging:
    return _filters(lambda args: reports.parse_paging(args, current_app.config["PAGE_SIZE"]))


def _late_text(late) -> str:
    days, hours = reports.lateness(late)
    return _("%(days)d d %(hours)d h", days=days, hours=hours)


@bp.route("/")
@roles_required("supervisor")
def index():
    """Traffic lights: open work per department by how close it is to its due time."""
    return render_template("supervision/lights.html", rows=reports.department_lights())


@bp.route("/overdue")
@roles_required("supervisor")
def overdue():
    """Open steps past their due time, the latest first."""
    filters = _filters(reports.parse_overdue_filters)
    paging = _paging()
    listing = reports.overdue_page(filters, paging.page, paging.per_page)
    return render_template("supervision/overdue.html", listing=listing, filters=filters, late_text=_late_text)


@bp.route("/alerts")
@roles_required("supervisor")
def alerts():
    """Alert history with filters, newest first; a result can be recorded on each alert."""
    filters = _filters(reports.parse_alert_filters)
    paging = _paging()
    listing = reports.alert_page(filters, paging.page, paging.per_page)
    return render_template("supervision/alerts.html", listing=listing, filters=filters, levels=ALERT_LEVELS,
                           level_labels=LEVEL_LABELS, level_styles=LEVEL_STYLES,
                           result_limit=orders.MAX_RESULT_CHARS)


@bp.route("/alerts/<int:alert_id>/result", methods=["POST"])
@roles_required("supervisor")
def alert_result(alert_id: int):
    """Record what came of an alert, then back to the same filtered page (refusals: the error page)."""
    orders.record_alert_result(alert_id, current_user, request.form.get("result"))
    flash(_("The result was recorded."), "success")
    # The list's filters come back as query arguments; only known ones are kept for the redirect.
    keep = {key: request.args[key] for key in ("department", "level", "rule", "from", "to", "page")
            if request.args.get(key)}
    return redirect(url_for("supervision.alerts", **keep))


@bp.route("/cases/<case_no>/orders", methods=["POST"])
@roles_required("supervisor")
def issue_order(case_no: str):
    """督办 from the case page: the holding department is told and must reply by the deadline."""
    order = orders.issue_order(case_no, current_user, request.form.get("content"),
                               request.form.get("reply_working_days"))
    department = department_name(order.department_code)
    flash(_("The supervision order was sent to %(department)s.", department=department), "success")
    return redirect(url_for("cases.show", case_no=case_no))


def _may_see_orders() -> bool:
    """Supervisors see every order; department staff see the orders addressed to them, to reply."""
    return current_user.has_role("supervisor") or bool(current_user.department_codes)


@bp.route("/orders")
@roles_required()
def order_list():
    """督办 orders: open first by reply deadline; late replies are flagged."""
    if not _may_see_orders():
        raise Forbidden(_("You do not have permission to do this."))
    status = _filters(orders.parse_order_status)
    paging = _paging()
    listing = orders.order_page(current_user, status, paging.page, paging.per_page)
    return render_template("supervision/orders.html", listing=listing, status=status,
                           status_labels=ORDER_STATUS_LABELS, text_limit=orders.MAX_TEXT_CHARS)


@bp.route("/orders/<int:order_id>/reply", methods=["POST"])
@roles_required()
def reply_order(order_id: int):
    """The addressed department's reply (or a supervisor's); refusals answer 403, 404, 409 or 422."""
    orders.reply_to_order(order_id, current_user, request.form.get("reply"))
    flash(_("The reply was sent."), "success")
    status = request.args.get("status")
    return redirect(url_for("supervision.order_list", status=status if status in orders.ORDER_STATUSES else None))


@bp.route("/cards")
@roles_required("supervisor")
def card_tally():
    """A week's red and yellow cards (红牌/黄牌) per department and per officer, with how they are counted."""
    week = _filters(cards.parse_week)
    return render_template("supervision/cards.html", tally=cards.week_tally(week), rules=cards.rules_text(),
                           previous=week - timedelta(days=7), following=week + timedelta(days=7))


@bp.route("/rates")
@roles_required("supervisor")
def rates():
    """On-time rates per item and per department for a period of completion (default: this month)."""
    period = _filters(reports.parse_period)
    return render_template("supervision/rates.html", period=period, rates=reports.on_time_rates(period))
