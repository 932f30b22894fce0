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
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import ConnectionPoolEntry

from hq_server import changelog
from hq_server.errors import ConfigError, Unavailable

SQLITE_BUSY_TIMEOUT_MS = 10_000
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
    def read(self) -> Iterator[Connection]:
        """A read transaction (one snapshot on SQLite; read committed on PostgreSQL)."""
        with _unavailable_on_connection_errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        self.engine.dispose()


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
        cursor.execute("PRAGMA wal_autocheckpoint = 0")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgres_engine(url: sa.URL) -> Engine:
    return sa.create_engine(url, pool_size=10, max_overflow=30, pool_pre_ping=True, pool_timeout=30)
