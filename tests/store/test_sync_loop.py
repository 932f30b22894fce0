"""The sync loop keeps going, and stops hammering HQ, whatever fails (store_node.sync_client)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hq_server.enrollment import enroll_store
from store_node import outbox, sync_client, ticket_actions
from store_node.errors import PermanentSyncError
from store_node.node import Node
from store_node.replica import DB_FILE
from tests.hq.helpers import Hq
from tests.store.conftest import StoreFactory
from tests.store.helpers import Store, new_ticket, outbox_rows


async def run_for(store: Store, seconds: float) -> None:
    store.node.local_write = asyncio.Event()
    client = store.client()
    task = asyncio.create_task(client.run())
    try:
        await asyncio.sleep(seconds)
        assert not task.done(), task.exception()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()


def test_sync_loop_survives_a_replica_that_cannot_record_its_state(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_client, "BACKOFF_MIN_S", 0.01)
    monkeypatch.setattr(sync_client, "BACKOFF_MAX_S", 0.05)
    store = make_store("SH001")
    store.sync()
    store.line.up = False
    real_set = store.node.replica.set
    full = {"on": True}

    def set_or_fail(**values: Any) -> None:
        if full["on"] and "last_error" in values:
            raise sqlite3.OperationalError("database or disk is full")
        real_set(**values)

    monkeypatch.setattr(store.node.replica, "set", set_or_fail)

    async def scenario() -> None:
        store.node.local_write = asyncio.Event()
        client = store.client()
        task = asyncio.create_task(client.run())
        try:
            await asyncio.sleep(0.3)  # several failed rounds, each failing to record its error
            assert not task.done()
            full["on"] = False
            store.line.up = True
            new_ticket(store.node, "磁盘清理后建的单")
            for _ in range(200):
                if store.pending() == 0:
                    break
                await asyncio.sleep(0.02)
            assert store.pending() == 0
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await client.close()

    asyncio.run(scenario())


def test_long_poll_that_keeps_failing_backs_off_instead_of_resyncing_in_a_tight_loop(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_client, "BACKOFF_MIN_S", 0.05)
    monkeypatch.setattr(sync_client, "BACKOFF_MAX_S", 0.4)
    store = make_store("SH001")
    store.sync()
    store.line.broken.add("/sync/v1/wait")
    store.line.paths.clear()
    asyncio.run(run_for(store, 1.5))
    # With backoff doubling from 0.05 s to 0.4 s, 1.5 s holds well under 12 rounds;
    # without it (a reset after every good push/pull) it would be ~40.
    assert 2 <= store.line.paths.count("/sync/v1/pull") <= 12
    assert store.node.replica.get("last_error_code") == "http_error"


def test_gap_at_an_op_the_store_no_longer_holds_stops_pushing_instead_of_looping(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store("SH001")
    store.sync()
    for i in range(3):
        new_ticket(store.node, f"工单 {i}")
    store.sync()
    # HQ forgets every op of this node (restored from a copy made before them). The store still
    # holds op 1 (rejected ops are never pruned) but has pruned the acked ops 2 and 3.
    with store.node.replica.tx() as conn:
        conn.execute("UPDATE outbox SET state = 'rejected', code = 'unknown_ticket_type' WHERE seq = 1")
        conn.execute("DELETE FROM outbox WHERE seq IN (2, 3)")
    with store.hq.ctx.db.write() as conn:
        conn.exec_driver_sql("UPDATE nodes SET high_water = 0 WHERE id = ?", (store.enrollment.node_id,))
    new_ticket(store.node, "恢复后建的单")
    store.line.paths.clear()
    with pytest.raises(PermanentSyncError) as caught:
        store.call(lambda client: client.push_all())
    assert caught.value.code == "seq_gap"
    assert store.line.paths.count("/sync/v1/push") <= 2


def test_store_kept_beside_a_reissued_token_stops_before_pushing(
    hq: Hq, make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store("SH001")
    store.sync()
    new_ticket(store.node, "旧节点的单")
    store.sync()
    # The token was lost: HQ enrolls a new node for the store; the old data folder is kept.
    store.token = enroll_store(hq.ctx.db, hq.ctx.clock, "SH001").token
    new_ticket(store.node, "换令牌后建的单")
    store.line.paths.clear()
    with pytest.raises(PermanentSyncError) as caught:
        store.call(lambda client: client.sync_once())
    assert caught.value.code == "identity_mismatch"
    assert "另一台门店电脑" in caught.value.message
    assert store.line.paths == ["/sync/v1/hello"]
    assert store.pending() == 1


def test_replica_restored_from_an_older_copy_lifts_its_seq_and_ticket_number_at_start(
    tmp_path: Path, make_store: StoreFactory
) -> None:
    store = make_store("SH001")
    store.sync()
    new_ticket(store.node, "第一张")
    store.sync()
    copy = tmp_path / "backup.db"
    with sqlite3.connect(store.data_dir / DB_FILE) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    for i in range(2):
        new_ticket(store.node, f"备份之后 {i}")
    store.sync()
    store.node.close()
    (store.data_dir / DB_FILE).unlink()
    for leftover in store.data_dir.glob(DB_FILE + "-*"):
        leftover.unlink()
    copy.rename(store.data_dir / DB_FILE)
    store.node = Node(store.data_dir)

    store.sync()  # the node restarts and reaches HQ before the clerk makes a ticket
    ticket_id = ticket_actions.create_ticket(store.node, {"type": "quality", "title": "恢复后的新单"})
    store.sync()

    [op] = [row for row in outbox_rows(store.node) if row["entity_id"] == ticket_id]
    assert (op["seq"], op["state"]) == (4, "acked")
    assert store.hq.ticket(ticket_id)["number"] == "SH001-000004"
    assert outbox.count(store.node) == 0


def test_tickets_made_on_a_restored_replica_before_it_reaches_hq_arrive_with_fresh_seqs_and_numbers(
    tmp_path: Path, make_store: StoreFactory
) -> None:
    store = make_store("SH001")
    store.sync()
    new_ticket(store.node, "第一张")
    store.sync()
    copy = tmp_path / "backup.db"
    with sqlite3.connect(store.data_dir / DB_FILE) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    for i in range(2):
        new_ticket(store.node, f"备份之后 {i}")  # SH001-000002, -000003 (seqs 2, 3)
    store.sync()
    store.node.close()
    for old in store.data_dir.glob(DB_FILE + "*"):
        old.unlink()
    copy.rename(store.data_dir / DB_FILE)
    store.node = Node(store.data_dir)

    # Offline after the restore, the clerk makes a ticket: seq 2 and number SH001-000002 again.
    ticket_id = ticket_actions.create_ticket(store.node, {"type": "quality", "title": "恢复后的新单"})
    assert store.node.replica.one("SELECT number FROM tickets WHERE id = ?", (ticket_id,))[0] == "SH001-000002"
    store.sync()

    assert store.hq.ticket(ticket_id)["title"] == "恢复后的新单"
    assert store.hq.ticket(ticket_id)["number"] == "SH001-000004"
    assert store.hq.ticket("SH001-000002")["title"] == "备份之后 0"
    assert outbox.count(store.node) == 0
    numbers = dict(store.node.replica.query("SELECT id, number FROM tickets"))
    assert numbers[ticket_id] == "SH001-000004"
    assert sorted(numbers.values()) == ["SH001-000001", "SH001-000002", "SH001-000003", "SH001-000004"]
    # The next ticket is numbered above everything HQ has handed out.
    assert ticket_actions.create_ticket(store.node, {"type": "quality", "title": "再下一张"})
    assert store.node.replica.one("SELECT max(number) FROM tickets")[0] == "SH001-000005"


def restore_older_copy(store: Store, tmp_path: Path, *, newer_tickets: int) -> None:
    """Sync ``newer_tickets`` more tickets after a backup, then put the backup back in place."""
    copy = tmp_path / "backup.db"
    with sqlite3.connect(store.data_dir / DB_FILE) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    for i in range(newer_tickets):
        new_ticket(store.node, f"备份之后 {i}")
    store.sync()
    store.node.close()
    for old in store.data_dir.glob(DB_FILE + "*"):
        old.unlink()
    copy.rename(store.data_dir / DB_FILE)
    store.node = Node(store.data_dir)


def test_restored_replica_whose_push_fails_once_still_converges_without_clashing_numbers(
    tmp_path: Path, make_store: StoreFactory
) -> None:
    store = make_store("SH001")
    store.sync()
    new_ticket(store.node, "第一张")
    store.sync()
    restore_older_copy(store, tmp_path, newer_tickets=2)  # HQ has SH001-000001..3, seqs 1..3

    first = ticket_actions.create_ticket(store.node, {"type": "quality", "title": "恢复后 A"})  # seq 2, -000002
    store.line.broken.add("/sync/v1/push")
    with pytest.raises(sync_client.TransientSyncError):
        store.sync()  # greeted (counter lifted to 3) and pulled HQ's own SH001-000002; push failed
    second = ticket_actions.create_ticket(store.node, {"type": "quality", "title": "恢复后 B"})  # seq 4, -000004
    store.line.broken.clear()
    store.sync()

    assert outbox.count(store.node) == 0
    local = dict(store.node.replica.query("SELECT id, number FROM tickets"))
    assert (local[first], local[second]) == ("SH001-000004", "SH001-000005")
    assert store.hq.ticket(first)["number"] == "SH001-000004"
    assert store.hq.ticket(second)["number"] == "SH001-000005"
    assert sorted(local.values()) == [f"SH001-00000{i}" for i in range(1, 6)]
    assert store.seen_by_hq().high_water == 5


def test_renumbering_gives_pending_ops_consecutive_seqs_from_the_expected_one(node: Node) -> None:
    for i in range(4):
        new_ticket(node, f"工单 {i}")
    with node.replica.tx() as conn:
        conn.execute("UPDATE outbox SET state = 'acked' WHERE seq = 1")
        conn.execute("DELETE FROM outbox WHERE seq = 3")  # pending: 2 and 4
        assert outbox.renumber_pending(conn, 4) == 6
    assert [(r["seq"], r["state"]) for r in outbox_rows(node)] == [(1, "acked"), (4, "pending"), (5, "pending")]
