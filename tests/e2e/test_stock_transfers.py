"""Stock and transfers between real store processes and a real HQ: the live lookup, the offline
snapshot when HQ is down, and a transfer requested offline that HQ decides when it is back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import StoreFactory
from tests.e2e.procs import Hq, Store, storedesk, wait_until

pytestmark = pytest.mark.e2e

CATALOGUE = """product_code,name_zh,name_en,colour,size
DR-3302,碎花连衣裙,Floral dress,白,S
DR-3302,碎花连衣裙,Floral dress,白,M
"""
S, M = "DR-3302-白-S", "DR-3302-白-M"
PLACES = {"SH012": (31.2363, 121.4803), "HZ003": (30.2591, 120.1636)}


def _chain(hq: Hq, make_store: StoreFactory, tmp_path: Path) -> tuple[Store, Store]:
    csv = tmp_path / "products.csv"
    csv.write_text(CATALOGUE, encoding="utf-8")
    done = storedesk("hq", "import-products", str(csv), "--db", hq.db)
    assert done.returncode == 0, done.stderr
    shop, source = make_store("SH012"), make_store("HZ003")
    for code, (lat, lon) in PLACES.items():
        body = {"lat": lat, "lon": lon, "address": f"{code} 地址", "contact": "店长", "phone": "021-1"}
        assert hq.api.put(f"/api/v1/stores/{code}", json=body).status_code == 200
    # Both learn the catalogue and each other's coordinates.
    for store in (shop, source):
        wait_until(lambda s=store: s.api.get("/api/v1/stock", params={"product": "DR-3302"}).status_code == 200)
    return shop, source


def _lookup(store: Store) -> dict[str, Any]:
    response = store.api.get("/api/v1/stock/lookup", params={"product": "DR-3302"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _has(lookup: dict[str, Any], code: str, sku: str, qty: int) -> bool:
    for store in lookup["stores"]:
        if store["code"] == code:
            return any(s["sku"] == sku and s["on_hand"] == qty for s in store["skus"])
    return False


def test_transfer_between_store_processes_from_lookup_to_receipt(
    hq: Hq, make_store: StoreFactory, tmp_path: Path
) -> None:
    shop, source = _chain(hq, make_store, tmp_path)
    received = source.api.post("/api/v1/stock/moves", json={"sku": S, "qty": 2, "reason": "receipt"})
    assert received.status_code == 201, received.text

    lookup = wait_until(lambda: (body := _lookup(shop))["source"] == "hq" and _has(body, "HZ003", S, 2) and body)
    hangzhou = next(s for s in lookup["stores"] if s["code"] == "HZ003")
    assert 150 < hangzhou["distance_km"] < 180

    # No source named: HQ picks the nearest store that has the unit.
    asked = shop.api.post("/api/v1/transfers", json={"sku": S, "qty": 1, "note": "顾客预订"})
    assert asked.status_code == 201, asked.text
    key = asked.json()["id"]
    at_source = wait_until(lambda: (r := source.api.get(f"/api/v1/transfers/{key}")).status_code == 200 and r.json())
    assert at_source["status"] == "requested"
    for action in ("approve", "ship"):
        done = source.api.post(f"/api/v1/transfers/{key}/{action}", json={"actor": "店长"})
        assert done.status_code == 200, done.text
    wait_until(lambda: shop.api.get(f"/api/v1/transfers/{key}").json()["status"] == "shipped", timeout=15)
    order = shop.api.get(f"/api/v1/transfers/{key}").json()
    assert order["order_no"] and order["source"]["address"] == "HZ003 地址"
    assert shop.api.post(f"/api/v1/transfers/{key}/receive", json={}).status_code == 200

    def settled() -> bool:
        at_hq = hq.api.get("/api/v1/stock", params={"product": "DR-3302"}).json()
        levels = {s["code"]: {k["sku"]: (k["on_hand"], k["reserved"]) for k in s["skus"]} for s in at_hq["stores"]}
        return levels.get("HZ003", {}).get(S) == (1, 0) and levels.get("SH012", {}).get(S) == (1, 0)

    wait_until(settled, timeout=15)
    transfer = hq.api.get(f"/api/v1/transfers/{key}").json()
    assert transfer["status"] == "received"
    assert set(transfer["lead_times_ms"]) >= {"request_to_approve", "approve_to_ship", "ship_to_receive"}


def test_lookup_answers_from_the_snapshot_while_hq_is_down_and_an_offline_request_is_decided_later(
    hq: Hq, make_store: StoreFactory, tmp_path: Path
) -> None:
    shop, source = _chain(hq, make_store, tmp_path)
    assert source.api.post("/api/v1/stock/moves", json={"sku": M, "qty": 3, "reason": "receipt"}).status_code == 201
    # The shop's snapshot learns Hangzhou's stock from the pull.
    wait_until(lambda: source.synced())
    wait_until(lambda: shop.synced() and _has(_lookup(shop), "HZ003", M, 3), timeout=15)

    hq.stop()
    offline = wait_until(lambda: (body := _lookup(shop))["source"] == "snapshot" and body, timeout=15)
    assert _has(offline, "HZ003", M, 3)
    assert offline["snapshot_at"] and offline["snapshot_age_s"] is not None
    hangzhou = next(s for s in offline["stores"] if s["code"] == "HZ003")
    assert hangzhou["as_of"] and hangzhou["age_s"] is not None

    asked = shop.api.post("/api/v1/transfers", json={"sku": M, "qty": 2, "source_store": "HZ003"})
    assert asked.status_code == 201, asked.text
    key = asked.json()["id"]
    assert shop.sync_status()["pending_ops"] >= 1

    hq.start()
    wait_until(lambda: hq.api.get(f"/api/v1/transfers/{key}").status_code == 200, timeout=20)
    at_hq = hq.api.get("/api/v1/stock", params={"product": "DR-3302"}).json()
    hangzhou_at_hq = {k["sku"]: k for k in next(s for s in at_hq["stores"] if s["code"] == "HZ003")["skus"]}
    assert (hangzhou_at_hq[M]["on_hand"], hangzhou_at_hq[M]["reserved"]) == (3, 2)
    wait_until(lambda: source.api.get(f"/api/v1/transfers/{key}").status_code == 200, timeout=15)
