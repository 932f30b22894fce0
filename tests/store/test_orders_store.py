"""Orders at the store: the lookup by phone or order number, live through HQ and offline from the
store's own and lately looked-up orders (store_node.order_views, .apply, the order routes of .api)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from store_node import apply
from store_node.node import Node
from store_node.order_views import mask_phone
from sync_protocol.entities import encode_entity
from sync_protocol.hlc import Hlc, system_wall_ms
from sync_protocol.messages import Change
from sync_protocol.orders import FoundOrder, OrderLine, OrderLookup, OrderState
from tests.hq.helpers import DAY_MS, Hq, import_catalogue, now_ms
from tests.hq.test_orders import CATALOGUE, KNIT, PHONE, M, order_body
from tests.store.conftest import StoreFactory
from tests.store.helpers import Store, scalar, sync_recorded
from tests.store.test_stock import store_api

EN = {"Accept-Language": "en"}
OTHER_PHONE = "13900139000"


def post(hq: Hq, number: str, **fields: Any) -> dict[str, Any]:
    response = hq.api("POST", "/api/v1/orders", json=order_body(number, **fields))
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def chain(hq: Hq, make_store: StoreFactory) -> list[Store]:
    """The catalogue at HQ and three stores that know their identity; orders of PHONE sold at
    SH001 (three days ago) and SH002 (yesterday), one online (two days ago), and one of another
    customer online (today)."""
    import_catalogue(hq, CATALOGUE)
    stores = [make_store(code) for code in ("SH001", "SH002", "SH003")]
    for store in stores:
        store.enroll_only()
    now = now_ms()
    post(hq, "SH001-S-0001", channel="store", store="SH001", paid_at=now - 3 * DAY_MS)
    post(hq, "SH002-S-0001", channel="store", store="SH002", paid_at=now - 1 * DAY_MS)
    post(hq, "JD-7781", channel="jd", paid_at=now - 2 * DAY_MS)
    post(hq, "JD-7782", channel="jd", customer_phone=OTHER_PHONE, paid_at=now)
    return stores


def kept(store: Store) -> dict[str, str]:
    """Number -> source of the orders in the store's replica."""
    return {r["number"]: r["source"] for r in store.node.replica.query("SELECT number, source FROM orders")}


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] and error["message"] and error["message"] != error["code"]
    return error


def test_lookup_by_phone_finds_orders_from_several_stores_and_online(hq: Hq, make_store: StoreFactory) -> None:
    _, _, sh3 = chain(hq, make_store)
    sh3.sync()
    assert kept(sh3) == {}  # none of them was sold at SH003

    with store_api(sh3) as api:
        found = api.get("/api/v1/orders", params={"phone": "+86 138-0013-8000"})
        assert found.status_code == 200, found.text
        body = found.json()
        assert body["source"] == "hq" and body["as_of"].endswith("Z")
        orders = body["orders"]
        assert [o["number"] for o in orders] == ["SH002-S-0001", "JD-7781", "SH001-S-0001"]
        assert [o["store"] for o in orders] == [
            {"code": "SH002", "name": "SH002 门店"},
            None,
            {"code": "SH001", "name": "SH001 门店"},
        ]
        assert [o["channel_label"] for o in orders] == ["门店", "京东", "门店"]
        assert [o["own_store"] for o in orders] == [False, False, False]
        first = orders[0]
        assert (first["customer_phone_masked"], first["customer_name"], first["total"]) == (
            "138****8000",
            "王女士",
            "498.00",
        )
        assert "customer_phone" not in first  # a list shows the phone masked only
        assert first["paid_at"].endswith("Z")
        assert [
            (x["sku"], x["name"], x["colour"], x["size"], x["qty"], x["unit_price"], x["amount"])
            for x in first["lines"]
        ] == [(M, "修身牛仔裤", "蓝", "M", 1, "299.00", "299.00"), (KNIT, "针织衫", "灰", "L", 2, "99.50", "199.00")]
        assert [(x["returned_qty"], x["returnable_qty"]) for x in first["lines"]] == [(0, 1), (0, 2)]
        assert (first["returned_qty"], first["returnable_qty"]) == (0, 3)

        english = api.get("/api/v1/orders", params={"phone": PHONE}, headers=EN)
        assert [o["channel_label"] for o in english.json()["orders"]] == ["store", "JD", "store"]

        # One order by number: the whole phone number.
        one = api.get("/api/v1/orders/JD-7781")
        assert one.status_code == 200, one.text
        assert (one.json()["source"], one.json()["number"], one.json()["store"]) == ("hq", "JD-7781", None)
        assert (one.json()["customer_phone"], one.json()["customer_phone_masked"]) == (PHONE, "138****8000")
        by_number = api.get("/api/v1/orders", params={"number": "SH001-S-0001"})
        assert [o["number"] for o in by_number.json()["orders"]] == ["SH001-S-0001"]

    # The orders looked up are kept for offline lookups; the other customer's order was never seen.
    assert kept(sh3) == {"SH002-S-0001": "lookup", "JD-7781": "lookup", "SH001-S-0001": "lookup"}
    assert sh3.line.paths.count("/sync/v1/orders") == 4


