"""Field checks shared by departments, users and organisation files: each problem goes into `fields`."""
from __future__ import annotations

from flask_babel import gettext as _

from app.taskforms.formats import has_control_characters


def checked_text(value, field: str, fields: dict, required: bool, limit: int) -> str | None:
    """Stripped text of at most `limit` characters without control characters; None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            fields[field] = _("Required.")
        return None
    if not isinstance(value, str):
        fields[field] = _("Must be text.")
        return None
    value = value.strip()
    if len(value) > limit:
        fields[field] = _("Must be at most %(n)s characters.", n=limit)
    elif has_control_characters(value):
        fields[field] = _("Contains control characters that cannot be stored.")
    return value
