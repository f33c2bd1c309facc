"""Let the engine's timers read the app's clock, so `flask jobs run --at` fires them as if it were then."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _timer_module


def follow_clock(frozen_now: Callable[[], datetime | None]) -> None:
    """The engine checks timers with datetime.now(); give it one that answers `frozen_now()` when set.

    Outside a frozen moment the substitute is exactly datetime, so normal runs are unaffected.
    """
    if _timer_module.datetime is not datetime:
        return  # already following

    class _TravellingDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            frozen = frozen_now()
            if frozen is None:
                return super().now(tz)
            # Without tz, datetime.now() is naive local wall time; keep that meaning.
            return frozen.astimezone(tz) if tz is not None else frozen.astimezone().replace(tzinfo=None)

    _timer_module.datetime = _TravellingDatetime
