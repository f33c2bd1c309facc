"""A loaded task form: field descriptors, HTML-string coercion and translated validation."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator

from app.taskforms.fields import Field, fields_from_schema, is_english
from app.taskforms.formats import FORMAT_CHECKER, has_control_characters, normalise_code
from app.taskforms.messages import (
    FORM_ERROR_KEY,
    control_characters_message,
    error_fields,
    error_message,
    required_message,
)

_INTEGER = re.compile(r"[+-]?[0-9]+")
# Stricter than float(): that would also take "nan", "inf" and "1_000".
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_CHECKED = frozenset({"on", "true", "1", "yes"})
_CODE_FORMATS = frozenset({"cn-id-number", "cn-uscc"})


def _submitted(raw: Mapping[str, Any], name: str) -> list[Any]:
    """All values submitted under a name; MultiDicts may carry several (hidden + checkbox)."""
    getlist = getattr(raw, "getlist", None)
    if callable(getlist):
        return list(getlist(name))
    return [raw[name]] if name in raw else []


def _parse_number(text: str, integer_only: bool) -> Any:
    """int/float for numeric text; the text itself otherwise, so validation can say what is wrong."""
    if _INTEGER.fullmatch(text):
        return int(text)
    if not integer_only and _DECIMAL.fullmatch(text):
        number = float(text)
        return number if math.isfinite(number) else text
    return text


def _parse_text(field: Field, text: str) -> Any:
    """The typed JSON value for one non-empty, stripped form string."""
    if field.options:
        option = field.option_for(text)
        return option.value if option is not None else text
    if field.type in ("integer", "number"):
        return _parse_number(text, field.type == "integer")
    if field.format in _CODE_FORMATS:
        return normalise_code(text)
    # Browsers submit textarea line breaks as CRLF; counting them twice would break maxLength.
    return text.replace("\r\n", "\n")


class TaskForm:
    """One task form definition (a JSON Schema) with its fields, coercion and validation."""

    def __init__(self, key: str, schema: dict[str, Any]) -> None:
        self.key = key
        self.schema = schema
        self.title: str = schema.get("title") or key
        self.title_en: str | None = schema.get("x-title-en")
        self.fields: list[Field] = fields_from_schema(key, schema)
        self._by_name = {field.name: field for field in self.fields}
        self._required = [name for name in schema.get("required", ()) if isinstance(name, str)]
        self._validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)

    def __repr__(self) -> str:
        return f"<TaskForm {self.key}>"

    def title_for(self, locale: object) -> str:
        """The form title in the requested language, falling back to Chinese."""
        return self.title_en if is_english(locale) and self.title_en else self.title

    def field(self, name: str) -> Field | None:
        """The field of that name, or None."""
        return self._by_name.get(name)

    def coerce(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Typed JSON values from submitted form strings; blanks are left out, unknown names dropped."""
        data: dict[str, Any] = {}
        for field in self.fields:
            values = _submitted(raw, field.name)
            if field.widget == "checkbox":
                # An unticked checkbox sends nothing at all, so absence means False.
                data[field.name] = any(
                    v is True or (isinstance(v, str) and v.strip().lower() in _CHECKED) for v in values
                )
                continue
            if not values:
                continue
            value = values[0]
            if not isinstance(value, str):
                data[field.name] = value  # already typed, e.g. JSON passed through
                continue
            text = value.strip()
            if text:
                data[field.name] = _parse_text(field, text)
        return data

    def restrict(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Only the form's own fields: a step cannot write other variables into the case's data."""
        names = {field.name for field in self.fields}
        return {name: value for name, value in data.items() if name in names}

    def validate(self, data: Any) -> dict[str, str]:
        """Translated messages keyed by field name ("_form" for form-wide ones); empty when valid."""
        found: dict[str, str] = {}
        if isinstance(data, Mapping):
            # API clients may send "" for a required field; treat it as missing, as coerce() does.
            for name in self._required:
                value = data.get(name)
                if isinstance(value, str) and not value.strip():
                    found[name] = required_message()
            for name, value in data.items():
                if isinstance(value, str) and has_control_characters(value):
                    found[name] = control_characters_message()
        for error in self._validator.iter_errors(data):
            for name in error_fields(error):
                if name not in found:
                    found[name] = error_message(error)
        order = [field.name for field in self.fields]
        return dict(sorted(found.items(), key=lambda item: _position(order, item[0])))


def _position(order: list[str], name: str) -> int:
    """Sort key putting field errors in form order, then others, then the form-wide one."""
    if name == FORM_ERROR_KEY:
        return len(order) + 1
    return order.index(name) if name in order else len(order)
