"""Field descriptors derived from a task form schema's top-level `properties`, in order."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext

from app.taskforms.errors import InvalidForm
from app.taskforms.formats import FORMAT_CHECKER, mask_id_number, mask_phone

# Task forms are flat because HTML forms are: one input per property, one scalar per input.
SUPPORTED_TYPES = ("string", "integer", "number", "boolean")
# Only text-like widgets may be chosen explicitly; the rest follow from the schema so they cannot disagree.
CHOOSABLE_WIDGETS = ("text", "textarea")
# Formats whose values are personal data and are masked when shown read-only.
_MASKERS = {"cn-id-number": mask_id_number, "cn-mobile": mask_phone}
EMPTY_DISPLAY = "—"


def is_english(locale: object) -> bool:
    """True when a locale (string or babel Locale) asks for English labels."""
    return str(locale or "").lower().startswith("en")


def form_text(value: Any) -> str:
    """The text an HTML control carries for a JSON value; JSON spelling for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Option:
    """One choice of an enum field."""

    value: Any
    label: str
    label_en: str | None = None

    @property
    def form_value(self) -> str:
        """The option's value as written into the HTML <option>."""
        return form_text(self.value)

    def label_for(self, locale: object) -> str:
        """The label in the requested language, falling back to Chinese."""
        return self.label_en if is_english(locale) and self.label_en else self.label


@dataclass(frozen=True)
class Field:
    """Everything a template or the coercer needs to know about one form property."""

    name: str
    label: str
    label_en: str | None
    type: str
    widget: str
    required: bool
    description: str | None = None
    description_en: str | None = None
    format: str | None = None
    max_length: int | None = None
    min_length: int | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    options: tuple[Option, ...] = ()
    schema: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def input_type(self) -> str:
        """The <input type> for text-like widgets; never one that makes browsers block submission."""
        if self.widget in ("number", "date"):
            return self.widget
        if self.format == "cn-mobile":
            return "tel"
        return "text"

    @property
    def inputmode(self) -> str | None:
        """A keyboard hint for phones, where the input type gives none."""
        return {"email": "email", "cn-mobile": "tel"}.get(self.format or "")

    def label_for(self, locale: object) -> str:
        """The label in the requested language, falling back to Chinese."""
        return self.label_en if is_english(locale) and self.label_en else self.label

    def description_for(self, locale: object) -> str | None:
        """The help text in the requested language, falling back to Chinese."""
        return self.description_en if is_english(locale) and self.description_en else self.description

    def option_for(self, value: Any) -> Option | None:
        """The option a stored or submitted value stands for, matched on its form text."""
        wanted = form_text(value)
        return next((option for option in self.options if option.form_value == wanted), None)

    def display(self, value: Any, locale: object = None, mask: bool = True) -> str:
        """Human-readable text for a stored value, masking personal data unless told otherwise."""
        if value is None or value == "":
            return EMPTY_DISPLAY
        option = self.option_for(value) if self.options else None
        if option is not None:
            return option.label_for(locale)
        if isinstance(value, bool):
            return gettext("Yes") if value else gettext("No")
        text = form_text(value)
        masker = _MASKERS.get(self.format or "")
        return masker(text) if mask and masker else text


def _json_type(key: str, name: str, prop: Mapping[str, Any]) -> str:
    """The property's single JSON type, inferred from enum values when not declared."""
    declared = prop.get("type")
    if isinstance(declared, list):
        declared = next((t for t in declared if t != "null"), None)
    if declared is None:
        values = prop.get("enum", [prop["const"]] if "const" in prop else [])
        if values and all(isinstance(v, bool) for v in values):
            declared = "boolean"
        elif values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            declared = "integer"
        elif values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            declared = "number"
        else:
            declared = "string"
    if declared not in SUPPORTED_TYPES:
        raise InvalidForm(key, f"property {name!r} has unsupported type {declared!r}")
    return declared


def _labels(key: str, name: str, prop: Mapping[str, Any], attribute: str, count: int) -> list[str] | None:
    """An x-enum-labels list, which must label every enum value in order."""
    labels = prop.get(attribute)
    if labels is None:
        return None
    if not isinstance(labels, list) or len(labels) != count or not all(isinstance(x, str) for x in labels):
        raise InvalidForm(key, f"property {name!r}: {attribute} must be a list of {count} strings")
    return labels


def _options(key: str, name: str, prop: Mapping[str, Any]) -> tuple[Option, ...]:
    """Options for an enum property, labelled from x-enum-labels / x-enum-labels-en."""
    values = prop.get("enum")
    if values is None:
        return ()
    labels = _labels(key, name, prop, "x-enum-labels", len(values)) or [form_text(v) for v in values]
    labels_en = _labels(key, name, prop, "x-enum-labels-en", len(values)) or [None] * len(values)
    return tuple(Option(v, label, label_en) for v, label, label_en in zip(values, labels, labels_en, strict=True))


def _widget(key: str, name: str, prop: Mapping[str, Any], json_type: str) -> str:
    """The control to render: explicit x-widget for text, otherwise implied by the schema."""
    chosen = prop.get("x-widget")
    if chosen is not None:
        if chosen not in CHOOSABLE_WIDGETS or json_type != "string" or "enum" in prop:
            raise InvalidForm(key, f"property {name!r}: x-widget {chosen!r} does not fit this property")
        return chosen
    if "enum" in prop:
        return "select"
    if json_type == "boolean":
        return "checkbox"
    if json_type in ("integer", "number"):
        return "number"
    if prop.get("format") == "date":
        return "date"
    return "text"


def _number(prop: Mapping[str, Any], keyword: str) -> int | float | None:
    """A numeric schema keyword, or None when absent or not a finite number."""
    value = prop.get(keyword)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def build_field(key: str, name: str, prop: Mapping[str, Any], required: bool) -> Field:
    """Describe one property, refusing definitions the renderer or coercer could not honour."""
    if not isinstance(prop, Mapping):
        raise InvalidForm(key, f"property {name!r} must be an object")
    title = prop.get("title")
    if not isinstance(title, str) or not title.strip():
        raise InvalidForm(key, f"property {name!r} has no title")
    fmt = prop.get("format")
    if fmt is not None and fmt not in FORMAT_CHECKER.checkers:
        raise InvalidForm(key, f"property {name!r} uses unknown format {fmt!r}")
    json_type = _json_type(key, name, prop)
    return Field(
        name=name,
        label=title,
        label_en=prop.get("x-title-en"),
        type=json_type,
        widget=_widget(key, name, prop, json_type),
        required=required,
        description=prop.get("description"),
        description_en=prop.get("x-description-en"),
        format=fmt,
        max_length=prop.get("maxLength"),
        min_length=prop.get("minLength"),
        minimum=_number(prop, "minimum"),
        maximum=_number(prop, "maximum"),
        options=_options(key, name, prop),
        schema=prop,
    )


def fields_from_schema(key: str, schema: Mapping[str, Any]) -> list[Field]:
    """All fields of a form schema, in the order its properties are written."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        raise InvalidForm(key, "a task form needs a non-empty 'properties' object")
    required = set(schema.get("required", ()))
    return [build_field(key, name, prop, name in required) for name, prop in properties.items()]
