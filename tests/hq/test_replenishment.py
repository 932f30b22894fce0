"""Tickets HQ opens by itself when stock needs attention (hq_server.stock_alerts): replenishment
below a threshold, and a stock exception when a level goes negative."""

from __future__ import annotations

from typing import Any

from sync_protocol.messages import PushResponse
from tests.hq.helpers import Hq, WireNode, import_catalogue, put_thresholds, stock_level, tickets_in

CSV = """product_code,name_zh,name_en,colour,size
JN-2041,修身牛仔裤,Slim jeans,蓝,M
JN-2041,修身牛仔裤,Slim jeans,蓝,L
"""
M, L = "JN-2041-蓝-M", "JN-2041-蓝-L"


def applied(answer: PushResponse) -> None:
    assert [(r.status, r.code) for r in answer.results] == [("applied", "")] * len(answer.results), [
        (r.status, r.code, r.reason) for r in answer.results
    ]


def tickets_of_type(hq: Hq, ticket_type: str) -> list[dict[str, Any]]:
    response = hq.api("GET", "/api/v1/tickets", params={"type": ticket_type, "limit": 500})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def extra_of(node: WireNode, ticket_id: str) -> dict[str, Any]:
    """The ticket's ``extra`` as its store pulls it (the staff JSON does not show it)."""
    extra: dict[str, Any] = tickets_in(node.pull_all()[0])[ticket_id].extra
    return extra


def sales(node: WireNode, sku: str, count: int) -> PushResponse:
    """``count`` sales of one unit, in one push."""
    return node.send(*(node.move(sku, -1, "sale") for _ in range(count)))


def test_replenishment_opens_once_per_episode_even_with_50_sales_in_one_batch(hq: Hq) -> None:
    import_catalogue(hq, CSV)
    store = hq.enroll("SH001")
    response = put_thresholds(hq, [{"store": "SH001", "sku": M, "threshold": 5}])
    assert response.status_code == 200, response.text
    applied(store.send(store.move(M, 60, "receipt"), store.move(L, 3, "receipt")))
    # L has no threshold (none of its own, no product minimum): never a replenishment ticket.
    applied(sales(store, L, 2))

    applied(sales(store, M, 6))  # 54 left: above the threshold, nothing opens
    assert stock_level(hq, store.store_id, M) == (54, 0)
    assert tickets_of_type(hq, "replenishment") == []

    # Fifty sales in one push take it from 54 to 4: below 5 from the 50th on; one ticket.
    answer = sales(store, M, 50)
    applied(answer)
    assert len(answer.results) == 50
    assert stock_level(hq, store.store_id, M) == (4, 0)
    [first] = tickets_of_type(hq, "replenishment")
    assert first["department"] == "warehouse"
    assert (first["store_code"], first["product_code"], first["channel"]) == ("SH001", "JN-2041", "hq")
    detail = hq.ticket(first["id"])
    assert extra_of(store, first["id"]) == {"sku": M, "on_hand": 4, "reserved": 0, "threshold": 5}
    assert M in detail["description"] and "5" in detail["description"]
    assert detail["status"] not in ("resolved", "closed")

    # More sales while it is open: still that one ticket.
    applied(sales(store, M, 1))
    applied(sales(store, M, 2))
    assert stock_level(hq, store.store_id, M) == (1, 0)
    assert [t["id"] for t in tickets_of_type(hq, "replenishment")] == [first["id"]]

    # Warehouse restocks and resolves it; a later fall below the threshold is a new episode.
    applied(store.send(store.move(M, 20, "receipt")))
    resolved = hq.api("PATCH", f"/api/v1/tickets/{first['id']}", json={"status": "resolved", "note": "已补货 20 件"})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved"
    assert [t["id"] for t in tickets_of_type(hq, "replenishment")] == [first["id"]]
    applied(sales(store, M, 17))  # 21 -> 4
    tickets = tickets_of_type(hq, "replenishment")
    assert len(tickets) == 2
    [second] = [t for t in tickets if t["id"] != first["id"]]
    assert second["department"] == "warehouse" and second["status"] not in ("resolved", "closed")
    assert second["number"] != first["number"]

    # Closing instead of resolving ends an episode too.
    closed = hq.api("PATCH", f"/api/v1/tickets/{second['id']}", json={"status": "closed"})
    assert closed.status_code == 200, closed.text
    applied(sales(store, M, 1))
    assert len(tickets_of_type(hq, "replenishment")) == 3
    assert tickets_of_type(hq, "stock_exception") == []


