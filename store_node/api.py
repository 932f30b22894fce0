"""The store node's local JSON API for the clerk UI. Handlers parse, call actions, render."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from store_node import (
    apply,
    order_views,
    return_actions,
    return_records,
    return_views,
    stock_actions,
    stock_views,
    ticket_actions,
    views,
)
from store_node.errors import InvalidInput, InvalidLookup, NotFound, PermanentSyncError, StoreNodeError, SyncError
from store_node.node import Node
from sync_protocol import i18n
from sync_protocol.errors import InvalidField
from sync_protocol.orders import OrderLookup, check_order_number, check_phone
from sync_protocol.stock import TRANSFER_ACTIONS, TRANSFER_STATUS_LABELS
from sync_protocol.texts import DEFAULT_LANG

log = logging.getLogger("storedesk.store")


def lang_of(request: Request) -> str:
    return i18n.lang_of(request.headers.get("accept-language"))


def error_response(exc: StoreNodeError, lang: str = DEFAULT_LANG) -> JSONResponse:
    """The one error envelope: ``{"error": {"code", "message", "field"}}``, the message in ``lang``."""
    message = i18n.render(exc.code, lang, field=exc.field, **exc.params)
    if message == exc.code:  # a code without a text: the English detail beats a bare code
        message = exc.message
    body: dict[str, Any] = {"code": exc.code, "message": message}
    if exc.field is not None:
        body["field"] = exc.field
    if isinstance(exc, return_actions.Refused):
        body.update(exc.details)
    return JSONResponse({"error": body}, status_code=exc.status)


def node_of(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"request body is not JSON: {exc}", code="malformed_json", field="body") from exc
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object", code="malformed_json", field="body")
    return body


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a whole number", code="invalid_type", field=name) from exc
    if value < 0 or value > maximum:
        raise InvalidInput(
            f"{name} must be between 0 and {maximum}", code="out_of_range", field=name, minimum=0, maximum=maximum
        )
    return value


async def list_tickets(request: Request) -> Response:
    node = node_of(request)
    result = views.list_tickets(
        node,
        status=request.query_params.get("status", ""),
        limit=_int_param(request, "limit", 200, 1000),
        offset=_int_param(request, "offset", 0, 10**9),
        lang=lang_of(request),
    )
    return JSONResponse(result)


async def create_ticket(request: Request) -> Response:
    node = node_of(request)
    body = await json_body(request)
    author = str(body.pop("author", "") or "")
    ticket_id = ticket_actions.create_ticket(node, body, author=author)
    return JSONResponse(views.get_ticket(node, ticket_id, lang=lang_of(request)), status_code=201)


async def get_ticket(request: Request) -> Response:
    node = node_of(request)
    return JSONResponse(views.get_ticket(node, request.path_params["key"], lang=lang_of(request)))


async def edit_ticket(request: Request) -> Response:
    node = node_of(request)
    ticket_id = ticket_actions.edit_ticket(node, request.path_params["key"], await json_body(request))
    return JSONResponse(views.get_ticket(node, ticket_id, lang=lang_of(request)))


async def add_comment(request: Request) -> Response:
    node = node_of(request)
    body = await json_body(request)
    key = request.path_params["key"]
    ticket_actions.add_comment(node, key, body.get("body"), author=str(body.get("author", "") or ""))
    return JSONResponse(views.get_ticket(node, key, lang=lang_of(request)), status_code=201)


async def change_status(request: Request) -> Response:
    node = node_of(request)
    body = await json_body(request)
    ticket_id = ticket_actions.change_status(
        node,
        request.path_params["key"],
        body.get("status"),
        body.get("note", ""),
        actor=str(body.get("actor", "") or ""),
    )
    return JSONResponse(views.get_ticket(node, ticket_id, lang=lang_of(request)))


async def sync_status(request: Request) -> Response:
    return JSONResponse(views.sync_status(node_of(request)))


async def ticket_types(request: Request) -> Response:
    return JSONResponse({"items": views.ticket_types(node_of(request), lang_of(request))})


async def products(request: Request) -> Response:
    """The synced product catalogue: ``q`` is a code prefix or part of a name."""
    q = request.query_params.get("q", "").strip()
    limit = _int_param(request, "limit", 20, 200)
    return JSONResponse({"items": views.products(node_of(request), q, limit, lang_of(request))})


def _product_param(request: Request) -> str:
    code = request.query_params.get("product", "").strip()
    if not code:
        raise InvalidInput("product is required", code="required", field="product")
    return code


def _choice_param(request: Request, name: str, choices: tuple[str, ...] | list[str]) -> str:
    value = request.query_params.get(name, "").strip()
    if value and value not in choices:
        raise InvalidInput(f"{name} must be one of {', '.join(choices)}", code="invalid_choice", field=name)
    return value


async def record_moves(request: Request) -> Response:
    """One movement ``{sku|barcode, qty, reason, note}`` or a POS batch ``{"moves": [...]}``."""
    node = node_of(request)
    body = await json_body(request)
    lang = lang_of(request)
    if "moves" in body:
        if set(body) != {"moves"}:
            name = sorted(set(body) - {"moves"})[0]
            raise InvalidInput(f"unknown field {name}", code="unknown_field", field=name)
        ids = stock_actions.record_moves(node, body["moves"])
    else:
        ids = [stock_actions.record_move(node, body)]
    moves = stock_actions.moves_of(node, ids)
    levels = stock_actions.on_hand(node, (m["sku"] for m in moves))
    if "moves" in body:
        return JSONResponse(
            {"moves": [stock_views.move_json(m, lang) for m in moves], "on_hand": levels}, status_code=201
        )
    [move] = moves
    return JSONResponse({"move": stock_views.move_json(move, lang), "on_hand": levels[move["sku"]]}, status_code=201)


async def own_stock(request: Request) -> Response:
    return JSONResponse(stock_views.own_stock(node_of(request), _product_param(request), lang_of(request)))


async def stock_lookup(request: Request) -> Response:
    """Every store's stock of a product: HQ's live answer, or the last snapshot when HQ cannot
    answer now (offline, slow, failing)."""
    return JSONResponse(await lookup_stock(request, _product_param(request), lang_of(request)))


async def lookup_stock(request: Request, code: str, lang: str) -> dict[str, Any]:
    """:func:`stock_views.lookup_live` of HQ's answer, or :func:`stock_views.lookup_snapshot`
    when HQ cannot answer now; :class:`NotFound` for a product neither knows (shared with the UI)."""
    node = node_of(request)
    sync = getattr(request.app.state, "sync", None)
    if sync is not None and node.enrolled:
        try:
            found = await sync.lookup_stock(code)
        except PermanentSyncError as exc:
            if exc.code == "product_not_found":
                raise NotFound(f"no product {code}", code="product_not_found", value=code) from exc
            log.info("live stock lookup refused (%s): answering from the snapshot", exc.message)
        except SyncError as exc:
            log.info("live stock lookup failed (%s): answering from the snapshot", exc.message)
        else:
            return stock_views.lookup_live(node, found, lang)
    return stock_views.lookup_snapshot(node, code, lang)


def _order_keys(request: Request) -> tuple[str | None, str | None]:
    """``(phone, number)`` of an order lookup: exactly one, checked (the phone normalized)."""
    phone = request.query_params.get("phone", "").strip()
    number = request.query_params.get("number", "").strip()
    if bool(phone) == bool(number):
        raise InvalidLookup(
            "give exactly one of phone and number", code="order_lookup_key", field="number" if phone else "phone"
        )
    try:
        if phone:
            return check_phone(phone, "phone"), None
        return None, check_order_number(number, "number")
    except InvalidField as exc:
        raise InvalidLookup(exc.message, code=exc.code, field=exc.field, **exc.params) from exc


async def live_orders(request: Request, *, phone: str | None, number: str | None) -> OrderLookup | None:
    """HQ's live order lookup, kept in the replica for offline lookups; None when HQ cannot
    answer now (offline, slow, failing, refusing). Shared with the clerk's returns screens."""
    node = node_of(request)
    sync = getattr(request.app.state, "sync", None)
    if sync is None or not node.enrolled:
        return None
    try:
        found: OrderLookup = await sync.lookup_orders(phone=phone, number=number)
    except SyncError as exc:
        log.info("live order lookup failed (%s): answering from the replica", exc.message)
        return None
    try:
        apply.keep_looked_up_orders(node, found)
    except sqlite3.Error:  # the clerk still sees HQ's answer
        log.exception("could not keep the orders of a live lookup")
    return found


