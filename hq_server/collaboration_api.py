"""HTTP handlers of collaboration on a ticket (``/api/v1/tickets/{id}/...``): shares, internal
notes, links, merges.

The caller comes from :func:`hq_server.auth.staff_principal`, the department it acts for from
``X-StoreDesk-Department`` (:func:`hq_server.staff_api.acting_department`). Every action needs a role
that works tickets (403 ``read_only``) and every ticket it names in the caller's scope (403
``out_of_scope``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hq_server import collaboration, reference, ticket_actions
from hq_server.auth import staff_principal
from hq_server.errors import InvalidInput, from_invalid_field
from hq_server.openapi import operation, path_id
from hq_server.principals import Principal
from hq_server.responses import json_response
from hq_server.staff_api import acting_department, json_object, ticket_view, visible_ticket
from hq_server.staff_views import iso, ticket_json
from sync_protocol.errors import InvalidField
from sync_protocol.tickets import TicketState


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _ticket(conn: Any, principal: Principal, key: str) -> TicketState:
    return visible_ticket(conn, principal, key)


@contextlib.contextmanager
def _as_http_errors() -> Iterator[None]:
    """A value that breaks a text rule (empty, too long, not text) as a 422 naming the field."""
    try:
        yield
    except InvalidField as exc:
        raise from_invalid_field(exc, **exc.params) from exc


def _share_json(share: dict[str, Any]) -> dict[str, Any]:
    return {
        "department": share["department"],
        "status": share["status"],
        "note": share["note"],
        "shared_at": iso(share["created_at"]),
        "updated_at": iso(share["updated_at"]),
    }


@operation(parameters=[path_id()], body={"type": "object", "required": ["department"]})
async def share_ticket(request: Request) -> Response:
    """Share a ticket with another department (`{"department", "note"}`).

    That department gets its own task on the ticket and sees it in its queue; its lead is
    notified. Only the owner department shares.
    """
    hq, principal = await staff_principal(request)
    principal.check_works_tickets()
    key = request.path_params["id"]
    body = await json_object(request)

    def run() -> dict[str, Any]:
        with hq.db.write() as conn:
            ticket = _ticket(conn, principal, key)
            actor = acting_department(request, principal, prefer=(ticket.department,))
            department = body.get("department")
            if department not in reference.department_codes(conn):
                raise InvalidInput("unknown_department", field="department", value=str(department))
            with _as_http_errors():
                share = collaboration.share(
                    conn, ticket, str(department), actor=actor, note=body.get("note", ""), now_ms=_now_ms()
                )
        return _share_json(share)

    return json_response(await run_in_threadpool(run), status_code=201)


@operation(parameters=[path_id()], body={"type": "object", "required": ["status"]})
async def update_share(request: Request) -> Response:
    """A shared department's progress on its task (`{"status": "open"|"in_progress"|"done", "note"}`)."""
    hq, principal = await staff_principal(request)
    principal.check_works_tickets()
    key, department = request.path_params["id"], request.path_params["department"]
    body = await json_object(request)
    actor = acting_department(request, principal, prefer=(department,))

    def run() -> dict[str, Any]:
        with hq.db.write() as conn:
            ticket = _ticket(conn, principal, key)
            with _as_http_errors():
                share = collaboration.update_share(
                    conn,
                    ticket,
                    department,
                    actor=actor,
                    status=body.get("status"),
                    note=body.get("note"),
                    now_ms=_now_ms(),
                )
        return _share_json(share)

    return json_response(await run_in_threadpool(run))


@operation(parameters=[path_id()], body={"type": "object", "required": ["body"]})
async def add_note(request: Request) -> Response:
    """An internal note (`{"body", "author"}`): seen at HQ only, never sent to the store."""
    hq, principal = await staff_principal(request)
    principal.check_works_tickets()
    key = request.path_params["id"]
    body = await json_object(request)

    def run() -> dict[str, Any]:
        with hq.db.write() as conn:
            ticket = _ticket(conn, principal, key)
            shared = tuple(str(share["department"]) for share in collaboration.shares_of(conn, ticket.id))
            actor = acting_department(request, principal, prefer=(ticket.department, *shared))
            with _as_http_errors():
                note = collaboration.add_note(
                    conn,
                    ticket,
                    body=body.get("body"),
                    author=principal.display_name if principal.user_id else body.get("author"),
                    actor=actor,
                    now_ms=_now_ms(),
                )
        return {**note, "created_at": iso(note["created_at"])}

    return json_response(await run_in_threadpool(run), status_code=201)


@operation(parameters=[path_id()], body={"type": "object", "required": ["ticket"]})
async def link_ticket(request: Request) -> Response:
    """Link another ticket (`{"ticket": id or number, "kind": "related"}`)."""
    hq, principal = await staff_principal(request)
    principal.check_works_tickets()
    key = request.path_params["id"]
    body = await json_object(request)

    def run() -> list[dict[str, Any]]:
        with hq.db.write() as conn:
            ticket = _ticket(conn, principal, key)
            other = _ticket(conn, principal, str(body.get("ticket", "")))
            collaboration.link(conn, ticket, other, str(body.get("kind", "related")), _now_ms())
            return collaboration.links_of(conn, ticket.id)

    return json_response({"links": await run_in_threadpool(run)})


@operation(parameters=[path_id()], body={"type": "object", "required": ["into"]})
async def merge_ticket(request: Request) -> Response:
    """Merge this ticket, a duplicate, into another (`{"into": id or number}`).

    It is closed with a note naming the other ticket (its store sees that) and linked to it.
    """
    hq, principal = await staff_principal(request)
    principal.check_works_tickets()
    key = request.path_params["id"]
    body = await json_object(request)

    def run() -> dict[str, Any]:
        with hq.db.read() as conn:
            duplicate = _ticket(conn, principal, key)
            into = _ticket(conn, principal, str(body.get("into", "")))
        actor = acting_department(request, principal, prefer=(duplicate.department,))
        ticket = ticket_actions.merge(hq.db, hq.clock, duplicate.id, into.id, actor=actor)
        return ticket_json(ticket_view(hq, ticket.id))

    return json_response(await run_in_threadpool(run))


routes = [
    Route("/api/v1/tickets/{id}/shares", share_ticket, methods=["POST"]),
    Route("/api/v1/tickets/{id}/shares/{department}", update_share, methods=["PATCH"]),
    Route("/api/v1/tickets/{id}/notes", add_note, methods=["POST"]),
    Route("/api/v1/tickets/{id}/links", link_ticket, methods=["POST"]),
    Route("/api/v1/tickets/{id}/merge", merge_ticket, methods=["POST"]),
]
