"""Transfers (调货) at the store: request, approve, ship, receive, cancel; offline steps decided at
HQ; refusals shown to the clerk (store_node.stock_actions, .stock_views, .apply, the transfer
routes of .api), against an in-process HQ."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from starlette.testclient import TestClient

from store_node import apply, stock_actions, stock_views
from store_node.app import create_app
from store_node.errors import InvalidInput, NotFound
from store_node.node import Node
from sync_protocol.entities import encode_entity
from sync_protocol.hlc import Hlc, system_wall_ms
from sync_protocol.messages import Change
from sync_protocol.stock import TransferEvent, TransferState
from tests.hq.helpers import Hq
from tests.store.conftest import StoreFactory
from tests.store.helpers import (
    SKU_M,
    Store,
    error_of,
    fake_hello,
    hq_levels,
    import_catalogue,
    on_hand_matches_moves,
    outbox_rows,
    place_store,
)

EN = {"Accept-Language": "en"}


def on_hand(node: Node, sku: str = SKU_M) -> int:
    return stock_actions.on_hand(node, [sku])[sku]


def receive_stock(store: Store, qty: int, sku: str = SKU_M) -> None:
    stock_actions.record_move(store.node, {"sku": sku, "qty": qty, "reason": "receipt"})
    store.sync()


def ready(hq: Hq, make_store: StoreFactory, *codes: str) -> list[Store]:
    """The catalogue at HQ; each store placed, enrolled and synced (it has the catalogue and the
    other stores)."""
    import_catalogue(hq)
    made = []
    for code in codes:
        store = make_store(code)
        store.enroll_only()
        place_store(hq, code)
        made.append(store)
    for store in made:
        store.sync()
    return made


def seen(store: Store, transfer_id: str) -> dict[str, Any]:
    return stock_views.get_transfer(store.node, transfer_id)


def transfer_moves(store: Store, transfer_id: str) -> list[tuple[int, str]]:
    rows = store.node.replica.query("SELECT qty, reason FROM stock_moves WHERE ref = ? ORDER BY at", (transfer_id,))
    return [(r["qty"], r["reason"]) for r in rows]


def test_whole_transfer_path_between_two_stores(hq: Hq, make_store: StoreFactory) -> None:
    asking, source = ready(hq, make_store, "SH001", "SH002")
    receive_stock(source, 5)
    asking.sync()

    transfer_id = stock_actions.request_transfer(
        asking.node, {"sku": SKU_M, "qty": 2, "source_store": "SH002", "note": "顾客等货", "actor": "小王"}
    )
    mine = seen(asking, transfer_id)
    assert mine["number"] == "SH001-D000001"
    assert (mine["status"], mine["status_label"], mine["sync"], mine["role"]) == (
        "requested",
        "待审批",
        "pending",
        "incoming",
    )
    assert mine["from_store"]["code"] == "SH002" and mine["to_store"]["code"] == "SH001"
    assert [a["action"] for a in mine["actions"]] == ["cancel"]
    asking.sync()
    assert seen(asking, transfer_id)["sync"] == "synced"
    assert hq_levels(hq)[("SH002", SKU_M)] == (5, 2)  # reserved at the source

    source.sync()
    theirs = stock_views.list_transfers(source.node, role="outgoing")["outgoing"]
    assert [(t["id"], t["status"], t["role"]) for t in theirs] == [(transfer_id, "requested", "outgoing")]
    assert [a["action"] for a in theirs[0]["actions"]] == ["approve", "reject"]
    assert stock_views.list_transfers(source.node, role="incoming") == {"incoming": []}
    assert stock_views.own_stock(source.node, "JN-2041")["skus"][0]["reserved"] == 2

    stock_actions.step_transfer(source.node, "SH001-D000001", "approve", actor="店长李")
    source.sync()
    approved = seen(source, transfer_id)
    assert approved["status"] == "approved" and approved["order_no"] == "TO-SH001-D000001"
    assert approved["lines"][0]["qty"] == 2 and approved["source"]["code"] == "SH002"
    asking.sync()
    assert seen(asking, transfer_id)["status"] == "approved"
    assert [a["action"] for a in seen(asking, transfer_id)["actions"]] == ["cancel"]

    stock_actions.step_transfer(source.node, transfer_id, "ship")
    assert on_hand(source.node) == 3  # out of the source's stock at once
    assert transfer_moves(source, transfer_id) == [(-2, "transfer_out")]
    source.sync()
    asking.sync()
    shipped = seen(asking, transfer_id)
    assert shipped["status"] == "shipped" and [a["action"] for a in shipped["actions"]] == ["receive"]
    assert on_hand(asking.node) == 0

    stock_actions.step_transfer(asking.node, transfer_id, "receive", actor="小王")
    assert on_hand(asking.node) == 2
    asking.sync()
    source.sync()
    for store in (asking, source, asking, source):
        store.sync()
    for store in (asking, source):
        done = seen(store, transfer_id)
        assert (done["status"], done["actions"], done["sync"]) == ("received", [], "synced")
        assert [e["action"] for e in done["events"]] == ["request", "approve", "ship", "receive"]
        assert on_hand_matches_moves(store.node)
    assert transfer_moves(source, transfer_id) == [(-2, "transfer_out")]
    assert transfer_moves(asking, transfer_id) == [(2, "transfer_in")]
    assert (on_hand(source.node), on_hand(asking.node)) == (3, 2)
    assert hq_levels(hq)[("SH002", SKU_M)] == (3, 0)
    assert hq_levels(hq)[("SH001", SKU_M)] == (2, 0)


def test_hq_picks_the_nearest_store_when_no_source_is_named(hq: Hq, make_store: StoreFactory) -> None:
    asking, near, far = ready(hq, make_store, "SH001", "SH002", "SH003")
    receive_stock(near, 1)  # not enough
    receive_stock(far, 4)
    transfer_id = stock_actions.request_transfer(asking.node, {"sku": SKU_M, "qty": 3})
    assert seen(asking, transfer_id)["from_store"]["id"] == ""
    asking.sync()
    picked = seen(asking, transfer_id)
    assert picked["from_store"]["code"] == "SH003" and picked["status"] == "requested"


def test_rejected_request_shows_hqs_reason_to_the_clerk(hq: Hq, make_store: StoreFactory) -> None:
    asking, short, other = ready(hq, make_store, "SH001", "SH002", "SH003")
    receive_stock(short, 2)
    receive_stock(other, 6)
    transfer_id = stock_actions.request_transfer(asking.node, {"sku": SKU_M, "qty": 5, "source_store": "SH002"})
    asking.sync()
    [op] = outbox_rows(asking.node)
    assert (op["state"], op["code"]) == ("rejected", "insufficient_stock")
    refused = seen(asking, transfer_id)
    assert (refused["status"], refused["status_label"], refused["code"]) == ("rejected", "已拒绝", "insufficient_stock")
    assert "SH003" in refused["reason"] and "2" in refused["reason"]  # who else has it, and what is left
    assert refused["actions"] == [] and refused["sync"] == "rejected"
    assert refused["events"][-1]["status"] == "rejected"
    assert hq_levels(hq)[("SH002", SKU_M)] == (2, 0)  # nothing reserved
    listed = stock_views.list_transfers(asking.node, role="incoming", lang="en")["incoming"]
    assert [(t["status_label"], t["code"]) for t in listed] == [("rejected", "insufficient_stock")]


def test_source_rejects_with_a_reason_the_requester_sees(hq: Hq, make_store: StoreFactory) -> None:
    asking, source = ready(hq, make_store, "SH001", "SH002")
    receive_stock(source, 5)
    transfer_id = stock_actions.request_transfer(asking.node, {"sku": SKU_M, "qty": 2, "source_store": "SH002"})
    asking.sync()
    source.sync()
    with pytest.raises(InvalidInput) as no_reason:
        stock_actions.step_transfer(source.node, transfer_id, "reject")
    assert (no_reason.value.code, no_reason.value.field) == ("required", "reason")
    stock_actions.step_transfer(source.node, transfer_id, "reject", reason="样品不外调")
    source.sync()
    asking.sync()
    refused = seen(asking, transfer_id)
    assert (refused["status"], refused["code"], refused["reason"]) == ("rejected", "rejected_by_source", "样品不外调")
    assert refused["reason_text"] == "调出门店拒绝：样品不外调"
    assert hq_levels(hq)[("SH002", SKU_M)] == (5, 0)


def test_transfer_steps_taken_offline_are_decided_at_hq(hq: Hq, make_store: StoreFactory) -> None:
    asking, source = ready(hq, make_store, "SH001", "SH002")
    receive_stock(source, 5)
    transfer_id = stock_actions.request_transfer(asking.node, {"sku": SKU_M, "qty": 2, "source_store": "SH002"})
    asking.sync()
    source.sync()
    stock_actions.step_transfer(source.node, transfer_id, "approve")
    source.sync()
    asking.sync()

    # The source ships offline; meanwhile the requester, online, cancels.
    source.line.up = False
    stock_actions.step_transfer(source.node, transfer_id, "ship")
    assert on_hand(source.node) == 3
    stock_actions.step_transfer(asking.node, transfer_id, "cancel", reason="顾客不要了")
    asking.sync()
    assert seen(asking, transfer_id)["status"] == "cancelled"

    # Pulling HQ's state while the ship is unanswered keeps the local status (HQ + pending ops).
    source.line.up = True
    source.call(lambda client: client.pull_all())
    waiting = seen(source, transfer_id)
    assert (waiting["status"], waiting["sync"]) == ("shipped", "pending")
    assert [e["action"] for e in waiting["events"]] == ["request", "approve", "cancel", "ship"]
    assert on_hand(source.node) == 3

    # Pushed: HQ refuses the ship (the transfer was cancelled first); its movement goes, and
    # HQ's status comes back with the answer.
    source.sync()
    decided = seen(source, transfer_id)
    assert (decided["status"], decided["sync"]) == ("cancelled", "rejected")
    assert decided["rejections"][0]["code"] == "invalid_transfer_step"
    assert [e["action"] for e in decided["events"]] == ["request", "approve", "cancel"]
    assert transfer_moves(source, transfer_id) == []
    assert on_hand(source.node) == 5 and on_hand_matches_moves(source.node)
    assert hq_levels(hq)[("SH002", SKU_M)] == (5, 0)  # nothing moved, the reservation released
    assert hq_levels(hq).get(("SH001", SKU_M)) is None


def test_both_sides_step_offline_and_hq_applies_them_in_order(hq: Hq, make_store: StoreFactory) -> None:
    asking, source = ready(hq, make_store, "SH001", "SH002")
    receive_stock(source, 5)
    transfer_id = stock_actions.request_transfer(asking.node, {"sku": SKU_M, "qty": 2, "source_store": "SH002"})
    asking.sync()
    source.sync()
    source.line.up = False
    stock_actions.step_transfer(source.node, transfer_id, "approve")
    stock_actions.step_transfer(source.node, transfer_id, "ship")
    assert seen(source, transfer_id)["status"] == "shipped"
    source.line.up = True
    source.sync()
    asking.sync()
    stock_actions.step_transfer(asking.node, transfer_id, "receive")
    asking.sync()
    source.sync()
    assert seen(source, transfer_id)["status"] == "received"
    assert hq_levels(hq)[("SH002", SKU_M)] == (3, 0) and hq_levels(hq)[("SH001", SKU_M)] == (2, 0)
    assert (on_hand(source.node), on_hand(asking.node)) == (3, 2)


def test_a_recreated_replica_numbers_its_transfers_after_the_ones_hq_has(
    hq: Hq, make_store: StoreFactory, tmp_path: Path
) -> None:
    asking, source = ready(hq, make_store, "SH001", "SH002")
    receive_stock(source, 5)
    for _ in range(2):
        stock_actions.request_transfer(asking.node, {"sku": SKU_M, "qty": 1, "source_store": "SH002"})
    asking.sync()
    asking.node.close()
    asking.data_dir = tmp_path / "recreated"
    asking.node = Node(asking.data_dir)
    asking.sync()
    assert asking.node.replica.get_int("transfer_counter") == 2
    again = stock_actions.request_transfer(asking.node, {"sku": SKU_M, "qty": 1, "source_store": "SH002"})
    assert seen(asking, again)["number"] == "SH001-D000003"


def test_requests_are_checked_before_they_are_queued(hq: Hq, make_store: StoreFactory) -> None:
    [asking] = ready(hq, make_store, "SH001")
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"sku": SKU_M, "qty": 1, "source_store": "SH001"}, "source_store", "transfer_to_self"),
        ({"sku": SKU_M, "qty": 1, "source_store": "NOPE"}, "source_store", "unknown_store"),
        ({"sku": SKU_M, "qty": 0}, "qty", "invalid_qty"),
        ({"sku": SKU_M, "qty": -1}, "qty", "invalid_qty"),
        ({"sku": "NO-SUCH", "qty": 1}, "sku", "unknown_sku"),
        ({"sku": SKU_M, "qty": 1, "colour": "red"}, "colour", "unknown_field"),
    ]
    for data, field, code in cases:
        with pytest.raises(InvalidInput) as refused:
            stock_actions.request_transfer(asking.node, data)
        assert (refused.value.field, refused.value.code) == (field, code), data
    assert asking.pending() == 0
    with pytest.raises(NotFound):
        stock_actions.step_transfer(asking.node, "SH001-D000099", "cancel")


# -- the local API ----------------------------------------------------------------------------------


def _transfer_change(state: TransferState) -> Change:
    return Change(pos=0, entity="transfer", entity_id=state.id, hlc=state.hlc, data=msgspec.Raw(encode_entity(state)))


@pytest.fixture
def api(data_dir: Path) -> Iterator[TestClient]:
    """The local API of SH012 (no HQ), which HQ has told of a transfer SH099 asks of it."""
    app = create_app(data_dir, "http://127.0.0.1:9", "token", start_sync=False)
    node: Node = app.state.node
    node.adopt(fake_hello())
    now = system_wall_ms()
    state = TransferState(
        id="0190aaaa-0000-7000-8000-000000000001",
        number="SH099-D000007",
        from_store_id="store-SH012",
        to_store_id="store-SH099",
        sku=SKU_M,
        qty=3,
        status="requested",
        requested_at=now,
        updated_at=now,
        hlc=Hlc(now, 0, "hq").encode(),
        events=[TransferEvent(id="0190aaaa-0000-7000-8000-000000000001", action="request", status="requested", at=now)],
    )
    with node.replica.tx() as conn:
        apply.apply_changes(node, conn, [_transfer_change(state)])
    with TestClient(app) as client:
        yield client


def test_transfer_steps_through_the_api_refuse_bad_input_naming_the_field(api: TestClient) -> None:
    listed = api.get("/api/v1/transfers")
    assert listed.status_code == 200
    assert [t["number"] for t in listed.json()["outgoing"]] == ["SH099-D000007"] and listed.json()["incoming"] == []
    key = "SH099-D000007"
    no_reason = error_of(api.post(f"/api/v1/transfers/{key}/reject", json={}), 400)
    assert (no_reason["field"], no_reason["code"]) == ("reason", "required")
    blank = error_of(api.post(f"/api/v1/transfers/{key}/reject", json={"reason": "  "}), 400)
    assert blank["field"] == "reason"
    too_early = error_of(api.post(f"/api/v1/transfers/{key}/ship", json={}), 400)
    assert (too_early["field"], too_early["code"]) == ("action", "invalid_transfer_step")
    assert too_early["message"] == "调货单当前为「待审批」，不能「发货」"
    not_ours = error_of(api.post(f"/api/v1/transfers/{key}/cancel", json={}, headers=EN), 400)
    assert (not_ours["code"], not_ours["message"]) == ("not_your_step", "this store cannot 'cancel' this transfer")
    assert error_of(api.post(f"/api/v1/transfers/{key}/steal", json={}), 400)["field"] == "action"
    assert error_of(api.post(f"/api/v1/transfers/{key}/approve", json={"why": 1}), 400)["field"] == "why"
    assert error_of(api.post("/api/v1/transfers/SH099-D999999/approve", json={}), 404)["code"] == "transfer_not_found"
    assert error_of(api.get("/api/v1/transfers", params={"role": "sideways"}), 400)["field"] == "role"

    rejected = api.post(f"/api/v1/transfers/{key}/reject", json={"reason": "样品不外调", "actor": "店长"})
    assert rejected.status_code == 200, rejected.text
    body = rejected.json()
    assert (body["status"], body["code"], body["reason"], body["sync"]) == (
        "rejected",
        "rejected_by_source",
        "样品不外调",
        "pending",
    )
    assert body["events"][-1]["actor"] == "店长" and body["events"][-1]["action_label"] == "拒绝"


def test_a_transfer_requested_through_the_api(api: TestClient) -> None:
    made = api.post("/api/v1/transfers", json={"sku": SKU_M, "qty": 2, "note": "顾客等货"}, headers=EN)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["number"], body["status_label"], body["role"]) == ("SH012-D000001", "awaiting approval", "incoming")
    assert [a["label"] for a in body["actions"]] == ["cancel"]
    assert api.get(f"/api/v1/transfers/{body['number']}").json()["id"] == body["id"]
    assert [t["id"] for t in api.get("/api/v1/transfers", params={"role": "incoming"}).json()["incoming"]] == [
        body["id"]
    ]
    bad = error_of(api.post("/api/v1/transfers", json={"sku": SKU_M, "qty": 0}), 400)
    assert bad["field"] == "qty"


def test_own_available_stock_counts_steps_taken_offline(hq: Hq, make_store: StoreFactory) -> None:
    """What this store may still sell or send: an offline ship, reject or cancel frees the units
    at once, not when HQ's next figures arrive."""
    asking, source = ready(hq, make_store, "SH001", "SH002")
    receive_stock(source, 5)
    shipped = stock_actions.request_transfer(asking.node, {"sku": SKU_M, "qty": 2, "source_store": "SH002"})
    refused = stock_actions.request_transfer(asking.node, {"sku": SKU_M, "qty": 1, "source_store": "SH002"})
    asking.sync()
    source.sync()
    stock_actions.step_transfer(source.node, shipped, "approve")
    source.sync()
    assert stock_views.own_levels(source.node, [SKU_M])[SKU_M] == (5, 3)

    source.line.up = False
    stock_actions.step_transfer(source.node, shipped, "ship")
    assert stock_views.own_levels(source.node, [SKU_M])[SKU_M] == (3, 1)  # 2 left, 1 still reserved
    stock_actions.step_transfer(source.node, refused, "reject", reason="样品不外调")
    assert stock_views.own_levels(source.node, [SKU_M])[SKU_M] == (3, 0)
    source.line.up = True
    source.sync()
    assert hq_levels(hq)[("SH002", SKU_M)] == (3, 0)
