"""The app's notion of now, which `flask jobs run --at` can move to another instant (time travel)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

# A context variable, not a module global: a travelling CLI run must not move the clock of request
# threads or scheduler threads running in the same process.
_frozen: ContextVar[datetime | None] = ContextVar("frozen_now", default=None)

def now() -> datetime:
    """Aware UTC now, or the instant set by frozen_at."""
    frozen = _frozen.get()
    return frozen if frozen is not None else datetime.now(UTC)


def is_frozen() -> bool:
    """True inside frozen_at."""
    return _frozen.get() is not None


def _engine_follows_the_clock() -> None:
    """The engine decides itself whether a BPMN timer is due: hand it this clock."""
    from app.engine.timer_now import follow_clock

    follow_clock(_frozen.get)


@contextmanager
def frozen_at(instant: datetime) -> Iterator[datetime]:
    """Within the block now() is `instant` (aware; kept as UTC), for the app and the engine's timers."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("the instant must be timezone-aware")
    _engine_follows_the_clock()
    moment = instant.astimezone(UTC)
    token = _frozen.set(moment)
    try:
        yield moment
    finally:
        _frozen.reset(token)
