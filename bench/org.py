"""Organisation benchmark: dry run and apply of a 200-department, 2,000-user file (target ≤ 10 s each),
and the median login with the throttle check against the same login without it.

Usage: python -m bench.org [DEPARTMENTS] [USERS] [LOGINS]
(BENCH_DATABASE_URL: a scratch database on 127.0.0.1, wiped). The suite runs `measure` in a tiny size.
"""
from __future__ import annotations

import statistics
import sys
import time
from contextlib import contextmanager
from unittest import mock

# The app is imported inside the functions: `main` points DATABASE_URL at the scratch database first.

ROLE_MIX = (["handler"], ["handler"], ["handler"], ["front_desk"], ["handler", "dept_head"], ["supervisor"],
            ["archivist"], ["designer"])
BENCH_PASSWORD = "bench-login-ledger-2026"


def organisation_file(departments: int, users: int, prefix: str = "B", renamed: bool = False) -> bytes:
    """A bureau with divisions of up to ten sections under it, every user in one or two of them."""
    from app.services.org.org_file import org_rows, write_csv

    codes = [f"{prefix}D{n:04d}" for n in range(departments)]
    rows_departments = [{"code": codes[0], "name": "基准测试局", "parent": None, "active": True, "heads": []}]
    for n, code in enumerate(codes[1:], start=1):
        parent = codes[0] if n % 10 == 1 else codes[(n // 10) * 10 + 1 if (n // 10) * 10 + 1 < n else 0]
        rows_departments.append({"code": code, "name": f"处室{n}", "name_en": f"Division {n}", "parent": parent,
                                 "active": True, "heads": []})
    heads: dict[str, list[str]] = {}
    rows_users = []
    for n in range(users):
        username, roles = f"{prefix.lower()}user{n:05d}", ROLE_MIX[n % len(ROLE_MIX)]
        member_of = sorted({codes[1 + n % (departments - 1)], codes[1 + (n * 7) % (departments - 1)]})
        if "dept_head" in roles:
            heads.setdefault(member_of[0], []).append(username)
        rows_users.append({"username": username, "display_name": f"{'改名' if renamed else '测试'}用户{n}", "email": f"{username}@bench.example.cn",
                           "mobile": f"139{n:08d}", "roles": roles, "departments": member_of, "active": True})
    for row in rows_departments:
        row["heads"] = heads.get(row["code"], [])
    return write_csv(org_rows(rows_departments, rows_users))


@contextmanager
def _timed(results: dict, key: str):
    started = time.perf_counter()
    yield
    results[key] = time.perf_counter() - started


def measure(app, departments: int, users: int, logins: int, prefix: str = "B") -> dict:
    """Seconds of the dry run and the apply, then login medians (ms) with and without the throttle."""
    from app.extensions import db
    from app.services.org import create_user, org_import

    content = organisation_file(departments, users, prefix)
    results: dict = {"bytes": len(content)}
    with app.app_context():
        with _timed(results, "dry_run"):
            plan = org_import.plan_import("bench.csv", content)
            db.session.rollback()
        if not plan.ok:
            raise SystemExit(f"the generated file was refused: {[p.as_dict() for p in plan.problems[:5]]}")
        with _timed(results, "apply"):
            result = org_import.apply_import("bench.csv", content, None, "cli")
            db.session.commit()
        results["created"] = result.plan.counts()
        with _timed(results, "dry_run_unchanged"):
            org_import.plan_import("bench.csv", content)
            db.session.rollback()
        with _timed(results, "apply_update"):  # every user renamed: 2,000 updates with their audit entries
            org_import.apply_import("bench.csv", organisation_file(departments, users, prefix, renamed=True),
                                    None, "cli")
            db.session.commit()
        create_user(f"{prefix.lower()}login", BENCH_PASSWORD, ["handler"], [])
        db.session.commit()
    client = app.test_client()
    body = {"username": f"{prefix.lower()}login", "password": BENCH_PASSWORD}

    def login_times() -> list[float]:
        times = []
        for _ in range(logins):
            started = time.perf_counter()
            assert client.post("/api/v1/auth/token", json=body).status_code == 200
            times.append(time.perf_counter() - started)
        return times

    results["login_with_throttle_ms"] = statistics.median(login_times()) * 1000
    # Before this release the token endpoint checked the password only: the same path, throttle stubbed out.
    with mock.patch("app.services.accounts.throttle.check_allowed"), \
            mock.patch("app.services.accounts.throttle.record_success"), \
            mock.patch("app.services.accounts.throttle.record_failure"):
        results["login_without_throttle_ms"] = statistics.median(login_times()) * 1000
    return results


def main() -> None:
    departments = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    users = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    logins = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    from bench.intake import _prepare

    results = measure(_prepare(), departments, users, logins)
    print(f"organisation file: {departments} departments, {users} users, {results['bytes'] / 1024:.0f} KiB")
    print(f"dry run:  {results['dry_run']:.2f} s (target ≤ 10 s)")
    print(f"apply:    {results['apply']:.2f} s (target ≤ 10 s)  {results['created']}")
    print(f"dry run of the same file again (nothing to change): {results['dry_run_unchanged']:.2f} s")
    print(f"apply of the file with every user renamed (updates): {results['apply_update']:.2f} s")
    print(f"login p50 over {logins}: {results['login_with_throttle_ms']:.1f} ms with the throttle, "
          f"{results['login_without_throttle_ms']:.1f} ms without it")


if __name__ == "__main__":
    main()
