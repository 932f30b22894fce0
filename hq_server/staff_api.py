"""HTTP handlers of the staff JSON API (``/api/v1``) and ``/healthz``.

Every staff handler starts with :func:`hq_server.auth.staff_principal` (the admin bearer token as
the integration, or a signed-in HQ user's session cookie with its CSRF token) and keeps to the
caller's scope (:mod:`hq_server.principals`): ticket lists are filtered in SQL, a ticket by id or
number out of scope is 403 ``out_of_scope`` for every action on it, acting on one needs a role that
works tickets (403 ``read_only``).
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hq_server import products, pull, queries, reference, ticket_actions, ticket_store
from hq_server.auth import staff_principal
from hq_server.context import HqContext, context_of
from hq_server.errors import BadRequest, Forbidden, NotFound
from hq_server.openapi import openapi_document, operation, path_id, query
from hq_server.principals import Principal
from hq_server.queries import TicketFilter
from hq_server.responses import json_response
from hq_server.staff_views import (
    comment_json,
    department_json,
    parse_times,
    product_json,
    store_json,
    ticket_json,
    ticket_type_json,
)
from sync_protocol.forms import Form
from sync_protocol.tickets import TicketState

_json_decoder = msgspec.json.Decoder()

TICKET_FIELDS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        name: {"type": "string"}
        for name in (
            "type",
            "title",
            "description",
            "category",
            "product_code",
            "customer_phone",
            "customer_name",
            "department",
            "assignee",
            "priority",
        )
    }
    | {
        "first_response_due": {"type": "string", "format": "date-time", "nullable": True},
        "resolution_due": {"type": "string", "format": "date-time", "nullable": True},
    },
}


#: The department a staff client acts for: for a user one of theirs (default: the ticket's, else
#: their first); for the integration token any (none: HQ's administrator). See
#: :meth:`hq_server.principals.Principal.acting_department`.
DEPARTMENT_HEADER = "X-StoreDesk-Department"


def acting_department(request: Request, principal: Principal, *, prefer: tuple[str, ...] = ()) -> str | None:
    """The department ``principal`` acts for in ``request`` (403 ``not_your_department`` when the
    header names one that is not theirs)."""
    return principal.acting_department(request.headers.get(DEPARTMENT_HEADER) or None, prefer=prefer)


def visible_ticket(conn: Any, principal: Principal, key: str) -> TicketState:
    """The ticket ``key`` (id or number) if ``principal`` may see it: 403 ``out_of_scope`` if not,
    and also when no such ticket exists for a caller who does not see every ticket (so ids cannot
    be probed); 404 ``ticket_not_found`` for the others."""
    ticket = ticket_store.find_ticket(conn, key)
    if ticket is None:
        if principal.sees_every_ticket:
            raise NotFound("ticket_not_found", value=key)
        raise Forbidden("out_of_scope")
    principal.check_ticket(conn, ticket)
    return ticket


def scoped_ticket_view(hq: HqContext, principal: Principal, key: str) -> queries.TicketView:
    """:func:`ticket_view` of a ticket in ``principal``'s scope (see :func:`visible_ticket`)."""
    with hq.db.read() as conn:
        ticket = visible_ticket(conn, principal, key)
        view = queries.get_ticket(conn, ticket.id)
    if view is None:
        raise NotFound("ticket_not_found", value=key)
    return view


async def json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    try:
        value = _json_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise BadRequest("invalid_json") from exc
    if not isinstance(value, dict):
        raise BadRequest("invalid_json")
    return value


