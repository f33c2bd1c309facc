"""Benchmarks in a tiny size, so that they cannot rot: same code, a few rows instead of thousands."""
from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

import pytest

from bench import designer as designer_bench
from bench import org as org_bench

_runs = itertools.count(1)
ROOT = Path(__file__).resolve().parents[2]


def test_organisation_benchmark_smoke(app):
    results = org_bench.measure(app, departments=6, users=12, logins=2, prefix=f"S{next(_runs)}x")
    assert results["created"]["departments"]["create"] == 6 and results["created"]["users"]["create"] == 12
    assert results["dry_run"] > 0 and results["apply"] > 0
    assert results["login_with_throttle_ms"] > 0 and results["login_without_throttle_ms"] > 0


def test_designer_benchmark_smoke(app):
    from app.services.processes.checks import check_process

    with app.test_request_context():
        check = check_process(designer_bench.generate(20), "big_process")
    assert check.ok, check.summary()
    assert len(check.engine.parsed.user_tasks) == 20


# The benchmarks that run as commands of their own: each runs whole, at a tiny size, on a scratch
# PostgreSQL database next to the test database (they wipe it), and must print its figures.
SMOKE_COMMANDS = {
    "load, raw engine and statements (bench/run --profile)": (
        ["bench/run", "--profile"],
        {"BENCH_COMPLETIONS": "12", "BENCH_WARMUP": "4", "BENCH_BULK_ITEMS": "120", "BENCH_INBOX_REQUESTS": "5",
         "BENCH_INBOX_PAGE_REQUESTS": "3", "BENCH_INBOX_MIN_TOTAL": "120", "BENCH_STATEMENT_COMPLETIONS": "3",
         "BENCH_PROFILE_COUNT": "3", "BENCH_WORKERS": "2", "BENCH_SECONDS": "20"},
        ["completions: 12", "raw engine: 12 completions", "of the raw engine's rate",
         "statements per completion", "department_inbox"]),
    "intake": ([".venv/bin/python", "-m", "bench.intake", "2"], {}, ["POST application + 2 scans", "API POST /cases"]),
    "routing": ([".venv/bin/python", "-m", "bench.routing", "120", "200", "3"], {},
                ["inbox page (HTML), first page", "return (退回)", "transfer (转办)"]),
    "filing": ([".venv/bin/python", "-m", "bench.archive", "2"], {}, ["peak resident memory", "2 typical cases"]),
    "supervision": ([".venv/bin/python", "-m", "bench.supervision", "1001", "1002"], {},
                    ["first pass (raises alerts)", "second pass (nothing new)"]),
    "designer": ([".venv/bin/python", "-m", "bench.designer", "20", "1"], {}, ["BPMN with 20 user tasks", "full validation over 1 runs"]),
}


@pytest.fixture(scope="module")
def smoke_database(database_url) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("the benchmarks run on PostgreSQL only")
    return database_url.rsplit("/", 1)[0] + "/onewindow_bench_smoke"


@pytest.mark.parametrize("name", list(SMOKE_COMMANDS))
def test_benchmark_command_smoke(name, smoke_database):
    command, settings, expected = SMOKE_COMMANDS[name]
    env = {**os.environ, "BENCH_DATABASE_URL": smoke_database, "DATABASE_URL": smoke_database,
           "PYTHONPATH": str(ROOT), **settings}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    for text in expected:
        assert text in output, (text, output[-3000:])
