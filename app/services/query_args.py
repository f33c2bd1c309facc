"""List reading: query-string arguments (every problem collected for one 422) and pages of plain rows."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _

from app.errors import ValidationFailed

DATE_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}")


class QueryArgs:
    """Reads query-string arguments and collects every problem, so one 422 lists them all."""

    def __init__(self, args: Mapping[str, str]):
        self.args = args
        self.errors: dict[str, str] = {}

    def text(self, name: str, limit: int = 100) -> str | None:
        value = (self.args.get(name) or "").strip()
        if len(value) > limit:
            self.errors[name] = _("`%(name)s` must be at most %(n)s characters.", name=name, n=limit)
            return None
        return value or None

    def day(self, name: str) -> date | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            # fromisoformat alone also takes "20260105" and week dates; we promise YYYY-MM-DD.
            if not DATE_FORMAT.fullmatch(value):
                raise ValueError(value)
            return date.fromisoformat(value)
        except ValueError:
            self.errors[name] = _("`%(name)s` must be a date in the form YYYY-MM-DD.", name=name)
            return None

    def positive_int(self, name: str, default: int, maximum: int | None = None) -> int:
        value = self.text(name, 10)
        if value is None:
            return default
        # ASCII only: str.isdigit() also takes "²", which int() then refuses.
        if not (value.isascii() and value.isdigit()) or int(value) < 1:
            self.errors[name] = _("`%(name)s` must be a positive whole number.", name=name)
            return default
        if maximum is not None and int(value) > maximum:
            self.errors[name] = _("`%(name)s` must be at most %(n)s.", name=name, n=maximum)
            return default
        return int(value)

    def choice(self, name: str, values: tuple[str, ...]) -> str | None:
        value = self.text(name)
        if value and value not in values:
            self.errors[name] = _("`%(name)s` must be one of: %(values)s.", name=name, values=", ".join(values))
            return None
        return value

    def period(self) -> tuple[date | None, date | None]:
        start, end = self.day("from"), self.day("to")
        if start and end and start > end:
            self.errors["to"] = _("`to` must not be earlier than `from`.")
        return start, end

    def done(self) -> None:
        if self.errors:
            raise ValidationFailed(" ".join(self.errors.values()), self.errors)


@dataclass
class Page:
    """One page of rows (plain dicts) with what a pager needs."""

    items: list[dict]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """Number of pages, at least one."""
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages
