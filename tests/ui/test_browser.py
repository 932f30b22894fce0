"""The clerk UI in a real browser against real processes: an HQ and a store node on loopback
ports (tests/e2e/procs.py), headless Chromium driven by Playwright (tests/browser.py), the clerk's
steps from tests/ui/browser_flows.py. Without Chromium or Playwright the tests skip (fail under
``CI=true``)."""

from __future__ import annotations

import re
import struct
import time
import zlib
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser import browser_page_fixture, clerk_page  # noqa: F401 - the browser_page fixture
from tests.e2e.conftest import StoreFactory, hq, make_store  # noqa: F401 - real HQ and store processes
from tests.e2e.procs import Hq, Store, storedesk, wait_until
from tests.ui.browser_flows import (
    BADGE_POLL_S,
    CLERK_NAME,
    ClerkAt,
    file_ticket,
    look_up_stock,
    request_transfer_from_stock,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

#: The badge follows the node's sync state within its 2 s poll; the node notices HQ is gone when
#: its long-poll breaks (at once) and that HQ is back at its next retry (backoff from 0.5 s).
OFFLINE_WITHIN_S = 10.0
ONLINE_WITHIN_S = 30.0


def test_offline_badge_appears_when_hq_stops_and_clears_when_it_is_back(
    browser_page: Page,
    hq: Hq,  # noqa: F811 - the fixture imported above
    make_store: StoreFactory,  # noqa: F811
) -> None:
    store = make_store("SH012")
    clerk = ClerkAt(browser_page, store.url)
    clerk.sign_in()
    assert clerk.path() == "/"
    assert CLERK_NAME in clerk.text("header")
    clerk.wait_for_badge("online", ONLINE_WITHIN_S)

    hq.stop()
    took = clerk.wait_for_badge("offline", OFFLINE_WITHIN_S)
    print(f"offline shown {took:.1f} s after HQ stopped")
    assert clerk.path() == "/", "the badge changes in place, without a reload"

    hq.start()
    took = clerk.wait_for_badge("online", ONLINE_WITHIN_S)
    print(f"online shown {took:.1f} s after HQ started (badge poll {BADGE_POLL_S} s)")
    assert clerk.path() == "/"


# -- a ticket with a photo ------------------------------------------------------------------------

#: The demo's equipment form (storedesk_demo.FORMS): a required photo and where the fault is.
EQUIPMENT_FORM = {
    "fields": [
        {"name": "photos", "label_zh": "照片", "label_en": "Photos", "kind": "photo", "required": True},
        {"name": "location", "label_zh": "位置", "label_en": "Location", "required": True},
    ]
}
PHOTO_W, PHOTO_H = 12, 8


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG (8-bit RGB, one colour) written with the stdlib."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _form_of(store: Store, type_code: str) -> list[dict[str, Any]]:
    items = store.api.get("/api/v1/ticket-types").json()["items"]
    # (The store may not have pulled its ticket types yet: no form then.)
    fields: list[dict[str, Any]] = next((t["fields"] for t in items if t["code"] == type_code), [])
    return fields


def test_clerk_files_a_ticket_with_a_photo(
    browser_page: Page,
    hq: Hq,  # noqa: F811
    make_store: StoreFactory,  # noqa: F811
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    assert hq.api.put("/api/v1/ticket-types/equipment/form", json=EQUIPMENT_FORM).status_code == 200
    store = make_store("SH012")
    # The store learns the form with the ticket type on its next sync.
    wait_until(lambda: any(f["kind"] == "photo" for f in _form_of(store, "equipment")), timeout=15)
    photo = tmp_path / "屏幕.png"
    photo.write_bytes(png(PHOTO_W, PHOTO_H, (200, 30, 30)))

    clerk = ClerkAt(browser_page, store.url)
    clerk.sign_in()
    title = "收银机屏幕不亮"
    ticket_id = file_ticket(
        clerk,
        "equipment",
        {"title": title, "description": "开机后黑屏，指示灯亮", "location": "2 号收银台"},
        {"photos": photo},
    )

    assert title in clerk.text("main h1")
    assert clerk.page.locator("main .notice.ok[role=status]").count() == 1, "no 'ticket created' notice"
    assert clerk.image_loaded("main .tk-facts .tk-thumbs img") == PHOTO_W
    thumb = clerk.page.get_attribute("main .tk-facts .tk-thumbs img", "src") or ""
    assert re.fullmatch(r"/photos/[0-9a-f]{32}\.png", thumb), thumb

    def at_hq() -> dict[str, Any] | None:
        response = hq.api.get(f"/api/v1/tickets/{ticket_id}")
        return response.json() if response.status_code == 200 else None

    ticket = wait_until(at_hq, timeout=15, interval=0.2)
    assert ticket["title"] == title
    assert ticket["extra"]["location"] == "2 号收银台"
    assert ticket["extra"]["photos"] == [f"photo:{thumb.rsplit('/', 1)[1]}"]
    print(f"ticket with a photo filed and at HQ in {time.monotonic() - started:.1f} s")


# -- stock across stores, a transfer ---------------------------------------------------------------

CATALOGUE = """product_code,name_zh,name_en,colour,size
DR-3302,碎花连衣裙,Floral dress,白,S
DR-3302,碎花连衣裙,Floral dress,白,M
"""
PRODUCT, S, M = "DR-3302", "DR-3302-白-S", "DR-3302-白-M"
#: People's Square, Shanghai, and West Lake, Hangzhou: about 165 km apart.
PLACES = {"SH012": (31.2363, 121.4803), "HZ003": (30.2591, 120.1636)}
#: What each store has received, per SKU.
RECEIVED = {"SH012": {S: 3, M: 1}, "HZ003": {S: 2, M: 4}}


def _levels_at_hq(at: Hq) -> dict[str, dict[str, tuple[int, int]]]:
    """HQ's ``{store code: {sku: (on_hand, reserved)}}`` of the product."""
    found = at.api.get("/api/v1/stock", params={"product": PRODUCT}).json()
    return {s["code"]: {k["sku"]: (k["on_hand"], k["reserved"]) for k in s["skus"]} for s in found["stores"]}


def _knows_product(store: Store) -> bool:
    return store.api.get("/api/v1/stock", params={"product": PRODUCT}).status_code == 200


def _chain_with_stock(at: Hq, start_store: StoreFactory, tmp_path: Path) -> tuple[Store, Store]:
    """SH012 (Shanghai) and HZ003 (Hangzhou) with coordinates, the catalogue, and RECEIVED at
    each (receipts through each store's API), all of it known at HQ."""
    csv = tmp_path / "products.csv"
    csv.write_text(CATALOGUE, encoding="utf-8")
    done = storedesk("hq", "import-products", str(csv), "--db", at.db)
    assert done.returncode == 0, done.stderr
    shop, other = start_store("SH012"), start_store("HZ003")
    for code, (lat, lon) in PLACES.items():
        body = {"lat": lat, "lon": lon, "address": f"{code} 地址", "contact": "店长", "phone": "021-1"}
        assert at.api.put(f"/api/v1/stores/{code}", json=body).status_code == 200
    for store in (shop, other):
        # Each learns the catalogue (and the other's coordinates) from HQ.
        wait_until(partial(_knows_product, store))
        for sku, qty in RECEIVED[store.name].items():
            move = store.api.post("/api/v1/stock/moves", json={"sku": sku, "qty": qty, "reason": "receipt"})
            assert move.status_code == 201, move.text
    expected = {code: {sku: (qty, 0) for sku, qty in skus.items()} for code, skus in RECEIVED.items()}
    wait_until(lambda: _levels_at_hq(at) == expected, timeout=15, interval=0.2)
    return shop, other


def _cell(clerk: ClerkAt, selector: str) -> int:
    return int(clerk.text(f"{selector} strong"))


def test_clerk_looks_up_stock_of_a_product_across_stores(
    browser_page: Page,
    hq: Hq,  # noqa: F811
    make_store: StoreFactory,  # noqa: F811
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    shop, _ = _chain_with_stock(hq, make_store, tmp_path)
    clerk = ClerkAt(browser_page, shop.url)
    clerk.sign_in()

    picked = look_up_stock(clerk, "DR-33")
    assert picked, "the product field offered no suggestion for DR-33"
    assert clerk.path() == f"/stock?product={PRODUCT}"

    # This store's grid, by colour and size, counted here.
    for sku, qty in RECEIVED["SH012"].items():
        assert _cell(clerk, f'#own-stock td[data-sku="{sku}"]') == qty
    # The other store, with its figures, its distance, from HQ's live answer.
    assert clerk.page.get_attribute("#other-stores .st-source", "data-source") == "hq"
    row = '#other-stores tr[data-store="HZ003"]'
    assert clerk.page.locator("#other-stores tbody tr[data-store]").count() == 1
    for sku, qty in RECEIVED["HZ003"].items():
        assert _cell(clerk, f'{row} td[data-sku="{sku}"]') == qty
    distance = clerk.text(f"{row} td:nth-of-type(1)")
    km = re.search(r"\d+(?:\.\d+)?", distance)
    assert km is not None and 150 < float(km.group()) < 180, distance
    print(f"stock looked up across stores in {time.monotonic() - started:.1f} s")


def test_clerk_requests_a_transfer_from_another_store(
    browser_page: Page,
    hq: Hq,  # noqa: F811
    make_store: StoreFactory,  # noqa: F811
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    shop, other = _chain_with_stock(hq, make_store, tmp_path)
    clerk = ClerkAt(browser_page, shop.url)
    clerk.sign_in()
    look_up_stock(clerk, "DR-33")

    note = "顾客预订，周六来取"
    key = request_transfer_from_stock(clerk, "HZ003", S, qty=1, note=note)
    assert clerk.page.get_attribute("#order .st-status", "data-status") == "requested"
    assert note in clerk.text("#order")
    assert S in clerk.text("#order table")

    # HQ reserves the unit at the source.
    def reserved_at_hq() -> dict[str, Any] | None:
        response = hq.api.get(f"/api/v1/transfers/{key}")
        return response.json() if response.status_code == 200 else None

    transfer = wait_until(reserved_at_hq, timeout=15, interval=0.2)
    assert transfer["status"] == "requested"
    assert (transfer["sku"], transfer["qty"], transfer["note"]) == (S, 1, note)
    assert (transfer["source"]["code"], transfer["requester"]["code"]) == ("HZ003", "SH012")
    assert _levels_at_hq(hq)["HZ003"][S] == (2, 1)

    # The other store's clerk sees it waiting for approval.
    browser = browser_page.context.browser
    assert browser is not None
    with clerk_page(browser) as page:  # a second context: its own session cookie
        source = ClerkAt(page, other.url)
        source.sign_in("李强", "0031", next_path="/transfers")
        waiting = f'#waiting tr a[href="/transfers/{key}"]'
        source.reload_until(waiting, timeout_s=15)
        assert source.page.locator(f'#waiting form[action="/transfers/{key}/approve"]').count() == 1
        listed = source.text(f'#waiting tr:has(a[href="/transfers/{key}"])')
        assert S in listed and "SH012" in listed, listed
    print(f"transfer requested and waiting at the source in {time.monotonic() - started:.1f} s")