def _int_param(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest("invalid_param", field=name) from None
    if not low <= value <= high:
        raise BadRequest("invalid_param", field=name)
    return value


def ticket_view(hq: HqContext, key: str) -> queries.TicketView:
    with hq.db.read() as conn:
        view = queries.get_ticket(conn, key)
    if view is None:
        raise NotFound("ticket_not_found", value=key)
    return view


@operation(
    parameters=[
        query("status", "ticket status"),
        query("store", "store code or id"),
        query("type", "ticket type code"),
        query("department", "department code"),
        query("limit", "page size (1-500, default 50)", "integer"),
        query("offset", "tickets to skip", "integer"),
    ]
)
async def list_tickets(request: Request) -> Response:
    """List tickets, newest first.

    Answers `{"items": [ticket...], "total": n, "limit": l, "offset": o}`; items have no
    comments or history. Only the tickets in the caller's scope are listed and counted.
    """
    hq, principal = await staff_principal(request)
    params = request.query_params
    flt = TicketFilter(
        status=params.get("status") or None,
        store=params.get("store") or None,
        type=params.get("type") or None,
        department=params.get("department") or None,
        limit=_int_param(request, "limit", 50, low=1, high=queries.MAX_LIST_LIMIT),
        offset=_int_param(request, "offset", 0, low=0, high=10**9),
        scope=principal.ticket_condition(),
    )

    def run() -> tuple[list[queries.TicketView], int]:
        with hq.db.read() as conn:
            return queries.list_tickets(conn, flt)

    views, total = await run_in_threadpool(run)
    items = [ticket_json(v, detail=False) for v in views]
    return json_response({"items": items, "total": total, "limit": flt.limit, "offset": flt.offset})


@operation(
    body={
        **TICKET_FIELDS_SCHEMA,
        "required": ["type", "title"],
        "properties": {**TICKET_FIELDS_SCHEMA["properties"], "store": {"type": "string"}},
    }
)
async def create_ticket(request: Request) -> Response:
    """Create a ticket at HQ.

    Numbered `HQ-000123`. `store` (code or id) is optional; a ticket with a store reaches that
    store on its next sync. Answers 201 with the ticket. A group lead or agent may only name one of
    their departments as `department` (403 `not_your_department`); a regional manager cannot create
    tickets (403 `read_only`).
    """
    hq, principal = await staff_principal(request)
    principal.check_works_tickets()
    body = parse_times(await json_object(request))
    department = body.get("department")
    if principal.is_departmental and department is not None and department not in principal.departments:
        raise Forbidden("not_your_department", department=str(department)[:40])
    store = body.pop("store", None)
    if store is not None and not isinstance(store, str):
        raise BadRequest("invalid_param", field="store")

    def run() -> queries.TicketView:
        ticket = ticket_actions.create(hq.db, hq.clock, body, store=store)
        return ticket_view(hq, ticket.id)

    return json_response(ticket_json(await run_in_threadpool(run)), status_code=201)


@operation(parameters=[path_id()])
async def get_ticket(request: Request) -> Response:
    """One ticket (by id or number) with its comments and status history (403 `out_of_scope`
    outside the caller's scope)."""
    hq, principal = await staff_principal(request)
    view = await run_in_threadpool(scoped_ticket_view, hq, principal, request.path_params["id"])
    return json_response(ticket_json(view))


@operation(
    parameters=[path_id()],
    body={
        **TICKET_FIELDS_SCHEMA,
        "properties": {
            **TICKET_FIELDS_SCHEMA["properties"],
            "status": {"type": "string"},
            "note": {"type": "string", "description": "note for the status change"},
        },
    },
)
async def patch_ticket(request: Request) -> Response:
    """Edit a ticket: clerk fields, HQ-only fields, and `status` (with an optional `note`).

    Clerk fields merge with store edits by last writer wins; a status change must be allowed
    from the current status and is added to the history. The store sees the edit on its next sync.
    Needs a role that works tickets (403 `read_only`) and the ticket in scope (403 `out_of_scope`).
    """
    hq, principal = await staff_principal(request)
    principal.check_works_tickets()
    key = request.path_params["id"]
    changes = parse_times(await json_object(request))

    def run() -> queries.TicketView:
        current = scoped_ticket_view(hq, principal, key).ticket
        actor = acting_department(request, principal, prefer=(current.department,))
        ticket = ticket_actions.edit(hq.db, hq.clock, current.id, changes, actor=actor)
        return ticket_view(hq, ticket.id)

    return json_response(ticket_json(await run_in_threadpool(run)))


@operation(
    parameters=[path_id()],
    body={
        "type": "object",
        "required": ["body"],
        "properties": {"body": {"type": "string"}, "author": {"type": "string"}},
    },
)
async def add_comment(request: Request) -> Response:
    """Add a comment to a ticket (the store sees it). Answers 201 with the comment.

    Any HQ role that sees the ticket may comment, a regional manager included. A signed-in user
    writes under their own name (`author` is for integrations holding the admin token).
    """
    hq, principal = await staff_principal(request)
    key = request.path_params["id"]
    body = await json_object(request)
    # A signed-in person writes under their own name; only an integration names the author.
    author = principal.display_name if principal.user_id else body.get("author", "")

    def run() -> Any:
        ticket = scoped_ticket_view(hq, principal, key).ticket
        return ticket_actions.comment(hq.db, hq.clock, ticket.id, body.get("body", ""), author)

    comment = await run_in_threadpool(run)
    return json_response(comment_json(comment), status_code=201)


async def list_stores(request: Request) -> Response:
    """Stores with their region (a regional manager: the stores of their regions)."""
    hq, principal = await staff_principal(request)

    def run() -> list[dict[str, Any]]:
        with hq.db.read() as conn:
            rows = reference.list_stores(conn)
        if not principal.sees_every_store:
            rows = [row for row in rows if principal.may_see_store(store_region=row["region_id"])]
        return [store_json(row) for row in rows]

    return json_response({"items": await run_in_threadpool(run)})


async def list_ticket_types(request: Request) -> Response:
    """Ticket types, the department each goes to by default, and the form each asks for."""
    hq, _ = await staff_principal(request)

    def run() -> list[dict[str, Any]]:
        with hq.db.read() as conn:
            forms = reference.forms_of(conn)
            return [
                {**ticket_type_json(row), "form": msgspec.to_builtins(forms.get(row["code"], Form()))}
                for row in reference.list_ticket_types(conn)
            ]

    return json_response({"items": await run_in_threadpool(run)})


async def list_departments(request: Request) -> Response:
    """Departments tickets are routed to."""
    hq, _ = await staff_principal(request)

    def run() -> list[dict[str, Any]]:
        with hq.db.read() as conn:
            return [department_json(row) for row in reference.list_departments(conn)]

    return json_response({"items": await run_in_threadpool(run)})


@operation(
    parameters=[
        query("q", "product code prefix, or part of the name"),
        query("category", "category code"),
        query("limit", "page size (1-500, default 50)", "integer"),
        query("offset", "products to skip", "integer"),
    ]
)
async def list_products(request: Request) -> Response:
    """Products with their SKUs (size and colour), by code.

    Answers `{"items": [product...], "total": n, "limit": l, "offset": o}`.
    """
    hq, _ = await staff_principal(request)
    params = request.query_params
    limit = _int_param(request, "limit", 50, low=1, high=queries.MAX_LIST_LIMIT)
    offset = _int_param(request, "offset", 0, low=0, high=10**9)

    def run() -> tuple[list[products.Product], int]:
        with hq.db.read() as conn:
            return products.list_products(
                conn, q=params.get("q", "").strip(), category=params.get("category", ""), limit=limit, offset=offset
            )

    found, total = await run_in_threadpool(run)
    return json_response({"items": [product_json(p) for p in found], "total": total, "limit": limit, "offset": offset})


@operation(parameters=[path_id()])
async def get_product(request: Request) -> Response:
    """One product by code, with its SKUs."""
    hq, _ = await staff_principal(request)
    code = request.path_params["id"]

    def run() -> products.Product | None:
        with hq.db.read() as conn:
            return products.get_product(conn, code)

    found = await run_in_threadpool(run)
    if found is None:
        raise NotFound("product_not_found", value=code)
    return json_response(product_json(found))


async def healthz(request: Request) -> Response:
    """Liveness: 200 when HQ can read its database (no auth)."""
    hq = context_of(request)
    await run_in_threadpool(pull.head_pos, hq.db)
    return json_response({"status": "ok"})


routes = [
    Route("/api/v1/tickets", list_tickets, methods=["GET"]),
    Route("/api/v1/tickets", create_ticket, methods=["POST"]),
    Route("/api/v1/tickets/{id}", get_ticket, methods=["GET"]),
    Route("/api/v1/tickets/{id}", patch_ticket, methods=["PATCH"]),
    Route("/api/v1/tickets/{id}/comments", add_comment, methods=["POST"]),
    Route("/api/v1/stores", list_stores, methods=["GET"]),
    Route("/api/v1/ticket-types", list_ticket_types, methods=["GET"]),
    Route("/api/v1/departments", list_departments, methods=["GET"]),
    Route("/api/v1/products", list_products, methods=["GET"]),
    Route("/api/v1/products/{id}", get_product, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/openapi.json", openapi_document, methods=["GET"], include_in_schema=False),
]
