"""HTTP handlers of orders (store sales and online orders).

For staff and the online shops' integrations (a signed-in HQ user or the admin token, JSON;
posting orders is an import, for administrators and the admin token only; a regional manager sees
the orders of their regions' stores and the online ones):

    POST /api/v1/orders                        an order; 201 created, 200 already there (same content)
    GET  /api/v1/orders?phone=P | ?number=N    lookup, newest paid first
    GET  /api/v1/orders/{id}                   one order by id or number

For store nodes (node token, msgpack):

    GET  /sync/v1/orders?phone=P | ?number=N   live lookup at any store (OrderLookup)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hq_server import orders
from hq_server.auth import admin_principal, staff_principal
from hq_server.errors import InvalidInput, NotFound, from_invalid_field
from hq_server.openapi import operation, path_id, query
from hq_server.orders import LineInput, OrderInput
from hq_server.principals import Principal
from hq_server.responses import json_response, msgpack_response, request_lang
from hq_server.staff_api import json_object
from hq_server.staff_views import iso
from hq_server.sync_api import authenticate
from sync_protocol.errors import InvalidField
from sync_protocol.orders import (
    CHANNEL_LABELS,
    CHANNELS,
    MAX_LINE_QTY,
    MAX_UNIT_PRICE_CENTS,
    FoundOrder,
    OrderLookup,
    check_order_number,
    check_phone,
    yuan,
)

ORDER_FIELDS = ("number", "channel", "store", "customer_phone", "customer_name", "paid_at", "lines", "total")
LINE_FIELDS = ("sku", "qty", "unit_price")

ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["number", "channel", "paid_at", "lines"],
    "properties": {
        "number": {"type": "string", "description": "order number, unique; the key of idempotent posts"},
        "channel": {"type": "string", "enum": list(CHANNELS)},
        "store": {"type": "string", "description": "selling store code (required for channel `store`)"},
        "customer_phone": {"type": "string"},
        "customer_name": {"type": "string"},
        "paid_at": {"type": "string", "description": "ISO 8601 with an offset, or ms since the epoch"},
        "total": {"type": "string", "description": "yuan, 2 decimals; must equal the sum of the lines"},
        "lines": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["sku", "qty", "unit_price"],
                "properties": {
                    "sku": {"type": "string"},
                    "qty": {"type": "integer"},
                    "unit_price": {"type": "string", "description": "yuan, 2 decimals (a number is accepted)"},
                },
            },
        },
    },
}


def order_input(body: dict[str, Any]) -> OrderInput:
    """The order a JSON body describes; :class:`InvalidInput` names the field it cannot read."""
    unknown = sorted(set(body) - set(ORDER_FIELDS))
    if unknown:
        raise InvalidInput("unknown_field", field=unknown[0])
    number = body.get("number")
    if not isinstance(number, str):
        raise InvalidInput("invalid_order_number", field="number")
    channel = body.get("channel")
    if not isinstance(channel, str):
        raise InvalidInput("invalid_channel", field="channel", value=channel, choices=", ".join(CHANNELS))
    texts: dict[str, str] = {}
    for name in ("store", "customer_phone", "customer_name"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidInput("invalid_phone" if name == "customer_phone" else "invalid_type", field=name)
        texts[name] = value or ""
    if body.get("paid_at") is None:
        raise InvalidInput("required", field="paid_at")
    raw_lines = body.get("lines")
    if raw_lines is None:
        raise InvalidInput("required", field="lines")
    if not isinstance(raw_lines, list):
        raise InvalidInput("invalid_type", field="lines")
    total = body.get("total")
    return OrderInput(
        number=number,
        channel=channel,
        paid_at=orders.parse_paid_at(body["paid_at"]),
        lines=[_line_input(index, item) for index, item in enumerate(raw_lines)],
        store=texts["store"],
        customer_phone=texts["customer_phone"],
        customer_name=texts["customer_name"],
        total_cents=None
        if total is None
        else orders.parse_yuan(total, field="total", code="invalid_amount", max_cents=orders.MAX_TOTAL_CENTS),
    )


def _line_input(index: int, item: object) -> LineInput:
    where = f"lines[{index}]"
    if not isinstance(item, dict):
        raise InvalidInput("invalid_type", field=where)
    unknown = sorted(set(item) - set(LINE_FIELDS))
    if unknown:
        raise InvalidInput("unknown_field", field=f"{where}.{unknown[0]}")
    sku = item.get("sku")
    if not isinstance(sku, str) or not sku.strip():
        raise InvalidInput("required" if sku in (None, "") else "invalid_type", field=f"{where}.sku")
    qty = item.get("qty")
    if not isinstance(qty, int) or isinstance(qty, bool):
        raise InvalidInput("invalid_order_qty", field=f"{where}.qty", limit=MAX_LINE_QTY)
    if "unit_price" not in item:
        raise InvalidInput("required", field=f"{where}.unit_price")
    price = orders.parse_yuan(
        item["unit_price"], field=f"{where}.unit_price", code="invalid_unit_price", max_cents=MAX_UNIT_PRICE_CENTS
    )
    return LineInput(sku=sku.strip(), qty=qty, unit_price_cents=price)


def order_json(found: FoundOrder, lang: str = "zh") -> dict[str, Any]:
    """An order for staff: amounts in yuan (``"299.00"``), times ISO 8601 UTC."""
    o = found.order
    labels = CHANNEL_LABELS.get(o.channel)
    return {
        "id": o.id,
        "number": o.number,
        "channel": o.channel,
        "channel_label": o.channel if labels is None else labels[1 if lang == "en" else 0],
        "store": {"code": found.store_code, "name": found.store_name} if o.store_id else None,
        "customer_phone": o.customer_phone,
        "customer_name": o.customer_name,
        "paid_at": iso(o.paid_at),
        "total": yuan(o.total_cents),
        "lines": [
            {
                "line_no": line.line_no,
                "sku": line.sku,
                "product_code": line.product_code,
                "name": line.name,
                "category": line.category,
                "colour": line.colour,
                "size": line.size,
                "qty": line.qty,
                "unit_price": yuan(line.unit_price_cents),
                "amount": yuan(line.amount_cents),
                "returned_qty": line.returned_qty,
                "returnable_qty": line.qty - line.returned_qty,
            }
            for line in o.lines
        ],
        "created_at": iso(o.created_at),
    }


def lookup_params(request: Request) -> tuple[str | None, str | None]:
    """``(phone, number)`` of a lookup: exactly one of them (422 otherwise), checked."""
    phone = request.query_params.get("phone", "").strip()
    number = request.query_params.get("number", "").strip()
    if bool(phone) == bool(number):
        raise InvalidInput("order_lookup_key", field="number" if phone else "phone")
    try:
        if phone:
            check_phone(phone, "phone")
            return phone, None
        return None, check_order_number(number, "number")
    except InvalidField as exc:
        raise from_invalid_field(exc, **exc.params) from exc


def _store_ids(conn: Connection, principal: Principal) -> set[str]:
    """The ids of the stores of a regional manager's regions."""
    return {str(i) for i in conn.execute(principal.region_store_ids()).scalars()}


