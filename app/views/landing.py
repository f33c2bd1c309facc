"""Where each role lands after logging in: straight at its work."""
from __future__ import annotations

from flask import url_for

# First match wins: a user with several roles lands on the work of the first one listed.
LANDINGS = (
    ("admin", "org_admin.departments", {}),
    ("front_desk", "intake.choose_item", {}),
    ("dept_head", "inbox.index", {"view": "department"}),
    ("handler", "inbox.index", {}),
    ("supervisor", "supervision.index", {}),
    ("archivist", "archive.index", {}),
    ("designer", "designer.index", {}),
)


def landing_url(user) -> str:
    """The page a user starts on: front desk, new case; handler, inbox; head, the department's tasks …"""
    roles = user.role_set
    for role, endpoint, args in LANDINGS:
        if role in roles:
            return url_for(endpoint, **args)
    return url_for("cases.index")
