"""Orders at HQ: posted through the API or imported from CSV, looked up by phone or number from
HQ and from any store, published to the selling store only (hq_server.orders, orders_api)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa

from hq_server.schema import order_lines, orders
from sync_protocol.orders import OrderLookup, OrderState
from tests.e2e.procs import storedesk
from tests.hq.helpers import DAY_MS, Hq, WireNode, entities_in, import_catalogue, now_ms

CATALOGUE = """product_code,name_zh,name_en,category,colour,size
JN-2041,修身牛仔裤,Slim jeans,jeans,蓝,M
JN-2041,修身牛仔裤,Slim jeans,jeans,蓝,L
KN-1180,针织衫,Knit sweater,knitwear,灰,L
"""
M, L = "JN-2041-蓝-M", "JN-2041-蓝-L"
KNIT = "KN-1180-灰-L"
PHONE = "13800138000"


def order_body(number: str, **fields: Any) -> dict[str, Any]:
    """An online order of one pair of jeans and two sweaters (498.00 yuan)."""
    body: dict[str, Any] = {
        "number": number,
        "channel": "tmall",
        "customer_phone": "+86 138-0013-8000",
        "customer_name": "王女士",
        "paid_at": "2025-01-31T18:00:00+08:00",
        "lines": [{"sku": M, "qty": 1, "unit_price": "299.00"}, {"sku": KNIT, "qty": 2, "unit_price": 99.5}],
    }
    body.update(fields)
    return body


def post(hq: Hq, body: dict[str, Any], status: int = 201, **kwargs: Any) -> dict[str, Any]:
    response = hq.api("POST", "/api/v1/orders", json=body, **kwargs)
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


def lookup(hq: Hq, **params: str) -> list[dict[str, Any]]:
    response = hq.api("GET", "/api/v1/orders", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def node_lookup(node: WireNode, **params: str) -> OrderLookup:
    response = node.client.get("/sync/v1/orders", params=params, headers=node.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/msgpack")
    return msgspec.msgpack.decode(response.content, type=OrderLookup)


def stored_orders(hq: Hq) -> int:
    with hq.ctx.db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(orders)).scalar_one())


def test_online_order_posted_at_hq_is_found_by_phone_and_number(hq: Hq) -> None:
    import_catalogue(hq, CATALOGUE)
    node = hq.enroll("SH001")

    created = post(hq, order_body("TM20250131001", total="498.00"))
    assert created["number"] == "TM20250131001"
    assert (created["channel"], created["channel_label"], created["store"]) == ("tmall", "天猫", None)
    assert (created["customer_phone"], created["customer_name"]) == (PHONE, "王女士")
    assert created["paid_at"] == "2025-01-31T10:00:00.000Z"
    assert created["total"] == "498.00"
    assert [
        (x["line_no"], x["sku"], x["name"], x["colour"], x["size"], x["qty"], x["unit_price"], x["amount"])
        for x in created["lines"]
    ] == [
        (1, M, "修身牛仔裤", "蓝", "M", 1, "299.00", "299.00"),
        (2, KNIT, "针织衫", "灰", "L", 2, "99.50", "199.00"),
    ]
    assert [(x["returned_qty"], x["returnable_qty"]) for x in created["lines"]] == [(0, 1), (0, 2)]

    # Staff find it by the phone however it is written, by the number, and by id or number.
    assert [o["id"] for o in lookup(hq, phone=PHONE)] == [created["id"]]
    assert [o["id"] for o in lookup(hq, phone="+86 138 0013 8000")] == [created["id"]]
    assert lookup(hq, number="TM20250131001") == [created]
    for key in (created["id"], "TM20250131001"):
        one = hq.api("GET", f"/api/v1/orders/{key}")
        assert one.status_code == 200 and one.json() == created
    english = hq.api("GET", "/api/v1/orders/TM20250131001", headers={"Accept-Language": "en"})
    assert english.json()["channel_label"] == "Tmall"
    missing = hq.api("GET", "/api/v1/orders/TM-NOPE")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "order_not_found")
    assert lookup(hq, phone="13900000000") == [] and lookup(hq, number="TM-NOPE") == []

    # A store looks it up live through HQ, by either key.
    for params in ({"phone": "138-0013-8000"}, {"number": "TM20250131001"}):
        found = node_lookup(node, **params)
        assert [(f.order.number, f.store_code, f.order.total_cents) for f in found.orders] == [
            ("TM20250131001", "", 49800)
        ]
        assert [(x.sku, x.qty, x.unit_price_cents, x.returned_qty) for x in found.orders[0].order.lines] == [
            (M, 1, 29900, 0),
            (KNIT, 2, 9950, 0),
        ]

    # Exactly one of phone and number; a phone must look like one; tokens are checked.
    for params in ({}, {"phone": PHONE, "number": "TM20250131001"}, {"phone": "   "}):
        bad = hq.api("GET", "/api/v1/orders", params=params)
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, "order_lookup_key"), params
        from_store = node.client.get("/sync/v1/orders", params=params, headers=node.headers)
        assert (from_store.status_code, from_store.json()["error"]["code"]) == (422, "order_lookup_key"), params
    not_phone = hq.api("GET", "/api/v1/orders", params={"phone": "call me"})
    assert (not_phone.status_code, not_phone.json()["error"]["field"]) == (422, "phone")
    assert node.client.get("/sync/v1/orders", params={"phone": PHONE}).status_code == 401
    assert node.client.get("/api/v1/orders", params={"phone": PHONE}, headers=node.headers).status_code == 401
    assert hq.client.post("/api/v1/orders", json=order_body("TM2")).status_code == 401


def test_lookup_by_phone_finds_orders_from_several_stores_and_online(hq: Hq) -> None:
    import_catalogue(hq, CATALOGUE)
    sh1, sh2, sh3 = hq.enroll("SH001"), hq.enroll("SH002"), hq.enroll("SH003")
    now = now_ms()
    post(hq, order_body("SH001-S-0001", channel="store", store="SH001", paid_at=now - 3 * DAY_MS))
    post(hq, order_body("SH002-S-0001", channel="store", store=sh2.store_id, paid_at=now - 1 * DAY_MS))
    post(hq, order_body("JD-7781", channel="jd", customer_phone=PHONE, paid_at=now - 2 * DAY_MS))
    post(hq, order_body("JD-7782", channel="jd", customer_phone="13900139000", paid_at=now))  # someone else

    newest_first = ["SH002-S-0001", "JD-7781", "SH001-S-0001"]
    for phone in ("+86 138-0013-8000", PHONE):
        found = lookup(hq, phone=phone)
        assert [o["number"] for o in found] == newest_first
        assert [o["store"] for o in found] == [
            {"code": "SH002", "name": "SH002 门店"},
            None,
            {"code": "SH001", "name": "SH001 门店"},
        ]
        assert [o["channel_label"] for o in found] == ["门店", "京东", "门店"]

    # A store that sold none of them sees all three through HQ, with where each was sold.
    seen = node_lookup(sh3, phone="+86 138-0013-8000")
    assert [(f.order.number, f.store_code, f.store_name) for f in seen.orders] == [
        ("SH002-S-0001", "SH002", "SH002 门店"),
        ("JD-7781", "", ""),
        ("SH001-S-0001", "SH001", "SH001 门店"),
    ]
    assert [f.order.store_id for f in seen.orders] == [sh2.store_id, "", sh1.store_id]
    assert {f.order.customer_phone for f in seen.orders} == {PHONE}
    assert seen.server_time >= now


def test_posting_the_same_order_twice_is_idempotent_and_different_content_conflicts(hq: Hq) -> None:
    import_catalogue(hq, CATALOGUE)
    first = post(hq, order_body("TM-0001"))
    # The same order again (its phone written another way, its total now given): the stored one.
    again = post(hq, order_body("TM-0001", customer_phone=PHONE, total="498.00"), status=200)
    assert again == first
    assert stored_orders(hq) == 1

    changed_lines = order_body("TM-0001", lines=[{"sku": M, "qty": 2, "unit_price": "299.00"}])
    for body in (
        changed_lines,
        order_body("TM-0001", customer_phone="13900139000"),
        order_body("TM-0001", paid_at="2025-01-31T18:00:01+08:00"),
        order_body("TM-0001", channel="jd"),
    ):
        clash = hq.api("POST", "/api/v1/orders", json=body, headers={"Accept-Language": "en"})
        assert clash.status_code == 409, clash.text
        error = clash.json()["error"]
        assert (error["code"], error["field"]) == ("order_conflict", "number")
        assert "TM-0001" in error["message"]
    stored = hq.api("GET", "/api/v1/orders/TM-0001").json()
    assert stored == first
    with hq.ctx.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(order_lines)).scalar_one() == 2


def test_order_with_unknown_sku_or_bad_line_is_refused_naming_the_field(hq: Hq) -> None:
    import_catalogue(hq, CATALOGUE)
    hq.enroll("SH001")
    future = now_ms() + 3600_000
    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            order_body(
                "X1", lines=[{"sku": M, "qty": 1, "unit_price": "1"}, {"sku": "NOPE", "qty": 1, "unit_price": "1"}]
            ),
            "unknown_sku",
            "lines[1].sku",
        ),
        (order_body("X1", lines=[{"sku": M, "qty": 0, "unit_price": "1"}]), "invalid_order_qty", "lines[0].qty"),
        (order_body("X1", lines=[{"sku": M, "qty": "2", "unit_price": "1"}]), "invalid_order_qty", "lines[0].qty"),
        (order_body("X1", lines=[{"sku": M, "qty": 10_001, "unit_price": "1"}]), "invalid_order_qty", "lines[0].qty"),
        (
            order_body("X1", lines=[{"sku": M, "qty": 1, "unit_price": "9.999"}]),
            "invalid_unit_price",
            "lines[0].unit_price",
        ),
        (order_body("X1", lines=[{"sku": M, "qty": 1, "unit_price": -1}]), "invalid_unit_price", "lines[0].unit_price"),
        (
            order_body("X1", lines=[{"sku": M, "qty": 1, "unit_price": "abc"}]),
            "invalid_unit_price",
            "lines[0].unit_price",
        ),
        (order_body("X1", lines=[{"sku": M, "qty": 1}]), "required", "lines[0].unit_price"),
        (
            order_body("X1", lines=[{"sku": M, "qty": 1, "unit_price": 1, "colour": "红"}]),
            "unknown_field",
            "lines[0].colour",
        ),
        (order_body("X1", lines=[{"qty": 1, "unit_price": 1}]), "required", "lines[0].sku"),
        (order_body("X1", lines=["M"]), "invalid_type", "lines[0]"),
        (order_body("X1", lines=[]), "required", "lines"),
        (order_body("X1", lines=[{"sku": M, "qty": 1, "unit_price": 1}] * 201), "too_many_order_lines", "lines"),
        (order_body("X1", total="500.00"), "order_total_mismatch", "total"),
        (order_body("X1", total="4.981"), "invalid_amount", "total"),
        (order_body("X1", channel="shop"), "invalid_channel", "channel"),
        (order_body("X1", channel="store"), "required", "store"),
        (order_body("X1", channel="store", store="XX999"), "unknown_store", "store"),
        (order_body("X1", paid_at="2025-01-31T18:00:00"), "invalid_paid_at", "paid_at"),
        (order_body("X1", paid_at=1_738_317_600), "invalid_paid_at", "paid_at"),  # seconds, not ms
        (order_body("X1", paid_at=future), "paid_at_in_future", "paid_at"),
        (order_body("X1", customer_phone="call me"), "invalid_phone", "customer_phone"),
        (order_body("X1", customer_name="名" * 81), "too_long", "customer_name"),
        (order_body("A B"), "invalid_order_number", "number"),
        (order_body("X1", coupon="SPRING"), "unknown_field", "coupon"),
    ]
    for body, code, field in cases:
        refused = hq.api("POST", "/api/v1/orders", json=body)
        assert refused.status_code == 422, (code, refused.text)
        error = refused.json()["error"]
        assert (error["code"], error["field"]) == (code, field), refused.text
        assert error["message"] and error["message"] != code
    lines = order_body("X1")["lines"]
    missing = {k: v for k, v in order_body("X1").items() if k != "lines"}
    assert hq.api("POST", "/api/v1/orders", json=missing).json()["error"]["field"] == "lines"
    english = hq.api(
        "POST",
        "/api/v1/orders",
        json=order_body("X1", lines=[*lines, {"sku": "NOPE-1", "qty": 1, "unit_price": "1"}]),
        headers={"Accept-Language": "en"},
    )
    assert english.json()["error"]["message"] == "unknown SKU NOPE-1"
    assert stored_orders(hq) == 0
    # A small leeway for a till whose clock runs a little fast.
    post(hq, order_body("X1", paid_at=now_ms() + 60_000))


def test_store_order_is_published_to_its_store_only(hq: Hq) -> None:
    import_catalogue(hq, CATALOGUE)
    seller, other = hq.enroll("SH001"), hq.enroll("SH002", region="east")
    sale = post(hq, order_body("SH001-S-0007", channel="store", store="SH001", customer_phone=""))
    online = post(hq, order_body("TM-0009", store=""))

    seen_by_seller = entities_in(seller.pull_all()[0], "order")
    assert list(seen_by_seller) == [sale["id"]]
    order: OrderState = seen_by_seller[sale["id"]]
    assert (order.number, order.channel, order.store_id, order.total_cents) == (
        "SH001-S-0007",
        "store",
        seller.store_id,
        49800,
    )
    assert [(x.line_no, x.sku, x.name, x.colour, x.size, x.qty) for x in order.lines] == [
        (1, M, "修身牛仔裤", "蓝", "M", 1),
        (2, KNIT, "针织衫", "灰", "L", 2),
    ]
    assert entities_in(other.pull_all()[0], "order") == {}
    # The online order reached no store's log; every store can still look it up live.
    assert online["id"] not in seen_by_seller
    assert [f.order.id for f in node_lookup(other, number="TM-0009").orders] == [online["id"]]
    # Posting the sale again logs nothing new.
    post(hq, order_body("SH001-S-0007", channel="store", store="SH001", customer_phone=""), status=200)
    changes, _ = seller.pull_all()
    assert [c.entity_id for c in changes if c.entity == "order"] == [sale["id"]]


ORDERS_CSV = f"""\ufefforder_no,channel,store,customer_phone,customer_name,paid_at,sku,qty,unit_price
TM001,tmall,,+86 138-0013-8000,王女士,2025-01-31T18:00:00+08:00,{M},1,299.00
SL001,store,SH001,13800138000,,2025-02-01T10:00:00+08:00,{KNIT},2,99.50

