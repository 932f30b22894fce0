"""Stock lookup latency at HQ and at a store, at the target scale of the stock issue: 1,000 stores
x 5,000 products x 6 sizes (30,000 SKUs, 30 million ``stock_levels`` rows at HQ).

HQ is a fresh SQLite file created (and migrated) by ``hq_server.app.open_hq``. The store is a
replica (``store_node.node.Node`` over a temp dir) of the first store of region 1, adopted with a
made-up identity as the store tests do (``tests/store/helpers.py`` ``fake_hello``).

This is a benchmark fixture: the data does not go through the sync. At HQ, regions, stores (spread
over ten regions about 1,500 km apart, each store within about 150 km of its region's centre), one
node per store, products and SKUs are inserted with ``executemany``; the 30 million stock rows
with one ``INSERT ... SELECT`` over stores x SKUs in rowid order (about three times faster than
``executemany`` from Python), the two secondary indexes of ``stock_levels`` dropped during the load
and re-created after it as the migration made them. At the store, the reference data (every
store, every product with its SKUs) is applied by ``store_node.apply.apply_changes`` as a pulled
page would be; then its region's stock levels (about 100 stores x 30,000 SKUs = 3 million rows,
HQ's figures in HQ's order: store by store) and its own count (``stock_on_hand``) are copied in
directly.

Then it times ``--lookups`` random product lookups (the same products in the same order at each
place, after 10 warm-up lookups that are not counted):

- HQ: ``hq_server.stock_lookup.lookup`` inside ``db.read()``, as the lookup endpoints run it;
- store: ``store_node.stock_views.lookup_snapshot``, the offline answer from the replica (the
  primary store figure; target p99 under 10 ms);
- store HTTP: ``GET /api/v1/stock/lookup?product=`` of the store's local API (in process, over
  ``httpx.ASGITransport``, sync client started but not syncing) with HQ unreachable (nothing
  listens on its port), so it falls back to the snapshot: the figure includes the failed live try.

Every store carries every SKU (on hand 0 for about 30% of them). The full scale takes about 2
minutes to build (HQ) plus 10 seconds (store) and 5 minutes in all on a 2-core VM, and about 6 GB
of disk in a temp dir, removed at the end unless ``--dir`` is given. It prints p50/p95/p99/max in
ms for each, and as its last line one JSON object with ``hq_p99_ms``, ``store_p99_ms``, ``stores``
and ``skus``.

    .venv/bin/python bench/stock_lookup.py [--stores 1000] [--products 5000] [--sizes 6]
        [--regions 10] [--lookups 1000] [--dir DIR]

A quick run: ``--stores 100 --products 1000`` (600,000 rows at HQ, a few seconds to build).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec

from bench.yardstick import cpu_reference_s, machine
from hq_server import stock_lookup
from hq_server.app import open_hq
from hq_server.schema import nodes, products, regions, skus, stores
from store_node import apply, stock_views
from store_node.app import create_app
from store_node.node import Node
from sync_protocol.entities import encode_entity
from sync_protocol.hlc import Hlc
from sync_protocol.messages import Change, Hello, ReferenceItem
from sync_protocol.ops import new_id
from tests.e2e.procs import free_port

#: Region centres across a country-sized area (code, name, lat, lon); stores lie within about
#: 150 km of theirs.
REGIONS = [
    ("east", "华东", 31.23, 121.47),
    ("north", "华北", 39.90, 116.40),
    ("south", "华南", 23.13, 113.26),
    ("southwest", "西南", 30.66, 104.07),
    ("central", "华中", 30.59, 114.31),
    ("northeast", "东北", 41.80, 123.43),
    ("northwest", "西北", 34.34, 108.94),
    ("shandong", "山东", 36.65, 117.12),
    ("fujian", "福建", 26.07, 119.30),
    ("yungui", "云贵", 25.04, 102.71),
]
SIZES = ["XS", "S", "M", "L", "XL", "XXL", "3XL", "4XL", "5XL", "6XL"]
COLOURS = ["黑", "白", "蓝", "灰", "红", "绿", "米", "棕"]
WARM_UP = 10


@dataclass
class Fixture:
    """The data built at HQ, as rows, for the store's replica and the lookups."""

    regions: list[dict[str, Any]]
    stores: list[dict[str, Any]]  # in rowid order at HQ
    products: list[dict[str, Any]]
    skus: list[dict[str, Any]]

    @property
    def hq_rows(self) -> int:
        return len(self.stores) * len(self.skus)