async def find_orders(request: Request, *, phone: str | None, number: str | None, lang: str) -> dict[str, Any]:
    """Orders by the customer's (checked) phone or the order number (exactly one), newest paid
    first: HQ's live answer (every store and channel), or the replica's (own and lately
    looked-up orders) when HQ cannot answer now."""
    node = node_of(request)
    found = await live_orders(request, phone=phone, number=number)
    if found is not None:
        return order_views.lookup_live(node, found, lang)
    return order_views.lookup_local(node, phone=phone, number=number, lang=lang)


async def find_order(request: Request, number: str, lang: str) -> dict[str, Any] | None:
    """One order by (checked) number, with the customer's whole phone: HQ's, else the replica's
    copy; None when neither has it."""
    node = node_of(request)
    found = await live_orders(request, phone=None, number=number)
    if found is not None and found.orders:
        return order_views.live_order(node, found.orders[0], found.server_time, lang)
    return order_views.local_order(node, number, lang)


async def lookup_orders(request: Request) -> Response:
    """Orders by the customer's phone or the order number (exactly one): :func:`find_orders`."""
    phone, number = _order_keys(request)
    return JSONResponse(await find_orders(request, phone=phone, number=number, lang=lang_of(request)))


async def get_order(request: Request) -> Response:
    """One order by number, with the customer's whole phone: HQ's, else the replica's copy."""
    try:
        number = check_order_number(request.path_params["number"], "number")
    except InvalidField as exc:
        raise InvalidLookup(exc.message, code=exc.code, field=exc.field, **exc.params) from exc
    found = await find_order(request, number, lang_of(request))
    if found is None:
        raise NotFound(f"no order {number}", code="order_not_found", value=number)
    return JSONResponse(found)


