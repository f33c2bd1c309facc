"""Back-office benchmark, in-process on PostgreSQL: the inbox of a department holding 100,000 open and
1,000,000 closed work items (first page, p95), and the server time of a return (退回) and a transfer
(转办) on real cases.

Usage: python -m bench.routing [OPEN] [CLOSED] [CASES]   (BENCH_DATABASE_URL: a scratch database, wiped)
"""
from __future__ import annotations

import logging
import statistics
import sys
import time

from sqlalchemy import select, text

from bench.intake import ServerClock, _prepare

# bench.seed imports the app, whose settings are read at import: it is imported after _prepare()
# has pointed DATABASE_URL at the scratch database.
BULK_DEPARTMENT, BULK_USER = "BULK", "bulkhandler"

REQUESTS = 200


def seed_closed(count: int) -> None:
    """Closed (completed) items in the bulk department, handled by the bulk user, spread over a year."""
    from app.extensions import db

    started = time.perf_counter()
    db.session.execute(text("""
        WITH bounds AS (SELECT min(id) AS lo, max(id) - min(id) + 1 AS n FROM service_case
                        WHERE case_no LIKE 'BENCH%'),
             handler AS (SELECT id FROM app_user WHERE username = :user)
        INSERT INTO work_item (case_id, task_id, bpmn_id, name, department_code, form_key, state,
                               created_at, completed_at, completed_by_id, claimed_by_id, arrived_via)
        SELECT b.lo + (g % b.n), gen_random_uuid()::text, 'record_search', '档案查询', :department,
               'record_search', 'completed', now() - (g % 525600) * interval '1 minute',
               now() - (g % 525600) * interval '1 minute' + interval '1 hour', h.id, h.id, 'routed'
        FROM bounds b, handler h, generate_series(1, :count) AS g
    """), {"count": count, "department": BULK_DEPARTMENT, "user": BULK_USER})
    # The bulk user holds a thousand of the open items: "my tasks" has work to show too.
    db.session.execute(text("""
        UPDATE work_item SET claimed_by_id = (SELECT id FROM app_user WHERE username = :user)
        WHERE id IN (SELECT id FROM work_item WHERE department_code = :department AND state = 'open'
                     ORDER BY id LIMIT 1000)
    """), {"department": BULK_DEPARTMENT, "user": BULK_USER})
    db.session.commit()
    db.session.remove()
    # What autovacuum does in a running system: index-only scans need the visibility map.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    print(f"inserted {count} closed work items in {time.perf_counter() - started:.1f} s")


def _percentiles(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return statistics.median(values), values[max(0, int(len(values) * 0.95) - 1)]


def _measure(clock, call, rounds: int) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        response = call()
        assert response.status_code == 200, (response.status_code, response.get_data(as_text=True)[:300])
        samples.append(clock.last_ms)
    return _percentiles(samples[5:] if rounds > 10 else samples)


def _token(client, username: str) -> dict:
    token = client.post("/api/v1/auth/token", json={"username": username, "password": "demo-pass-2026"}).get_json()
    return {"Authorization": f"Bearer {token['token']}"}


def main() -> None:
    open_items = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    closed_items = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    cases = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    app = _prepare()
    from bench.seed import seed_bulk, seed_cases

    clock = app.wsgi_app = ServerClock(app.wsgi_app)
    from app.extensions import db
    from app.models import Case, WorkItem

    with app.app_context():
        logging.getLogger().setLevel(logging.WARNING)
        template = seed_cases(cases * 2 + 5)
        seed_bulk(template, open_items)
        seed_closed(closed_items)
    client = app.test_client()
    bulk, handler = _token(client, BULK_USER), _token(client, "handler")
    print(f"{'request':<48}{'median ms':>10}{'p95 ms':>9}")
    for label, path in (("API inbox, department pool, first page", "/api/v1/tasks?per_page=50"),
                        ("API inbox, view=pool", "/api/v1/tasks?view=pool&per_page=50"),
                        ("API inbox, view=mine", "/api/v1/tasks?view=mine&per_page=50"),
                        ("API inbox, view=handled", "/api/v1/tasks?view=handled&per_page=50")):
        median, p95 = _measure(clock, lambda p=path: client.get(p, headers=bulk), REQUESTS)
        print(f"{label:<48}{median:>10.1f}{p95:>9.1f}")
    page = app.test_client()
    page.post("/login", data={"username": BULK_USER, "password": "demo-pass-2026",
                              "csrf_token": _csrf(page)})
    median, p95 = _measure(clock, lambda: page.get("/inbox"), REQUESTS)
    print(f"{'inbox page (HTML), first page':<48}{median:>10.1f}{p95:>9.1f}")

    with app.app_context():
        search_ids = list(db.session.scalars(
            select(WorkItem.id).join(Case).where(WorkItem.state == "open", WorkItem.bpmn_id == "record_search",
                                                 WorkItem.department_code == "HOLDING")
            .order_by(WorkItem.id).limit(cases * 2)))
    for item_id in search_ids[:cases]:  # half the cases move on to the review step
        done = client.post(f"/api/v1/tasks/{item_id}/complete", headers=handler,
                           json={"data": {"search_result": "yes", "opinion": "已查到"}})
        assert done.status_code == 200
    with app.app_context():
        review_ids = list(db.session.scalars(select(WorkItem.id).where(
            WorkItem.state == "open", WorkItem.bpmn_id == "review").order_by(WorkItem.id)))
    returns = iter(review_ids)
    median, p95 = _measure(clock, lambda: client.post(f"/api/v1/tasks/{next(returns)}/return", headers=handler,
                                                      json={"reason": "请补充档号"}), len(review_ids))
    print(f"{'return (退回) review → search':<48}{median:>10.1f}{p95:>9.1f}")
    transfers = iter(search_ids[cases:])
    median, p95 = _measure(clock, lambda: client.post(f"/api/v1/tasks/{next(transfers)}/transfer", headers=handler,
                                                      json={"department": "USE", "reason": "转利用服务部"}),
                           len(search_ids) - cases)
    print(f"{'transfer (转办) HOLDING → USE':<48}{median:>10.1f}{p95:>9.1f}")


def _csrf(client) -> str:
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)


if __name__ == "__main__":
    main()
