"""The store's SQLite replica: one file, one connection, one writer.

All access goes through :class:`Replica`. Writes happen inside :meth:`Replica.tx` (``BEGIN
IMMEDIATE``), so a local change and the op describing it commit together or not at all.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from store_node.migrations import apply_migrations

DB_FILE = "replica.db"
#: Most values bound in one ``IN (...)`` list (SQLite's limit is 32,766 since 3.32; older 999).
IN_CHUNK = 500


def in_chunks(values: Sequence[Any]) -> Iterator[tuple[list[Any], str]]:
    """``values`` in chunks of :data:`IN_CHUNK`, each with its ``?,?,...`` placeholders."""
    for start in range(0, len(values), IN_CHUNK):
        chunk = list(values[start : start + IN_CHUNK])
        yield chunk, ",".join("?" * len(chunk))


def default_data_dir() -> Path:
    """The platform's app-data folder for StoreDesk."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
        return base / "StoreDesk"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "StoreDesk"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "storedesk"


class Replica:
    """The replica file. Thread-safe: every call holds one re-entrant lock."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_FILE
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=5000")
        self.db = sqlite_utils.Database(self.conn)
        self.lock = threading.RLock()
        self._depth = 0
        with self.lock:
            apply_migrations(self.conn)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nests as a savepoint."""
        with self.lock:
            if self._depth:
                name = f"sp{self._depth}"
                self.conn.execute(f"SAVEPOINT {name}")
                self._depth += 1
                try:
                    yield self.conn
                except BaseException:
                    self.conn.execute(f"ROLLBACK TO {name}")
                    self.conn.execute(f"RELEASE {name}")
                    raise
                else:
                    self.conn.execute(f"RELEASE {name}")
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
            finally:
                self._depth = 0

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Row | None:
        with self.lock:
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
            return row

    # -- meta: small key/value state (identity, cursor, counters, sync status) -------------------

    def get(self, key: str, default: str = "") -> str:
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row is not None else default

    def get_int(self, key: str, default: int = 0) -> int:
        value = self.get(key)
        return int(value) if value else default

    def set(self, **values: object) -> None:
        """Write meta keys (inside the caller's transaction when there is one)."""
        with self.tx() as conn:
            conn.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [(key, "" if value is None else str(value)) for key, value in values.items()],
            )