@contextlib.contextmanager
def bulk_load(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection to the SQLite file at ``path`` set up for a fast load (no journal, no
    fsync, foreign keys off); WAL again at the end."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in (
            "journal_mode = OFF",
            "synchronous = OFF",
            "foreign_keys = OFF",
            "cache_size = -1000000",
            "temp_store = MEMORY",
            "threads = 2",
        ):
            conn.execute(f"PRAGMA {pragma}")
        yield conn
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()


@contextlib.contextmanager
def without_indexes(conn: sqlite3.Connection, table: str) -> Iterator[None]:
    """Drop ``table``'s secondary indexes for the load and re-create them as they were."""
    found = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,)
    ).fetchall()
    for name, _ in found:
        conn.execute(f"DROP INDEX {name}")
    yield
    for _, sql in found:
        conn.execute(sql)


#: The stock of store ``st`` and SKU ``sk`` (their rowids): deterministic, about 30% zero, a
#: reservation on 2%, updated within the last day.
_STOCK_SELECT = """
    SELECT st.id, sk.code, sk.product_code,
        CASE WHEN (st.rowid * 7919 + sk.rowid * 104729) % 100 < 30 THEN 0
             ELSE 1 + (st.rowid * 31 + sk.rowid * 17) % 20 END,
        CASE WHEN (st.rowid + sk.rowid) % 50 = 0 THEN 1 ELSE 0 END,
        :now - (st.rowid * 104729 + sk.rowid * 7919) % 86400000
"""


def build_hq(path: Path, args: argparse.Namespace, now_ms: int) -> Fixture:
    db, _ = open_hq(str(path))
    rng = random.Random(11)
    region_rows = [
        {"id": new_id(), "code": code, "name": name, "created_at": now_ms}
        for code, name, _, _ in REGIONS[: args.regions]
    ]
    centre = {row["id"]: REGIONS[i][2:] for i, row in enumerate(region_rows)}
    store_ids = sorted(new_id() for _ in range(args.stores))  # time-ordered, as HQ makes them
    store_rows: list[dict[str, Any]] = []
    for i, store_id in enumerate(store_ids):
        region_id = region_rows[i % len(region_rows)]["id"]
        lat, lon = centre[region_id]
        store_rows.append(
            {
                "id": store_id,
                "code": f"S{i + 1:04d}",
                "name": f"门店 {i + 1:04d}",
                "region_id": region_id,
                "address": f"某路 {i + 1} 号",
                "lat": round(lat + rng.uniform(-1.4, 1.4), 5),
                "lon": round(lon + rng.uniform(-1.4, 1.4), 5),
                "active": True,
                "created_at": now_ms,
                "updated_at": now_ms,
                "contact": "店长",
                "phone": f"138{i:08d}",
            }
        )
    node_rows = [
        {
            "id": new_id(),
            "store_id": store_id,
            "node_no": 1,
            "token_hash": hashlib.sha256(store_id.encode()).hexdigest(),
            "created_at": now_ms,
            "last_seen_at": now_ms - rng.randint(0, 3_600_000),
        }
        for store_id in store_ids
    ]
    product_codes = [f"JN{p:05d}" for p in range(1, args.products + 1)]
    product_rows = [
        {
            "code": code,
            "name_zh": f"商品 {code}",
            "name_en": f"Product {code}",
            "category": "apparel",
            "updated_at": now_ms,
        }
        for code in product_codes
    ]
    sku_rows = [
        {
            "code": f"{code}-{s + 1:02d}",
            "product_code": code,
            "colour": COLOURS[p % len(COLOURS)],
            "size": SIZES[s],
            "barcode": f"69{p:06d}{s:02d}",
            "sort": s,
        }
        for p, code in enumerate(product_codes)
        for s in range(args.sizes)
    ]
    with db.write() as conn:
        conn.execute(regions.insert(), region_rows)
        conn.execute(stores.insert(), store_rows)
        conn.execute(nodes.insert(), node_rows)
        conn.execute(products.insert(), product_rows)
        conn.execute(skus.insert(), sku_rows)
    db.close()
    with bulk_load(path) as conn, without_indexes(conn, "stock_levels"):
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO stock_levels (store_id, sku, product_code, on_hand, reserved, updated_at)"
            + _STOCK_SELECT
            + " FROM stores st CROSS JOIN skus sk ORDER BY st.rowid, sk.rowid",
            {"now": now_ms},
        )
        conn.execute("COMMIT")
    return Fixture(region_rows, store_rows, product_rows, sku_rows)


