"""Where a task completion and an inbox page spend their time, measured in-process.

1. app.services.cases.tasks.complete_task (+ commit, as the API does) under cProfile, with SQL
   statements counted and the time spent waiting on the database summed per statement kind.
2. The same without the profiler, for a clean per-call figure.
3. POST /api/v1/tasks/<id>/complete through Flask's test client (routing, bearer-token check,
   JSON), timed, counted and profiled: the HTTP path without a server.
4. department_inbox for the BULK department, with EXPLAIN ANALYZE of the statements it sends.

Fresh cases are created through intake for every part, so the database gains a few hundred cases.
Usage: python -m bench.profile_complete [COUNT]   (DATABASE_URL: the bench database after bench/run;
BENCH_PROFILE_COUNT in bench/run --profile)
"""
from __future__ import annotations

import cProfile
import io
import logging
import pstats
import sys
import sysconfig
import time
from collections import Counter
from pathlib import Path

from flask import Flask
from sqlalchemy import event, select

from app import create_app
from app.extensions import db
from app.models import User, WorkItem
from app.services import org
from app.services.cases import tasks as task_service
from app.services.cases.intake import submit_application
from bench.seed import BULK_USER, _application

DATA = {"search_result": "yes", "opinion": "bench"}
WARMUP = 20
_PREFIXES = sorted({sysconfig.get_paths()["purelib"] + "/", sysconfig.get_paths()["stdlib"] + "/",
                    str(Path(__file__).resolve().parent.parent) + "/"}, key=len, reverse=True)
# Functions worth seeing in the HTTP profile: the app's own, Flask's dispatch, session commit.
_HTTP_FUNCTIONS = (r"/app/|flask/app.py:\d+\((wsgi_app|full_dispatch_request|dispatch_request)\)|"
                   r"werkzeug/test.py:\d+\(open\)|session.py:\d+\((commit|remove|close)\)")


def _stats_text(profiler: cProfile.Profile, sort: str, *restrictions) -> str:
    """pstats output with library and project prefixes cut from file names."""
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(*restrictions)
    text = out.getvalue()
    for prefix in _PREFIXES:
        text = text.replace(prefix, "")
    return text


class SqlTimer:
    """Counts statements and the time spent in the driver's execute, by statement kind."""

    def __init__(self, engine) -> None:
        self.reset()
        self._started: list[float] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def reset(self) -> None:
        self.count, self.seconds = 0, 0.0
        self.kinds: Counter[str] = Counter()
        self.kind_seconds: Counter[str] = Counter()

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self._started.append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        spent = time.perf_counter() - self._started.pop()
        kind = " ".join(statement.split()[:3])[:60]
        self.seconds += spent
        self.count += 1
        self.kinds[kind] += 1
        self.kind_seconds[kind] += spent

    def report(self, calls: int, label: str) -> None:
        print(f"{label}: {self.count / calls:.1f} statements per call, "
              f"{self.seconds / calls * 1000:.2f} ms waiting on the database per call")
        for kind, n in self.kinds.most_common(14):
            print(f"  {n / calls:5.1f} x {self.kind_seconds[kind] / calls * 1000:6.2f} ms  {kind}")


