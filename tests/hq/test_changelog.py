"""The change log never lets a reader skip an entry that commits late (hq_server.changelog, pull)."""

from __future__ import annotations

import random
import threading
import time

import pytest

from hq_server import changelog, nodes
from hq_server.app import open_hq
from hq_server.db import Database
from hq_server.enrollment import enroll_store
from hq_server.pull import pull
from sync_protocol.hlc import HybridClock


def append_one(db: Database, clock: HybridClock, store_id: str, hold_s: float = 0.0) -> None:
    with db.write() as conn:
        changelog.append(conn, clock, [changelog.Entry("test", "x", store_id, None, b"\xc0")])
        time.sleep(hold_s)  # a long transaction: commits well after it took its position


def read_all(db: Database, clock: HybridClock, node: nodes.Node, cursor: str) -> tuple[list[int], str]:
    seen: list[int] = []
    while True:
        page = pull(db, clock, node, cursor, 50)
        assert not page.reset
        seen += [c.pos for c in page.changes]
        cursor = page.cursor
        if not page.has_more:
            return seen, cursor


def test_append_without_the_lock_is_refused(db_url: str) -> None:
    db, clock = open_hq(db_url)
    try:
        with db.engine.begin() as conn, pytest.raises(RuntimeError):
            changelog.append(conn, clock, [changelog.Entry("test", "x", None, None, b"")])
    finally:
        db.close()


@pytest.mark.postgres
def test_second_writer_waits_for_the_first_so_a_reader_never_passes_an_open_transaction(pg_url: str) -> None:
    db, clock = open_hq(pg_url)
    try:
        store_id = enroll_store(db, clock, "SH001").store_id
        with db.read() as conn:
            node = nodes.get(conn, nodes_of(db)[0])
        _, cursor = read_all(db, clock, node, "0")

        first = db.engine.connect()  # writer 1: takes the lock and a position, commits late
        second = threading.Thread(target=append_one, args=(db, clock, store_id))
        try:
            tx = first.begin()
            changelog.lock(first)
            changelog.append(first, clock, [changelog.Entry("test", "first", store_id, None, b"\xc0")])
            second.start()  # writer 2 on its own connection: must wait for writer 1
            time.sleep(0.3)
            assert second.is_alive()

            seen, cursor_during = read_all(db, clock, node, cursor)
            assert seen == []
            assert cursor_during == cursor  # the reader did not move past the uncommitted position

            tx.commit()
        finally:
            changelog.unlock(first)
            first.close()  # rolls back whatever is still open, so a failure cannot hang the run
            if second.ident is not None:
                second.join(timeout=10)
        assert not second.is_alive()
        seen, _ = read_all(db, clock, node, cursor_during)
        assert len(seen) == 2 and seen == sorted(seen)
    finally:
        db.close()


def nodes_of(db: Database) -> list[str]:
    import sqlalchemy as sa

    from hq_server.schema import nodes as nodes_table

    with db.read() as conn:
        return [str(i) for i in conn.execute(sa.select(nodes_table.c.id)).scalars()]


def test_concurrent_writers_and_a_paging_reader_see_every_entry_exactly_once(db_url: str) -> None:
    db, clock = open_hq(db_url)
    # Writers on their own Database objects: on SQLite they contend like separate processes.
    writers = [open_hq(db_url)[0] for _ in range(3)]
    try:
        store_id = enroll_store(db, clock, "SH001").store_id
        with db.read() as conn:
            node = nodes.get(conn, nodes_of(db)[0])
        _, start = read_all(db, clock, node, "0")
        per_writer = 15
        done = threading.Event()

        def write(writer_db: Database, seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(per_writer):
                append_one(writer_db, clock, store_id, hold_s=rng.choice([0, 0, 0.002, 0.01]))

        seen: list[int] = []

        def read() -> None:
            cursor = start
            while not done.is_set():
                got, cursor = read_all(db, clock, node, cursor)
                seen.extend(got)
            got, cursor = read_all(db, clock, node, cursor)
            seen.extend(got)

        reader = threading.Thread(target=read)
        threads = [threading.Thread(target=write, args=(w, i)) for i, w in enumerate(writers)]
        reader.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done.set()
        reader.join()

        everything, _ = read_all(db, clock, node, start)
        assert len(everything) == 3 * per_writer
        assert seen == everything
    finally:
        for w in writers:
            w.close()
        db.close()