def reference_changes(fixture: Fixture, now_ms: int) -> list[Change]:
    """Regions, stores and products (with their SKUs) as HQ publishes them (``hq_server.reference``
    ``store_item``, ``hq_server.products`` ``product_item``)."""
    region_code = {r["id"]: r["code"] for r in fixture.regions}
    items: list[tuple[str, ReferenceItem]] = [
        ("region", ReferenceItem(id=r["id"], code=r["code"], name_zh=r["name"])) for r in fixture.regions
    ]
    for st in fixture.stores:
        attrs: dict[str, object] = {
            "region_id": st["region_id"],
            "region_code": region_code[st["region_id"]],
            **{key: st[key] for key in ("address", "lat", "lon", "contact", "phone", "active")},
        }
        items.append(("store", ReferenceItem(id=st["id"], code=st["code"], name_zh=st["name"], attrs=attrs)))
    skus_of: dict[str, list[dict[str, object]]] = {}
    for sku in fixture.skus:
        skus_of.setdefault(sku["product_code"], []).append(
            {"code": sku["code"], "colour": sku["colour"], "size": sku["size"], "barcode": sku["barcode"]}
        )
    for p in fixture.products:
        attrs = {"category": p["category"], "price_cents": 19900, "skus": skus_of[p["code"]]}
        items.append(
            (
                "product",
                ReferenceItem(id=p["code"], code=p["code"], name_zh=p["name_zh"], name_en=p["name_en"], attrs=attrs),
            )
        )
    hlc = Hlc(now_ms, 0, "hq").encode()
    return [
        Change(pos=pos, entity=entity, entity_id=item.id, hlc=hlc, data=msgspec.Raw(encode_entity(item)))
        for pos, (entity, item) in enumerate(items, start=1)
    ]


def build_store(store_dir: Path, hq_path: Path, fixture: Fixture, here: dict[str, Any], now_ms: int) -> int:
    """The replica of store ``here``: adopted with a made-up identity (as ``tests/store/helpers.py``
    ``fake_hello``), the reference data applied as a pulled page would be, then its region's
    stock levels (copied from HQ's rows, in HQ's order: store by store) and its own count.
    Returns how many ``stock_levels`` rows it holds."""
    node = Node(store_dir)
    node.adopt(
        Hello(
            protocol=1,
            supported=[1],
            node_id=new_id(),
            node_no=1,
            store_id=here["id"],
            store_code=here["code"],
            store_name=here["name"],
            region_id=here["region_id"],
            high_water=0,
            ticket_counter=0,
            server_hlc=Hlc(now_ms, 0, "hq").encode(),
        )
    )
    with node.replica.tx() as conn:
        apply.apply_changes(node, conn, reference_changes(fixture, now_ms))
    node.replica.set(online=0, last_success_at=now_ms - 600_000)  # offline for ten minutes
    gen = node.replica.get_int("gen")
    node.close()
    region = [st["id"] for st in fixture.stores if st["region_id"] == here["region_id"]]
    with bulk_load(store_dir / "replica.db") as conn, without_indexes(conn, "stock_levels"):
        conn.execute("ATTACH DATABASE ? AS hq", (str(hq_path),))
        conn.execute("CREATE TEMP TABLE bench_region (id TEXT PRIMARY KEY)")
        conn.executemany("INSERT INTO bench_region VALUES (?)", [(i,) for i in region])
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO stock_levels (store_id, sku, product_code, on_hand, reserved, as_of, gen)"
            " SELECT store_id, sku, product_code, on_hand, reserved, updated_at, ? FROM hq.stock_levels"
            " WHERE store_id IN (SELECT id FROM bench_region) ORDER BY store_id, sku",
            (gen,),
        )
        conn.execute(
            "INSERT INTO stock_on_hand (sku, qty) SELECT sku, on_hand FROM stock_levels WHERE store_id = ?",
            (here["id"],),
        )
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE hq")
    return len(region) * len(fixture.skus)


def percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] * 1000, 2)

    return {"p50_ms": rank(0.50), "p95_ms": rank(0.95), "p99_ms": rank(0.99), "max_ms": round(ordered[-1] * 1000, 2)}


def timed(run: Callable[[str], object], codes: list[str]) -> list[float]:
    for code in codes[:WARM_UP]:
        run(code)
    seconds: list[float] = []
    for code in codes[WARM_UP:]:
        t = time.perf_counter()
        run(code)
        seconds.append(time.perf_counter() - t)
    return seconds


