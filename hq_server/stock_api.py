"""HTTP handlers of stock and transfers.

For store nodes (node token, msgpack):

    GET  /sync/v1/stock?product=CODE          live cross-store lookup, nearest first (StockLookup)

For staff (a signed-in HQ user or the admin token, JSON; the PUTs are for administrators only,
403 ``admin_only``; a regional manager sees the stores of their regions only):

    GET  /api/v1/stock?product=CODE[&near=STORE]   the same lookup (near: sort by distance from it)
    PUT  /api/v1/stock/thresholds                  [{"store", "sku", "threshold"}...] (null removes)
    GET  /api/v1/transfers[?store=&status=]        transfers, newest first
    GET  /api/v1/transfers/{id}                    one transfer with its order and timeline
    PUT  /api/v1/stores/{code}                     a store's address, coordinates and contact
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hq_server import reference, stock_lookup
from hq_server.auth import admin_principal, staff_principal
from hq_server.errors import Forbidden, InvalidInput, NotFound
from hq_server.responses import json_response, msgpack_response
from hq_server.schema import skus, stock_thresholds, transfers
from hq_server.staff_api import json_object
from hq_server.stock_store import load_transfers
from hq_server.sync_api import authenticate
from sync_protocol.stock import StockLookup, TransferState

MAX_THRESHOLD = 100_000
MAX_LIST = 500


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _product_param(request: Request) -> str:
    code = request.query_params.get("product", "").strip()
    if not code:
        raise InvalidInput("required", field="product")
    return code


async def node_lookup(request: Request) -> Response:
    """A store node's live lookup: every store's stock of a product, nearest to it first."""
    hq, node = await authenticate(request)
    code = _product_param(request)

    def run() -> StockLookup | None:
        with hq.db.read() as conn:
            return stock_lookup.lookup(conn, code, near_store=node.store_id, now_ms=_now_ms())

    found = await run_in_threadpool(run)
    if found is None:
        raise NotFound("product_not_found", value=code)
    return msgpack_response(found)


async def staff_lookup(request: Request) -> Response:
    """A product's stock in every store (a regional manager: the stores of their regions; ``near``
    out of them is 403 ``out_of_scope``)."""
    hq, principal = await staff_principal(request)
    code = _product_param(request)
    near = request.query_params.get("near", "").strip()

    def run() -> StockLookup | None:
        with hq.db.read() as conn:
            near_id = None
            if near:
                store = reference.find_store(conn, near)
                if store is None:
                    raise InvalidInput("unknown_store", field="near", value=near)
                near_id = str(store["id"])
                principal.check_store(conn, near_id)
            found = stock_lookup.lookup(conn, code, near_store=near_id, now_ms=_now_ms())
        if found is not None and not principal.sees_every_store:
            found.stores = [s for s in found.stores if principal.may_see_store(store_region=s.region_id or None)]
        return found

    found = await run_in_threadpool(run)
    if found is None:
        raise NotFound("product_not_found", value=code)
    return json_response(msgspec.to_builtins(found))


async def put_thresholds(request: Request) -> Response:
    """Set (or with ``null`` remove) a store's replenishment threshold of SKUs (administrators)."""
    hq, _ = await admin_principal(request)
    body = await request.body()
    try:
        items = msgspec.json.decode(body)
    except msgspec.DecodeError:
        items = None
    if not isinstance(items, list):
        raise InvalidInput("invalid_type", field="body")
    now = _now_ms()

    def run() -> int:
        with hq.db.write() as conn:
            for index, item in enumerate(items):
                put_threshold(conn, index, item, now)
        return len(items)

    count = await run_in_threadpool(run)
    return json_response({"updated": count})


def put_threshold(conn: Connection, index: int, item: object, now_ms: int) -> None:
    if not isinstance(item, dict):
        raise InvalidInput("invalid_type", field=f"[{index}]")
    store = reference.find_store(conn, str(item.get("store", "")))
    if store is None:
        raise InvalidInput("unknown_store", field=f"[{index}].store", value=item.get("store"))
    sku = str(item.get("sku", ""))
    if conn.execute(sa.select(skus.c.code).where(skus.c.code == sku)).first() is None:
        raise InvalidInput("unknown_sku", field=f"[{index}].sku", value=sku)
    if "threshold" not in item:  # only an explicit null removes one (a misspelt key must not)
        raise InvalidInput("required", field=f"[{index}].threshold")
    value = item["threshold"]
    t = stock_thresholds.c
    conn.execute(stock_thresholds.delete().where(t.store_id == store["id"], t.sku == sku))
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_THRESHOLD:
        raise InvalidInput("invalid_qty", field=f"[{index}].threshold")
    conn.execute(stock_thresholds.insert().values(store_id=store["id"], sku=sku, threshold=value, updated_at=now_ms))


