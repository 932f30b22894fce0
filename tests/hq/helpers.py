"""Test helpers: an in-process HQ and store nodes that speak the sync protocol to it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import msgspec
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.testclient import TestClient

from hq_server.app import context
from hq_server.context import HqContext
from hq_server.db import Database
from hq_server.enrollment import Enrollment, enroll_store
from hq_server.products import import_products, parse_csv
from hq_server.schema import stock_levels
from sync_protocol.entities import decode_entity
from sync_protocol.hlc import HybridClock, system_wall_ms
from sync_protocol.messages import (
    Change,
    Hello,
    PullResponse,
    PushRequest,
    PushResponse,
    hello_decoder,
    msgpack_encoder,
    pull_response_decoder,
    push_response_decoder,
)
from sync_protocol.ops import (
    ExchangeInput,
    Op,
    Payload,
    ReturnCreate,
    ReturnLineInput,
    StockMove,
    TicketComment,
    TicketCreate,
    TicketSet,
    TicketStatus,
    TransferRequest,
    TransferStep,
    encode_payload,
    kind_of,
    new_id,
)
from sync_protocol.returns import return_number
from sync_protocol.stock import transfer_number

T = TypeVar("T")

ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DAY_MS = 24 * 3600 * 1000
YEAR_MS = 365 * DAY_MS


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class WireNode:
    """A store node: its own clock and seq counter, talking msgpack to HQ through a TestClient."""

    def __init__(self, client: TestClient, enrollment: Enrollment, wall_ms: Callable[[], int] | None = None) -> None:
        self.client = client
        self.enrollment = enrollment
        self.node_id = enrollment.node_id
        self.store_id = enrollment.store_id
        self.clock = HybridClock(enrollment.node_id, wall_ms=wall_ms or system_wall_ms)
        self.seq = 0
        self.counter = 0
        self.headers = {
            "Authorization": f"Bearer {enrollment.token}",
            "X-StoreDesk-Protocol": "1",
            "Content-Type": "application/msgpack",
        }

    def op(
        self,
        payload: Payload,
        *,
        seq: int | None = None,
        store_id: str | None = None,
        hlc: str | None = None,
        kind: str | None = None,
    ) -> Op:
        if seq is None:
            self.seq += 1
            seq = self.seq
        return Op(
            op_id=new_id(),
            node_id=self.node_id,
            store_id=store_id or self.store_id,
            seq=seq,
            hlc=hlc or self.clock.now().encode(),
            kind=kind or kind_of(payload),
            entity_id=payload.ticket_id,
            payload=msgspec.Raw(encode_payload(payload)),
        )

    def create(self, title: str = "货架松动", **fields: Any) -> TicketCreate:
        self.counter += 1
        values: dict[str, Any] = {"type": "display", "created_at": now_ms(), **fields}
        return TicketCreate(
            ticket_id=new_id(),
            number=f"{self.enrollment.store_code}-{self.counter:06d}",
            title=title,
            counter=self.counter,
            **values,
        )

    @staticmethod
    def set(ticket_id: str, **changes: Any) -> TicketSet:
        return TicketSet(ticket_id=ticket_id, changes=changes)

    @staticmethod
    def comment(ticket_id: str, body: str = "补充说明") -> TicketComment:
        return TicketComment(ticket_id=ticket_id, comment_id=new_id(), body=body, created_at=now_ms())

    @staticmethod
    def status(ticket_id: str, status: str, note: str = "", at: int | None = None) -> TicketStatus:
        return TicketStatus(ticket_id=ticket_id, event_id=new_id(), status=status, note=note, at=at or now_ms())

    def body(self, ops: list[Op]) -> bytes:
        return msgpack_encoder.encode(PushRequest(protocol=1, node_id=self.node_id, ops=ops))

    def push_raw(self, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.client.post("/sync/v1/push", content=content, headers={**self.headers, **(headers or {})})

    def push(self, ops: list[Op]) -> PushResponse:
        response = self.push_raw(self.body(ops))
        assert response.status_code == 200, response.text
        return push_response_decoder.decode(response.content)

    def hello(self) -> Hello:
        response = self.client.get("/sync/v1/hello", headers=self.headers)
        assert response.status_code == 200, response.text
        return hello_decoder.decode(response.content)

    def pull(self, cursor: str = "0", limit: int = 1000) -> PullResponse:
        response = self.client.get("/sync/v1/pull", params={"cursor": cursor, "limit": limit}, headers=self.headers)
        assert response.status_code == 200, response.text
        return pull_response_decoder.decode(response.content)

    def pull_all(self, cursor: str = "0", limit: int = 1000) -> tuple[list[Change], str]:
        """Every change after ``cursor``, page by page; and the final cursor."""
        changes: list[Change] = []
        while True:
            page = self.pull(cursor, limit)
            changes += page.changes
            cursor = page.cursor
            if not page.has_more:
                return changes, cursor

    # Stock and transfers: payload builders and ops whose entity id follows their kind.

    #: This node's transfer counter (the numbers of its transfer requests).
    transfer_counter = 0
    return_counter = 0

    def stock_op(self, payload: Payload, *, seq: int | None = None, hlc: str | None = None) -> Op:
        """An op of any payload, stock and transfer ones included (``entity_id``: see
        :func:`entity_id_of`)."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        return Op(
            op_id=new_id(),
            node_id=self.node_id,
            store_id=self.store_id,
            seq=seq,
            hlc=hlc or self.clock.now().encode(),
            kind=kind_of(payload),
            entity_id=entity_id_of(payload),
            payload=msgspec.Raw(encode_payload(payload)),
        )

    def send(self, *payloads: Payload) -> PushResponse:
        """Push ``payloads`` as one batch of new ops."""
        return self.push([self.stock_op(p) for p in payloads])

    @staticmethod
    def move(
        sku: str,
        qty: int,
        reason: str = "receipt",
        *,
        move_id: str | None = None,
        at: int | None = None,
        note: str = "",
    ) -> StockMove:
        """A ``stock.move``: ``qty`` is the signed change (a sale of one is -1)."""
        return StockMove(move_id=move_id or new_id(), sku=sku, qty=qty, reason=reason, at=at or now_ms(), note=note)

    def take_back(
        self,
        order_id: str,
        lines: list[tuple[int, int]],
        *,
        kind: str = "refund",
        reason: str = "size",
        exchange: list[tuple[str, int, int]] | None = None,
        unworn: bool = True,
        photos: list[str] | None = None,
        method: str = "original",
        at: int | None = None,
        return_id: str | None = None,
    ) -> ReturnCreate:
        """A ``return.create`` of this store: ``lines`` are (line_no, qty), ``exchange`` items
        (sku, qty, unit price in cents); each with a new movement id."""
        self.return_counter += 1
        return ReturnCreate(
            return_id=return_id or new_id(),
            number=return_number(self.enrollment.store_code, self.enrollment.node_no, self.return_counter),
            order_id=order_id,
            return_kind=kind,
            reason=reason,
            lines=[ReturnLineInput(line_no=n, qty=q, unworn=unworn, move_id=new_id()) for n, q in lines],
            exchange=[
                ExchangeInput(sku=sku, qty=q, unit_price_cents=price, move_id=new_id())
                for sku, q, price in exchange or []
            ],
            method=method,
            photos=photos if photos is not None else (["photo://1.jpg"] if reason == "quality" else []),
            at=at or now_ms(),
            counter=self.return_counter,
        )

    def request_transfer(
        self, sku: str, qty: int, source_store_id: str = "", *, at: int | None = None, note: str = "", actor: str = ""
    ) -> TransferRequest:
        """A ``transfer.request`` of this store (``source_store_id`` empty: HQ picks the source)."""
        self.transfer_counter += 1
        return TransferRequest(
            transfer_id=new_id(),
            number=transfer_number(self.enrollment.store_code, self.enrollment.node_no, self.transfer_counter),
            sku=sku,
            qty=qty,
            source_store_id=source_store_id,
            note=note,
            actor=actor,
            at=at or now_ms(),
            counter=self.transfer_counter,
        )

    @staticmethod
    def step(
        transfer_id: str,
        action: str,
        *,
        reason: str = "",
        actor: str = "",
        at: int | None = None,
        move_id: str | None = None,
        event_id: str | None = None,
    ) -> TransferStep:
        """A ``transfer.step``; a ship or receive step carries a new movement id unless given one."""
        if move_id is None:
            move_id = new_id() if action in ("ship", "receive") else ""
        return TransferStep(
            transfer_id=transfer_id,
            event_id=event_id or new_id(),
            action=action,
            reason=reason,
            actor=actor,
            move_id=move_id,
            at=at or now_ms(),
        )


