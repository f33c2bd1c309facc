"""Create the benchmark database when missing and empty its public schema.

Usage: python -m bench.reset_db URL
"""
from __future__ import annotations

import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql


def _libpq_url(url: str) -> str:
    """psycopg2 wants plain postgresql:// URLs, without a SQLAlchemy driver suffix."""
    scheme, rest = url.split("://", 1)
    if scheme.startswith("postgres"):
        scheme = "postgresql"
    return f"{scheme}://{rest}"


def ensure_database(url: str) -> None:
    parts = urlsplit(_libpq_url(url))
    name = parts.path.lstrip("/")
    if not name:
        raise SystemExit("BENCH_DATABASE_URL must name a database")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                print(f"created database {name}")
    finally:
        conn.close()


def reset_schema(url: str) -> None:
    conn = psycopg2.connect(_libpq_url(url))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("DROP SCHEMA IF EXISTS public CASCADE")
            cur.execute("CREATE SCHEMA public")
    finally:
        conn.close()


def main() -> None:
    url = sys.argv[1]
    ensure_database(url)
    reset_schema(url)
    print("schema reset")


if __name__ == "__main__":
    main()
