"""Blueprint registration."""
from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter


class DatabaseIdConverter(IntegerConverter):
    """`<int:…>` in URLs: a number a database integer column can hold, else 404 (not a 500 from the database)."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's parameter name
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint; the API is exempt from CSRF because it takes bearer tokens only."""
    app.url_map.converters["int"] = DatabaseIdConverter
    from app.extensions import csrf
    from app.views import auth, cases, guide, inbox, intake, main, public, supervision, task_actions
    from app.views.api import api_bp

    for blueprint in (auth.bp, main.bp, guide.bp, intake.bp, inbox.bp, cases.bp, public.bp, task_actions.bp, supervision.bp):
        app.register_blueprint(blueprint)
    from app.views.admin_outbox import bp as admin_outbox_bp
    app.register_blueprint(admin_outbox_bp)
    from app.views.admin_calendar import bp as admin_calendar_bp
    app.register_blueprint(admin_calendar_bp)
    from app.views.archive import bp as archive_bp
    app.register_blueprint(archive_bp)
    from app.views.archive_transfer import bp as archive_transfer_bp
    app.register_blueprint(archive_transfer_bp)
    from app.views.designer import bp as designer_bp
    app.register_blueprint(designer_bp)
    from app.views import org_admin, org_files
    app.register_blueprint(org_admin.bp)
    app.register_blueprint(org_files.bp)
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)

    from app.views.helpers import template_helpers

    app.context_processor(template_helpers)
