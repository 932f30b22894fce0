"""Read models of orders for the clerk UI (JSON): HQ's live lookup, or the replica's orders.

The replica holds this store's own orders (HQ publishes a store's sales to it) and the orders it
looked up through HQ lately (:func:`store_node.apply.keep_looked_up_orders`), so a lookup still
answers offline from those (:func:`lookup_local`). An order shows where it was sold, when it was
paid, its total and its lines with what was already returned. Amounts are yuan with two decimals
(``"299.00"``), times ISO 8601 UTC. A list shows the customer's phone masked (``138****8000``);
one order shows it whole.

A lookup answers ``{"source": "hq" | "local", "as_of", "orders": [...]}``, newest paid first:
``as_of`` is HQ's time for a live answer, the last successful sync for a local one (whose orders
each say when this store last received them, ``seen_at``).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from store_node.node import Node
from store_node.replica import in_chunks
from store_node.return_records import pending_units
from store_node.views import iso
from sync_protocol.orders import CHANNEL_LABELS, FoundOrder, OrderLookup, OrderState, yuan

#: Most orders one lookup answers with (HQ's live lookup answers at most as many).
MAX_ORDERS = 50

_order_decoder = msgspec.json.Decoder(OrderState)


def mask_phone(phone: str) -> str:
    """The phone with its middle hidden: ``13800138000`` -> ``138****8000``; a short number keeps
    less of each end (``12345`` -> ``1***5``)."""
    n = len(phone)
    head, tail = (3, 4) if n >= 11 else (n // 4, max(1, n // 3) if n > 1 else 0)
    return phone[:head] + "*" * (n - head - tail) + phone[n - tail :]


def _channel_label(channel: str, lang: str) -> str:
    labels = CHANNEL_LABELS.get(channel)
    if labels is None:
        return channel
    return labels[1] if lang == "en" else labels[0]


def _english_names(node: Node, orders: list[FoundOrder], lang: str) -> dict[str, str]:
    """Product code -> English name from the synced catalogue (order lines carry the Chinese one)."""
    if lang != "en":
        return {}
    codes = sorted({line.product_code for f in orders for line in f.order.lines if line.product_code})
    names: dict[str, str] = {}
    for chunk, marks in in_chunks(codes):
        for r in node.replica.query(
            f"SELECT code, name_en FROM reference WHERE entity = 'product' AND code IN ({marks})", tuple(chunk)
        ):
            if r["name_en"]:
                names[r["code"]] = r["name_en"]
    return names


def order_json(
    found: FoundOrder,
    own_store_id: str,
    lang: str = "zh",
    *,
    detail: bool = False,
    names_en: dict[str, str] | None = None,
    pending: dict[int, int] | None = None,
) -> dict[str, Any]:
    """An order for the clerk; ``detail`` (one order) adds the customer's whole phone number.
    ``pending`` (line_no -> units) are in this store's returns HQ has not decided yet: not
    returnable again, though ``returned_qty`` is HQ's figure."""
    o = found.order
    names_en = names_en or {}
    pending = pending or {}
    lines = [
        {
            "line_no": line.line_no,
            "sku": line.sku,
            "product_code": line.product_code,
            "name": names_en.get(line.product_code, line.name),
            "colour": line.colour,
            "size": line.size,
            "qty": line.qty,
            "unit_price": yuan(line.unit_price_cents),
            "amount": yuan(line.amount_cents),
            "returned_qty": line.returned_qty,
            "pending_return_qty": pending.get(line.line_no, 0),
            "returnable_qty": max(0, line.qty - line.returned_qty - pending.get(line.line_no, 0)),
        }
        for line in o.lines
    ]
    body: dict[str, Any] = {
        "id": o.id,
        "number": o.number,
        "channel": o.channel,
        "channel_label": _channel_label(o.channel, lang),
        "store": {"code": found.store_code, "name": found.store_name} if o.store_id else None,
        "own_store": bool(o.store_id) and o.store_id == own_store_id,
        "paid_at": iso(o.paid_at),
        "customer_phone_masked": mask_phone(o.customer_phone),
        "customer_name": o.customer_name,
        "total": yuan(o.total_cents),
        "returned_qty": sum(x["returned_qty"] for x in lines),
        "returnable_qty": sum(x["returnable_qty"] for x in lines),
        "lines": lines,
    }
    if detail:
        body["customer_phone"] = o.customer_phone
    return body


def _found(row: sqlite3.Row) -> FoundOrder:
    return FoundOrder(
        order=_order_decoder.decode(row["data"]), store_code=row["store_code"], store_name=row["store_name"]
    )


def _local_rows(node: Node, *, phone: str | None, number: str | None, limit: int) -> list[sqlite3.Row]:
    if (phone is None) == (number is None):
        raise ValueError("a lookup needs exactly one of phone and number")
    column, key = ("customer_phone", phone) if phone is not None else ("number", number)
    return node.replica.query(
        f"SELECT * FROM orders WHERE {column} = ?"
        " ORDER BY paid_at DESC, json_extract(data, '$.created_at') DESC, id DESC LIMIT ?",
        (key, limit),
    )


def lookup_live(node: Node, answer: OrderLookup, lang: str = "zh") -> dict[str, Any]:
    """HQ's live lookup as JSON (phones masked)."""
    own = node.replica.get("store_id")
    names = _english_names(node, answer.orders, lang)
    shown = answer.orders[:MAX_ORDERS]
    pending = pending_units(node, [f.order.id for f in shown])
    return {
        "source": "hq",
        "as_of": iso(answer.server_time),
        "orders": [order_json(f, own, lang, names_en=names, pending=pending.get(f.order.id)) for f in shown],
    }


def lookup_local(
    node: Node, *, phone: str | None = None, number: str | None = None, lang: str = "zh"
) -> dict[str, Any]:
    """The replica's orders with the customer's ``phone`` (normalized) or ``number``, newest paid
    first: this store's own and those looked up lately."""
    rows = _local_rows(node, phone=phone, number=number, limit=MAX_ORDERS)
    found = [_found(r) for r in rows]
    own = node.replica.get("store_id")
    names = _english_names(node, found, lang)
    pending = pending_units(node, [f.order.id for f in found])
    orders = []
    for row, item in zip(rows, found, strict=True):
        body = order_json(item, own, lang, names_en=names, pending=pending.get(item.order.id))
        body["seen_at"] = iso(row["seen_at"])
        orders.append(body)
    return {"source": "local", "as_of": iso(node.replica.get_int("last_success_at") or None), "orders": orders}


def _one_order(node: Node, found: FoundOrder, lang: str) -> dict[str, Any]:
    """One order with the customer's whole phone number."""
    return order_json(
        found,
        node.replica.get("store_id"),
        lang,
        detail=True,
        names_en=_english_names(node, [found], lang),
        pending=pending_units(node, [found.order.id]).get(found.order.id),
    )


def live_order(node: Node, found: FoundOrder, server_time: int, lang: str = "zh") -> dict[str, Any]:
    """One order of HQ's live answer, with the customer's whole phone number."""
    body = _one_order(node, found, lang)
    return {**body, "source": "hq", "as_of": iso(server_time)}


def local_order(node: Node, number: str, lang: str = "zh") -> dict[str, Any] | None:
    """One order of the replica by number, with the customer's whole phone number; None if absent."""
    rows = _local_rows(node, phone=None, number=number, limit=1)
    if not rows:
        return None
    body = _one_order(node, _found(rows[0]), lang)
    body["seen_at"] = iso(rows[0]["seen_at"])
    return {**body, "source": "local", "as_of": iso(node.replica.get_int("last_success_at") or None)}
