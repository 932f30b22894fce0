"""Transfers (调货) at HQ: reservation, source choice, the state machine, the order and lead times
(hq_server.stock_rules.request_transfer / step_transfer)."""

from __future__ import annotations

from typing import Any

import msgspec

from hq_server.schema import transfers
from sync_protocol.messages import PushResponse, push_response_decoder
from sync_protocol.ops import TransferStep
from sync_protocol.stock import TransferState
from tests.hq.helpers import (
    Hq,
    WireNode,
    entities_in,
    import_catalogue,
    now_ms,
    put_store,
    stock_level,
)

CSV = """product_code,name_zh,name_en,colour,size
JN-2041,修身牛仔裤,Slim jeans,蓝,M
JN-2041,修身牛仔裤,Slim jeans,蓝,L
"""
M, L = "JN-2041-蓝-M", "JN-2041-蓝-L"
HOUR_MS = 3600 * 1000


def statuses(answer: PushResponse) -> list[tuple[str, str]]:
    return [(r.status, r.code) for r in answer.results]


def applied(answer: PushResponse) -> None:
    assert statuses(answer) == [("applied", "")] * len(answer.results), [
        (r.status, r.code, r.reason) for r in answer.results
    ]


def transfer_seen_by(node: WireNode, transfer_id: str) -> TransferState:
    """The transfer as the store's latest pull has it."""
    found = entities_in(node.pull_all()[0], "transfer")
    assert transfer_id in found, f"{node.enrollment.store_code} did not pull transfer {transfer_id}"
    state: TransferState = found[transfer_id]
    return state