def test_offline_lookup_answers_from_own_and_recently_looked_up_orders(hq: Hq, make_store: StoreFactory) -> None:
    sh1, _, sh3 = chain(hq, make_store)
    now = now_ms()
    # SH003's own sales: one to the same customer, one to a customer it never looks up.
    post(hq, "SH003-S-0001", channel="store", store="SH003", paid_at=now - 4 * DAY_MS)
    post(hq, "SH003-S-0002", channel="store", store="SH003", customer_phone=OTHER_PHONE, paid_at=now - 5 * DAY_MS)
    sync_recorded(sh3)
    assert kept(sh3) == {"SH003-S-0001": "own", "SH003-S-0002": "own"}  # pulled: HQ publishes them to SH003
    sh1.sync()
    assert kept(sh1) == {"SH001-S-0001": "own"}

    with store_api(sh3) as api:
        online = api.get("/api/v1/orders", params={"phone": PHONE}).json()
        newest_first = ["SH002-S-0001", "JD-7781", "SH001-S-0001", "SH003-S-0001"]
        assert online["source"] == "hq"
        assert [o["number"] for o in online["orders"]] == newest_first
        assert [o["own_store"] for o in online["orders"]] == [False, False, False, True]
        # A looked-up order of its own store stays its own.
        assert kept(sh3) == {
            "SH002-S-0001": "lookup",
            "JD-7781": "lookup",
            "SH001-S-0001": "lookup",
            "SH003-S-0001": "own",
            "SH003-S-0002": "own",
        }

        sh3.line.up = False
        offline = api.get("/api/v1/orders", params={"phone": "138 0013 8000"})
        assert offline.status_code == 200, offline.text
        local = offline.json()
        assert local["source"] == "local" and local["as_of"] is not None
        assert [o["number"] for o in local["orders"]] == newest_first
        assert [{k: v for k, v in o.items() if k != "seen_at"} for o in local["orders"]] == online["orders"]
        assert all(o["seen_at"].endswith("Z") for o in local["orders"])

        # Its own order to a customer it never looked up: there, because it was pulled.
        theirs = api.get("/api/v1/orders", params={"phone": OTHER_PHONE}).json()
        assert theirs["source"] == "local"
        assert [(o["number"], o["store"], o["own_store"]) for o in theirs["orders"]] == [
            ("SH003-S-0002", {"code": "SH003", "name": "SH003 门店"}, True)
        ]
        assert theirs["orders"][0]["customer_phone_masked"] == "139****9000"
        # The other customer's online order was never looked up here: HQ alone has it.
        assert "JD-7782" not in [o["number"] for o in theirs["orders"]]

        one = api.get("/api/v1/orders/SH003-S-0002", headers=EN)
        assert one.status_code == 200, one.text
        assert (one.json()["source"], one.json()["customer_phone"], one.json()["channel_label"]) == (
            "local",
            OTHER_PHONE,
            "store",
        )
        looked_up = api.get("/api/v1/orders/JD-7781").json()
        assert (looked_up["source"], looked_up["total"], looked_up["store"]) == ("local", "498.00", None)

        # A proxy answering 502 is no different from a line that is down.
        sh3.line.up = True
        sh3.line.broken.add("/sync/v1/orders")
        assert api.get("/api/v1/orders", params={"phone": PHONE}).json()["source"] == "local"


def test_offline_lookup_of_an_unknown_order_is_404(hq: Hq, make_store: StoreFactory) -> None:
    _, _, sh3 = chain(hq, make_store)
    sh3.sync()
    with store_api(sh3) as api:
        online = api.get("/api/v1/orders/NOPE-1")
        assert error_of(online, 404)["code"] == "order_not_found"
        none = api.get("/api/v1/orders", params={"number": "NOPE-1"})
        assert none.status_code == 200 and (none.json()["source"], none.json()["orders"]) == ("hq", [])
        sh3.line.up = False
        # Online orders it never looked up are not in the replica either.
        for number in ("NOPE-1", "JD-7781"):
            missing = api.get(f"/api/v1/orders/{number}", headers=EN)
            error = error_of(missing, 404)
            assert error["code"] == "order_not_found" and number in error["message"]
            listed = api.get("/api/v1/orders", params={"number": number})
            assert listed.status_code == 200
            assert (listed.json()["source"], listed.json()["orders"]) == ("local", [])


