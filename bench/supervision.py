"""Deadline sweep benchmark: one pre + during pass (事前预警 + 事中督办) over open work items of which
1,000 are near or past their deadline, at two sizes of the open backlog, in-process on PostgreSQL.

The pass reads only the items due within the warning horizon, so its time should follow the 1,000
due items and stay flat as the backlog grows tenfold.

Usage: python -m bench.supervision [SMALL] [LARGE]   (BENCH_DATABASE_URL: a scratch database, wiped)
"""
from __future__ import annotations

import logging
import sys
import time

from sqlalchemy import text

from bench.intake import _prepare

DUE_ITEMS = 1000


def _grow_backlog(db, total_open: int) -> None:
    """Open items due in two months (outside the horizon), on the benchmark's cases, up to total_open."""
    current = db.session.execute(text("SELECT count(*) FROM work_item WHERE state = 'open'")).scalar_one()
    missing = total_open - current
    if missing <= 0:
        return
    started = time.perf_counter()
    db.session.execute(text("""
        WITH bounds AS (SELECT min(id) AS lo, max(id) - min(id) + 1 AS n FROM service_case
                        WHERE case_no LIKE 'BENCH%')
        INSERT INTO work_item (case_id, task_id, bpmn_id, name, department_code, form_key, state,
                               created_at, due_at, arrived_via)
        SELECT b.lo + (g % b.n), gen_random_uuid()::text, 'record_search', '档案查询', 'BULK',
               'record_search', 'open', now(), now() + interval '60 days' + (g % 1440) * interval '1 minute', 'routed'
        FROM bounds b, generate_series(1, :missing) AS g
    """), {"missing": missing})
    db.session.commit()
    db.session.remove()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # Every table: stale case statistics (autovacuum has not run yet) would mislead the planner.
        conn.execute(text("VACUUM ANALYZE"))
    print(f"open work items: {total_open} (added {missing} in {time.perf_counter() - started:.1f} s)")


def _pass(app, label: str) -> None:
    from app.extensions import db
    from app.services.supervision.alerts import check_deadlines

    for run in ("first pass (raises alerts)", "second pass (nothing new)"):
        db.session.execute(text("DELETE FROM outbox_message")) if run.startswith("first") else None
        db.session.execute(text("DELETE FROM alert")) if run.startswith("first") else None
        db.session.commit()
        with app.app_context():
            started = time.perf_counter()
            result = check_deadlines()
            db.session.commit()
            elapsed = time.perf_counter() - started
        print(f"{label:<22}{run:<30}{elapsed * 1000:>9.0f} ms   raised {result['raised']}")


def main() -> None:
    small = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    large = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    app = _prepare()
    from app.extensions import db
    from bench.seed import seed_bulk, seed_cases

    with app.app_context():
        logging.getLogger().setLevel(logging.WARNING)
        template = seed_cases(1)
        # 1,000 cases whose open step is due within five days: the items the sweep must look at.
        seed_bulk(template, DUE_ITEMS)
        for size in (small, large):
            _grow_backlog(db, size)
            _pass(app, f"{size:,} open")


if __name__ == "__main__":
    main()
