"""The login throttle is shared by separate app processes (two gunicorn servers on one PostgreSQL)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from app.services.org import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _post_token(port: int, username: str, password: str) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/auth/token", method="POST",
                                     data=json.dumps({"username": username, "password": password}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def _wait_until_up(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"server on {port} exited: {server.stderr.read().decode()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"server on {port} did not start")


@pytest.fixture()
def two_servers(app, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the shared throttle across processes is tested on PostgreSQL")
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "test-secret", "FLASK_APP": "wsgi.py",
           "MATERIALS_DIR": str(app.config["MATERIALS_DIR"]), "ARCHIVE_DIR": str(app.config["ARCHIVE_DIR"])}
    ports, servers = [_free_port(), _free_port()], []
    try:
        for port in ports:
            servers.append(subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "wsgi:app"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        for port, server in zip(ports, servers, strict=True):
            _wait_until_up(port, server)
        yield ports
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)


def test_failures_on_one_process_lock_the_account_on_the_other(two_servers):
    first, second = two_servers
    statuses = [_post_token(first if n % 2 else second, "leader", f"guess-{n}")[0] for n in range(12)]
    assert statuses.count(401) <= 10 and 429 in statuses
    # Both processes now refuse, the right password too, with Retry-After.
    for port in (first, second):
        status, headers = _post_token(port, "leader", DEMO_PASSWORD)
        assert status == 429 and int(headers["Retry-After"]) >= 1