def test_order_lookup_needs_exactly_one_key_and_valid_values(hq: Hq, make_store: StoreFactory) -> None:
    _, _, sh3 = chain(hq, make_store)
    sh3.sync()
    cases: list[tuple[dict[str, str], str, str]] = [
        ({}, "order_lookup_key", "phone"),
        ({"phone": "   "}, "order_lookup_key", "phone"),
        ({"phone": PHONE, "number": "JD-7781"}, "order_lookup_key", "number"),
        ({"phone": "call me"}, "invalid_phone", "phone"),
        ({"phone": "1"}, "invalid_phone", "phone"),
        ({"number": "A B"}, "invalid_order_number", "number"),
        ({"number": "-JD"}, "invalid_order_number", "number"),
        ({"number": "X" * 65}, "invalid_order_number", "number"),
    ]
    before = sh3.line.paths.count("/sync/v1/orders")
    with store_api(sh3) as api:
        for params, code, field in cases:
            error = error_of(api.get("/api/v1/orders", params=params), 422)
            assert (error["code"], error["field"]) == (code, field), params
        bad_path = error_of(api.get("/api/v1/orders/A%20B"), 422)
        assert (bad_path["code"], bad_path["field"]) == ("invalid_order_number", "number")
        english = error_of(api.get("/api/v1/orders", headers=EN), 422)
        assert english["message"] == "look orders up by phone or by number: give exactly one of them"
        assert error_of(api.get("/api/v1/orders", params={"phone": "abc"}, headers=EN), 422)["message"] == (
            "phone is not a phone number"
        )
    assert sh3.line.paths.count("/sync/v1/orders") == before  # nothing bad was sent to HQ


# -- what the replica keeps ------------------------------------------------------------------------------


def _order(number: str, *, store_id: str = "", phone: str = PHONE, paid_at: int = 1_738_317_600_000) -> OrderState:
    return OrderState(
        id=f"id-{number}",
        number=number,
        channel="store" if store_id else "tmall",
        store_id=store_id,
        customer_phone=phone,
        paid_at=paid_at,
        total_cents=29900,
        lines=[OrderLine(line_no=1, sku=M, qty=1, unit_price_cents=29900)],
        created_at=paid_at,
        hlc=Hlc(system_wall_ms(), 0, "hq").encode(),
    )


def _pull(node: Node, *states: OrderState) -> None:
    changes = [
        Change(pos=0, entity="order", entity_id=s.id, hlc=s.hlc, data=msgspec.Raw(encode_entity(s))) for s in states
    ]
    with node.replica.tx() as conn:
        apply.apply_changes(node, conn, changes)


def _look_up(node: Node, *states: OrderState) -> None:
    apply.keep_looked_up_orders(node, OrderLookup(orders=[FoundOrder(order=s) for s in states], server_time=0))


def test_looked_up_orders_are_capped_and_own_orders_never_make_room(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apply, "MAX_LOOKED_UP_ORDERS", 3)
    own = node.replica.get("store_id")
    _pull(node, *(_order(f"OWN-{i}", store_id=own) for i in range(4)))
    clock = [1_000]
    monkeypatch.setattr(node, "wall_ms", lambda: clock[0])
    for i in range(5):
        clock[0] += 1
        _look_up(node, _order(f"TM-{i}"))
    clock[0] += 1
    _look_up(node, _order("TM-1"), _order("OWN-0", store_id=own))  # seen again; an own one stays own
    rows = node.replica.query("SELECT number, source FROM orders ORDER BY number")
    assert [(r[0], r[1]) for r in rows] == [
        ("OWN-0", "own"),
        ("OWN-1", "own"),
        ("OWN-2", "own"),
        ("OWN-3", "own"),
        ("TM-1", "lookup"),
        ("TM-3", "lookup"),
        ("TM-4", "lookup"),
    ]
    assert scalar(node.replica, "SELECT count(*) FROM orders WHERE number = 'TM-0'") == 0


def test_a_later_version_wins_and_a_reset_drops_own_orders_hq_no_longer_publishes(node: Node) -> None:
    own = node.replica.get("store_id")
    newer = _order("OWN-1", store_id=own)
    older = msgspec.structs.replace(newer, lines=[], hlc=Hlc(1, 0, "hq").encode())
    _look_up(node, newer)
    _pull(node, older, _order("OWN-2", store_id=own))  # a page fetched before the lookup, applied after
    row = node.replica.one("SELECT source, store_code, data FROM orders WHERE number = 'OWN-1'")
    assert row is not None and (row["source"], row["store_code"]) == ("own", "SH012")
    assert msgspec.json.decode(row["data"], type=OrderState).lines == newer.lines
    _look_up(node, _order("TM-1"))

    apply.begin_reset(node)
    _pull(node, newer)  # HQ re-sends the orders it still publishes to this store
    with node.replica.tx() as conn:
        apply.finish_reset(node, conn)
    rows = node.replica.query("SELECT number, source FROM orders ORDER BY number")
    assert [(r[0], r[1]) for r in rows] == [("OWN-1", "own"), ("TM-1", "lookup")]


def test_a_phone_is_masked_in_the_middle() -> None:
    assert [mask_phone(p) for p in ("13800138000", "02161234567", "0755612345678", "12345", "12", "")] == [
        "138****8000",
        "021****4567",
        "075******5678",
        "1***5",
        "*2",
        "",
    ]