def time_hq(path: Path, near_store: str, codes: list[str], expect_stores: int) -> list[float]:
    db, _ = open_hq(str(path))
    try:

        def run(code: str) -> object:
            with db.read() as conn:
                found = stock_lookup.lookup(conn, code, near_store=near_store, now_ms=time.time_ns() // 1_000_000)
            assert found is not None and 0 < len(found.stores) <= expect_stores, code
            return found

        return timed(run, codes)
    finally:
        db.close()


def time_store(store_dir: Path, codes: list[str], expect_stores: int) -> list[float]:
    node = Node(store_dir)
    try:

        def run(code: str) -> object:
            found = stock_views.lookup_snapshot(node, code, "zh")
            assert 0 < len(found["stores"]) <= expect_stores, code
            return found

        return timed(run, codes)
    finally:
        node.close()


async def time_store_http(store_dir: Path, codes: list[str]) -> list[float]:
    """``GET /api/v1/stock/lookup`` with HQ unreachable (nothing listens on its port)."""
    app = create_app(store_dir, f"http://127.0.0.1:{free_port()}", "bench-token", start_sync=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://store") as client,
    ):

        async def get(code: str) -> None:
            response = await client.get("/api/v1/stock/lookup", params={"product": code})
            assert response.status_code == 200 and response.json()["source"] == "snapshot", response.text[:300]

        for code in codes[:WARM_UP]:
            await get(code)
        seconds: list[float] = []
        for code in codes[WARM_UP:]:
            t = time.perf_counter()
            await get(code)
            seconds.append(time.perf_counter() - t)
        return seconds


def run(args: argparse.Namespace) -> dict[str, object]:
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="storedesk-bench-"))
    if (work / "hq.db").exists() or (work / "store").exists():
        raise SystemExit(f"{work} already holds a build; give --dir a new or empty directory")
    work.mkdir(parents=True, exist_ok=True)
    now_ms = time.time_ns() // 1_000_000
    try:
        t0 = time.perf_counter()
        fixture = build_hq(work / "hq.db", args, now_ms)
        t1 = time.perf_counter()
        here = fixture.stores[0]
        region_stores = sum(1 for st in fixture.stores if st["region_id"] == here["region_id"])
        store_rows = build_store(work / "store", work / "hq.db", fixture, here, now_ms)
        t2 = time.perf_counter()
        rng = random.Random(7)
        codes = [rng.choice(fixture.products)["code"] for _ in range(args.lookups + WARM_UP)]
        hq_s = time_hq(work / "hq.db", here["id"], codes, args.stores)
        store_s = time_store(work / "store", codes, region_stores)
        http_s = asyncio.run(time_store_http(work / "store", codes))
        result: dict[str, object] = {
            "stores": args.stores,
            "regions": args.regions,
            "products": args.products,
            "skus": len(fixture.skus),
            "hq_rows": fixture.hq_rows,
            "store_rows": store_rows,
            "store_region_stores": region_stores,
            "hq_build_s": round(t1 - t0, 1),
            "store_build_s": round(t2 - t1, 1),
            "hq_db_gb": round((work / "hq.db").stat().st_size / 1e9, 2),
            "store_db_gb": round((work / "store" / "replica.db").stat().st_size / 1e9, 2),
            "lookups": args.lookups,
            "hq": percentiles(hq_s),
            "store": percentiles(store_s),
            "store_http": percentiles(http_s),
        }
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    result["cpu_reference_s"] = cpu_reference_s()
    result["machine"] = machine()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", type=int, default=1000, help="stores at HQ (default 1000)")
    parser.add_argument("--products", type=int, default=5000, help="products (default 5000)")
    parser.add_argument("--sizes", type=int, default=6, help=f"SKUs per product (default 6, at most {len(SIZES)})")
    parser.add_argument("--regions", type=int, default=10, help=f"regions (default 10, at most {len(REGIONS)})")
    parser.add_argument("--lookups", type=int, default=1000, help="timed lookups at each place (default 1000)")
    parser.add_argument("--dir", help="build the databases here and keep them (default: a temp dir, removed)")
    args = parser.parse_args()
    if not 1 <= args.sizes <= len(SIZES) or not 1 <= args.regions <= len(REGIONS):
        parser.error("--sizes or --regions out of range")
    result = run(args)
    for key, value in result.items():
        print(f"{key}: {value}")
    hq, store = result["hq"], result["store"]
    assert isinstance(hq, dict) and isinstance(store, dict)
    print(
        json.dumps(
            {
                "hq_p99_ms": hq["p99_ms"],
                "store_p99_ms": store["p99_ms"],
                "stores": result["stores"],
                "skus": result["skus"],
            }
        )
    )


if __name__ == "__main__":
    main()
