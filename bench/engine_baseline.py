"""The raw engine's completion rate, as the yardstick for OneWindow's (bench/run runs both).

What one completion costs the engine alone: read a case's stored state, restore the workflow, complete
its user task with the same form data the load clients send, run the engine on, dump the state and
write it back with one UPDATE and COMMIT. The engine is app.engine (SpiffWorkflow 3.2 with the
serializer and script sandbox OneWindow runs it with); no Flask, no ORM, no HTTP. Same process shape
as the app server under load: PROCESSES processes working at once, each on its own connection.

`prepare` copies the stored state of every case waiting at `record_search` into raw_engine_case
before the load clients complete them; `run` completes them there.

Usage: python -m bench.engine_baseline prepare
       python -m bench.engine_baseline run [COMPLETIONS] [--compare LOAD_RESULT.json]
(DATABASE_URL: the bench database)
"""
from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time

import psycopg2

from bench.load import COMPLETE_DATA, _libpq_url

PROCESSES = 2
TARGET_FRACTION = 0.25
STEP = "record_search"


def prepare(database_url: str) -> int:
    conn = psycopg2.connect(_libpq_url(database_url))
    with conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS raw_engine_case")
        cur.execute("""
            CREATE TABLE raw_engine_case AS
            SELECT c.id, c.process_version_id, c.workflow_state FROM service_case c
            JOIN work_item w ON w.case_id = c.id AND w.state = 'open' AND w.bpmn_id = %s
            WHERE c.case_no NOT LIKE 'BENCH%%'""", (STEP,))
        cur.execute("ALTER TABLE raw_engine_case ADD PRIMARY KEY (id)")
        cur.execute("SELECT count(*) FROM raw_engine_case")
        copied = cur.fetchone()[0]
    conn.close()
    return copied


def _worker(database_url: str, ids: list[int], start, results) -> None:
    from app.engine import Workflow  # in the child: each process parses the specs itself, as a worker does

    conn = psycopg2.connect(_libpq_url(database_url))
    cur = conn.cursor()
    cur.execute("SELECT id, spec_json FROM process_version")
    specs = dict(cur.fetchall())
    conn.commit()
    start.wait()
    began, cpu = time.perf_counter(), time.process_time()
    for case_id in ids:
        cur.execute("SELECT process_version_id, workflow_state FROM raw_engine_case WHERE id = %s", (case_id,))
        version, state = cur.fetchone()
        workflow = Workflow.load(specs[version], state)
        task = next(t for t in workflow.ready_user_tasks() if t.bpmn_id == STEP)
        workflow.complete_task(task.task_id, dict(COMPLETE_DATA))
        cur.execute("UPDATE raw_engine_case SET workflow_state = %s WHERE id = %s", (workflow.dump(), case_id))
        conn.commit()
    results.put((time.perf_counter() - began, time.process_time() - cpu, len(ids)))
    conn.close()


def run(database_url: str, completions: int) -> dict:
    conn = psycopg2.connect(_libpq_url(database_url))
    with conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM raw_engine_case ORDER BY id LIMIT %s", (completions,))
        ids = [row[0] for row in cur.fetchall()]
    conn.close()
    if not ids:
        raise SystemExit("raw_engine_case is empty: run `python -m bench.engine_baseline prepare` first")
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(PROCESSES + 1), context.Queue()
    workers = [context.Process(target=_worker, args=(database_url, ids[n::PROCESSES], start, results))
               for n in range(PROCESSES)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    finished = [results.get(timeout=600) for _ in workers]
    elapsed = time.perf_counter() - began
    for worker in workers:
        worker.join()
    done = sum(count for _elapsed, _cpu, count in finished)
    cpu_ms = sum(cpu for _elapsed, cpu, _count in finished) / done * 1000
    return {"completions": done, "seconds": elapsed, "rate": done / elapsed, "cpu_ms": cpu_ms}


def main() -> int:
    database_url = os.environ["DATABASE_URL"]
    if sys.argv[1:2] == ["prepare"]:
        print(f"raw engine: copied the state of {prepare(database_url)} cases waiting at {STEP}")
        return 0
    args = sys.argv[2:]
    compare = None
    if "--compare" in args:
        compare = args[args.index("--compare") + 1]
        args = args[:args.index("--compare")]
    result = run(database_url, int(args[0]) if args else 2000)
    print(f"raw engine: {result['completions']} completions in {result['seconds']:.2f} s with {PROCESSES} "
          f"processes = {result['rate']:.1f}/s; engine process CPU {result['cpu_ms']:.2f} ms per completion")
    if compare:
        with open(compare, encoding="utf-8") as fh:
            app_rate = json.load(fh)["rate"]
        fraction = app_rate / result["rate"]
        mark = "met" if fraction >= TARGET_FRACTION else "MISSED"
        print(f"  OneWindow {app_rate:.1f}/s is {fraction:.2f} of the raw engine's rate "
              f"(target >= {TARGET_FRACTION:.2f})   {mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
