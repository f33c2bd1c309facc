"""Load task form schemas from the forms folder by key, check them once, and cache them."""
from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Protocol

from flask import current_app
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from app.taskforms.errors import InvalidForm, UnknownForm
from app.taskforms.form import TaskForm

__all__ = ["DEPLOYED_FORMS_KEY", "DeployedForms", "FormRegistry", "form_from_schema", "InvalidForm", "UnknownForm", "get_registry", "is_form_key"]

# Keys come from BPMN files and URLs; this shape keeps them inside the forms folder.
_KEY_SHAPE = re.compile(r"[a-z][a-z0-9_]*")
_MAX_KEY_LENGTH = 100
_DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
_EXTENSION_KEY = "taskforms"
DEPLOYED_FORMS_KEY = "taskforms_deployed"


def is_form_key(key: object) -> bool:
    """True when key has the shape of a form key (lowercase, digits, underscores)."""
    return isinstance(key, str) and len(key) <= _MAX_KEY_LENGTH and _KEY_SHAPE.fullmatch(key) is not None


def _load(key: str, path: Path) -> TaskForm:
    """Read, check and wrap one form file."""
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidForm(key, f"not valid JSON: {exc}") from exc
    except OSError as exc:
        raise InvalidForm(key, f"cannot be read: {exc.strerror}") from exc
    return form_from_schema(key, schema)


def form_from_schema(key: str, schema: object) -> TaskForm:
    """Check a form definition (a JSON Schema object) and wrap it; InvalidForm says what is wrong."""
    if not isinstance(schema, dict):
        raise InvalidForm(key, "the form must be a JSON object")
    if schema.get("$schema", _DRAFT_2020_12) != _DRAFT_2020_12:
        raise InvalidForm(key, "only JSON Schema draft 2020-12 is supported")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidForm(key, f"not a valid JSON Schema: {exc.message}") from exc
    return TaskForm(key, schema)


class DeployedForms(Protocol):
    """Forms deployed from the process designer, which take precedence over the folder's files."""

    def newest_digest(self, key: str) -> str | None: ...
    def schema(self, key: str, digest: str) -> dict: ...
    def keys(self) -> list[str]: ...


class FormRegistry:
    """Task forms from one folder, loaded on first use and reloaded when their file changes.

    With `deployed`, a form deployed from the designer replaces the file of the same key.
    """

    def __init__(self, forms_dir: str | Path, deployed: DeployedForms | None = None) -> None:
        self.forms_dir = Path(forms_dir)
        self.deployed = deployed
        self._cache: dict[str, tuple[int, TaskForm]] = {}
        self._deployed_cache: dict[tuple[str, str], TaskForm] = {}
        self._lock = threading.Lock()

    def __contains__(self, key: object) -> bool:
        if not is_form_key(key):
            return False
        return (self.forms_dir / f"{key}.json").is_file() or (
            self.deployed is not None and self.deployed.newest_digest(key) is not None)

    def keys(self) -> list[str]:
        """Sorted keys of all forms: the folder's files and the deployed ones."""
        keys = set(self.deployed.keys()) if self.deployed is not None else set()
        if self.forms_dir.is_dir():
            keys.update(p.stem for p in self.forms_dir.glob("*.json") if p.is_file() and is_form_key(p.stem))
        return sorted(keys)

    def get(self, key: str) -> TaskForm:
        """The form for key; UnknownForm when missing or not a form key, InvalidForm when broken."""
        if not is_form_key(key):
            raise UnknownForm(key, "not a valid task form key")
        digest = self.deployed.newest_digest(key) if self.deployed is not None else None
        if digest is not None:
            # A deployed definition never changes: each is checked once, known by its digest.
            form = self._deployed_cache.get((key, digest))
            if form is None:
                form = self._deployed_cache[(key, digest)] = form_from_schema(key, self.deployed.schema(key, digest))
            return form
        path = self.forms_dir / f"{key}.json"
        try:
            # Checking mtime lets designers edit a form file without restarting the app.
            mtime = path.stat().st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            self._cache.pop(key, None)
            raise UnknownForm(key) from None
        cached = self._cache.get(key)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        with self._lock:
            form = _load(key, path)
            self._cache[key] = (mtime, form)
        return form

    def load_all(self) -> list[TaskForm]:
        """Every form in the folder, raising InvalidForm on the first broken one."""
        return [self.get(key) for key in self.keys()]


def get_registry() -> FormRegistry:
    """The current app's registry for config FORMS_DIR, created on first use."""
    forms_dir = Path(current_app.config["FORMS_DIR"])
    registry = current_app.extensions.get(_EXTENSION_KEY)
    if not isinstance(registry, FormRegistry) or registry.forms_dir != forms_dir:
        # The app factory wires in the deployed forms (the database), when there are any.
        registry = FormRegistry(forms_dir, current_app.extensions.get(DEPLOYED_FORMS_KEY))
        current_app.extensions[_EXTENSION_KEY] = registry
    return registry