async def list_transfers(request: Request) -> Response:
    node = node_of(request)
    result = stock_views.list_transfers(
        node,
        role=_choice_param(request, "role", stock_views.ROLES),
        status=_choice_param(request, "status", list(TRANSFER_STATUS_LABELS)),
        limit=_int_param(request, "limit", 200, stock_views.MAX_TRANSFERS),
        lang=lang_of(request),
    )
    return JSONResponse(result)


async def request_transfer(request: Request) -> Response:
    node = node_of(request)
    transfer_id = stock_actions.request_transfer(node, await json_body(request))
    return JSONResponse(stock_views.get_transfer(node, transfer_id, lang_of(request)), status_code=201)


async def get_transfer(request: Request) -> Response:
    return JSONResponse(stock_views.get_transfer(node_of(request), request.path_params["key"], lang_of(request)))


async def step_transfer(request: Request) -> Response:
    """``approve``, ``reject`` (``reason`` required), ``ship``, ``receive`` or ``cancel``."""
    node = node_of(request)
    action = request.path_params["action"]
    if action not in TRANSFER_ACTIONS:
        raise InvalidInput(
            f"action must be one of {', '.join(TRANSFER_ACTIONS)}", code="invalid_choice", field="action"
        )
    body = await json_body(request)
    unknown = sorted(set(body) - {"reason", "actor"})
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]}", code="unknown_field", field=unknown[0])
    transfer_id = stock_actions.step_transfer(
        node, request.path_params["key"], action, reason=body.get("reason", ""), actor=body.get("actor", "")
    )
    return JSONResponse(stock_views.get_transfer(node, transfer_id, lang_of(request)))


