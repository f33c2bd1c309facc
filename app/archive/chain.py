"""Hash chain of a case's events: each event's hash covers its fields and the previous hash."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime

# The fields an event's hash covers, in this order; changing any of them breaks the chain from there.
CHAINED_FIELDS = ("case_no", "at", "actor_name", "action", "task_name", "opinion", "details")


def event_record(case_no: str, at: datetime, actor_name: str, action: str, task_name: str | None,
                 opinion: str | None, details: dict | None) -> dict:
    """The chained fields of one event as plain JSON values (times in UTC, microseconds kept)."""
    return {"case_no": case_no, "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor_name": actor_name, "action": action, "task_name": task_name, "opinion": opinion,
            "details": details}


def event_hash(prev_hash: str | None, record: dict) -> str:
    """SHA-256 over the previous hash and the record in canonical JSON."""
    body = json.dumps([prev_hash or "", [record.get(name) for name in CHAINED_FIELDS]],
                      ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def chain_breaks(events: Iterable[dict]) -> list[str]:
    """Where a list of events ({...record, "prev_hash", "hash"}, oldest first) fails its chain."""
    problems, prev = [], None
    for number, event in enumerate(events, 1):
        if (event.get("prev_hash") or None) != prev:
            problems.append(f"event {number}: previous hash does not match event {number - 1}")
        expected = event_hash(event.get("prev_hash"), event)
        if event.get("hash") != expected:
            problems.append(f"event {number} ({event.get('action')}): hash does not match its content")
        prev = event.get("hash")
    return problems
