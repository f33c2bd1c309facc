"""Process-local caches of what rarely changes (accounts behind tokens, deployed forms), dropped in
every worker and on every node when the database says the rows behind them changed.

PostgreSQL triggers (migration 0008) send NOTIFY on channel `onewindow_cache` with the cache's name
whenever a statement writes one of its tables, whoever wrote it: a page, the API, the CLI, psql.
Each process LISTENs on a connection of its own and reads what arrived before every cache look-up;
reading is a non-blocking look at the socket, not a round trip. A process that is not listening
(SQLite, or the listening connection broke) caches nothing, so a cache can be stale only for the
moment a notification takes to cross the network.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import TypeVar

from flask import current_app
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)
CHANNEL = "onewindow_cache"
_KEY = "shared_caches"
MAX_ENTRIES = 10_000
T = TypeVar("T")


class SharedCaches:
    """The named caches of one process and the connection that hears when they go stale."""

    def __init__(self, connect: Callable[[], object] | None) -> None:
        self._connect = connect
        self._listener = None
        self._pid = None
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
            try:
                self._listener = self._connect()
            except Exception as exc:  # noqa: BLE001 - no listener, no cache; requests read the database
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

    def get(self, name: str, key, load: Callable[[], T]) -> T:
        """The cached value of `key` in cache `name`, loaded (and kept while nothing changes) on a miss."""
        with self._lock:
            listening = self._listening()
            cache = self._caches.get(name)
            if listening and cache is not None and key in cache:
                return cache[key]
            dropped = self._dropped
        value = load()
        with self._lock:
            # Kept only if no change was heard while loading (the load may have read the old rows).
            if listening and self._listening() and self._dropped == dropped:
                cache = self._caches.setdefault(name, {})
                if len(cache) >= MAX_ENTRIES:
                    cache.clear()  # a bound, not an eviction policy: these caches hold a bureau's staff
                cache[key] = value
        return value

    def drop(self, name: str) -> None:
        """Forget one cache in this process now (the trigger tells the others at commit)."""
        with self._lock:
            self._forget(name)

    @property
    def is_listening(self) -> bool:
        with self._lock:
            return self._listening()


def _postgresql_listener(engine, url: str | None) -> Callable[[], object]:
    """A function opening a dedicated LISTEN connection to the app's PostgreSQL database (or to `url`,
    the same database reached directly, when the app's address goes through a transaction pooler)."""
    def connect():
        args, kwargs = engine.dialect.create_connect_args(make_url(url) if url else engine.url)
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
    enabled = engine.dialect.name == "postgresql" and app.config.get("CACHE_SHARED", True)
    listener = _postgresql_listener(engine, app.config.get("CACHE_LISTEN_DATABASE_URL")) if enabled else None
    app.extensions[_KEY] = SharedCaches(listener)


def shared_caches() -> SharedCaches:
    return current_app.extensions[_KEY]


def cached(name: str, key, load: Callable[[], T]) -> T:
    """`load()` for `key`, remembered in cache `name` until its tables change."""
    return shared_caches().get(name, key, load)
