"""Supervision API: traffic lights, overdue steps, alerts, on-time rates and 督办 orders."""
from __future__ import annotations

from dataclasses import asdict

from flask import g, jsonify, request
from flask_babel import gettext as _

from app.auth import api_auth
from app.errors import Forbidden
from app.models.base import utcnow
from app.services.supervision import cards, orders, reports
from app.views.api import api_bp
from app.views.api.serializers import iso, json_object

DEFAULT_PER_PAGE = 100


def _paging() -> reports.Paging:
    return reports.parse_paging(request.args, DEFAULT_PER_PAGE, allow_per_page=True)


def _listing(page: reports.Page, shape) -> object:
    """A JSON array of one page; the total in X-Total-Count, as the task list does."""
    response = jsonify([shape(row) for row in page.items])
    response.headers["X-Total-Count"] = str(page.total)
    return response


@api_bp.get("/supervision/lights")
@api_auth("supervisor")
def supervision_lights():
    """Open steps per department: green, yellow (due within 24 h), red (overdue), paused."""
    now = utcnow()
    return jsonify({"as_of": iso(now), "departments": reports.department_lights(now)})


def _overdue_json(row: dict) -> dict:
    return {"work_item_id": row["work_item_id"], "case_no": row["case_no"], "item_code": row["item_code"],
            "item_name": row["item_name"], "step": row["step"], "department": row["department_code"],
            "holder": row["holder"], "due_at": iso(row["due_at"]),
            "committed_due_at": iso(row["committed_due_at"]), "statutory_due_at": iso(row["statutory_due_at"]),
            "late_seconds": int(row["late"].total_seconds())}


@api_bp.get("/supervision/overdue")
@api_auth("supervisor")
def supervision_overdue():
    """Open steps past their due time, the latest first; ?department= narrows to one department."""
    filters = reports.parse_overdue_filters(request.args)
    paging = _paging()
    return _listing(reports.overdue_page(filters, paging.page, paging.per_page), _overdue_json)


def _alert_json(row: dict) -> dict:
    return {"id": row["id"], "raised_at": iso(row["raised_at"]), "level": row["level"], "rule": row["rule"],
            "subject": row["subject"], "department": row["department_code"], "case_no": row["case_no"],
            "step": row["step"], "content": row["content"], "details": row["details"], "result": row["result"]}


@api_bp.get("/supervision/alerts")
@api_auth("supervisor")
def supervision_alerts():
    """Alert history, newest first: ?department, level, rule, from, to (local days, inclusive)."""
    filters = reports.parse_alert_filters(request.args)
    paging = _paging()
    return _listing(reports.alert_page(filters, paging.page, paging.per_page), _alert_json)


@api_bp.get("/supervision/rates")
@api_auth("supervisor")
def supervision_rates():
    """On-time rates per item and department for ?from/to days of completion (default: this month)."""
    period = reports.parse_period(request.args)
    return jsonify({**period.as_args(), **reports.on_time_rates(period)})


@api_bp.get("/supervision/cards")
@api_auth("supervisor")
def supervision_cards():
    """A week's cards (红牌/黄牌) per department and per officer, ?week=any day of it (default: last full week)."""
    tally = cards.week_tally(cards.parse_week(request.args))
    return jsonify({"week_start": tally.week_start.isoformat(), "rules": cards.rules_text(),
                    "departments": [asdict(row) for row in tally.departments],
                    "officers": [asdict(row) for row in tally.officers]})


def _order_json(order) -> dict:
    """An order as stored (after issue or reply)."""
    return {"id": order.id, "case_no": order.case.case_no, "department": order.department_code,
            "issued_by": order.issued_by.username, "issued_at": iso(order.issued_at), "content": order.content,
            "reply_due_at": iso(order.reply_due_at), "status": order.status, "reply": order.reply,
            "replied_at": iso(order.replied_at),
            "replied_by": order.replied_by.username if order.replied_by_id else None}


def _order_row_json(row: dict) -> dict:
    """An order as the list shows it, with its lateness flags."""
    return {"id": row["id"], "case_no": row["case_no"], "department": row["department_code"],
            "issued_by": row["issued_by"], "issued_at": iso(row["issued_at"]), "content": row["content"],
            "reply_due_at": iso(row["reply_due_at"]), "status": row["status"], "reply": row["reply"],
            "replied_at": iso(row["replied_at"]), "replied_by": row["replied_by"],
            "overdue": row["overdue"], "replied_late": row["replied_late"]}


@api_bp.post("/cases/<case_no>/supervision-orders")
@api_auth("supervisor")
def issue_supervision_order(case_no: str):
    """督办: {content, reply_working_days (default 3)} to the department holding the case."""
    body = json_object()
    order = orders.issue_order(case_no, g.api_user, body.get("content"), body.get("reply_working_days"))
    answer = _order_json(order)
    return jsonify(answer), 201


@api_bp.post("/supervision-orders/<int:order_id>/reply")
@api_auth()
def reply_supervision_order(order_id: int):
    """{reply} from the department the order is addressed to (or a supervisor)."""
    order = orders.reply_to_order(order_id, g.api_user, json_object().get("reply"))
    answer = _order_json(order)
    return jsonify(answer)


@api_bp.get("/supervision-orders")
@api_auth()
def list_supervision_orders():
    """Orders, open first: all for supervisors, those addressed to my departments for staff; ?status=."""
    if not (g.api_user.has_role("supervisor") or g.api_user.department_codes):
        raise Forbidden(_("You do not have permission to do this."))
    status = orders.parse_order_status(request.args)
    paging = _paging()
    return _listing(orders.order_page(g.api_user, status, paging.page, paging.per_page), _order_row_json)
