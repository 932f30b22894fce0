"""The database: one engine, read and write transactions, the same code on SQLite and PostgreSQL.

``--db`` takes a file path (SQLite) or a SQLAlchemy URL (``postgresql+psycopg://...``).

Writers: every write transaction at HQ may append to the change log, so :meth:`Database.write`
takes the change-log lock first (:func:`hq_server.changelog.lock`). On SQLite that is the file's
single writer: a process-wide lock plus ``BEGIN IMMEDIATE`` (another process waits on
``busy_timeout``). On PostgreSQL it is a transaction-scoped advisory lock, so change-log positions
become visible in the order they were taken and a reader can never skip one that commits late.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import ConnectionPoolEntry

from hq_server import changelog
from hq_server.errors import ConfigError, Unavailable

log = logging.getLogger("storedesk.hq.db")

SQLITE_BUSY_TIMEOUT_MS = 10_000
#: A writer checkpoints by itself only when the WAL has grown this many pages (about 80 MB) because
#: the checkpoint thread fell behind; normally that thread keeps it far smaller.
BACKSTOP_CHECKPOINT_PAGES = 20_000
#: Size the WAL file is cut back to after it has been reset.
WAL_SIZE_LIMIT = 64 * 1024 * 1024
#: Least time between two background checkpoints.
CHECKPOINT_INTERVAL_S = 1.0
_IMMEDIATE = "storedesk_immediate"


def normalize_url(db: str) -> sa.URL:
    """A SQLAlchemy URL for ``--db``: a URL as given, or a file path as SQLite.

    ``postgresql://`` and ``postgres://`` mean psycopg 3. Raises :class:`ConfigError` for anything
    else HQ does not run on.
    """
    db = db.strip()
    if not db:
        raise ConfigError("invalid_db_url", value=db)
    if "://" not in db:
        if db == ":memory:":
            raise ConfigError("invalid_db_url", value=db)
        return sa.URL.create("sqlite", database=str(Path(db).expanduser().resolve()))
    try:
        url = sa.make_url(db)
    except sa.exc.ArgumentError as exc:
        raise ConfigError("invalid_db_url", value=db) from exc
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and url.database and url.database != ":memory:":
        return url.set(drivername="sqlite")
    raise ConfigError("invalid_db_url", value=db)


class Database:
    """HQ's database. Thread-safe; share one per process."""

    def __init__(self, url: str | sa.URL) -> None:
        self.url = normalize_url(url) if isinstance(url, str) else url
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine: Engine = _sqlite_engine(self.url) if self.is_sqlite else _postgres_engine(self.url)
        self._writer: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if self.is_sqlite else contextlib.nullcontext()
        )
        self._after_commit: list[Callable[[], None]] = []
        self._checkpointer = _Checkpointer(str(self.url.database)) if self.is_sqlite else None
        if self._checkpointer is not None:
            self._after_commit.append(self._checkpointer.poke)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (in the writer's thread) after every committed write transaction."""
        self._after_commit.append(callback)

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction holding the change-log lock; commits on success, else rolls back."""
        with self._writer, _unavailable_on_connection_errors(), self.engine.connect() as conn:
            conn.execution_options(**{_IMMEDIATE: True})
            try:
                with conn.begin():
                    changelog.lock(conn)
                    yield conn
            finally:
                changelog.unlock(conn)
        for callback in self._after_commit:
            callback()

    @contextlib.contextmanager
    def write_bookkeeping(self) -> Iterator[Connection]:
        """A small write that adds nothing to the change log (a node's last contact): it does not
        take the change-log lock, and its commit wakes no long-poll."""
        with self._writer, _unavailable_on_connection_errors(), self.engine.connect() as conn:
            conn.execution_options(**{_IMMEDIATE: True})
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (one snapshot on SQLite; read committed on PostgreSQL)."""
        with _unavailable_on_connection_errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        self.engine.dispose()


class _Checkpointer:
    """Copies SQLite's WAL back into the database file in a thread of its own.

    A checkpoint writes and fsyncs the database file; run by the committing writer (SQLite's
    default, every 1,000 pages) it made almost every 1,000-op push wait for one. Here the writer
    only pokes; a passive checkpoint, which never blocks readers or writers, runs at most once per
    :data:`CHECKPOINT_INTERVAL_S` on a connection of its own.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._due = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def poke(self) -> None:
        """Ask for a checkpoint soon (after a commit)."""
        with self._lock:
            if self._stopping.is_set():
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
                self._thread.start()
        self._due.set()

    def close(self) -> None:
        with self._lock:
            self._stopping.set()
            thread = self._thread
        self._due.set()
        if thread is not None:
            thread.join(timeout=30)

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            while True:
                self._due.wait()
                if self._stopping.is_set():
                    return
                self._due.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    log.warning("background checkpoint of %s failed: %s", self._path, exc)
                if self._stopping.wait(CHECKPOINT_INTERVAL_S):
                    return
        finally:
            conn.close()


@contextlib.contextmanager
def _unavailable_on_connection_errors() -> Iterator[None]:
    try:
        yield
    except sa.exc.OperationalError as exc:
        raise Unavailable(detail=str(exc.orig)) from exc


def _sqlite_engine(url: sa.URL) -> Engine:
    Path(str(url.database)).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, pool_size=8, max_overflow=32, pool_timeout=30)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # SQLAlchemy, not the sqlite3 module, decides when transactions begin (see "begin").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA cache_size = -65536")
        # Checkpoints run in a thread of their own (_Checkpointer); this is only a backstop.
        cursor.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_CHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgres_engine(url: sa.URL) -> Engine:
    return sa.create_engine(url, pool_size=10, max_overflow=30, pool_pre_ping=True, pool_timeout=30)
