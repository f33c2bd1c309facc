"""Load client: task completions with concurrent clients, then inbox latency; prints a summary.

Usage: python -m bench.load BASE_URL
Settings (environment): DATABASE_URL (to read the open task ids), BENCH_CLIENTS (4),
BENCH_COMPLETIONS (2000), BENCH_WARMUP (50), BENCH_SECONDS (20), BENCH_INBOX_REQUESTS (200),
BENCH_INBOX_MIN_TOTAL (100000).
"""
from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

import psycopg2

from bench.reset_db import _libpq_url

PASSWORD = "demo-pass-2026"
COMPLETE_DATA = {"search_result": "yes", "opinion": "bench"}
COMPLETE_BODY = json.dumps({"data": COMPLETE_DATA}).encode()

TARGET_RATE = 400.0      # completions/s with 4 clients, at least
TARGET_MEDIAN_MS = 8.0   # median completion latency, at most
TARGET_APP_CPU_MS = 2.5  # app-server CPU per completion, at most
TARGET_INBOX_P95_MS = 50.0  # inbox p95 with 100,000 open items (API and HTML page), at most


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(round(q / 100 * len(ordered) + 0.5))))
    return ordered[rank - 1]


class Client:
    """One keep-alive HTTP connection (re-opened transparently if the server closes it)."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.token: str | None = None
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        all_headers = {"Accept-Language": "en"}
        if body is not None and "Content-Type" not in (headers or {}):
            all_headers["Content-Type"] = "application/json"
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        all_headers.update(headers or {})
        try:
            self.conn.request(method, path, body=body, headers=all_headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server dropped an idle keep-alive connection: reconnect once.
            self.conn.close()
            self.conn.request(method, path, body=body, headers=all_headers)
            response = self.conn.getresponse()
        data = response.read()
        for value in response.headers.get_all("Set-Cookie") or ():
            cookie = SimpleCookie()
            cookie.load(value)
            for key, morsel in cookie.items():
                self.cookies[key] = morsel.value
        if response.will_close:
            self.conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def login_api(self, username: str) -> None:
        status, _, data = self.request("POST", "/api/v1/auth/token",
                                       json.dumps({"username": username, "password": PASSWORD}).encode())
        if status != 200:
            raise SystemExit(f"token for {username} refused: {status} {data[:200]!r}")
        self.token = json.loads(data)["token"]

    def close(self) -> None:
        self.conn.close()


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu(pid: int, children_too: bool = False) -> float:
    """CPU seconds (user + system) of a process from /proc; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children_too:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime of reaped children
    return ticks / _TICK


def cpu_snapshot(server_pid: int | None) -> dict[str, float] | None:
    """CPU seconds so far of the app server (master + workers), PostgreSQL, and this client."""
    if not server_pid or not os.path.isdir("/proc"):
        return None
    try:
        with open(f"/proc/{server_pid}/task/{server_pid}/children") as fh:
            workers = [int(p) for p in fh.read().split()]
    except OSError:
        return None
    postgres = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as fh:
                    if fh.read().strip() != "postgres":
                        continue
            except OSError:
                continue
            # The postmaster's reaped children count too (backends that ended meanwhile).
            postgres += _proc_cpu(int(entry), children_too=True)
    times = os.times()
    return {"app": _proc_cpu(server_pid) + sum(_proc_cpu(p) for p in workers), "postgres": postgres,
            "client": times.user + times.system}


def wait_until_up(base_url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    server_pid = int(os.environ.get("BENCH_SERVER_PID") or 0)
    while True:
        if server_pid and not os.path.exists(f"/proc/{server_pid}") and os.path.isdir("/proc"):
            raise SystemExit("the server process exited before answering")
        try:
            client = Client(base_url)
            status, _, _ = client.request("GET", "/api/v1/openapi.json")
            client.close()
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"server at {base_url} did not answer within {seconds:.0f} s")
        time.sleep(0.2)


def open_task_ids(database_url: str) -> list[int]:
    conn = psycopg2.connect(_libpq_url(database_url))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM work_item WHERE department_code = 'HOLDING' AND state = 'open' "
                        "AND bpmn_id = 'record_search' ORDER BY id")
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


@dataclass
class Worker:
    ids: list[int]
    warmup: int
    latencies: list[float] = field(default_factory=list)
    failures: list[tuple[int, int, bytes]] = field(default_factory=list)
    warm_failures: list[tuple[int, int, bytes]] = field(default_factory=list)
    done: int = 0
    error: BaseException | None = None