async def order_for_return(request: Request, body: dict[str, Any]) -> None:
    """Bring the replica's copy of the order a return names up to date: HQ's live answer when it
    can give one (another store may have taken units back since the copy was made, or the clerk
    typed a number the replica does not hold), else the copy as it is (offline, an order the
    replica lacks is refused with ``order_not_found``). Shared with the clerk's returns screens."""
    key = body.get("order")
    if not isinstance(key, str) or not key.strip():
        return
    try:
        number = return_records.find_order(node_of(request), key.strip()).order.number
    except NotFound:
        try:
            number = check_order_number(key, "order")
        except InvalidField:
            return
    await live_orders(request, phone=None, number=number)


async def create_return(request: Request) -> Response:
    """Take goods back: ``{order, kind, reason, lines: [{line_no, qty, unworn}], exchange: [{sku|barcode,
    qty, unit_price}], method, photos, note, actor}``; 201 with the return (status ``pending``)."""
    node = node_of(request)
    body = await json_body(request)
    lang = lang_of(request)
    await order_for_return(request, body)
    return_id = return_actions.create_return(node, body, lang=lang)
    return JSONResponse(return_views.get_return(node, return_id, lang), status_code=201)


async def check_return(request: Request) -> Response:
    """The same body as a return: what the policy says of each line, and the amounts; writes nothing."""
    node = node_of(request)
    body = await json_body(request)
    await order_for_return(request, body)
    return JSONResponse(return_actions.check_return(node, body, lang=lang_of(request)))


async def list_returns(request: Request) -> Response:
    status = request.query_params.get("status", "").strip() or None
    order = request.query_params.get("order", "").strip() or None
    return JSONResponse(return_views.list_returns(node_of(request), status=status, order=order, lang=lang_of(request)))


async def get_return(request: Request) -> Response:
    return JSONResponse(return_views.get_return(node_of(request), request.path_params["key"], lang_of(request)))


async def return_policy(request: Request) -> Response:
    return JSONResponse(return_views.policy_json(node_of(request), lang_of(request)))


async def return_voucher(request: Request) -> Response:
    """The printable voucher of a return (HTML)."""
    from store_node.voucher import render_voucher  # the QR code library loads with the first voucher

    node = node_of(request)
    state = return_records.find_return(node, request.path_params["key"])
    seller = return_views.seller_names(node, [state]).get(state.selling_store_id, "")
    page = render_voucher(state, **return_views.own_store(node), selling_store_name=seller, lang=lang_of(request))
    return HTMLResponse(page)


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


routes = [
    Route("/healthz", healthz),
    Route("/api/v1/tickets", list_tickets, methods=["GET"]),
    Route("/api/v1/tickets", create_ticket, methods=["POST"]),
    Route("/api/v1/tickets/{key}", get_ticket, methods=["GET"]),
    Route("/api/v1/tickets/{key}", edit_ticket, methods=["PATCH"]),
    Route("/api/v1/tickets/{key}/comments", add_comment, methods=["POST"]),
    Route("/api/v1/tickets/{key}/status", change_status, methods=["POST"]),
    Route("/api/v1/sync/status", sync_status),
    Route("/api/v1/ticket-types", ticket_types),
    Route("/api/v1/products", products, methods=["GET"]),
    Route("/api/v1/stock", own_stock, methods=["GET"]),
    Route("/api/v1/stock/moves", record_moves, methods=["POST"]),
    Route("/api/v1/stock/lookup", stock_lookup, methods=["GET"]),
    Route("/api/v1/orders", lookup_orders, methods=["GET"]),
    Route("/api/v1/orders/{number}", get_order, methods=["GET"]),
    Route("/api/v1/transfers", list_transfers, methods=["GET"]),
    Route("/api/v1/transfers", request_transfer, methods=["POST"]),
    Route("/api/v1/transfers/{key}", get_transfer, methods=["GET"]),
    Route("/api/v1/transfers/{key}/{action}", step_transfer, methods=["POST"]),
    Route("/api/v1/returns", list_returns, methods=["GET"]),
    Route("/api/v1/returns", create_return, methods=["POST"]),
    Route("/api/v1/returns/check", check_return, methods=["POST"]),
    Route("/api/v1/returns/{key}", get_return, methods=["GET"]),
    Route("/api/v1/return-policy", return_policy, methods=["GET"]),
    Route("/returns/{key}/voucher", return_voucher, methods=["GET"]),
]