@operation(body=ORDER_SCHEMA)
async def post_order(request: Request) -> Response:
    """Record an order (an online order, or a store sale made elsewhere).

    Idempotent on `number`: answers 201 with the order when it is new, 200 with the stored order
    when the same number was already posted with the same content, 409 `order_conflict` when it
    was posted with other content. Each line's SKU must be in the catalogue (its name, colour and
    size come from there); `total`, when given, must equal the sum of the lines. A store order
    reaches its store on the next sync; an online order is found through the lookup. An import:
    administrators and the admin token only (403 `admin_only`).
    """
    hq, _ = await admin_principal(request)
    item = order_input(await json_object(request))

    def run() -> tuple[FoundOrder, bool]:
        with hq.db.write() as conn:
            state, created = orders.put_order(conn, hq.clock, item, hq.clock.wall())
            found = orders.get_order(conn, state.id)
        assert found is not None
        return found, created

    found, created = await run_in_threadpool(run)
    return json_response(order_json(found, request_lang(request)), status_code=201 if created else 200)


@operation(
    parameters=[
        query("phone", "customer phone, any way of writing it (+86 138-0013-8000)"),
        query("number", "order number"),
    ]
)
async def list_orders(request: Request) -> Response:
    """Look orders up by the customer's phone or by order number (exactly one), newest paid first.

    Answers `{"items": [order...]}`, at most 50; each line has `returned_qty` and `returnable_qty`.
    A regional manager sees the orders of their regions' stores and the online ones (no store).
    """
    hq, principal = await staff_principal(request)
    phone, number = lookup_params(request)

    def run() -> list[FoundOrder]:
        with hq.db.read() as conn:
            found = orders.find_orders(conn, phone=phone, number=number)
            if principal.sees_every_store:
                return found
            mine = _store_ids(conn, principal)
            return [f for f in found if not f.order.store_id or f.order.store_id in mine]

    lang = request_lang(request)
    return json_response({"items": [order_json(f, lang) for f in await run_in_threadpool(run)]})


@operation(parameters=[path_id("order id or number")])
async def get_order(request: Request) -> Response:
    """One order, by id or number (a regional manager: an online one or one of their regions'
    stores, 403 `out_of_scope` otherwise)."""
    hq, principal = await staff_principal(request)
    key = request.path_params["id"]

    def run() -> FoundOrder | None:
        with hq.db.read() as conn:
            found = orders.get_order(conn, key)
            if found is not None and found.order.store_id:
                principal.check_store(conn, found.order.store_id)
            return found

    found = await run_in_threadpool(run)
    if found is None:
        raise NotFound("order_not_found", value=key)
    return json_response(order_json(found, request_lang(request)))


async def node_lookup(request: Request) -> Response:
    """A store node's live lookup of orders of every store and channel, by phone or number."""
    hq, _ = await authenticate(request)
    phone, number = lookup_params(request)

    def run() -> OrderLookup:
        with hq.db.read() as conn:
            found = orders.find_orders(conn, phone=phone, number=number)
        return OrderLookup(orders=found, server_time=hq.clock.wall())

    return msgpack_response(await run_in_threadpool(run))


routes = [
    Route("/sync/v1/orders", node_lookup, methods=["GET"]),
    Route("/api/v1/orders", post_order, methods=["POST"]),
    Route("/api/v1/orders", list_orders, methods=["GET"]),
    Route("/api/v1/orders/{id}", get_order, methods=["GET"]),
]