def run_completions(base_url: str, database_url: str) -> dict:
    clients = _env_int("BENCH_CLIENTS", 4)
    total = _env_int("BENCH_COMPLETIONS", 2000)
    warmup = _env_int("BENCH_WARMUP", 50)
    seconds = float(os.environ.get("BENCH_SECONDS", 20))
    ids = open_task_ids(database_url)
    need = total + warmup
    if len(ids) < need:
        raise SystemExit(f"only {len(ids)} open record_search tasks, need {need}")
    # Disjoint slices, so no two clients ever race for the same case.
    warm_each = -(-warmup // clients)
    measured_each = -(-total // clients)
    workers = [Worker(ids=ids[i::clients][: warm_each + measured_each], warmup=warm_each) for i in range(clients)]
    clock = {"began": 0.0, "stop_at": 0.0}

    server_pid = int(os.environ.get("BENCH_SERVER_PID") or 0) or None
    cpu: dict[str, dict[str, float] | None] = {}

    def open_gate() -> None:  # runs once, when every client has warmed up
        cpu["before"] = cpu_snapshot(server_pid)
        clock["began"] = time.perf_counter()
        clock["stop_at"] = clock["began"] + seconds

    start_gate = threading.Barrier(clients + 1, action=open_gate)

    def run(worker: Worker) -> None:
        client = Client(base_url)
        try:
            client.login_api("handler")
            for item_id in worker.ids[: worker.warmup]:
                status, _, data = client.request("POST", f"/api/v1/tasks/{item_id}/complete", COMPLETE_BODY)
                if status != 200:
                    worker.warm_failures.append((item_id, status, data[:300]))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            worker.error = exc
        finally:
            start_gate.wait()
        if worker.error:
            return
        try:
            for item_id in worker.ids[worker.warmup:]:
                if time.perf_counter() >= clock["stop_at"]:
                    break
                began = time.perf_counter()
                status, _, data = client.request("POST", f"/api/v1/tasks/{item_id}/complete", COMPLETE_BODY)
                worker.latencies.append((time.perf_counter() - began) * 1000)
                worker.done += 1
                if status != 200:
                    worker.failures.append((item_id, status, data[:300]))
        except BaseException as exc:  # noqa: BLE001
            worker.error = exc
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    start_gate.wait()
    for thread in threads:
        thread.join(seconds + 60)
    elapsed = time.perf_counter() - clock["began"]
    cpu["after"] = cpu_snapshot(server_pid)
    for worker in workers:
        if worker.error:
            raise SystemExit(f"a load client failed: {worker.error!r}")
    latencies = [ms for w in workers for ms in w.latencies]
    if not latencies:
        raise SystemExit("no completion was measured")
    failures = [f for w in workers for f in w.failures]
    done = sum(w.done for w in workers)
    warm_failures = [f for w in workers for f in w.warm_failures]
    return {
        "clients": clients, "completions": done, "seconds": elapsed, "rate": done / elapsed,
        "median_ms": statistics.median(latencies), "p95_ms": percentile(latencies, 95),
        "max_ms": max(latencies), "failures": failures, "warm_failures": warm_failures,
        "cpu_ms": ({k: (cpu["after"][k] - cpu["before"][k]) * 1000 / done for k in cpu["before"]}
                   if cpu.get("before") and cpu.get("after") and done else None),
        "cores": os.cpu_count(),
        "per_client_median_ms": [round(statistics.median(w.latencies), 1) if w.latencies else None
                                 for w in workers],
    }


def run_inbox(base_url: str) -> dict:
    requests = _env_int("BENCH_INBOX_REQUESTS", 200)
    min_total = _env_int("BENCH_INBOX_MIN_TOTAL", 100_000)
    client = Client(base_url)
    client.login_api("bulkhandler")
    latencies, failures, totals, rows = [], 0, set(), set()
    for n in range(20 + requests):
        began = time.perf_counter()
        status, headers, data = client.request("GET", "/api/v1/tasks")
        elapsed = (time.perf_counter() - began) * 1000
        if n < 20:
            continue
        latencies.append(elapsed)
        if status != 200:
            failures += 1
            continue
        totals.add(int(headers.get("x-total-count", "-1")))
        rows.add(len(json.loads(data)))
    client.close()
    total = min(totals) if totals else -1
    return {"requests": requests, "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
            "max_ms": max(latencies), "failures": failures, "total": total, "rows": sorted(rows),
            "total_ok": total >= min_total}


def run_inbox_page(base_url: str, requests: int = 50) -> dict | None:
    """The HTML inbox (session login with the form's CSRF token) of the department holding the bulk items."""
    client = Client(base_url)
    status, _, page = client.request("GET", "/login")
    match = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page)
    if status != 200 or not match:
        return None
    form = urlencode({"csrf_token": match.group(1).decode(), "username": "bulkhandler", "password": PASSWORD})
    status, _, _ = client.request("POST", "/login", form.encode(),
                                  {"Content-Type": "application/x-www-form-urlencoded"})
    if status not in (302, 303):
        return None
    latencies, failures = [], 0
    for n in range(10 + requests):
        began = time.perf_counter()
        status, _, _ = client.request("GET", "/inbox")
        elapsed = (time.perf_counter() - began) * 1000
        if n >= 10:
            latencies.append(elapsed)
            failures += status != 200
    client.close()
    return {"requests": requests, "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
            "failures": failures}


def _mark(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> int:
    base_url = sys.argv[1]
    database_url = os.environ["DATABASE_URL"]
    wait_until_up(base_url)

    completion = run_completions(base_url, database_url)
    print(f"completions: {completion['completions']} in {completion['seconds']:.2f} s with "
          f"{completion['clients']} clients = {completion['rate']:.1f}/s; latency median "
          f"{completion['median_ms']:.1f} ms, p95 {completion['p95_ms']:.1f} ms, max {completion['max_ms']:.1f} ms; "
          f"failures {len(completion['failures'])} (warm-up failures {len(completion['warm_failures'])})")
    print(f"median latency per client (ms): {completion['per_client_median_ms']}")
    if completion["cpu_ms"]:
        used = completion["cpu_ms"]
        total_cpu = sum(used.values())
        print(f"CPU per completion: app server {used['app']:.1f} ms, PostgreSQL {used['postgres']:.1f} ms, "
              f"load client {used['client']:.1f} ms; total {total_cpu:.1f} ms on {completion['cores']} cores "
              f"(CPU-bound ceiling about {completion['cores'] * 1000 / total_cpu:.0f}/s)")
    for item_id, status, body in (completion["warm_failures"] + completion["failures"])[:5]:
        print(f"  failed task {item_id}: HTTP {status} {body.decode(errors='replace')}")

    inbox = run_inbox(base_url)
    print(f"inbox GET /api/v1/tasks x{inbox['requests']}: p50 {inbox['p50_ms']:.1f} ms, "
          f"p95 {inbox['p95_ms']:.1f} ms, max {inbox['max_ms']:.1f} ms; X-Total-Count {inbox['total']}, "
          f"rows per page {inbox['rows']}, failures {inbox['failures']}")
    page = run_inbox_page(base_url, _env_int("BENCH_INBOX_PAGE_REQUESTS", 50))
    if page:
        print(f"inbox page GET /inbox x{page['requests']}: p50 {page['p50_ms']:.1f} ms, "
              f"p95 {page['p95_ms']:.1f} ms, failures {page['failures']}")
    else:
        print("inbox page: could not log in through the form; skipped")

    result_file = os.environ.get("BENCH_RESULT_FILE")
    if result_file:  # bench/run compares the rate with the raw engine's
        with open(result_file, "w", encoding="utf-8") as fh:
            json.dump({"rate": completion["rate"], "median_ms": completion["median_ms"]}, fh)
    rate_ok = completion["rate"] >= TARGET_RATE and not completion["failures"]
    median_ok = completion["median_ms"] <= TARGET_MEDIAN_MS
    inbox_ok = inbox["p95_ms"] <= TARGET_INBOX_P95_MS and inbox["total_ok"] and not inbox["failures"]
    print()
    print("=" * 72)
    print("SUMMARY")
    print(f"  completions/s ({completion['clients']} clients)   {completion['rate']:8.1f}   "
          f"target >= {TARGET_RATE:.0f}      {_mark(rate_ok)}")
    print(f"  median completion latency   {completion['median_ms']:8.1f} ms target <= {TARGET_MEDIAN_MS:.0f} ms   "
          f"{_mark(median_ok)}")
    if completion["cpu_ms"]:
        app_cpu = completion["cpu_ms"]["app"]
        print(f"  app CPU per completion      {app_cpu:8.1f} ms target <= {TARGET_APP_CPU_MS} ms  "
              f"{_mark(app_cpu <= TARGET_APP_CPU_MS)}")
    print(f"  inbox p95 ({inbox['total']} open)   {inbox['p95_ms']:8.1f} ms target <= "
          f"{TARGET_INBOX_P95_MS:.0f} ms   {_mark(inbox_ok)}")
    if page:
        print(f"  inbox page p95 (HTML)       {page['p95_ms']:8.1f} ms target <= {TARGET_INBOX_P95_MS:.0f} ms   "
              f"{_mark(page['p95_ms'] <= TARGET_INBOX_P95_MS)}")
    print(f"  (completion p95 {completion['p95_ms']:.1f} ms, failures {len(completion['failures'])}; "
          f"inbox p50 {inbox['p50_ms']:.1f} ms)")
    print("=" * 72)
    if completion["failures"] or completion["warm_failures"] or inbox["failures"] or not inbox["total_ok"]:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
