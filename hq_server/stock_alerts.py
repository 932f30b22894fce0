"""Tickets HQ opens by itself when a store's stock needs attention.

- **Replenishment 补货**: a write that lowers a store's on-hand quantity of a SKU below its
  threshold (the store's own, else the product's ``min_stock``) opens one ``replenishment``
  ticket for that store and SKU, unless one is still open. Fifty sales in one push open one.
- **Negative stock 库存异常**: a write that leaves a store's on-hand quantity below zero (it sold
  offline what a transfer had already shipped) opens one ``stock_exception`` ticket, unless one
  is still open.

Both go through routing like any ticket; their types default to the warehouse and operations
departments. ``stock_alerts`` remembers the ticket of each (store, SKU, kind): a new one is
opened only once that ticket is resolved or closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import hq_tickets
from hq_server.schema import products, skus, stock_alerts, stock_thresholds, tickets
from hq_server.stock_rules import StockBatch
from hq_server.ticket_rules import TicketBatch
from sync_protocol.hlc import HybridClock
from sync_protocol.tickets import OPEN_STATUSES

REPLENISHMENT, NEGATIVE = "replenishment", "negative"
_TICKET_TYPES = {REPLENISHMENT: "replenishment", NEGATIVE: "stock_exception"}


@dataclass(frozen=True)
class Alert:
    store_id: str
    sku: str
    kind: str
    ticket_id: str
    opened_at: int


def thresholds(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The replenishment threshold of each (store, SKU) that has one."""
    if not keys:
        return {}
    found: dict[tuple[str, str], int] = {}
    sku_codes = sorted({sku for _, sku in keys})
    query = (
        sa.select(skus.c.code, products.c.min_stock)
        .select_from(skus.join(products, skus.c.product_code == products.c.code))
        .where(skus.c.code.in_(sku_codes), products.c.min_stock.is_not(None))
    )
    defaults = {str(code): int(value) for code, value in conn.execute(query)}
    t = stock_thresholds.c
    own = {
        (str(store), str(sku)): int(value)
        for store, sku, value in conn.execute(
            sa.select(t.store_id, t.sku, t.threshold).where(
                t.sku.in_(sku_codes), t.store_id.in_(sorted({s for s, _ in keys}))
            )
        )
    }
    for key in keys:
        value = own.get(key, defaults.get(key[1]))
        if value is not None:
            found[key] = value
    return found


def _open(conn: Connection, keys: list[tuple[str, str]]) -> set[tuple[str, str, str]]:
    """(store, sku, kind) whose alert ticket is still open."""
    if not keys:
        return set()
    a = stock_alerts.c
    query = (
        sa.select(a.store_id, a.sku, a.kind)
        .select_from(stock_alerts.join(tickets, tickets.c.id == a.ticket_id))
        .where(
            a.sku.in_(sorted({sku for _, sku in keys})),
            a.store_id.in_(sorted({store for store, _ in keys})),
            tickets.c.status.in_(sorted(OPEN_STATUSES)),
        )
    )
    wanted = set(keys)
    return {(str(store), str(sku), str(kind)) for store, sku, kind in conn.execute(query) if (store, sku) in wanted}


def open_tickets(
    conn: Connection, clock: HybridClock, batch: TicketBatch, stock: StockBatch, now_ms: int
) -> list[Alert]:
    """Add the tickets this write calls for to ``batch``; returns the alerts to :func:`record`
    once the tickets are flushed."""
    negative = [key for key in sorted(stock.moved) if stock.levels[key].on_hand < 0]
    lowered = sorted(stock.lowered)
    limits = thresholds(conn, lowered)
    low = [key for key in lowered if key in limits and stock.levels[key].on_hand < limits[key]]
    if not negative and not low:
        return []
    already = _open(conn, [*negative, *low])
    alerts: list[Alert] = []
    for kind, keys in ((NEGATIVE, negative), (REPLENISHMENT, low)):
        for store_id, sku in keys:
            if (store_id, sku, kind) in already:
                continue
            ticket_id = _ticket(conn, clock, batch, stock, store_id, sku, kind, limits.get((store_id, sku)), now_ms)
            if ticket_id is not None:
                alerts.append(Alert(store_id, sku, kind, ticket_id, now_ms))
    return alerts


def _ticket(
    conn: Connection,
    clock: HybridClock,
    batch: TicketBatch,
    stock: StockBatch,
    store_id: str,
    sku: str,
    kind: str,
    threshold: int | None,
    now_ms: int,
) -> str | None:
    level = stock.levels[(store_id, sku)]
    info = stock.skus.get(sku)
    store = stock.stores.get(store_id)
    store_name = store.name if store is not None else store_id
    item = f"{info.name} {info.colour}/{info.size}" if info is not None else sku
    extra: dict[str, Any] = {"sku": sku, "on_hand": level.on_hand, "reserved": level.reserved}
    if kind == REPLENISHMENT:
        title = f"补货：{item}（{store_name}）"
        description = f"{store_name} 的 {sku} 现有库存 {level.on_hand} 件，低于补货阈值 {threshold} 件。"
        extra["threshold"] = threshold
    else:
        title = f"库存异常：{item} 库存为负（{store_name}）"
        description = (
            f"{store_name} 的 {sku} 库存为 {level.on_hand} 件：门店离线期间卖出的数量超过了实际库存"
            "（可能已被调货发出）。请核对实物并做盘点调整。"
        )
    ticket = hq_tickets.open_ticket(
        conn,
        clock,
        batch,
        store_id=store_id,
        type=_TICKET_TYPES[kind],
        title=title,
        description=description,
        now_ms=now_ms,
        product_code=info.product_code if info is not None else "",
        extra=extra,
    )
    return None if ticket is None else ticket.id


def record(conn: Connection, alerts: list[Alert]) -> None:
    """Remember each alert's ticket (after the tickets are written), replacing a closed one's."""
    for alert in alerts:
        a = stock_alerts.c
        conn.execute(
            stock_alerts.delete().where(a.store_id == alert.store_id, a.sku == alert.sku, a.kind == alert.kind)
        )
        conn.execute(
            stock_alerts.insert().values(
                store_id=alert.store_id,
                sku=alert.sku,
                kind=alert.kind,
                ticket_id=alert.ticket_id,
                opened_at=alert.opened_at,
            )
        )