def transfer_json(t: TransferState) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(t)
    data["lead_times_ms"] = lead_times(t)
    return data


def lead_times(t: TransferState) -> dict[str, int]:
    """How long each step took after the one before it (ms): for reports."""
    steps = (("request", "approve"), ("approve", "ship"), ("ship", "receive"), ("request", "receive"))
    found: dict[str, int] = {}
    for start, end in steps:
        if start in t.times and end in t.times:
            found[f"{start}_to_{end}"] = max(0, t.times[end] - t.times[start])
    return found


async def list_transfers(request: Request) -> Response:
    """Transfers, newest first (a regional manager: those from or to a store of their regions;
    ``store`` out of them is 403 ``out_of_scope``)."""
    hq, principal = await staff_principal(request)
    store_key = request.query_params.get("store", "").strip()
    status = request.query_params.get("status", "").strip()
    from_scope = principal.store_condition(transfers.c.from_store_id)
    to_scope = principal.store_condition(transfers.c.to_store_id)

    def run() -> list[dict[str, Any]]:
        with hq.db.read() as conn:
            query = sa.select(transfers.c.id).order_by(transfers.c.requested_at.desc()).limit(MAX_LIST)
            if from_scope is not None and to_scope is not None:
                query = query.where(sa.or_(from_scope, to_scope))
            if store_key:
                store = reference.find_store(conn, store_key)
                if store is None:
                    raise InvalidInput("unknown_store", field="store", value=store_key)
                sid = store["id"]
                principal.check_store(conn, str(sid))
                query = query.where(sa.or_(transfers.c.from_store_id == sid, transfers.c.to_store_id == sid))
            if status:
                query = query.where(transfers.c.status == status)
            ids = [str(i) for i in conn.execute(query).scalars()]
            found = load_transfers(conn, ids)
            return [transfer_json(found[i]) for i in ids if i in found]

    return json_response({"items": await run_in_threadpool(run)})


async def get_transfer(request: Request) -> Response:
    """One transfer by id or number (a regional manager: one from or to a store of their regions,
    403 ``out_of_scope`` otherwise)."""
    hq, principal = await staff_principal(request)
    key = request.path_params["id"]

    def run() -> TransferState | None:
        with hq.db.read() as conn:
            found = load_transfers(conn, [key])
            if not found:
                row = conn.execute(sa.select(transfers.c.id).where(transfers.c.number == key)).first()
                found = load_transfers(conn, [str(row[0])]) if row is not None else {}
            transfer = next(iter(found.values()), None)
            if transfer is not None and not (
                principal.may_see_store_id(conn, transfer.from_store_id)
                or principal.may_see_store_id(conn, transfer.to_store_id)
            ):
                raise Forbidden("out_of_scope")
            return transfer

    found = await run_in_threadpool(run)
    if found is None:
        raise NotFound("transfer_not_found", value=key)
    return json_response(transfer_json(found))


async def put_store(request: Request) -> Response:
    """Change a store's name, address, coordinates or contact (each optional; administrators)."""
    hq, _ = await admin_principal(request)
    code = request.path_params["code"]
    body = await json_object(request)
    values: dict[str, Any] = {}
    for name, limit in reference.STORE_TEXT_LIMITS.items():
        if name in body:
            value = body[name]
            if not isinstance(value, str) or len(value.strip()) > limit or (name == "name" and not value.strip()):
                raise InvalidInput("invalid_type", field=name)
            values[name] = value.strip()
    for name, bound in reference.COORDINATE_BOUNDS.items():
        if name in body:
            value = body[name]
            if value is not None and (
                not isinstance(value, (int, float)) or isinstance(value, bool) or not -bound <= value <= bound
            ):
                raise InvalidInput("invalid_coordinate", field=name, limit=bound)
            values[name] = None if value is None else float(value)
    unknown = sorted(set(body) - set(reference.STORE_TEXT_LIMITS) - set(reference.COORDINATE_BOUNDS))
    if unknown:
        raise InvalidInput("unknown_field", field=unknown[0])

    def run() -> dict[str, Any]:
        with hq.db.write() as conn:
            store = reference.update_store(conn, hq.clock, code, values, _now_ms())
        if store is None:
            raise NotFound("unknown_store", value=code)
        return store

    store = await run_in_threadpool(run)
    return json_response({k: v for k, v in store.items() if k != "active"} | {"active": bool(store["active"])})


routes = [
    Route("/sync/v1/stock", node_lookup, methods=["GET"]),
    Route("/api/v1/stock", staff_lookup, methods=["GET"]),
    Route("/api/v1/stock/thresholds", put_thresholds, methods=["PUT"]),
    Route("/api/v1/transfers", list_transfers, methods=["GET"]),
    Route("/api/v1/transfers/{id}", get_transfer, methods=["GET"]),
    Route("/api/v1/stores/{code}", put_store, methods=["PUT"]),
]
