"""OneWindow (一窗通): BPMN case handling for government service centres."""
from __future__ import annotations

import logging

from flask import Flask

from app import auth, error_pages, i18n, shared_cache, unit_of_work, vendor, web_security
from app.cli import register_commands
from app.config import INSTANCE_DIR, PROJECT_ROOT, Config
from app.engine import register_script_function
from app.extensions import babel, csrf, db, login_manager, migrate
from app.jobs.runner import start_in_process_scheduler
from app.services.cases.deadlines import working_days_ahead
from app.services.processes.form_versions import DatabaseForms
from app.taskforms.registry import DEPLOYED_FORMS_KEY
from app.views import register_blueprints


def create_app(config_object: type | object = Config, **overrides) -> Flask:
    """Build the app: config → extensions → blueprints → CLI → logging."""
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.config.from_object(config_object)
    app.config.update(overrides)
    app.json = web_security.BoundedJSONProvider(app)
    app.json.ensure_ascii = False  # Chinese stays readable in API answers
    app.json.sort_keys = False  # form definitions keep their field order
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError("SECRET_KEY is not set: export SECRET_KEY or run bin/setup to create instance/secret_key")

    db.init_app(app)
    with app.app_context():
        shared_cache.init_app(app, db.engine)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    login_manager.init_app(app)
    auth.configure_login(login_manager)

    web_security.register(app)
    register_blueprints(app)
    error_pages.register_error_handlers(app)
    unit_of_work.register(app)
    vendor.register(app)
    register_commands(app)
    register_script_function("working_days_ahead", working_days_ahead)
    # Forms deployed from the process designer take precedence over the forms folder.
    app.extensions[DEPLOYED_FORMS_KEY] = DatabaseForms()
    # Only when SCHEDULER_IN_PROCESS=1 (the first-run dev server); production runs `flask scheduler`.
    start_in_process_scheduler(app)

    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO)
        # The engine logs every task state change at INFO; keep production logs readable.
        logging.getLogger("spiff").setLevel(logging.WARNING)
    return app
