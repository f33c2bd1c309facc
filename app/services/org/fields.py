"""Field checks shared by departments, users and organisation files: each problem goes into `fields`."""
from __future__ import annotations

import re

from flask_babel import gettext as _

from app.taskforms.formats import has_control_characters

# Login names and department codes (the BPMN lane names). Anything else names no user or department,
# and is never sent to the database (PostgreSQL refuses NUL characters with an error).
USERNAME_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,63}")
CODE_SHAPE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")


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
