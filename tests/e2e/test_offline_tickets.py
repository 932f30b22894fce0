"""Tickets made at a store while HQ is away, and how the outbox drains."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import StoreFactory
from tests.e2e.procs import Hq, wait_until
from tests.e2e.proxy import FaultyProxy

pytestmark = pytest.mark.e2e


def test_ticket_made_while_hq_is_down_reaches_hq_after_it_comes_up(hq: Hq, make_store: StoreFactory) -> None:
    store = make_store("SH012")
    wait_until(store.synced)
    hq.stop()

    ticket = store.create_ticket(title="试衣间灯不亮", type="equipment")
    assert ticket["number"].startswith("SH012-")
    wait_until(lambda: not store.sync_status()["online"], timeout=15)
    assert store.sync_status()["pending_ops"] >= 1

    hq.start()
    at_hq = wait_until(lambda: hq.ticket(ticket["id"]), timeout=20)
    assert at_hq["number"] == ticket["number"]
    assert at_hq["title"] == "试衣间灯不亮"
    wait_until(store.synced, timeout=10)
    assert store.ticket(ticket["id"])["number"] == ticket["number"]


def test_rejected_op_is_shown_with_reason_and_does_not_block_the_ops_behind_it(
    hq: Hq, proxy: FaultyProxy, make_store: StoreFactory
) -> None:
    store = make_store("SH020", hq_url=proxy.url)
    ticket = store.create_ticket(title="收银机卡顿", type="equipment")
    wait_until(lambda: hq.ticket(ticket["id"]))
    wait_until(store.synced)

    proxy.offline = True
    closed = hq.api.patch(f"/api/v1/tickets/{ticket['id']}", json={"status": "closed"})
    assert closed.status_code == 200, closed.text
    # Offline, the store starts work on the ticket before it hears of the close.
    started = store.api.post(f"/api/v1/tickets/{ticket['id']}/status", json={"status": "in_progress"})
    assert started.status_code == 200, started.text
    comment = store.api.post(f"/api/v1/tickets/{ticket['id']}/comments", json={"body": "已联系厂家"})
    assert comment.status_code in (200, 201), comment.text
    proxy.offline = False

    status = wait_until(lambda: (s := store.sync_status())["rejected_ops"] and s["pending_ops"] == 0 and s, timeout=15)
    rejected = status["rejected_ops"][0]
    assert rejected["code"] == "invalid_transition"
    assert rejected["reason"]
    at_hq = wait_until(lambda: (t := hq.ticket(ticket["id"]))["comments"] and t)
    assert [c["body"] for c in at_hq["comments"]] == ["已联系厂家"]
    assert at_hq["status"] == "closed"
    wait_until(lambda: store.ticket(ticket["id"])["status"] == "closed")


def test_op_made_while_a_push_is_in_flight_goes_out_without_another_local_write(
    hq: Hq, proxy: FaultyProxy, make_store: StoreFactory
) -> None:
    store = make_store("SH021", hq_url=proxy.url)
    wait_until(store.synced)
    proxy.push_delay_s = 1.5
    first = store.create_ticket(title="第一张")
    wait_until(lambda: proxy.pushes_forwarded >= 1, timeout=10)
    second = store.create_ticket(title="第二张")  # made while the first push waits for its answer
    proxy.push_delay_s = 0
    wait_until(lambda: hq.ticket(first["id"]), timeout=10)
    wait_until(lambda: hq.ticket(second["id"]), timeout=10)
    wait_until(store.synced)
