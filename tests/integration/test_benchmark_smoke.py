"""Benchmarks in a tiny size, so that they cannot rot: same code, a few rows instead of thousands."""
from __future__ import annotations

import itertools

from bench import designer as designer_bench
from bench import org as org_bench

_runs = itertools.count(1)


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