def transfer_json(hq: Hq, key: str) -> dict[str, Any]:
    response = hq.api("GET", f"/api/v1/transfers/{key}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def two_stores(hq: Hq, units: int = 5) -> tuple[WireNode, WireNode]:
    """SH001 (the source, holding ``units`` of M) and SH002 (the requester)."""
    import_catalogue(hq, CSV)
    source, requester = hq.enroll("SH001"), hq.enroll("SH002")
    if units:
        applied(source.send(source.move(M, units, "receipt")))
    return source, requester


def lookup_of(hq: Hq, store_code: str) -> dict[str, Any]:
    body = hq.api("GET", "/api/v1/stock", params={"product": "JN-2041"}).json()
    stores = {s["code"]: s for s in body["stores"]}
    found: dict[str, Any] = {k["sku"]: k for k in stores[store_code]["skus"]}
    return found


def test_request_reserves_at_the_source_and_lookup_shows_available(hq: Hq) -> None:
    source, requester = two_stores(hq, units=5)
    request = requester.request_transfer(M, 3, source.store_id, note="顾客要 M 码")
    applied(requester.send(request))
    assert stock_level(hq, source.store_id, M) == (5, 3)  # on hand unchanged, 3 reserved
    assert stock_level(hq, requester.store_id, M) == (0, 0)

    seen = lookup_of(hq, "SH001")[M]
    assert (seen["on_hand"], seen["reserved"]) == (5, 3)
    assert seen["on_hand"] - seen["reserved"] == 2  # what can still be transferred
    node_view = msgspec.msgpack.decode(
        requester.client.get("/sync/v1/stock", params={"product": "JN-2041"}, headers=requester.headers).content
    )
    [held] = [s for s in node_view["stores"] if s["code"] == "SH001"]
    assert [(k["sku"], k["on_hand"], k["reserved"]) for k in held["skus"]] == [(M, 5, 3)]

    # The source publishes its level with the reservation; both stores see the transfer.
    levels = [msgspec.msgpack.decode(c.data) for c in source.pull_all()[0] if c.entity == "stock"]
    assert (levels[-1]["on_hand"], levels[-1]["reserved"]) == (5, 3)
    for node in (source, requester):
        state = transfer_seen_by(node, request.transfer_id)
        assert (state.status, state.from_store_id, state.to_store_id, state.qty, state.sku) == (
            "requested",
            source.store_id,
            requester.store_id,
            3,
            M,
        )
        assert state.number == request.number and state.note == "顾客要 M 码"

    # Only the available units can be asked for now: 3 more is too many, 2 is fine.
    third = hq.enroll("SH003")
    too_many = third.send(third.request_transfer(M, 3, source.store_id))
    assert statuses(too_many) == [("rejected", "insufficient_stock")]
    assert "2" in too_many.results[0].reason
    applied(third.send(third.request_transfer(M, 2, source.store_id)))
    assert stock_level(hq, source.store_id, M) == (5, 5)


def test_request_of_unknown_sku_or_store_or_from_itself_is_rejected(hq: Hq) -> None:
    source, requester = two_stores(hq)
    answer = requester.send(
        requester.request_transfer("NO-SUCH-SKU", 1, source.store_id),
        requester.request_transfer(M, 1, "no-such-store"),
        requester.request_transfer(M, 1, requester.store_id),
    )
    assert statuses(answer) == [
        ("rejected", "unknown_sku"),
        ("rejected", "unknown_store"),
        ("rejected", "transfer_to_self"),
    ]
    assert stock_level(hq, source.store_id, M) == (5, 0)


def test_request_without_source_picks_the_nearest_store_that_has_the_units(hq: Hq) -> None:
    import_catalogue(hq, CSV)
    coords = {
        "SH001": (31.2304, 121.4737),  # the requester, People's Square
        "SH002": (31.2286, 121.4484),  # about 2.4 km, 1 unit
        "SH003": (31.1880, 121.4365),  # about 5.9 km, 5 units
        "SH004": (31.1979, 121.3364),  # about 13.5 km, 10 units
    }
    nodes = {code: hq.enroll(code) for code in [*coords, "NOCO1"]}
    for code, (lat, lon) in coords.items():
        put_store(hq, code, lat=lat, lon=lon)
    for code, units in (("SH002", 1), ("SH003", 5), ("SH004", 10), ("NOCO1", 50)):
        applied(nodes[code].send(nodes[code].move(M, units, "receipt")))
    requester = nodes["SH001"]

    def source_of(qty: int) -> str:
        request = requester.request_transfer(M, qty)
        applied(requester.send(request))
        chosen = transfer_seen_by(requester, request.transfer_id).from_store_id
        return {n.store_id: code for code, n in nodes.items()}[chosen]

    assert source_of(3) == "SH003"  # SH002 is nearer but has only 1
    assert source_of(3) == "SH004"  # SH003 has 2 left to transfer now
    assert source_of(1) == "SH002"  # one unit: the nearest has it
    assert source_of(20) == "NOCO1"  # only the store without coordinates has 20: it still counts
    assert stock_level(hq, nodes["SH003"].store_id, M) == (5, 3)
    assert stock_level(hq, nodes["SH004"].store_id, M) == (10, 3)

    nobody = requester.send(requester.request_transfer(M, 500))
    assert statuses(nobody) == [("rejected", "no_store_has_stock")]
    assert "500" in nobody.results[0].reason and M in nobody.results[0].reason


def test_whole_transfer_path_moves_stock_exactly_once_each_side(hq: Hq) -> None:
    source, requester = two_stores(hq, units=5)
    put_store(hq, "SH001", address="上海市南京东路 100 号", contact="王店长", phone="021-1111", lat=31.23, lon=121.47)
    put_store(hq, "SH002", address="上海市淮海中路 200 号", contact="李店长", phone="021-2222", lat=31.22, lon=121.46)
    t0 = now_ms() - 4 * HOUR_MS  # steps taken an hour apart, pushed just now

    request = requester.request_transfer(M, 2, source.store_id, at=t0, actor="小李")
    applied(requester.send(request))
    tid = request.transfer_id
    assert stock_level(hq, source.store_id, M) == (5, 2)
    # The requester's phone changes before approval: the order carries the contact as of approval.
    put_store(hq, "SH002", phone="021-2229")

    applied(source.send(source.step(tid, "approve", actor="王店长", at=t0 + HOUR_MS)))
    approved = transfer_seen_by(requester, tid)
    assert approved.status == "approved" and approved.order_no
    assert approved.source is not None and approved.requester is not None
    assert (approved.source.code, approved.source.address, approved.source.contact, approved.source.phone) == (
        "SH001",
        "上海市南京东路 100 号",
        "王店长",
        "021-1111",
    )
    assert (
        approved.requester.code,
        approved.requester.address,
        approved.requester.contact,
        approved.requester.phone,
    ) == ("SH002", "上海市淮海中路 200 号", "李店长", "021-2229")
    assert [(x.sku, x.product_code, x.name, x.colour, x.size, x.qty) for x in approved.lines] == [
        (M, "JN-2041", "修身牛仔裤", "蓝", "M", 2)
    ]
    assert stock_level(hq, source.store_id, M) == (5, 2)  # approved: still reserved, not moved

    ship = source.stock_op(source.step(tid, "ship", at=t0 + 2 * HOUR_MS))
    applied(source.push([ship]))
    assert stock_level(hq, source.store_id, M) == (3, 0)  # out of the source, reservation released
    assert stock_level(hq, requester.store_id, M) == (0, 0)  # not received yet
    # The ship pushed again (lost ack), and re-recorded under a new seq: neither moves stock again.
    assert [r.status for r in source.push([ship]).results] == ["applied"]
    resent = source.send(msgspec.msgpack.decode(ship.payload, type=TransferStep))
    assert statuses(resent) == [("merged", "duplicate")]
    assert stock_level(hq, source.store_id, M) == (3, 0)

    receive_step = requester.step(tid, "receive", at=t0 + 3 * HOUR_MS, actor="小李")
    receive = requester.stock_op(receive_step)
    applied(requester.push([receive]))
    assert stock_level(hq, requester.store_id, M) == (2, 0)
    assert [r.status for r in requester.push([receive]).results] == ["applied"]
    assert statuses(requester.send(receive_step)) == [("merged", "duplicate")]
    # A second receive (a new event): the transfer is received already.
    again = requester.send(requester.step(tid, "receive"))
    assert statuses(again) == [("rejected", "invalid_transfer_step")]
    assert stock_level(hq, requester.store_id, M) == (2, 0)
    assert stock_level(hq, source.store_id, M) == (3, 0)

    # Exactly one movement each side, tied to the transfer.
    out = [m for m in entities_in(source.pull_all()[0], "stock_move").values() if m.ref == tid]
    into = [m for m in entities_in(requester.pull_all()[0], "stock_move").values() if m.ref == tid]
    assert [(m.store_id, m.qty, m.reason) for m in out] == [(source.store_id, -2, "transfer_out")]
    assert [(m.store_id, m.qty, m.reason) for m in into] == [(requester.store_id, 2, "transfer_in")]

    done = transfer_seen_by(source, tid)
    assert done.status == "received"
    assert [e.action for e in done.events] == ["request", "approve", "ship", "receive"]
    assert done.times == {
        "request": t0,
        "approve": t0 + HOUR_MS,
        "ship": t0 + 2 * HOUR_MS,
        "receive": t0 + 3 * HOUR_MS,
    }
    body = transfer_json(hq, tid)
    assert body["status"] == "received" and body["order_no"] == done.order_no
    assert body["lead_times_ms"] == {
        "request_to_approve": HOUR_MS,
        "approve_to_ship": HOUR_MS,
        "ship_to_receive": HOUR_MS,
        "request_to_receive": 3 * HOUR_MS,
    }
    assert transfer_json(hq, request.number)["id"] == tid  # by number too
    assert hq.api("GET", "/api/v1/transfers/no-such").status_code == 404
    listed = hq.api("GET", "/api/v1/transfers", params={"store": "SH002", "status": "received"}).json()["items"]
    assert [t["id"] for t in listed] == [tid]
    assert listed[0]["lead_times_ms"]["request_to_receive"] == 3 * HOUR_MS

    with hq.ctx.db.read() as conn:
        row = conn.execute(transfers.select().where(transfers.c.id == tid)).one()
    assert (row.requested_at, row.approved_at, row.shipped_at, row.received_at, row.closed_at) == (
        t0,
        t0 + HOUR_MS,
        t0 + 2 * HOUR_MS,
        t0 + 3 * HOUR_MS,
        t0 + 3 * HOUR_MS,
    )


def test_reject_releases_the_reservation_and_needs_a_reason(hq: Hq) -> None:
    source, requester = two_stores(hq, units=5)
    request = requester.request_transfer(M, 4, source.store_id)
    applied(requester.send(request))
    assert stock_level(hq, source.store_id, M) == (5, 4)

    for blank in ("", "   "):
        answer = source.send(source.step(request.transfer_id, "reject", reason=blank))
        assert statuses(answer) == [("rejected", "required")]
        assert answer.results[0].reason
        # The answer brings HQ's transfer so the source's copy goes back to "requested".
        [snapshot] = [e for e in answer.entities if e.entity == "transfer"]
        assert msgspec.msgpack.decode(snapshot.data)["status"] == "requested"
    assert stock_level(hq, source.store_id, M) == (5, 4)

    applied(source.send(source.step(request.transfer_id, "reject", reason="样品不外调", actor="王店长")))
    assert stock_level(hq, source.store_id, M) == (5, 0)
    state = transfer_seen_by(requester, request.transfer_id)
    assert (state.status, state.code, state.reason) == ("rejected", "rejected_by_source", "样品不外调")
    assert state.events[-1].note == "样品不外调" and state.events[-1].actor == "王店长"
    # Rejected is final: no approval, no shipping.
    late = source.send(source.step(request.transfer_id, "approve"), source.step(request.transfer_id, "ship"))
    assert statuses(late) == [("rejected", "invalid_transfer_step")] * 2
    assert stock_level(hq, source.store_id, M) == (5, 0)
    assert transfer_json(hq, request.transfer_id)["status"] == "rejected"


def test_cancel_before_shipment_releases_the_reservation(hq: Hq) -> None:
    source, requester = two_stores(hq, units=5)
    waiting = requester.request_transfer(M, 2, source.store_id)
    approved = requester.request_transfer(M, 3, source.store_id)
    applied(requester.send(waiting, approved))
    applied(source.send(source.step(approved.transfer_id, "approve")))
    assert stock_level(hq, source.store_id, M) == (5, 5)

    applied(requester.send(requester.step(waiting.transfer_id, "cancel", reason="顾客不要了")))
    assert stock_level(hq, source.store_id, M) == (5, 3)
    applied(requester.send(requester.step(approved.transfer_id, "cancel")))
    assert stock_level(hq, source.store_id, M) == (5, 0)
    assert stock_level(hq, requester.store_id, M) == (0, 0)
    for transfer_id in (waiting.transfer_id, approved.transfer_id):
        assert transfer_seen_by(source, transfer_id).status == "cancelled"
    # A cancelled transfer cannot be shipped.
    late = source.send(source.step(approved.transfer_id, "ship"))
    assert statuses(late) == [("rejected", "invalid_transfer_step")]
    assert stock_level(hq, source.store_id, M) == (5, 0)


def test_cancel_after_shipment_is_rejected(hq: Hq) -> None:
    source, requester = two_stores(hq, units=5)
    request = requester.request_transfer(M, 2, source.store_id)
    applied(requester.send(request))
    tid = request.transfer_id
    applied(source.send(source.step(tid, "approve"), source.step(tid, "ship")))
    assert stock_level(hq, source.store_id, M) == (3, 0)

    answer = requester.send(requester.step(tid, "cancel"))
    assert statuses(answer) == [("rejected", "invalid_transfer_step")]
    assert "已发货" in answer.results[0].reason and "取消" in answer.results[0].reason
    [snapshot] = [e for e in answer.entities if e.entity == "transfer"]
    assert msgspec.msgpack.decode(snapshot.data)["status"] == "shipped"
    assert stock_level(hq, source.store_id, M) == (3, 0)
    assert stock_level(hq, requester.store_id, M) == (0, 0)

    applied(requester.send(requester.step(tid, "receive")))
    assert stock_level(hq, requester.store_id, M) == (2, 0)


def test_only_the_source_may_approve_and_ship_and_only_the_requester_may_receive(hq: Hq) -> None:
    source, requester = two_stores(hq, units=5)
    stranger = hq.enroll("SH009")
    request = requester.request_transfer(M, 2, source.store_id)
    applied(requester.send(request))
    tid = request.transfer_id

    def refused(node: WireNode, action: str) -> None:
        answer = node.send(node.step(tid, action, reason="我来"))
        assert statuses(answer) == [("rejected", "not_your_step")], (node.enrollment.store_code, action)
        assert answer.results[0].reason
        if node is stranger:  # a store that is no party to the transfer learns nothing of it
            assert answer.entities == []

    for action in ("approve", "reject"):
        refused(requester, action)
        refused(stranger, action)
    refused(source, "cancel")
    refused(stranger, "cancel")
    assert transfer_json(hq, tid)["status"] == "requested"
    assert stock_level(hq, source.store_id, M) == (5, 2)

    applied(source.send(source.step(tid, "approve")))
    refused(requester, "ship")
    refused(stranger, "ship")
    assert stock_level(hq, source.store_id, M) == (5, 2)

    applied(source.send(source.step(tid, "ship")))
    refused(source, "receive")
    refused(stranger, "receive")
    assert stock_level(hq, requester.store_id, M) == (0, 0)
    assert stock_level(hq, stranger.store_id, M) == (0, 0)

    applied(requester.send(requester.step(tid, "receive")))
    assert stock_level(hq, requester.store_id, M) == (2, 0)
    assert stock_level(hq, source.store_id, M) == (3, 0)
    assert [e.action for e in transfer_seen_by(requester, tid).events] == ["request", "approve", "ship", "receive"]
    # The stranger never pulls the transfer.
    assert tid not in entities_in(stranger.pull_all()[0], "transfer")


def test_receive_of_a_sku_dropped_from_the_catalogue_completes_the_transfer(hq: Hq) -> None:
    """The catalogue is re-imported without the SKU while its units are on the road: they still
    arrive, and the requester's push must be answered (not fail on every retry)."""
    source, requester = two_stores(hq, units=2)
    request = requester.request_transfer(M, 1, source.store_id)
    applied(requester.send(request))
    tid = request.transfer_id
    applied(source.send(source.step(tid, "approve"), source.step(tid, "ship")))
    import_catalogue(hq, "product_code,name_zh,name_en,colour,size\nJN-2041,修身牛仔裤,Slim jeans,蓝,L\n")

    response = requester.push_raw(requester.body([requester.stock_op(requester.step(tid, "receive"))]))
    assert response.status_code == 200, response.text
    answer = push_response_decoder.decode(response.content)
    assert statuses(answer) == [("applied", "")]
    assert stock_level(hq, requester.store_id, M) == (1, 0)
    assert transfer_json(hq, tid)["status"] == "received"


def test_transfer_ops_with_out_of_bounds_ids_are_rejected_on_their_own(hq: Hq) -> None:
    """Wire bounds (sync_protocol/ops.py): a payload out of bounds is rejected as ``malformed_op``
    by itself, the rest of the batch applies, on SQLite and PostgreSQL alike. A transfer number
    longer than HQ's column, or a movement id longer than an id, must not fail the whole push."""
    source, requester = two_stores(hq, units=5)
    long_number = msgspec.structs.replace(requester.request_transfer(M, 1, source.store_id), number="N" * 300)
    fine = requester.request_transfer(M, 1, source.store_id)
    response = requester.push_raw(requester.body([requester.stock_op(long_number), requester.stock_op(fine)]))
    assert response.status_code == 200, response.text
    assert statuses(push_response_decoder.decode(response.content)) == [("rejected", "malformed_op"), ("applied", "")]
    assert stock_level(hq, source.store_id, M) == (5, 1)

    applied(source.send(source.step(fine.transfer_id, "approve")))
    ship = source.step(fine.transfer_id, "ship", move_id="x" * 300)
    response = source.push_raw(source.body([source.stock_op(ship)]))
    assert response.status_code == 200, response.text
    assert statuses(push_response_decoder.decode(response.content)) == [("rejected", "malformed_op")]
    assert stock_level(hq, source.store_id, M) == (5, 1)


def test_a_refused_step_sent_again_gets_the_transfers_snapshot_again(hq: Hq) -> None:
    """The answer to a re-sent op (its first answer was lost) carries the transfer's state too, so
    the store can undo its local view of a step HQ refused."""
    source, requester = two_stores(hq, units=5)
    request = requester.request_transfer(M, 2, source.store_id)
    applied(requester.send(request))
    tid = request.transfer_id
    batch = [requester.stock_op(requester.step(tid, "receive"))]  # before it was shipped
    first = requester.push(batch)
    again = requester.push(batch)
    assert statuses(first) == [("rejected", "invalid_transfer_step")]
    assert [r.status for r in again.results] == ["rejected"]
    for answer in (first, again):
        [snapshot] = [e for e in answer.entities if e.entity == "transfer"]
        assert msgspec.msgpack.decode(snapshot.data)["status"] == "requested"


def test_cancelling_at_a_source_below_zero_opens_no_exception_ticket(hq: Hq) -> None:
    """Only a movement can open a stock exception; releasing a reservation moves no stock."""
    source, requester = two_stores(hq, units=2)
    request = requester.request_transfer(M, 2, source.store_id)
    applied(requester.send(request))
    applied(source.send(source.move(M, -3, reason="sale")))  # sold offline: on hand -1
    tickets_before = hq.api("GET", "/api/v1/tickets", params={"type": "stock_exception"}).json()["items"]
    assert len(tickets_before) == 1
    hq.api("PATCH", f"/api/v1/tickets/{tickets_before[0]['id']}", json={"status": "resolved"})
    applied(requester.send(requester.step(request.transfer_id, "cancel")))
    tickets_after = hq.api("GET", "/api/v1/tickets", params={"type": "stock_exception"}).json()["items"]
    assert len(tickets_after) == 1
