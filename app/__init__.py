"""OneWindow (一窗通): BPMN case handling for government service centres."""
from __future__ import annotations

import logging

from flask import Flask

from app.config import Config


def create_app(config_object: type | object = Config, **overrides) -> Flask:
    """Build the app: config → extensions → blueprints → CLI → logging."""
    from app.config import INSTANCE_DIR

    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.config.from_object(config_object)
    app.config.update(overrides)
    app.json.ensure_ascii = False  # Chinese stays readable in API answers

    from app import auth, errors, i18n, vendor
    from app.extensions import babel, csrf, db, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    login_manager.init_app(app)
    auth.configure_login(login_manager)

    from app.views import register_blueprints

    register_blueprints(app)
    errors.register_error_handlers(app)
    vendor.register(app)

    from app.cli import register_commands

    register_commands(app)

    from app.jobs.runner import start_in_process_scheduler

    start_in_process_scheduler(app)

    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO)
    return app