def tickets_in(changes: list[Change]) -> dict[str, Any]:
    """The latest ticket snapshot per id among pulled changes."""
    found: dict[str, Any] = {}
    for change in changes:
        if change.entity == "ticket":
            found[change.entity_id] = decode_entity("ticket", change.data)
    return found


class Hq:
    """An in-process HQ: the app, a TestClient on it, and helpers."""

    def __init__(self, app: Starlette, client: TestClient) -> None:
        self.app = app
        self.client = client

    @property
    def ctx(self) -> HqContext:
        return context(self.app)

    def enroll(
        self, code: str = "SH001", *, region: str | None = "east", wall_ms: Callable[[], int] | None = None
    ) -> WireNode:
        enrollment = enroll_store(self.ctx.db, self.ctx.clock, code, name=f"{code} 门店", region=region)
        return WireNode(self.client, enrollment, wall_ms)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**ADMIN, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def ticket(self, key: str) -> dict[str, Any]:
        response = self.api("GET", f"/api/v1/tickets/{key}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def race_as_hq_processes(db_url: str, work: Callable[[Database], T], count: int = 2) -> list[T]:
    """Run ``work`` at the same moment in ``count`` threads, each with its own :class:`Database`
    on ``db_url`` (as that many HQ processes would open it); their results, in finishing order."""
    dbs = [Database(db_url) for _ in range(count)]
    results: list[T] = []
    start = threading.Barrier(count)

    def run(db: Database) -> None:
        start.wait()
        results.append(work(db))

    try:
        threads = [threading.Thread(target=run, args=(db,)) for db in dbs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for db in dbs:
            db.close()
    return results


def entity_id_of(payload: Payload) -> str:
    """The ``entity_id`` an op of ``payload`` carries (as the store node sets it: the SKU of a
    ``stock.move``, the transfer id of a transfer op, the ticket id of a ticket op)."""
    if isinstance(payload, StockMove):
        return payload.sku
    if isinstance(payload, (TransferRequest, TransferStep)):
        return payload.transfer_id
    if isinstance(payload, ReturnCreate):
        return payload.return_id
    return payload.ticket_id


def entities_in(changes: list[Change], entity: str) -> dict[str, Any]:
    """The latest snapshot per id of ``entity`` among pulled changes."""
    found: dict[str, Any] = {}
    for change in changes:
        if change.entity == entity:
            found[change.entity_id] = decode_entity(entity, change.data)
    return found


def import_catalogue(hq: Hq, csv_text: str) -> None:
    """Import products (CSV: product_code,name_zh,colour,size[,...]) into HQ."""
    import_products(hq.ctx.db, hq.ctx.clock, parse_csv(csv_text))


def stock_level(hq: Hq, store_id: str, sku: str) -> tuple[int, int]:
    """(on hand, reserved) of ``sku`` at ``store_id`` as HQ holds it; (0, 0) when it has no row."""
    c = stock_levels.c
    with hq.ctx.db.read() as conn:
        row = conn.execute(sa.select(c.on_hand, c.reserved).where(c.store_id == store_id, c.sku == sku)).first()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def put_store(hq: Hq, code: str, **fields: Any) -> dict[str, Any]:
    """Set a store's address, coordinates and contact (``PUT /api/v1/stores/{code}``)."""
    response = hq.api("PUT", f"/api/v1/stores/{code}", json=fields)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def put_thresholds(hq: Hq, items: list[dict[str, Any]]) -> httpx.Response:
    """``PUT /api/v1/stock/thresholds``."""
    return hq.api("PUT", "/api/v1/stock/thresholds", json=items)
