"""SQL statements per task completion, counted in-process through the whole API path.

COUNT fresh cases are taken in through intake; their `record_search` task is completed with
POST /api/v1/tasks/<id>/complete through Flask's test client (token check, JSON, service, commit),
and every statement sent to the database is counted by kind. Target: at most 5 plus COMMIT.

Usage: python -m bench.statements [COUNT]   (DATABASE_URL: the bench database after bench/run)
"""
from __future__ import annotations

import sys

from app import create_app
from app.extensions import db
from app.services import org
from bench.profile_complete import DATA, SqlTimer, open_items

TARGET_STATEMENTS = 5
WARMUP = 3


def count(app, completions: int) -> SqlTimer:
    with app.app_context():
        timer = SqlTimer(db.engine)
        ids = open_items(completions + WARMUP)
        client = app.test_client()
        token = client.post("/api/v1/auth/token",
                            json={"username": "handler", "password": org.DEMO_PASSWORD}).get_json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        for n, item_id in enumerate(ids):
            if n == WARMUP:  # caches are warm: the token's owner, the form, the process spec
                timer.reset()
            response = client.post(f"/api/v1/tasks/{item_id}/complete", json={"data": DATA}, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"HTTP {response.status_code}: {response.get_data(as_text=True)[:300]}")
        return timer


def main() -> int:
    completions = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    timer = count(create_app(), completions)
    per = timer.count / completions
    timer.report(completions, "SQL per completion through the API")
    mark = "met" if per <= TARGET_STATEMENTS else "MISSED"
    print(f"  statements per completion   {per:8.1f}    target <= {TARGET_STATEMENTS} + COMMIT   {mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
