"""Column types and mixins shared by every model."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

from app import clock


def utcnow() -> datetime:
    """Timezone-aware now in UTC (app.clock's, so `flask jobs run --at` moves it); *_at columns store UTC."""
    return clock.now()


class UTCDateTime(TypeDecorator):
    """A timestamp that is always aware UTC, also on SQLite which drops the offset."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
