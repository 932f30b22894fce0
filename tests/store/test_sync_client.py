"""The sync client against a real HQ served in-process (store_node.sync_client, .apply)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from starlette.testclient import TestClient

from hq_server import pull
from hq_server.app import create_app as create_hq_app
from store_node import sync_client, ticket_actions, views
from store_node.errors import InvalidInput, PermanentSyncError, SyncError, TransientSyncError
from store_node.node import Node
from store_node.sync_client import BACKOFF_MAX_S, BACKOFF_MIN_S, SyncClient
from sync_protocol import version
from sync_protocol.hlc import system_wall_ms
from sync_protocol.messages import Hello
from tests.hq.helpers import ADMIN_TOKEN, Hq
from tests.store.conftest import StoreFactory
from tests.store.helpers import HQ_URL, Store, enrolled_node, new_ticket, outbox_rows, scalar, wait_until


def local_ticket(node: Node, key: str) -> dict[str, Any]:
    return views.get_ticket(node, key)


def hq_create(hq: Hq, store: str = "SH001", **fields: Any) -> dict[str, Any]:
    response = hq.api("POST", "/api/v1/tickets", json={"store": store, "type": "other", "title": "总部工单", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def hq_patch(hq: Hq, key: str, **changes: Any) -> None:
    response = hq.api("PATCH", f"/api/v1/tickets/{key}", json=changes)
    assert response.status_code == 200, response.text


# -- push --------------------------------------------------------------------------------------


def test_first_sync_adopts_the_identity_hq_issued(make_store: StoreFactory) -> None:
    store = make_store("SH001")
    assert not store.node.enrolled
    store.sync()
    identity = store.node.identity
    assert (identity.node_id, identity.store_code, identity.node_no) == (
        store.enrollment.node_id,
        "SH001",
        1,
    )
    assert store.line.paths[0] == "/sync/v1/hello"


def test_push_records_results_and_marks_ops_acknowledged(make_store: StoreFactory) -> None:
    store = make_store("SH001")
    store.sync()
    ticket_id = new_ticket(store.node, "冷柜不制冷")
    ticket_actions.add_comment(store.node, ticket_id, "已报修", author="小王")
    ticket_actions.change_status(store.node, ticket_id, "in_progress", "等待维修")
    assert local_ticket(store.node, ticket_id)["sync"] == "pending"

    store.sync()
    assert [(r["seq"], r["state"]) for r in outbox_rows(store.node)] == [(1, "acked"), (2, "acked"), (3, "acked")]
    assert all(r["done_at"] for r in outbox_rows(store.node))
    assert store.node.replica.get_int("acked_seq") == 3
    assert store.seen_by_hq().high_water == 3
    mine = local_ticket(store.node, ticket_id)
    assert mine["sync"] == "synced"
    assert [c["pending"] for c in mine["comments"]] == [False]
    assert [h["pending"] for h in mine["history"]] == [False]

    at_hq = store.hq.ticket(mine["number"])
    assert (at_hq["id"], at_hq["title"], at_hq["status"]) == (ticket_id, "冷柜不制冷", "in_progress")
    assert [c["body"] for c in at_hq["comments"]] == ["已报修"]


def test_an_op_hq_rejects_is_kept_with_its_code_and_reason(make_store: StoreFactory) -> None:
    store = make_store("SH001")
    store.enroll_only()  # no ticket types pulled yet, so the store cannot check the type itself
    ticket_id = ticket_actions.create_ticket(store.node, {"type": "no-such-type", "title": "类型错误"})
    store.sync()
    [op] = outbox_rows(store.node)
    assert (op["state"], op["code"]) == ("rejected", "unknown_ticket_type")
    assert op["reason"]
    assert local_ticket(store.node, ticket_id)["sync"] == "rejected"
    status = views.sync_status(store.node)
    assert status["pending_ops"] == 0
    assert [(r["seq"], r["code"]) for r in status["rejected_ops"]] == [(1, "unknown_ticket_type")]
    assert store.seen_by_hq().high_water == 1  # a rejection still advances HQ's high-water mark


def test_push_sends_batches_in_seq_order_until_the_outbox_is_empty(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_client, "PUSH_BATCH", 3)
    store = make_store("SH001")
    store.sync()
    for i in range(10):
        new_ticket(store.node, f"工单 {i}")
    store.line.paths.clear()

    answered = store.call(lambda client: client.push_all())

    assert answered == 10
    assert store.line.paths.count("/sync/v1/push") == 4
    assert store.pending() == 0
    assert store.seen_by_hq().high_water == 10
    assert store.seen_by_hq().ticket_counter == 10
    listed = store.hq.api("GET", "/api/v1/tickets", params={"store": "SH001"}).json()
    assert listed["total"] == 10


def test_push_batches_hold_no_more_ops_than_the_greeted_hq_takes(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store("SH001")
    store.sync()
    for i in range(10):
        new_ticket(store.node, f"工单 {i}")
    monkeypatch.setattr(pull, "MAX_PUSH_OPS", 4)  # what this HQ says in its hello
    store.line.paths.clear()

    async def greet_and_push(client: SyncClient) -> int:
        await client.hello()
        return await client.push_all()

    answered = store.call(greet_and_push)

    assert answered == 10
    assert store.line.paths.count("/sync/v1/push") == 3
    assert store.pending() == 0


def test_before_a_hello_a_push_holds_no_more_ops_than_an_older_hq_takes(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store("SH001")
    store.sync()
    for i in range(10):
        new_ticket(store.node, f"工单 {i}")
    monkeypatch.setattr(sync_client, "LEGACY_MAX_PUSH_OPS", 4)
    store.line.paths.clear()

    answered = store.call(lambda client: client.push_all())  # a fresh client: no hello yet

    assert answered == 10
    assert store.line.paths.count("/sync/v1/push") == 3
    # An HQ that predates Hello.max_push_ops took at most the legacy limit.
    older_hello = {"protocol": 1, "supported": [1], "node_id": "n", "node_no": 1, "store_id": "s"}
    older_hello |= {"store_code": "S", "store_name": "S", "high_water": 0, "ticket_counter": 0, "server_hlc": "1"}
    assert msgspec.convert(older_hello, Hello).max_push_ops == version.LEGACY_MAX_PUSH_OPS


def test_a_recreated_replica_never_reuses_a_seq_or_ticket_number(tmp_path: Path, make_store: StoreFactory) -> None:
    store = make_store("SH001")
    store.sync()
    for _ in range(3):
        new_ticket(store.node)
    store.sync()
    store.node.close()

    fresh = Store(store.hq, tmp_path / "new-disk", store.enrollment)  # the PC's disk was replaced
    try:
        fresh.sync()
        ticket_id = new_ticket(fresh.node)
        assert local_ticket(fresh.node, ticket_id)["number"] == "SH001-000004"
        assert [r["seq"] for r in outbox_rows(fresh.node)] == [4]
        fresh.sync()
        assert fresh.pending() == 0 and outbox_rows(fresh.node)[0]["state"] == "acked"
        # The old tickets come back with the pull.
        assert scalar(fresh.node.replica, "SELECT count(*) FROM tickets") == 4
    finally:
        fresh.node.close()


# -- pull --------------------------------------------------------------------------------------


def test_pull_applies_hq_changes_and_advances_the_cursor(make_store: StoreFactory) -> None:
    store = make_store("SH001")
    other = make_store("SH002")
    store.sync()
    first_cursor = store.node.replica.get("cursor")
    assert first_cursor != "0"
    types = {row[0] for row in store.node.replica.query("SELECT code FROM reference WHERE entity = 'ticket_type'")}
    assert {"equipment", "quality", "other"} <= types

    made = hq_create(store.hq, "SH001", title="总部派单", priority="high")
    hq_create(store.hq, "SH002", title="别的门店")
    applied = store.call(lambda client: client.pull_all())
    assert applied >= 1
    mine = local_ticket(store.node, made["number"])
    assert (mine["id"], mine["title"], mine["priority"], mine["sync"]) == (made["id"], "总部派单", "high", "synced")
    assert scalar(store.node.replica, "SELECT origin FROM tickets WHERE id = ?", (made["id"],)) == "hq"
    assert scalar(store.node.replica, "SELECT count(*) FROM tickets") == 1  # not the other store's
    cursor = store.node.replica.get("cursor")
    assert cursor != first_cursor

    assert store.call(lambda client: client.pull_all()) == 0
    assert store.node.replica.get("cursor") == cursor

    agent = store.hq.api("PUT", "/api/v1/agents/li", json={"name": "李工", "departments": [made["department"]]})
    assert agent.status_code == 200, agent.text
    hq_patch(store.hq, made["id"], assignee="li", status="assigned")
    store.sync()
    mine = local_ticket(store.node, made["id"])
    assert (mine["assignee"], mine["assignee_name"], mine["status"]) == ("li", "李工", "assigned")
    other.sync()
    assert scalar(other.node.replica, "SELECT title FROM tickets") == "别的门店"


def test_pull_follows_pages_until_hq_has_nothing_more(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store("SH001")
    store.sync()
    for i in range(7):
        hq_create(store.hq, title=f"总部工单 {i}")
    monkeypatch.setattr(sync_client, "PULL_LIMIT", 2)
    store.line.paths.clear()
    assert store.call(lambda client: client.pull_all()) == 7
    assert store.line.paths.count("/sync/v1/pull") == 4
    assert scalar(store.node.replica, "SELECT count(*) FROM tickets") == 7


def test_a_pulled_hq_value_does_not_overwrite_a_field_with_a_pending_local_op(make_store: StoreFactory) -> None:
    store = make_store("SH001", wall_ms=lambda: system_wall_ms() - 60_000)  # this PC's clock is a minute slow
    store.sync()
    ticket_id = new_ticket(store.node, "原标题")
    store.sync()

    ticket_actions.edit_ticket(store.node, ticket_id, {"title": "门店改的标题"})
    ticket_actions.change_status(store.node, ticket_id, "in_progress")
    time.sleep(0.005)  # HQ's edit is later in real time
    hq_patch(store.hq, ticket_id, title="总部改的标题", description="总部补充", priority="urgent")

    store.call(lambda client: client.pull_all())
    mine = local_ticket(store.node, ticket_id)
    assert (mine["title"], mine["status"]) == ("门店改的标题", "in_progress")  # pending locally: kept
    assert (mine["description"], mine["priority"]) == ("总部补充", "urgent")  # not pending: HQ's value

    store.call(lambda client: client.push_all())
    mine = local_ticket(store.node, ticket_id)
    # Acknowledged: the ack brings HQ's merged state; HQ's title was written later and wins.
    assert mine["title"] == "总部改的标题"
    assert mine["status"] == "in_progress"
    assert store.hq.ticket(ticket_id)["title"] == "总部改的标题"
    assert mine["sync"] == "synced"


def test_a_local_edit_made_after_hq_s_wins_once_acknowledged(make_store: StoreFactory) -> None:
    store = make_store("SH001")
    store.sync()
    ticket_id = new_ticket(store.node, "原标题")
    store.sync()
    hq_patch(store.hq, ticket_id, title="总部改的标题")
    store.call(lambda client: client.pull_all())
    ticket_actions.edit_ticket(store.node, ticket_id, {"title": "门店后改的标题"})
    store.sync()
    assert local_ticket(store.node, ticket_id)["title"] == "门店后改的标题"
    assert store.hq.ticket(ticket_id)["title"] == "门店后改的标题"


def hq_create_later(hq: Hq) -> None:
    time.sleep(0.1)
    hq_create(hq)


def test_waiting_for_news_ends_when_hq_has_a_change_or_a_clerk_saves(make_store: StoreFactory) -> None:
    store = make_store("SH001")
    store.sync()

    async def scenario() -> tuple[float, float]:
        store.node.local_write = asyncio.Event()
        client = store.client()
        try:
            started = time.monotonic()
            hq_news = asyncio.create_task(asyncio.to_thread(hq_create_later, store.hq))
            await client._wait_for_news()  # long-polls HQ for up to WAIT_S
            by_hq = time.monotonic() - started
            await hq_news
            await client.pull_all()

            started = time.monotonic()
            asyncio.get_running_loop().call_later(0.1, lambda: new_ticket(store.node))
            await client._wait_for_news()
            by_clerk = time.monotonic() - started
        finally:
            await client.close()
        return by_hq, by_clerk

    by_hq, by_clerk = asyncio.run(scenario())
    assert by_hq < sync_client.WAIT_S / 2 and by_clerk < sync_client.WAIT_S / 2
    assert "/sync/v1/wait" in store.line.paths
    assert scalar(store.node.replica, "SELECT count(*) FROM tickets WHERE origin = 'hq'") == 1


# -- failures and back-off ---------------------------------------------------------------------


class RecordingSyncClient(SyncClient):
    """The real client; only its waits between attempts are recorded instead of slept."""

    def __init__(self, *args: Any, attempts: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delays: list[float] = []
        self.attempts = attempts
        self.done = asyncio.Event()

    async def _sleep_or_local_write(self, seconds: float) -> None:
        self.delays.append(seconds)
        if len(self.delays) >= self.attempts:
            self.done.set()
            await asyncio.Event().wait()  # park here until the test cancels run()


async def run_until_done(client: RecordingSyncClient) -> None:
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(client.done.wait(), timeout=10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_hq_records_the_last_error_and_backs_off_exponentially_with_jitter(data_dir: Path) -> None:
    node = enrolled_node(data_dir)
    try:
        new_ticket(node)
        attempts = 12

        async def scenario() -> RecordingSyncClient:
            node.local_write = asyncio.Event()
            client = RecordingSyncClient(node, f"http://127.0.0.1:{closed_port()}", "token", attempts=attempts)
            await run_until_done(client)
            return client

        client = asyncio.run(scenario())
        bases = [min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2**n) for n in range(attempts)]
        for delay, base in zip(client.delays, bases, strict=True):
            assert base / 2 <= delay <= base
        assert max(client.delays) <= BACKOFF_MAX_S
        assert bases[-1] == BACKOFF_MAX_S  # the cap was reached
        assert len({round(d / b, 9) for d, b in zip(client.delays, bases, strict=True)}) > 1  # jittered

        status = views.sync_status(node)
        assert status["online"] is False
        assert status["last_error_code"] == "unreachable"
        assert "unreachable" in status["last_error"]
        assert status["last_error_at"] is not None and status["last_success_at"] is None
        assert status["pending_ops"] == 1  # nothing is lost
    finally:
        node.close()


def test_hq_refusing_the_token_is_recorded_and_backs_off_long(make_store: StoreFactory) -> None:
    store = make_store("SH001")

    async def scenario() -> RecordingSyncClient:
        store.node.local_write = asyncio.Event()
        client = RecordingSyncClient(store.node, HQ_URL, "not-the-token", attempts=2, transport=store.line)
        await run_until_done(client)
        return client

    client = asyncio.run(scenario())
    assert all(BACKOFF_MAX_S / 2 <= delay <= BACKOFF_MAX_S for delay in client.delays)
    status = views.sync_status(store.node)
    assert (status["last_error_code"], status["online"], status["enrolled"]) == ("unauthorized", True, False)


def test_request_failures_are_classified_transient_or_permanent(make_store: StoreFactory) -> None:
    store = make_store("SH001")
    store.sync()
    new_ticket(store.node)

    store.line.up = False
    with pytest.raises(TransientSyncError) as transient:
        store.call(lambda client: client.sync_once())
    assert transient.value.code == "unreachable"
    assert store.pending() == 1

    async def with_bad_token() -> None:
        client = SyncClient(store.node, HQ_URL, "not-the-token", transport=store.line)
        try:
            await client.sync_once()
        finally:
            await client.close()

    store.line.up = True
    with pytest.raises(PermanentSyncError) as permanent:
        asyncio.run(with_bad_token())
    assert permanent.value.code == "unauthorized"
    assert store.pending() == 1


def test_a_local_write_cuts_the_wait_between_attempts_short(node: Node) -> None:
    async def scenario() -> float:
        node.local_write = asyncio.Event()
        client = SyncClient(node, "http://127.0.0.1:9", "token")
        try:
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, lambda: new_ticket(node))  # a clerk saves a ticket meanwhile
            started = time.monotonic()
            await client._sleep_or_local_write(BACKOFF_MAX_S)
            return time.monotonic() - started
        finally:
            await client.close()

    assert asyncio.run(scenario()) < 5


def test_sync_resumes_by_itself_when_the_line_comes_back(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_client, "BACKOFF_MIN_S", 0.01)
    monkeypatch.setattr(sync_client, "BACKOFF_MAX_S", 0.05)
    store = make_store("SH001")
    store.sync()
    store.line.up = False

    async def scenario() -> SyncClient:
        store.node.local_write = asyncio.Event()
        client = store.client()
        task = asyncio.create_task(client.run())
        try:
            ticket_id = new_ticket(store.node, "断网时建的单")
            await wait_until(lambda: store.node.replica.get("last_error_code") == "unreachable")
            assert store.node.replica.get("online") == "0"
            assert store.pending() == 1 and client._failures >= 1
            store.line.up = True
            await wait_until(lambda: store.pending() == 0 and store.node.replica.get("online") == "1")
            assert outbox_rows(store.node)[0]["entity_id"] == ticket_id
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await client.close()
        return client

    asyncio.run(scenario())
    assert views.sync_status(store.node)["last_success_at"] is not None
    assert store.hq.ticket("SH001-000001")["title"] == "断网时建的单"


def test_sync_errors_keep_their_code_and_message() -> None:
    error = SyncError("总部不可达", code="unreachable")
    assert (error.code, error.message, str(error)) == ("unreachable", "总部不可达", "总部不可达")


# -- HQ restored from a backup -----------------------------------------------------------------


@contextlib.contextmanager
def hq_on(db: Path) -> Iterator[Hq]:
    app = create_hq_app(str(db), ADMIN_TOKEN)
    with TestClient(app) as client:
        yield Hq(app, client)


def copy_database(source: Path, target: Path) -> None:
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def test_ops_hq_lost_in_a_restore_are_sent_again_and_records_it_lost_are_dropped(tmp_path: Path) -> None:
    db, backup = tmp_path / "hq.db", tmp_path / "hq-backup.db"
    with hq_on(db) as hq:
        store = Store(hq, tmp_path / "store", hq.enroll("SH001").enrollment)
        store.sync()
        kept = new_ticket(store.node, "备份前的单")
        store.sync()
        copy_database(db, backup)

        lost = new_ticket(store.node, "备份后的单")
        comment_id = ticket_actions.add_comment(store.node, lost, "备份后的评论")
        hq_made = hq_create(hq, "SH001", title="备份后总部建的单")
        store.sync()
        assert store.node.replica.get_int("acked_seq") == 3
        assert scalar(store.node.replica, "SELECT count(*) FROM tickets") == 3

    copy_database(backup, db)  # HQ is restored from last night's copy
    try:
        with hq_on(db) as restored:
            store.connect(restored)
            assert store.seen_by_hq().high_water == 1
            store.sync()  # learns HQ lost ops 2-3 and its cursor: re-queues them, re-pulls its scope
            store.sync()  # sends them again
            assert store.pending() == 0
            assert store.seen_by_hq().high_water == 3
            again = restored.ticket(lost)
            assert again["title"] == "备份后的单"
            assert [c["id"] for c in again["comments"]] == [comment_id]
            ids = {row[0] for row in store.node.replica.query("SELECT id FROM tickets")}
            assert ids == {kept, lost}  # HQ's own ticket made after the backup is gone for good
            assert hq_made["id"] not in ids
            assert store.node.replica.get_int("resetting") == 0
    finally:
        store.node.close()


# -- routing -----------------------------------------------------------------------------------


def test_a_ticket_made_here_awaits_routing_until_hq_has_routed_it(make_store: StoreFactory) -> None:
    store = make_store("SH001")
    store.sync()
    store.line.up = False
    ticket_id = new_ticket(store.node, "牛仔裤拉链总坏")  # made while HQ is unreachable
    with contextlib.suppress(SyncError):
        store.sync()
    waiting = local_ticket(store.node, ticket_id)
    assert waiting["routing"] == {"state": "awaiting", "label": "等待总部分派部门"}
    assert waiting["sla"]["resolution_due"] is None
    store.line.up = True
    store.sync()
    routed = local_ticket(store.node, ticket_id)
    assert routed["routing"]["state"] == "routed"
    assert routed["department"] == routed_department(store.hq, ticket_id)
    assert routed["routing"]["label"].startswith("已转至")
    assert routed["sla"]["resolution_due"] is not None


def routed_department(hq: Hq, ticket_id: str) -> str:
    department = hq.ticket(ticket_id)["department"]
    assert department
    return str(department)


def test_the_store_checks_a_new_ticket_against_its_types_form_before_writing_it(make_store: StoreFactory) -> None:
    store = make_store("SH001")
    form = {"fields": [{"name": "location", "label_zh": "位置", "label_en": "Location", "required": True}]}
    assert store.hq.api("PUT", "/api/v1/ticket-types/equipment/form", json=form).status_code == 200
    store.sync()
    [equipment] = [t for t in views.ticket_types(store.node) if t["code"] == "equipment"]
    assert equipment["fields"] == [
        {"name": "location", "label": "位置", "kind": "text", "required": True, "choices": []}
    ]
    with pytest.raises(InvalidInput) as refused:
        new_ticket(store.node, "冷柜坏了")
    assert (refused.value.field, refused.value.code) == ("location", "missing_field")
    assert scalar(store.node.replica, "SELECT count(*) FROM tickets") == 0
    ticket_id = new_ticket(store.node, "冷柜坏了", extra={"location": "冷柜区"})
    store.sync()
    assert store.hq.ticket(ticket_id)["type"] == "equipment"
