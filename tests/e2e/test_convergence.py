"""Edits at a store and at HQ converge: per-field last writer wins by HLC, on both sides."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from sync_protocol.hlc import Hlc
from sync_protocol.messages import hello_decoder
from tests.e2e.conftest import StoreFactory
from tests.e2e.procs import Hq, free_port, wait_until
from tests.e2e.proxy import FaultyProxy

pytestmark = pytest.mark.e2e

DAY_MS = 24 * 3600 * 1000
YEAR_MS = 365 * DAY_MS


def synced_ticket(hq: Hq, make_store: StoreFactory, code: str, **env: str) -> tuple[Any, dict[str, Any], str]:
    token = hq.enroll(code, region="east")
    store = make_store(code, token=token, env=env or None)
    ticket = store.create_ticket(title="原标题", description="原描述")
    wait_until(lambda: hq.ticket(ticket["id"]))
    wait_until(store.synced)
    return store, ticket, token


def test_hq_edit_reaches_an_online_store_within_a_second(hq: Hq, make_store: StoreFactory) -> None:
    store, ticket, _ = synced_ticket(hq, make_store, "SH030")
    response = hq.api.patch(f"/api/v1/tickets/{ticket['id']}", json={"title": "总部改的标题", "department": "qc"})
    assert response.status_code == 200, response.text
    seen = wait_until(lambda: (t := store.ticket(ticket["id"]))["title"] == "总部改的标题" and t, timeout=1.0)
    assert seen["department"] == "qc"


def offline_restart(store: Any) -> None:
    """Restart the store pointed at a port where nothing listens: it works, but cannot sync."""
    store.stop()
    original = list(store.args)
    store.args[store.args.index("--hq") + 1] = f"http://127.0.0.1:{free_port()}"
    store.start()
    store.args = original


def test_concurrent_edits_of_one_field_converge_to_the_later_hlc_on_both_sides(
    hq: Hq, make_store: StoreFactory
) -> None:
    store, ticket, _ = synced_ticket(hq, make_store, "SH031")
    offline_restart(store)
    assert store.api.patch(f"/api/v1/tickets/{ticket['id']}", json={"title": "门店先改"}).status_code == 200
    assert hq.api.patch(f"/api/v1/tickets/{ticket['id']}", json={"title": "总部后改"}).status_code == 200
    store.restart()
    wait_until(store.synced)
    wait_until(lambda: store.ticket(ticket["id"])["title"] == "总部后改")
    assert hq.ticket(ticket["id"])["title"] == "总部后改"

    assert hq.api.patch(f"/api/v1/tickets/{ticket['id']}", json={"title": "总部再改"}).status_code == 200
    wait_until(lambda: store.ticket(ticket["id"])["title"] == "总部再改")
    offline_restart(store)
    assert store.api.patch(f"/api/v1/tickets/{ticket['id']}", json={"title": "门店最后改"}).status_code == 200
    store.restart()
    wait_until(lambda: hq.ticket(ticket["id"])["title"] == "门店最后改")
    wait_until(store.synced)
    assert store.ticket(ticket["id"])["title"] == "门店最后改"


def test_edits_of_different_fields_at_store_and_hq_both_survive(hq: Hq, make_store: StoreFactory) -> None:
    store, ticket, _ = synced_ticket(hq, make_store, "SH032")
    offline_restart(store)
    assert store.api.patch(f"/api/v1/tickets/{ticket['id']}", json={"description": "门店补充"}).status_code == 200
    assert hq.api.patch(f"/api/v1/tickets/{ticket['id']}", json={"title": "总部标题"}).status_code == 200
    store.restart()
    for side in (hq.ticket, store.ticket):
        wait_until(
            lambda side=side: (t := side(ticket["id"]))["title"] == "总部标题" and t["description"] == "门店补充"
        )


def test_store_with_clock_a_day_behind_orders_its_new_edits_after_the_edits_it_has_seen(
    hq: Hq, make_store: StoreFactory
) -> None:
    store, ticket, _ = synced_ticket(hq, make_store, "SH033", STOREDESK_CLOCK_OFFSET_MS=str(-DAY_MS))
    assert hq.api.patch(f"/api/v1/tickets/{ticket['id']}", json={"title": "总部标题"}).status_code == 200
    wait_until(lambda: store.ticket(ticket["id"])["title"] == "总部标题")
    assert store.api.patch(f"/api/v1/tickets/{ticket['id']}", json={"title": "门店随后改"}).status_code == 200
    wait_until(lambda: hq.ticket(ticket["id"])["title"] == "门店随后改")
    wait_until(store.synced)
    assert store.ticket(ticket["id"])["title"] == "门店随后改"


def test_store_with_clock_a_year_ahead_cannot_drag_hq_clock_forward(hq: Hq, make_store: StoreFactory) -> None:
    store, ticket, token = synced_ticket(hq, make_store, "SH034", STOREDESK_CLOCK_OFFSET_MS=str(YEAR_MS))
    assert store.api.patch(f"/api/v1/tickets/{ticket['id']}", json={"title": "未来的修改"}).status_code == 200
    wait_until(lambda: hq.ticket(ticket["id"])["title"] == "未来的修改")
    hello = httpx.get(
        f"{hq.url}/sync/v1/hello", headers={"Authorization": f"Bearer {token}", "X-StoreDesk-Protocol": "1"}
    )
    assert hello.status_code == 200, hello.text
    hq_time = Hlc.parse(hello_decoder.decode(hello.content).server_hlc)
    assert hq_time.wall_ms < time.time() * 1000 + 60_000
    # HQ's own later edit still wins over the store's future-stamped one.
    assert hq.api.patch(f"/api/v1/tickets/{ticket['id']}", json={"title": "总部现在改"}).status_code == 200
    wait_until(lambda: store.ticket(ticket["id"])["title"] == "总部现在改")


def test_pulled_hq_value_does_not_overwrite_a_local_edit_hq_has_not_acknowledged(
    hq: Hq, proxy: FaultyProxy, make_store: StoreFactory
) -> None:
    store = make_store("SH035", hq_url=proxy.url)
    ticket = store.create_ticket(title="原标题")
    wait_until(lambda: hq.ticket(ticket["id"]))
    wait_until(store.synced)

    proxy.hold_pushes = True
    assert store.api.patch(f"/api/v1/tickets/{ticket['id']}", json={"title": "门店未确认"}).status_code == 200
    assert (
        hq.api.patch(f"/api/v1/tickets/{ticket['id']}", json={"title": "总部新值", "priority": "high"}).status_code
        == 200
    )
    # The pull brings HQ's ticket (priority arrives) but the pending local title stays.
    wait_until(lambda: store.ticket(ticket["id"])["priority"] == "high")
    assert store.ticket(ticket["id"])["title"] == "门店未确认"

    proxy.hold_pushes = False
    # HQ's edit is later by HLC, so once the store's op is acknowledged both show HQ's value.
    wait_until(lambda: store.ticket(ticket["id"])["title"] == "总部新值")
    assert hq.ticket(ticket["id"])["title"] == "总部新值"
