"""SQLite at HQ: the WAL is copied back into the database file by a thread of its own
(hq_server.db._Checkpointer), not by the writer that commits, and no WAL content is lost."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from hq_server.app import open_database
from hq_server.enrollment import enroll_store
from sync_protocol.hlc import HybridClock


def _stores_in_main_file(path: Path, scratch: Path) -> int:
    """Stores in the database file alone, as if its WAL were not there (what is checkpointed)."""
    shutil.copyfile(path, scratch)
    conn = sqlite3.connect(scratch)
    try:
        return int(conn.execute("SELECT count(*) FROM stores").fetchone()[0])
    except sqlite3.OperationalError:  # not even the schema has been checkpointed yet
        return 0
    finally:
        conn.close()
        scratch.unlink()


def test_commits_reach_the_database_file_in_the_background_while_hq_runs(tmp_path: Path) -> None:
    path = tmp_path / "hq.db"
    db = open_database(str(path))
    try:
        clock = HybridClock("hq")
        for n in range(5):
            enroll_store(db, clock, f"SH00{n}", region="east")
        deadline = time.monotonic() + 15
        while _stores_in_main_file(path, tmp_path / "copy.db") < 5:
            assert time.monotonic() < deadline, "the WAL was never checkpointed"
            time.sleep(0.1)
        enroll_store(db, clock, "SH009", region="east")
    finally:
        db.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM stores").fetchone()[0] == 6
    finally:
        conn.close()