def open_items(count: int) -> list[int]:
    """Ids of the open record_search items of `count` fresh cases (engine logging muted meanwhile)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)
    try:
        frontdesk = db.session.scalar(select(User).where(User.username == "frontdesk"))
        case_ids = [submit_application(_application(n), frontdesk).case.id for n in range(count)]
        db.session.commit()
        return list(db.session.scalars(
            select(WorkItem.id).where(WorkItem.case_id.in_(case_ids), WorkItem.state == "open")
            .order_by(WorkItem.id)))
    finally:
        db.session.remove()
        root.setLevel(level)


def complete(item_id: int, handler_id: int) -> None:
    """One completion as a request does it: fresh session, service call, commit."""
    user = db.session.get(User, handler_id)
    task_service.complete_task(item_id, user, dict(DATA))
    db.session.commit()
    db.session.remove()


def service_path(count: int, timer: SqlTimer) -> None:
    handler_id = db.session.scalar(select(User.id).where(User.username == "handler"))
    ids = open_items(count + WARMUP)
    for item_id in ids[:WARMUP]:  # warm caches (spec, form registry, compiled statements)
        complete(item_id, handler_id)
    timer.reset()
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    for item_id in ids[WARMUP:]:
        complete(item_id, handler_id)
    profiler.disable()
    elapsed = time.perf_counter() - began
    print(f"== complete_task + commit, in-process, under cProfile: {count} in {elapsed:.2f} s = "
          f"{elapsed / count * 1000:.2f} ms each (profiler overhead included)")
    timer.report(count, "SQL")
    print(_stats_text(profiler, "cumulative", 45))
    print(_stats_text(profiler, "tottime", 25))
    print("-- the app's own functions, the logging and JSON work they trigger:")
    print(_stats_text(profiler, "cumulative",
                      r"/app/|logging/__init__.py:\d+\((_log|handle|emit)\)|json/(en|de)coder", 40))

    ids = open_items(min(200, count))
    began = time.perf_counter()
    for item_id in ids:
        complete(item_id, handler_id)
    print(f"== unprofiled: {(time.perf_counter() - began) / len(ids) * 1000:.2f} ms per completion "
          f"(service call + commit, one process, no HTTP)\n")


def http_path(app: Flask, timer: SqlTimer, count: int) -> None:
    ids = open_items(min(200, count) + WARMUP)
    client = app.test_client()
    token = client.post("/api/v1/auth/token",
                        json={"username": "handler", "password": org.DEMO_PASSWORD}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}

    def post(item_id: int) -> None:
        response = client.post(f"/api/v1/tasks/{item_id}/complete", json={"data": DATA}, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"HTTP {response.status_code}: {response.get_data(as_text=True)[:300]}")

    for item_id in ids[:WARMUP]:
        post(item_id)
    timer.reset()
    began = time.perf_counter()
    for item_id in ids[WARMUP:]:
        post(item_id)
    done = len(ids) - WARMUP
    print(f"== POST /api/v1/tasks/<id>/complete through the test client, unprofiled: "
          f"{(time.perf_counter() - began) / done * 1000:.2f} ms per request")
    timer.report(done, "SQL")
    ids = open_items(min(150, count))
    profiler = cProfile.Profile()
    profiler.enable()
    for item_id in ids:
        post(item_id)
    profiler.disable()
    print("-- the same under cProfile:")
    print(_stats_text(profiler, "cumulative", _HTTP_FUNCTIONS, 30))


def inbox(timer: SqlTimer, count: int) -> None:
    bulk = db.session.scalar(select(User).where(User.username == BULK_USER))
    if bulk is None:
        print("no BULK department: inbox part skipped")
        return
    timer.reset()
    calls = min(50, count)
    began = time.perf_counter()
    for _ in range(calls):
        page = task_service.department_inbox(bulk, page=1, per_page=100)
        [item.case.case_no for item in page.items]
    elapsed = (time.perf_counter() - began) / calls
    print(f"== department_inbox (100 rows of {page.total}): {elapsed * 1000:.2f} ms per call")
    timer.report(calls, "SQL")

    captured = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    page = task_service.department_inbox(bulk, page=1, per_page=100)
    [item.case.case_no for item in page.items]
    event.remove(db.engine, "before_cursor_execute", capture)
    db.session.remove()
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in captured:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            flat = " ".join(statement.split())
            shown = flat if len(flat) <= 360 else f"{flat[:160]} ... {flat[-200:]}"
            print(f"\nEXPLAIN ANALYZE of: {shown} {parameters}")
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            print("\n".join("  " + row[0] for row in cursor.fetchall()))
    finally:
        raw.close()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    app = create_app()
    with app.app_context():
        timer = SqlTimer(db.engine)
        service_path(count, timer)
        http_path(app, timer, count)
        inbox(timer, count)


if __name__ == "__main__":
    main()
