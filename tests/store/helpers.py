"""Helpers for store-node tests: an identity without HQ, the line to an in-process HQ, polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from starlette.types import ASGIApp

from hq_server.enrollment import Enrollment
from store_node import outbox
from store_node.node import Node
from store_node.replica import Replica
from store_node.sync_client import SyncClient
from sync_protocol.hlc import Hlc, system_wall_ms
from sync_protocol.messages import Hello
from tests.hq.helpers import Hq, WireNode

HQ_URL = "http://hq.test"
T = TypeVar("T")


def fake_hello(
    *,
    node_id: str = "node-1",
    node_no: int = 1,
    store_code: str = "SH012",
    high_water: int = 0,
    ticket_counter: int = 0,
) -> Hello:
    """What HQ's hello would say to a freshly enrolled node (for tests that need no HQ)."""
    return Hello(
        protocol=1,
        supported=[1],
        node_id=node_id,
        node_no=node_no,
        store_id=f"store-{store_code}",
        store_code=store_code,
        store_name=f"{store_code} 门店",
        region_id="region-east",
        high_water=high_water,
        ticket_counter=ticket_counter,
        server_hlc=Hlc(system_wall_ms(), 0, "hq").encode(),
    )


def enrolled_node(data_dir: Path, *, wall_ms: Callable[[], int] | None = None, **hello: Any) -> Node:
    node = Node(data_dir, wall_ms=wall_ms)
    node.adopt(fake_hello(**hello))
    return node


def new_ticket(node: Node, title: str = "冷柜不制冷", **fields: Any) -> str:
    from store_node.ticket_actions import create_ticket

    return create_ticket(node, {"type": "equipment", "title": title, **fields})


def scalar(replica: Replica, sql: str, params: tuple[Any, ...] = ()) -> Any:
    """The first column of the first row of ``sql``."""
    row = replica.one(sql, params)
    assert row is not None, sql
    return row[0]


def outbox_rows(node: Node) -> list[dict[str, Any]]:
    return [dict(row) for row in node.replica.query("SELECT * FROM outbox ORDER BY seq")]


class Line(httpx.AsyncBaseTransport):
    """The store's line to HQ: the real in-process HQ app behind a switch that can cut it.

    Records the path of every request the store sends.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.hq = httpx.ASGITransport(app=app)
        self.up = True
        #: Paths answered 502 as by a proxy that cuts them (``/sync/v1/wait``, say).
        self.broken: set[str] = set()
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if not self.up:
            raise httpx.ConnectError("the store's line is down", request=request)
        if request.url.path in self.broken:
            return httpx.Response(502, text="<html>Bad Gateway</html>", request=request)
        return await self.hq.handle_async_request(request)


class Store:
    """A store node enrolled at an in-process HQ, syncing over a :class:`Line`."""

    def __init__(
        self, hq: Hq, data_dir: Path, enrollment: Enrollment, *, wall_ms: Callable[[], int] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.enrollment = enrollment
        self.token = enrollment.token
        self.connect(hq)
        self.node = Node(data_dir, wall_ms=wall_ms)

    def connect(self, hq: Hq) -> None:
        """Talk to ``hq`` from now on (another HQ process on the same database, say)."""
        self.hq = hq
        self.line = Line(hq.app)

    def client(self, token: str | None = None) -> SyncClient:
        return SyncClient(self.node, HQ_URL, token or self.token, transport=self.line)

    def call(self, action: Callable[[SyncClient], Awaitable[T]]) -> T:
        """Run ``action`` with a fresh sync client on a fresh event loop."""

        async def go() -> T:
            client = self.client()
            try:
                return await action(client)
            finally:
                await client.close()

        return asyncio.run(go())

    def sync(self) -> None:
        """One sync round (hello if needed, push everything, pull until up to date)."""
        self.call(lambda client: client.sync_once())

    def enroll_only(self) -> None:
        """Learn the identity from HQ's hello without pushing or pulling anything."""
        self.node.adopt(self.call(lambda client: client.hello()))

    def seen_by_hq(self) -> Hello:
        """HQ's view of this node (its high-water mark and ticket counter), asked over the wire."""
        return WireNode(self.hq.client, self.enrollment).hello()

    def pending(self) -> int:
        return outbox.count(self.node)


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


# -- stock and transfers ---------------------------------------------------------------------------

#: Two products; ``JN-2041`` in three sizes/colours, each SKU with a barcode.
STOCK_CSV = """product_code,name_zh,name_en,category,price,colour,size,sku_code,barcode
JN-2041,修身牛仔裤,Slim jeans,jeans,299.00,蓝,M,JN-2041-BL-M,6901234567890
JN-2041,修身牛仔裤,Slim jeans,jeans,299.00,蓝,L,JN-2041-BL-L,6901234567891
JN-2041,修身牛仔裤,Slim jeans,jeans,299.00,黑,M,JN-2041-BK-M,6901234567892
TS-1001,纯棉T恤,Cotton tee,tops,59.00,白,M,TS-1001-WH-M,6901234560001
"""
SKU_M, SKU_L, SKU_BLACK = "JN-2041-BL-M", "JN-2041-BL-L", "JN-2041-BK-M"
#: Shanghai People's Square, Jing'an (about 3 km away) and Pudong airport (about 40 km away).
PLACES = {"SH001": (31.2304, 121.4737), "SH002": (31.2286, 121.4450), "SH003": (31.1443, 121.8083)}


def import_catalogue(hq: Hq, text: str = STOCK_CSV) -> None:
    from hq_server.products import import_products, parse_csv

    import_products(hq.ctx.db, hq.ctx.clock, parse_csv(text))


def place_store(hq: Hq, code: str) -> None:
    """Give a store its coordinates at HQ (from :data:`PLACES`)."""
    lat, lon = PLACES[code]
    response = hq.api("PUT", f"/api/v1/stores/{code}", json={"lat": lat, "lon": lon})
    assert response.status_code == 200, response.text


def sync_recorded(store: Store) -> None:
    """One sync round, recorded as a success the way the sync loop records it."""

    async def go(client: SyncClient) -> None:
        await client.sync_once()
        client._record_success()

    store.call(go)


def hq_levels(hq: Hq, product: str = "JN-2041") -> dict[tuple[str, str], tuple[int, int]]:
    """HQ's (on hand, reserved) per (store code, SKU), asked over the staff API."""
    response = hq.api("GET", "/api/v1/stock", params={"product": product})
    assert response.status_code == 200, response.text
    return {
        (store["code"], sku["sku"]): (sku["on_hand"], sku["reserved"])
        for store in response.json()["stores"]
        for sku in store["skus"]
    }


def on_hand_matches_moves(node: Node) -> bool:
    """``stock_on_hand`` equals the sum of the movements, SKU by SKU (zero rows aside)."""
    kept = {r[0]: r[1] for r in node.replica.query("SELECT sku, qty FROM stock_on_hand WHERE qty != 0")}
    summed = {
        r[0]: r[1]
        for r in node.replica.query("SELECT sku, sum(qty) FROM stock_moves GROUP BY sku HAVING sum(qty) != 0")
    }
    return kept == summed


def error_of(response: Any, status: int) -> dict[str, Any]:
    """The error envelope of a local API answer that must have ``status``, with a code and a text."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] and error["message"]
    return error
