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
from store_node.views import iso
from sync_protocol.orders import CHANNEL_LABELS, FoundOrder, OrderLookup, OrderState

#: Most orders one lookup answers with (HQ's live lookup answers at most as many).
MAX_ORDERS = 50

_order_decoder = msgspec.json.Decoder(OrderState)


def yuan(cents: int) -> str:
    """Cents as yuan with two decimals (``29900`` -> ``"299.00"``)."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


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
) -> dict[str, Any]:
    """An order for the clerk; ``detail`` (one order) adds the customer's whole phone number."""
    o = found.order
    names_en = names_en or {}
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
            "returnable_qty": max(0, line.qty - line.returned_qty),
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
    return {
        "source": "hq",
        "as_of": iso(answer.server_time),
        "orders": [order_json(f, own, lang, names_en=names) for f in answer.orders[:MAX_ORDERS]],
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
    orders = []
    for row, item in zip(rows, found, strict=True):
        body = order_json(item, own, lang, names_en=names)
        body["seen_at"] = iso(row["seen_at"])
        orders.append(body)
    return {"source": "local", "as_of": iso(node.replica.get_int("last_success_at") or None), "orders": orders}


def live_order(node: Node, found: FoundOrder, server_time: int, lang: str = "zh") -> dict[str, Any]:
    """One order of HQ's live answer, with the customer's whole phone number."""
    body = order_json(
        found, node.replica.get("store_id"), lang, detail=True, names_en=_english_names(node, [found], lang)
    )
    return {**body, "source": "hq", "as_of": iso(server_time)}


def local_order(node: Node, number: str, lang: str = "zh") -> dict[str, Any] | None:
    """One order of the replica by number, with the customer's whole phone number; None if absent."""
    rows = _local_rows(node, phone=None, number=number, limit=1)
    if not rows:
        return None
    found = _found(rows[0])
    body = order_json(
        found, node.replica.get("store_id"), lang, detail=True, names_en=_english_names(node, [found], lang)
    )
    body["seen_at"] = iso(rows[0]["seen_at"])
    return {**body, "source": "local", "as_of": iso(node.replica.get_int("last_success_at") or None)}
