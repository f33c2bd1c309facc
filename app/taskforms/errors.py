"""Exceptions raised when looking up or loading task forms."""
from __future__ import annotations


class UnknownForm(KeyError):
    """No task form exists under this key (also raised for keys that are not valid form keys)."""

    def __init__(self, key: object, reason: str = "unknown task form") -> None:
        super().__init__(key)
        self.key = key
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.reason}: {self.key!r}"


class InvalidForm(ValueError):
    """A form file exists but is not a usable task form definition."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"task form {key!r}: {reason}")
        self.key = key
        self.reason = reason
