"""Process-local caches of what rarely changes (accounts behind tokens, deployed forms), dropped in
every worker and on every node when the database says the rows behind them changed.

PostgreSQL triggers (migration 0008) send NOTIFY on channel `onewindow_cache` with the cache's name
whenever a statement writes one of its tables, whoever wrote it: a page, the API, the CLI, psql.
Each process LISTENs on a connection of its own and reads what arrived before every cache look-up;
reading is a non-blocking look at the socket, not a round trip. A process that is not listening
(SQLite, or the listening connection broke) caches nothing, so a cache is stale only for the moment
a notification takes to cross the network. Two guards cover what notifications cannot: entries
expire after CACHE_MAX_AGE_SECONDS (a connection that died without a word), and nothing is cached
by a transaction that itself wrote a cached table (its rows may still be rolled back).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.extensions import db

log = logging.getLogger(__name__)
CHANNEL = "onewindow_cache"
# The tables behind the caches (the triggers of migration 0008 cover the same ones).
CACHED_TABLES = frozenset({"app_user", "api_token", "user_department", "department", "form_version"})
_KEY = "shared_caches"
_WROTE = "wrote_cached_tables"  # session.info: this transaction flushed rows of CACHED_TABLES
MAX_ENTRIES = 10_000
RECONNECT_SECONDS = 30
T = TypeVar("T")


class SharedCaches:
    """The named caches of one process and the connection that hears when they go stale."""

    def __init__(self, connect: Callable[[], object] | None, max_age: float = 300) -> None:
        self._connect = connect
        self._max_age = max_age
        self._listener = None
        self._pid = None
        self._next_attempt = 0.0
        self._caches: dict[str, dict] = {}
        self._dropped = 0  # counts drops, so a value loaded across one is not kept
        self._warned = False
        self._lock = threading.Lock()

    def _listening(self) -> bool:
        """Read what arrived; drop the caches it names. False when this process cannot listen."""
        if self._connect is None:
            return False
        if self._pid != os.getpid():
            # A forked worker must not share its parent's socket: it listens on a connection of its own.
            self._listener, self._pid = None, os.getpid()
        if self._listener is None:
            if time.monotonic() < self._next_attempt:
                return False
            try:
                self._listener = self._connect()
            except Exception as exc:  # noqa: BLE001 - no listener, no cache; requests read the database
                self._next_attempt = time.monotonic() + RECONNECT_SECONDS
                if not self._warned:
                    log.warning("cannot listen for cache changes (%s); caching nothing until it can", exc)
                    self._warned = True
                return False
            self._forget_all()  # whatever changed while nobody listened
        try:
            self._listener.poll()
        except Exception:  # noqa: BLE001 - the connection broke: forget everything, reconnect next time
            log.warning("lost the cache-change listener; caching nothing until it is back", exc_info=True)
            self._listener = None
            self._forget_all()
            return False
        while self._listener.notifies:
            self._forget(self._listener.notifies.pop(0).payload)
        return True

    def _forget(self, name: str) -> None:
        self._caches.pop(name, None)
        self._dropped += 1

    def _forget_all(self) -> None:
        self._caches.clear()
        self._dropped += 1

    def get(self, name: str, key, load: Callable[[], T], *, keep_none: bool = True, may_keep: bool = True) -> T:
        """The cached value of `key` in cache `name`, loaded (and kept while nothing changes) on a miss.

        keep_none=False does not remember a None (say, an unknown token: guessing must not fill the
        cache); may_keep=False does not remember what this load read.
        """
        with self._lock:
            listening = self._listening()
            entry = self._caches.get(name, {}).get(key) if listening else None
            if entry is not None and time.monotonic() - entry[1] <= self._max_age:
                return entry[0]
            dropped = self._dropped
        value = load()
        if not may_keep or (value is None and not keep_none):
            return value
        with self._lock:
            # Kept only if no change was heard while loading (the load may have read the old rows).
            if listening and self._listening() and self._dropped == dropped:
                cache = self._caches.setdefault(name, {})
                if len(cache) >= MAX_ENTRIES:
                    cache.clear()  # a bound, not an eviction policy: these caches hold a bureau's staff
                cache[key] = (value, time.monotonic())
        return value

    def drop(self, name: str) -> None:
        """Forget one cache in this process now (the trigger tells the others at commit)."""
        with self._lock:
            self._forget(name)

    def drop_all(self) -> None:
        with self._lock:
            self._forget_all()

    @property
    def is_listening(self) -> bool:
        with self._lock:
            return self._listening()


def _postgresql_listener(engine, url: str | None, connect_args: dict) -> Callable[[], object]:
    """A function opening a dedicated LISTEN connection to the app's PostgreSQL database (or to `url`,
    the same database reached directly, when the app's address goes through a transaction pooler).
    TCP keepalives make a connection that died without a word fail the next look instead of
    staying silent."""
    def connect():
        args, kwargs = engine.dialect.create_connect_args(make_url(url) if url else engine.url)
        kwargs = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3,
                  **kwargs, **connect_args}
        connection = engine.dialect.loaded_dbapi.connect(*args, **kwargs)
        connection.autocommit = True
        with connection.cursor() as cursor:
            # Without the triggers (a database not upgraded) nothing would ever say a cache is stale.
            cursor.execute("SELECT 1 FROM pg_proc WHERE proname = 'onewindow_cache_changed'")
            if cursor.fetchone() is None:
                connection.close()
                raise RuntimeError("the cache triggers are missing: run `flask db upgrade`")
            cursor.execute(f"LISTEN {CHANNEL}")
        return connection
    return connect


def init_app(app, engine) -> None:
    """Give the app its caches: listening on PostgreSQL, inert elsewhere or when CACHE_SHARED is off."""
    config = app.config
    enabled = engine.dialect.name == "postgresql" and config.get("CACHE_SHARED", True)
    connect_args = config.get("SQLALCHEMY_ENGINE_OPTIONS", {}).get("connect_args", {})
    listener = _postgresql_listener(engine, config.get("CACHE_LISTEN_DATABASE_URL"), connect_args) if enabled else None
    app.extensions[_KEY] = SharedCaches(listener, config.get("CACHE_MAX_AGE_SECONDS", 300))


def shared_caches() -> SharedCaches:
    return current_app.extensions[_KEY]


def cached(name: str, key, load: Callable[[], T], *, keep_none: bool = True) -> T:
    """`load()` for `key`, remembered in cache `name` until its tables change."""
    may_keep = not db.session().info.get(_WROTE)
    return shared_caches().get(name, key, load, keep_none=keep_none, may_keep=may_keep)


@event.listens_for(Session, "after_flush")
def _note_cached_writes(session: Session, _flush_context) -> None:
    """A transaction that wrote a cached table reads it without caching until it ends."""
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(obj, "__table__", None)
        if table is not None and table.name in CACHED_TABLES:
            session.info[_WROTE] = True
            return


@event.listens_for(Session, "do_orm_execute")
def _note_cached_bulk_writes(state) -> None:
    """The same for UPDATE and DELETE statements (revoking a user's tokens, ending sessions)."""
    if state.is_update or state.is_delete or state.is_insert:
        table = getattr(state.statement, "table", None)
        if table is not None and getattr(table, "name", None) in CACHED_TABLES:
            state.session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    """This process forgets what it changed at once; the others hear it from PostgreSQL."""
    if session.info.pop(_WROTE, None) and has_app_context() and _KEY in current_app.extensions:
        shared_caches().drop_all()


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_WROTE, None)
