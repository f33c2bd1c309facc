"""One place turns failures into answers: JSON under /api, a page elsewhere; never a trace."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from app.errors import ServiceError
from app.extensions import db

log = logging.getLogger(__name__)


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, message: str, fields: dict | None = None, problems: list | None = None):
    """A JSON body for the API, the error page for people."""
    if _wants_json():
        body = {"error": str(message)}
        if fields is not None:
            body["fields"] = {k: str(v) for k, v in fields.items()}
        if problems is not None:
            body["problems"] = problems
        return jsonify(body), status
    return render_template("error.html", status=status, message=message, fields=fields or {}), status


def register_error_handlers(app: Flask) -> None:
    """Map service errors, HTTP errors and surprises to clear answers."""

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):
        db.session.rollback()
        fields = exc.fields if (exc.fields or exc.status == 422) else None
        response, status = error_response(exc.status, exc.message, fields, getattr(exc, "problems", None))
        response = make_response(response, status)
        if getattr(exc, "retry_after", None):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(StaleDataError)
    def stale(exc):
        db.session.rollback()
        return error_response(409, _("Someone else changed this case at the same moment. Reload and try again."))

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return error_response(400, _("The form expired or its security token is missing. Reload the page and try again."))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        messages = {
            400: _("The request could not be understood."),
            401: _("Please log in."),
            403: _("You do not have permission to do this."),
            404: _("Not found."),
            405: _("This method is not allowed here."),
            413: _("The upload is too large."),
        }
        return error_response(exc.code or 500, messages.get(exc.code, exc.description or exc.name))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        db.session.rollback()
        if isinstance(exc, ValueError) and "NUL (0x00)" in str(exc):
            # PostgreSQL stores no NUL character: whatever field carried one, it is bad input.
            return error_response(400, _("The request contains a NUL character, which cannot be stored."))
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, _("Something went wrong on our side; nothing was saved. Please try again."))
