"""A tiny Flask app with Flask-Babel and compiled zh task-form translations; no database needed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, request
from flask_babel import Babel

from app.taskforms import FormRegistry

REPO_ROOT = Path(__file__).resolve().parents[2]
FORMS_DIR = REPO_ROOT / "forms"
TEMPLATES_DIR = REPO_ROOT / "app" / "templates"
PO_FRAGMENT = REPO_ROOT / "app" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"


@pytest.fixture(scope="session")
def translations_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's PO fragment compiled the way Flask-Babel expects to find it."""
    root = tmp_path_factory.mktemp("translations")
    messages_dir = root / "zh" / "LC_MESSAGES"
    messages_dir.mkdir(parents=True)
    with PO_FRAGMENT.open("rb") as po:
        catalog = read_po(po, locale="zh")
    with (messages_dir / "messages.mo").open("wb") as mo:
        write_mo(mo, catalog)
    return root


@pytest.fixture
def forms_app(translations_dir: Path) -> Flask:
    """Flask app whose locale comes from ?lang=, defaulting to Chinese like the real app."""
    app = Flask(__name__, template_folder=str(TEMPLATES_DIR))
    app.config.update(
        TESTING=True,
        FORMS_DIR=FORMS_DIR,
        BABEL_DEFAULT_LOCALE="zh",
        BABEL_TRANSLATION_DIRECTORIES=str(translations_dir),
    )
    Babel(app, locale_selector=lambda: request.args.get("lang", "zh"))
    return app


@pytest.fixture
def zh(forms_app: Flask):
    """A request context in Chinese."""
    with forms_app.test_request_context("/?lang=zh"):
        yield


@pytest.fixture
def en(forms_app: Flask):
    """A request context in English."""
    with forms_app.test_request_context("/?lang=en"):
        yield


@pytest.fixture(scope="session")
def registry() -> FormRegistry:
    """Registry over the shipped forms folder."""
    return FormRegistry(FORMS_DIR)


@pytest.fixture
def write_form(tmp_path: Path):
    """Write a schema into a scratch forms folder; returns a registry over that folder."""

    def write(key: str, schema: object, raw: str | None = None) -> FormRegistry:
        text = raw if raw is not None else json.dumps(schema, ensure_ascii=False)
        (tmp_path / f"{key}.json").write_text(text, encoding="utf-8")
        return FormRegistry(tmp_path)

    return write
