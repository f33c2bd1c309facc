"""Turn jsonschema validation errors into field names and messages in the user's language."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext
from jsonschema import ValidationError

FORM_ERROR_KEY = "_form"


def required_message() -> str:
    """The message for a missing or blank required field."""
    return gettext("This field is required.")


def control_characters_message() -> str:
    """The message for text holding control characters."""
    return gettext("Contains control characters that cannot be stored.")


def _missing_names(error: ValidationError) -> list[str]:
    """Names a required/dependentRequired error is about; jsonschema reports them only in prose."""
    instance = error.instance
    if not isinstance(instance, Mapping):
        return []
    if error.validator == "required":
        return [name for name in error.validator_value if name not in instance]
    return [
        name
        for trigger, needed in error.validator_value.items()
        if trigger in instance
        for name in needed
        if name not in instance
    ]


def error_fields(error: ValidationError) -> list[str]:
    """The top-level field(s) an error belongs to, or the form-wide key when it has none."""
    if error.absolute_path:
        return [str(error.absolute_path[0])]
    if error.validator in ("required", "dependentRequired"):
        return _missing_names(error) or [FORM_ERROR_KEY]
    return [FORM_ERROR_KEY]


def _type_message(expected: Any) -> str:
    """Message for a value of the wrong JSON type."""
    if isinstance(expected, list):
        expected = next((t for t in expected if t != "null"), None)
    if expected == "integer":
        return gettext("Must be a whole number.")
    if expected == "number":
        return gettext("Must be a number.")
    if expected == "boolean":
        return gettext("Must be true or false.")
    if expected == "string":
        return gettext("Must be text.")
    if expected == "object":
        return gettext("The form data must be an object.")
    return gettext("This value is not valid.")


def _format_message(fmt: str) -> str:
    """Message for a string that fails its declared format."""
    if fmt == "cn-id-number":
        return gettext("Not a valid citizen ID number (居民身份证号码).")
    if fmt == "cn-uscc":
        return gettext("Not a valid unified social credit code.")
    if fmt == "cn-mobile":
        return gettext("Not a valid mobile phone number.")
    if fmt == "date":
        return gettext("Not a valid date (YYYY-MM-DD).")
    if fmt == "email":
        return gettext("Not a valid email address.")
    return gettext("Not in the expected format.")


def _unexpected_names(error: ValidationError) -> str:
    """Comma-separated names refused by additionalProperties: false."""
    properties = error.schema.get("properties", {})
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    return ", ".join(sorted(str(name) for name in instance if name not in properties))


def error_message(error: ValidationError) -> str:
    """A translated, user-facing message for one jsonschema error."""
    keyword, value = error.validator, error.validator_value
    if keyword in ("required", "dependentRequired"):
        return required_message()
    if keyword == "type":
        return _type_message(value)
    if keyword in ("enum", "const"):
        return gettext("Must be one of the listed options.")
    if keyword == "format":
        return _format_message(value)
    if keyword == "maxLength":
        return gettext("Must be at most %(n)s characters.", n=value)
    if keyword == "minLength":
        return gettext("Must be at least %(n)s characters.", n=value)
    if keyword == "maximum":
        return gettext("Must be at most %(n)s.", n=value)
    if keyword == "minimum":
        return gettext("Must be at least %(n)s.", n=value)
    if keyword == "exclusiveMaximum":
        return gettext("Must be less than %(n)s.", n=value)
    if keyword == "exclusiveMinimum":
        return gettext("Must be greater than %(n)s.", n=value)
    if keyword == "multipleOf":
        return gettext("Must be a multiple of %(n)s.", n=value)
    if keyword == "pattern":
        return gettext("Not in the expected format.")
    if keyword == "additionalProperties":
        return gettext("Unexpected fields: %(names)s.", names=_unexpected_names(error))
    return gettext("This value is not valid.")
