"""Language choice: explicit request, then the user's cookie, then the browser, then Chinese."""
from __future__ import annotations

from flask import current_app, has_request_context, request

LANG_COOKIE = "lang"


def select_locale() -> str:
    """Pick zh or en for this request."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # jobs and CLI commands speak the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    asked = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
    if asked in languages:
        return asked
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]
