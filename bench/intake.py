"""Server time of each front-desk intake step, in-process (no network, no upload transfer).

A clerk's typical case: open the item's form, submit applicant + form + two scanned materials with
受理, open the receipt, download its PDF. Each step runs through the whole Flask app (routing, CSRF,
session, templates, SQL on PostgreSQL, engine, PDF) with the test client; the figures are the
app's own time per request. Also times the same submission through the JSON API.

Usage: python -m bench.intake [ROUNDS]   (BENCH_DATABASE_URL: a scratch database, wiped)
"""
from __future__ import annotations

import base64
import logging
import os
import re
import statistics
import sys
import tempfile
import time

BENCH_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/onewindow_bench")
ITEM_CODE = "113701000045001234400011700100X"
PDF = b"%PDF-1.4\n" + b"0" * 200_000 + b"\n%%EOF\n"  # a 200 KB scan
PNG = b"\x89PNG\r\n\x1a\n" + b"1" * 150_000


def _prepare():
    from bench.reset_db import ensure_database, reset_schema

    if "127.0.0.1" not in BENCH_URL and "localhost" not in BENCH_URL:
        raise SystemExit("BENCH_DATABASE_URL must point at 127.0.0.1 (the database is wiped)")
    ensure_database(BENCH_URL)
    reset_schema(BENCH_URL)
    os.environ.update(DATABASE_URL=BENCH_URL, SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only"),
                      MATERIALS_DIR=tempfile.mkdtemp(prefix="bench-materials-"))
    import flask_migrate

    from app import create_app
    from app.extensions import db
    from app.services import org
    from app.services.processes import catalogue
    app = create_app()
    logging.getLogger().setLevel(logging.WARNING)
    with app.app_context():
        flask_migrate.upgrade()
        org.seed_demo()
        catalogue.deploy_directory(app.config["WORKFLOWS_DIR"])
        db.session.commit()
    return app


def _form_data(client, n: int, csrf: str) -> dict:
    import io

    return {
        "csrf_token": csrf, "submission_key": f"bench-{n}", "decision": "accept",
        "applicant_type": "person", "applicant_id_type": "resident_id", "applicant_name": f"测试申请人{n}",
        "applicant_id_number": "11010519491231002X", "applicant_phone": "13800138000",
        "record_type": "marriage", "record_holder_name": "张三", "record_year": "1998",
        "holding_archive": "济南市档案馆", "purpose": "办理继承手续", "contact_mobile": "13800138000",
        "file_application": (io.BytesIO(PDF + str(n).encode()), "application.pdf"),
        "file_id_card": (io.BytesIO(PNG + str(n).encode()), "id_card.png"),
    }


class ServerClock:
    """WSGI middleware timing the app alone: the test client's encoding of the upload is not counted."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        self.last_ms = 0.0

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        body = list(self.wsgi_app(environ, start_response))
        self.last_ms = (time.perf_counter() - started) * 1000
        return body


CLOCK: ServerClock | None = None


def _timed(samples: dict, name: str, call):
    response = call()
    samples.setdefault(name, []).append(CLOCK.last_ms)
    return response


def _report(samples: dict) -> None:
    print(f"{'step':<34}{'n':>5}{'median ms':>12}{'p95 ms':>10}")
    for name, values in samples.items():
        values = sorted(values)
        p95 = values[max(0, int(len(values) * 0.95) - 1)]
        print(f"{name:<34}{len(values):>5}{statistics.median(values):>12.1f}{p95:>10.1f}")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    global CLOCK
    app = _prepare()
    CLOCK = app.wsgi_app = ServerClock(app.wsgi_app)
    client = app.test_client()
    client.post("/login", data={"username": "frontdesk", "password": "demo-pass-2026",
                                "csrf_token": _csrf(client, "/login")})
    samples: dict[str, list[float]] = {}
    for n in range(rounds + 5):
        page = _timed(samples, "GET intake form", lambda: client.get(f"/intake/{ITEM_CODE}"))
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
        data = _form_data(client, n, csrf)
        posted = _timed(samples, "POST application + 2 scans, 受理", lambda d=data: client.post(
            f"/intake/{ITEM_CODE}", data=d, content_type="multipart/form-data"))
        assert posted.status_code == 302, posted.get_data(as_text=True)[:500]
        receipt_url = posted.headers["Location"]
        _timed(samples, "GET receipt page", lambda u=receipt_url: client.get(u))
        pdf = _timed(samples, "GET receipt PDF (with password)", lambda u=receipt_url: client.get(u + ".pdf"))
        assert pdf.data.startswith(b"%PDF-")
        if n < 5:  # warm-up: first templates, spec cache, font
            samples.clear()
    token = client.post("/api/v1/auth/token", json={"username": "frontdesk", "password": "demo-pass-2026"}).get_json()["token"]
    body = {"item_code": ITEM_CODE,
            "applicant": {"type": "person", "name": "张三", "id_number": "11010519491231002X", "phone": "13800138000"},
            "form": {"record_type": "marriage", "record_holder_name": "张三", "holding_archive": "济南市档案馆",
                     "purpose": "办理继承手续", "contact_mobile": "13800138000"},
            "materials": [{"code": "application", "filename": "a.pdf", "content_base64": base64.b64encode(PDF).decode()},
                          {"code": "id_card", "filename": "b.png", "content_base64": base64.b64encode(PNG).decode()}]}
    for _ in range(rounds):
        response = _timed(samples, "API POST /cases (2 scans, 受理)", lambda: client.post(
            "/api/v1/cases", json=body, headers={"Authorization": f"Bearer {token}"}))
        assert response.status_code == 201, response.get_json()
    _report(samples)


def _csrf(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
