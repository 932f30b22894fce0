"""Exactly-once delivery across lost answers, killed stores, HQ restarts and an HQ restore."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from sync_protocol.messages import push_response_decoder
from tests.e2e.conftest import StoreFactory
from tests.e2e.procs import Hq, wait_until
from tests.e2e.proxy import FaultyProxy
from tests.e2e.wire import WireNode

pytestmark = pytest.mark.e2e


def store_tickets_at_hq(hq: Hq, code: str) -> list[dict[str, object]]:
    response = hq.api.get("/api/v1/tickets", params={"store": code, "limit": 500})
    assert response.status_code == 200, response.text
    body = response.json()
    items: list[dict[str, object]] = body["items"] if isinstance(body, dict) else body
    return items


def test_batch_pushed_twice_after_a_lost_answer_applies_once(hq: Hq) -> None:
    node = WireNode(hq.url, hq.enroll("SH040"))
    create = node.create()
    ops = [node.op(create), node.op(node.create("第二张"))]
    first = node.push(ops)
    again = node.push(ops)
    assert first.status_code == again.status_code == 200
    a, b = push_response_decoder.decode(first.content), push_response_decoder.decode(again.content)
    assert [(r.seq, r.status) for r in a.results] == [(r.seq, r.status) for r in b.results]
    assert a.high_water == b.high_water == 2
    assert len(store_tickets_at_hq(hq, "SH040")) == 2


def test_store_killed_between_hq_apply_and_local_ack_loses_and_duplicates_nothing(
    hq: Hq, proxy: FaultyProxy, make_store: StoreFactory
) -> None:
    store = make_store("SH041", hq_url=proxy.url)
    wait_until(store.synced)
    proxy.hold_pushes = True
    made = [store.create_ticket(title=f"问题 {i}") for i in range(3)]
    comment = store.api.post(f"/api/v1/tickets/{made[0]['id']}/comments", json={"body": "补充照片"})
    assert comment.status_code in (200, 201)
    proxy.lose_push_answers = 1
    proxy.after_lost_push = store.kill
    proxy.hold_pushes = False
    wait_until(lambda: store.proc is not None and store.proc.poll() is not None, timeout=15)

    store.start()
    wait_until(store.synced, timeout=15)
    at_hq = store_tickets_at_hq(hq, "SH041")
    assert sorted(str(t["id"]) for t in at_hq) == sorted(t["id"] for t in made)
    assert [c["body"] for c in hq.ticket(made[0]["id"])["comments"]] == ["补充照片"]
    assert [c["body"] for c in store.ticket(made[0]["id"])["comments"]] == ["补充照片"]


def test_hq_restarted_mid_stream_store_resumes_from_its_cursor_without_missing_or_repeating(hq: Hq) -> None:
    node = WireNode(hq.url, hq.enroll("SH042"))
    for i in range(60):
        response = hq.api.post("/api/v1/tickets", json={"store": "SH042", "type": "other", "title": f"总部工单 {i}"})
        assert response.status_code in (200, 201), response.text

    seen: list[int] = []
    cursor = "0"
    for _ in range(2):
        page = node.pull(cursor, limit=15)
        seen += [c.pos for c in page.changes]
        cursor = page.cursor
    hq.restart()
    for i in range(20):
        hq.api.post("/api/v1/tickets", json={"store": "SH042", "type": "other", "title": f"重启后 {i}"})
    while True:
        page = node.pull(cursor, limit=15)
        assert not page.reset
        seen += [c.pos for c in page.changes]
        cursor = page.cursor
        if not page.has_more:
            break

    everything: list[int] = []
    cursor = "0"
    while True:
        page = node.pull(cursor, limit=500)
        everything += [c.pos for c in page.changes]
        cursor = page.cursor
        if not page.has_more:
            break
    assert seen == everything
    assert len(set(seen)) == len(seen)


def test_store_follows_hq_through_a_restart_mid_stream(hq: Hq, make_store: StoreFactory) -> None:
    store = make_store("SH043")
    wait_until(store.synced)
    for i in range(30):
        hq.api.post("/api/v1/tickets", json={"store": "SH043", "type": "other", "title": f"A{i}"})
    hq.restart()
    for i in range(30):
        hq.api.post("/api/v1/tickets", json={"store": "SH043", "type": "other", "title": f"B{i}"})
    expected = {str(t["id"]) for t in store_tickets_at_hq(hq, "SH043")}
    assert len(expected) == 60
    wait_until(lambda: {t["id"] for t in store.api.get("/api/v1/tickets").json()["items"]} == expected, timeout=15)


def backup_sqlite(src: str, dst: Path) -> None:
    with sqlite3.connect(src) as source, sqlite3.connect(dst) as target:
        source.backup(target)


def test_hq_restored_from_an_older_copy_store_resends_and_repulls_and_both_converge(
    hq: Hq, make_store: StoreFactory, tmp_path: Path
) -> None:
    store = make_store("SH044")
    kept = store.create_ticket(title="备份前的工单")
    wait_until(lambda: hq.ticket(kept["id"]))
    wait_until(store.synced)
    backup = tmp_path / "backup.db"
    backup_sqlite(hq.db, backup)

    lost_at_hq = store.create_ticket(title="备份后的工单")
    store.api.post(f"/api/v1/tickets/{kept['id']}/comments", json={"body": "备份后的留言"})
    hq_made = hq.api.post("/api/v1/tickets", json={"store": "SH044", "type": "other", "title": "总部备份后建"}).json()
    assert hq.api.patch(f"/api/v1/tickets/{kept['id']}", json={"title": "总部备份后改"}).status_code == 200
    wait_until(lambda: hq.ticket(lost_at_hq["id"]))
    wait_until(lambda: store.ticket(hq_made["id"]))
    wait_until(store.synced)

    hq.stop()
    for suffix in ("", "-wal", "-shm"):
        Path(hq.db + suffix).unlink(missing_ok=True)
    shutil.copy(backup, hq.db)
    hq.start()

    wait_until(lambda: hq.ticket(lost_at_hq["id"]), timeout=20)
    wait_until(lambda: [c["body"] for c in hq.ticket(kept["id"])["comments"]] == ["备份后的留言"], timeout=20)

    def views_agree() -> bool:
        at_hq = {str(t["id"]): t["title"] for t in store_tickets_at_hq(hq, "SH044")}
        at_store = {t["id"]: t["title"] for t in store.api.get("/api/v1/tickets").json()["items"]}
        return at_hq == at_store

    wait_until(views_agree, timeout=20)
    assert hq_made["id"] not in {t["id"] for t in store.api.get("/api/v1/tickets").json()["items"]}
    assert store.ticket(kept["id"])["title"] == "备份前的工单"
