"""One place commits a request: after its view answered, and only if the answer is not a refusal.

Views and services change the session; nothing in them commits. When the response is a success or a
redirect the unit of work is committed here, before the answer leaves, so a client that is told
"done" can rely on it. A refusal (4xx, 5xx) rolls everything back, so a refused request leaves
nothing half-written. The few writes that must stand although the request is refused, such as a
failed login counted against the throttle, are kept with `keep_what_was_written()`.
"""
from __future__ import annotations

from flask import Flask, Response, make_response, session
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app.error_pages import error_response
from app.extensions import db


def keep_what_was_written() -> None:
    """Commit now, whatever the answer will be: a counted failed attempt must count even if refused."""
    db.session.commit()


def _finish(response: Response) -> Response:
    if response.status_code >= 400:
        db.session.rollback()
        return response
    try:
        db.session.commit()
    except (StaleDataError, IntegrityError) as exc:
        db.session.rollback()
        if isinstance(exc, IntegrityError) and not _is_unique_violation(exc):
            raise  # a broken constraint is a bug to see in the log, not a race to retry
        # Someone else's unit of work on the same rows committed first: nothing of this one stands,
        # so neither does the success message the view prepared.
        session.pop("_flashes", None)
        return make_response(*error_response(409, _("Someone else changed this at the same moment. "
                                                      "Reload and try again.")))
    return response


def _is_unique_violation(exc: IntegrityError) -> bool:
    code = getattr(exc.orig, "pgcode", None)
    return code == "23505" if code is not None else "UNIQUE constraint failed" in str(exc.orig)


def register(app: Flask) -> None:
    app.after_request(_finish)
