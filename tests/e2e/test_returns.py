"""Returns between real store processes and a real HQ: a return at a store other than the selling
one, online and offline, with HQ's refund task made exactly once; and the same line returned in
two stores while HQ was out of reach, where HQ accepts one, refuses the other with a reason and
opens one exception ticket for finance."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import StoreFactory
from tests.e2e.procs import Hq, Store, storedesk, wait_until

pytestmark = pytest.mark.e2e

CATALOGUE = """product_code,name_zh,name_en,category,colour,size
JN-2041,修身牛仔裤,Slim jeans,jeans,蓝,M
TS-0100,纯棉T恤,Cotton tee,tops,白,L
"""
JEANS, TEE = "JN-2041-蓝-M", "TS-0100-白-L"
PHONE = "13900139000"


def _chain(hq: Hq, make_store: StoreFactory, tmp_path: Path) -> tuple[Store, Store, dict[str, Any]]:
    """A selling store, another store, and an order of the selling store paid two days ago."""
    csv = tmp_path / "products.csv"
    csv.write_text(CATALOGUE, encoding="utf-8")
    assert storedesk("hq", "import-products", str(csv), "--db", hq.db).returncode == 0
    seller, other = make_store("SH012"), make_store("HZ003")
    paid = int(time.time() * 1000) - 2 * 86_400_000
    body = {
        "number": "SH012-S0001",
        "channel": "store",
        "store": "SH012",
        "customer_phone": PHONE,
        "paid_at": paid,
        "lines": [{"sku": JEANS, "qty": 1, "unit_price": "299.00"}, {"sku": TEE, "qty": 1, "unit_price": "59.00"}],
    }
    posted = hq.api.post("/api/v1/orders", json=body)
    assert posted.status_code == 201, posted.text
    return seller, other, posted.json()


def _look_up(store: Store) -> dict[str, Any]:
    """The customer's order found at ``store`` through HQ (the store keeps it for offline use)."""
    found = wait_until(
        lambda: (
            (r := store.api.get("/api/v1/orders", params={"phone": PHONE})).status_code == 200
            and r.json()["source"] == "hq"
            and r.json()["orders"]
            and r.json()
        ),
        timeout=15,
    )
    order: dict[str, Any] = found["orders"][0]
    return order


def _take_back(store: Store, line_no: int, **fields: Any) -> dict[str, Any]:
    body = {"order": "SH012-S0001", "kind": "refund", "reason": "size", "lines": [{"line_no": line_no, "qty": 1}]}
    body.update(fields)
    response = store.api.post("/api/v1/returns", json=body)
    assert response.status_code == 201, response.text
    taken: dict[str, Any] = response.json()
    assert taken["status"] == "pending"
    return taken


def _decided(store: Store, key: str, timeout: float = 20) -> dict[str, Any]:
    found: dict[str, Any] = wait_until(
        lambda: (r := store.api.get(f"/api/v1/returns/{key}").json())["status"] != "pending" and r, timeout=timeout
    )
    return found


def _hq_tickets(hq: Hq, ticket_type: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = hq.api.get("/api/v1/tickets", params={"type": ticket_type}).json()["items"]
    return [t for t in items if t["type"] == ticket_type]


def test_return_at_another_store_online_and_offline_makes_each_refund_task_once(
    hq: Hq, make_store: StoreFactory, tmp_path: Path
) -> None:
    _, other, _ = _chain(hq, make_store, tmp_path)
    assert _look_up(other)["number"] == "SH012-S0001"

    online = _take_back(other, 1, method="wechat")
    accepted = _decided(other, online["id"])
    assert accepted["status"] == "accepted" and accepted["refund_ticket"]

    hq.stop()
    offline = _take_back(other, 2)  # the tee, while HQ is out of reach
    assert other.sync_status()["pending_ops"] >= 1
    hq.start()
    assert _decided(other, offline["id"], timeout=30)["status"] == "accepted"

    wait_until(lambda: len(_hq_tickets(hq, "refund")) == 2, timeout=15)
    other.stop()  # a restarted store PC resends nothing HQ already decided
    other.start()
    wait_until(lambda: other.synced(), timeout=15)
    refunds = _hq_tickets(hq, "refund")
    assert len(refunds) == 2
    assert sorted(t["extra"]["refund"] for t in refunds) == ["299.00", "59.00"]
    at_hq = hq.api.get("/api/v1/orders/SH012-S0001").json()
    assert [line["returned_qty"] for line in at_hq["lines"]] == [1, 1]
    stock = hq.api.get("/api/v1/stock", params={"product": "JN-2041"}).json()
    hangzhou = next(s for s in stock["stores"] if s["code"] == "HZ003")
    assert {k["sku"]: k["on_hand"] for k in hangzhou["skus"]}[JEANS] == 1


def test_same_line_returned_offline_at_two_stores_one_accepted_one_rejected_one_exception(
    hq: Hq, make_store: StoreFactory, tmp_path: Path
) -> None:
    seller, other, _ = _chain(hq, make_store, tmp_path)
    _look_up(other)
    wait_until(lambda: seller.api.get("/api/v1/orders/SH012-S0001").status_code == 200, timeout=15)

    hq.stop()
    first = _take_back(seller, 1)
    second = _take_back(other, 1)
    hq.start()

    outcomes = {
        store.name: _decided(store, taken["id"], timeout=30) for store, taken in ((seller, first), (other, second))
    }
    statuses = sorted(o["status"] for o in outcomes.values())
    assert statuses == ["accepted", "rejected"]
    refused = next(o for o in outcomes.values() if o["status"] == "rejected")
    assert refused["code"] == "over_return"
    assert "SH012-S0001" in refused["refusal"] and refused["exception_ticket"]
    wait_until(lambda: len(_hq_tickets(hq, "return_exception")) == 1, timeout=15)
    assert len(_hq_tickets(hq, "refund")) == 1
    exception = _hq_tickets(hq, "return_exception")[0]
    assert exception["number"] == refused["exception_ticket"]
    assert exception["department"] == "finance"
