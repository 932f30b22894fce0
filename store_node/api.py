"""The store node's local JSON API for the clerk UI. Handlers parse, call actions, render."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from store_node import ticket_actions, views
from store_node.errors import InvalidInput, StoreNodeError
from store_node.node import Node
from sync_protocol import i18n
from sync_protocol.texts import DEFAULT_LANG


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
]