TM001,,,,,,{KNIT},1,99.5
SL001,门店,SH001,138 0013 8000,,2025-02-01T10:00:00+08:00,{L},1,299
"""


def test_import_orders_csv_groups_lines_and_reports_errors_by_line(hq: Hq, db_url: str, tmp_path: Path) -> None:
    import_catalogue(hq, CATALOGUE)
    shop = hq.enroll("SH001")
    good = tmp_path / "orders.csv"
    good.write_text(ORDERS_CSV, encoding="utf-8")

    done = storedesk("hq", "import-orders", str(good), "--db", db_url)
    assert done.returncode == 0, done.stderr
    assert "2 个订单、4 行明细：新建 2 个，已存在 0 个" in done.stdout
    found = lookup(hq, phone=PHONE)
    assert [o["number"] for o in found] == ["SL001", "TM001"]
    sale, online = found
    assert (sale["channel"], sale["store"], sale["total"]) == (
        "store",
        {"code": "SH001", "name": "SH001 门店"},
        "498.00",
    )
    assert [(x["line_no"], x["sku"], x["qty"], x["unit_price"]) for x in sale["lines"]] == [
        (1, KNIT, 2, "99.50"),
        (2, L, 1, "299.00"),
    ]
    assert (online["channel"], online["store"], online["customer_name"], online["total"]) == (
        "tmall",
        None,
        "王女士",
        "398.50",
    )
    assert [(x["line_no"], x["sku"]) for x in online["lines"]] == [(1, M), (2, KNIT)]
    assert online["paid_at"] == "2025-01-31T10:00:00.000Z"
    assert list(entities_in(shop.pull_all()[0], "order")) == [sale["id"]]

    again = storedesk("hq", "import-orders", str(good), "--db", db_url)
    assert again.returncode == 0, again.stderr
    assert "新建 0 个，已存在 2 个" in again.stdout

    header = ORDERS_CSV.splitlines()[0]
    bad_files = {
        # An unknown SKU on line 3: nothing of the file is written, not even line 2's order.
        f"{header}\nTM002,tmall,,13800138000,,2025-02-02T09:00:00+08:00,{M},1,299\n"
        "TM003,jd,,13800138000,,2025-02-02T09:00:00+08:00,NOPE-1,1,299\n": "第 3 行 sku 列：未知的商品 SKU NOPE-1",
        f"{header}\nTM002,tmall,,,,2025-02-02T09:00:00+08:00,{M},1,299\nTM002,tmall,,,,,{L},x,299\n": "第 3 行 qty 列",
        f"{header}\nTM002,tmall,,,,2025-02-02T09:00:00+08:00,{M},1,2.999\n": "第 2 行 unit_price 列",
        f"{header}\nTM002,tmall,,,,2025-02-02 09:00:00,{M},1,299\n": "第 2 行 paid_at 列",
        f"{header}\nTM002,tmall,,,,2025-02-02T09:00:00+08:00,{M},1,299\n"
        f"TM002,jd,,,,,{L},1,299\n": "第 3 行 channel 列：渠道与本订单第 2 行的不同",
        f"{header}\nTM002,store,,,,2025-02-02T09:00:00+08:00,{M},1,299\n": "第 2 行 store 列：门店为必填项",
        f"{header}\n\nTM002,tmall,XX9,,,2025-02-02T09:00:00+08:00,{M},1,299\n": "第 3 行 store 列：未知的门店 XX9",
        # TM001 is at HQ with other lines: the row of the order number is named.
        f"{header}\nTM001,tmall,,13800138000,王女士,2025-01-31T18:00:00+08:00,{M},1,299\n": "第 2 行 order_no 列",
        "order_no,channel,paid_at,sku,qty\nTM002,tmall,2025-02-02T09:00:00+08:00,M,1\n": "unit_price",
    }
    for text, expected in bad_files.items():
        bad = tmp_path / "bad.csv"
        bad.write_text(text, encoding="utf-8")
        refused = storedesk("hq", "import-orders", str(bad), "--db", db_url)
        assert refused.returncode == 2, (expected, refused.stdout, refused.stderr)
        assert expected in refused.stderr, (expected, refused.stderr)
        assert "Traceback" not in refused.stderr
    assert lookup(hq, number="TM002") == [] and lookup(hq, number="TM003") == []
    assert stored_orders(hq) == 2