def test_replenishment_tickets_of_two_skus_in_one_push_each_open_once(hq: Hq) -> None:
    import_catalogue(hq, CSV)
    store = hq.enroll("SH001")
    response = put_thresholds(
        hq, [{"store": "SH001", "sku": M, "threshold": 5}, {"store": "SH001", "sku": L, "threshold": 2}]
    )
    assert response.status_code == 200, response.text
    applied(store.send(store.move(M, 6, "receipt"), store.move(L, 3, "receipt")))
    applied(store.send(*(store.move(sku, -1, "sale") for sku in (M, L, M, L))))
    found = tickets_of_type(hq, "replenishment")
    assert sorted(extra_of(store, t["id"])["sku"] for t in found) == sorted([M, L])
    assert len({t["number"] for t in found}) == 2


def test_product_min_stock_is_the_default_threshold_and_a_store_threshold_wins(hq: Hq) -> None:
    import_catalogue(
        hq,
        "product_code,name_zh,colour,size,min_stock\nJN-2041,修身牛仔裤,蓝,M,3\nJN-2041,修身牛仔裤,蓝,L,\n",
    )
    plain, own = hq.enroll("SH001"), hq.enroll("SH002")
    response = put_thresholds(hq, [{"store": "SH002", "sku": M, "threshold": 1}])
    assert response.status_code == 200, response.text
    for node in (plain, own):
        applied(node.send(node.move(M, 5, "receipt"), node.move(L, 5, "receipt")))

    applied(sales(plain, M, 2))  # 3: not below the product's 3
    applied(sales(own, M, 3))  # 2: below the product's 3, not below its own 1
    assert tickets_of_type(hq, "replenishment") == []

    applied(sales(plain, M, 1))  # 2 < 3
    applied(sales(plain, L, 3))  # L too: min_stock is the product's, for each of its SKUs
    applied(sales(own, M, 2))  # 0 < 1
    thresholds: dict[tuple[str, str], int] = {}
    for ticket in tickets_of_type(hq, "replenishment"):
        extra = extra_of(plain if ticket["store_code"] == "SH001" else own, ticket["id"])
        thresholds[(ticket["store_code"], extra["sku"])] = extra["threshold"]
    assert thresholds == {("SH001", M): 3, ("SH001", L): 3, ("SH002", M): 1}


def test_negative_stock_opens_one_exception_ticket_to_operations(hq: Hq) -> None:
    import_catalogue(hq, CSV)
    source, requester = hq.enroll("SH001"), hq.enroll("SH002")
    applied(source.send(source.move(M, 2, "receipt")))

    # SH002 asks for both units; SH001 approves and ships them.
    request = requester.request_transfer(M, 2, source.store_id)
    applied(requester.send(request))
    applied(source.send(source.step(request.transfer_id, "approve"), source.step(request.transfer_id, "ship")))
    assert stock_level(hq, source.store_id, M) == (0, 0)
    assert tickets_of_type(hq, "stock_exception") == []

    # Meanwhile a till of SH001, offline, sold one of those units: it reaches HQ now.
    applied(source.send(source.move(M, -1, "sale")))
    assert stock_level(hq, source.store_id, M) == (-1, 0)
    [ticket] = tickets_of_type(hq, "stock_exception")
    assert ticket["department"] == "operations"
    detail = hq.ticket(ticket["id"])
    assert extra_of(source, ticket["id"]) == {"sku": M, "on_hand": -1, "reserved": 0}
    assert "-1" in detail["description"]

    # More negative sales: the same open ticket, no second one.
    applied(source.send(source.move(M, -1, "sale")))
    applied(source.send(source.move(M, -2, "sale"), source.move(M, -1, "sale")))
    assert stock_level(hq, source.store_id, M) == (-5, 0)
    assert [t["id"] for t in tickets_of_type(hq, "stock_exception")] == [ticket["id"]]
    assert tickets_of_type(hq, "replenishment") == []  # no threshold here

    # The requester's side is untouched by SH001's exception.
    applied(requester.send(requester.step(request.transfer_id, "receive")))
    assert stock_level(hq, requester.store_id, M) == (2, 0)
    assert len(tickets_of_type(hq, "stock_exception")) == 1
