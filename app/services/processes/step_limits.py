"""Step time limits as a process designer writes them on a BPMN user task (`stepLimit`)."""
from __future__ import annotations

import re

# stepLimit values in the BPMN: 2wd (working days), 3d (calendar days), 4h (hours).
_STEP_LIMIT = re.compile(r"([0-9]{1,3})(wd|d|h)")
_UNITS = {"wd": "working_day", "d": "calendar_day", "h": "hour"}


def parse_step_limit(text: str | None) -> tuple[int, str] | None:
    """(value, unit) of a stepLimit such as '2wd'; None when absent; ValueError when malformed."""
    if text in (None, ""):
        return None
    match = _STEP_LIMIT.fullmatch(str(text).strip())
    if match is None:
        raise ValueError(f"{text!r} is not a step limit such as 2wd, 3d or 4h")
    return int(match.group(1)), _UNITS[match.group(2)]
