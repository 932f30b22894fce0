"""HTTP handlers of multi-channel intake (``/api/v1``): a channel posts a customer's message, HQ
answers with the ticket it became, the customer and their past tickets (the admin token, which is
the token the channels' integrations use, or an administrator: 403 ``admin_only`` otherwise); and a
customer with their tickets (any HQ role; only the tickets in the caller's scope are listed).

The routes are in :data:`routes`, to be mounted in the HQ app next to the staff API's.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hq_server import intake
from hq_server.auth import admin_principal, staff_principal
from hq_server.errors import BadRequest, NotFound, PayloadTooLarge, from_invalid_field
from hq_server.intake_channels import ADAPTERS, UnreadablePayload
from hq_server.openapi import operation
from hq_server.responses import json_response
from hq_server.schema import tickets
from hq_server.staff_views import iso
from sync_protocol.errors import InvalidField

#: Largest body a channel may post (attachments travel as references, not inline).
MAX_BODY_BYTES = 1_000_000


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _body(request: Request) -> bytes:
    """The request body, refused with 413 beyond :data:`MAX_BODY_BYTES` (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(limit=MAX_BODY_BYTES)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(limit=MAX_BODY_BYTES)
        chunks.append(chunk)
    return b"".join(chunks)


def customer_json(customer: intake.Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "phone": customer.phone,
        "member_id": customer.member_id,
        "name": customer.name,
        "level": customer.level,
        "created_at": iso(customer.created_at),
        "updated_at": iso(customer.updated_at),
    }


def past_ticket_json(ticket: intake.PastTicket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "number": ticket.number,
        "title": ticket.title,
        "status": ticket.status,
        "channel": ticket.channel,
        "created_at": iso(ticket.created_at),
    }


@operation(
    parameters=[
        {
            "name": "channel",
            "in": "path",
            "required": True,
            "description": "platform, wechat, wecom, phone, sms, webchat or email",
            "schema": {"type": "string"},
        }
    ],
    body={"type": "object", "description": "the channel's own message format"},
)
async def receive_message(request: Request) -> Response:
    """A customer's message from an intake channel becomes a ticket.

    The body is the channel's own JSON: `platform` (`request_id`, `platform`, `order_no`,
    `buyer_phone`, `buyer_nick`, `buyer_member_id`, `buyer_level`, `refund_type`, `reason`,
    `description`, `product_code`, `images`), `wechat` / `wecom` (`MsgId`, `FromUserName`,
    `Content`, `CreateTime`, `member_id`, `phone`, `nickname`, `member_level`), `phone` (`call_id`,
    `caller`, `transcript`, `summary`, `agent`), `sms` (`sms_id`, `from`, `text`), `webchat`
    (`message_id`, `session_id`, `visitor` {`name`, `phone`, `member_id`, `level`}, `messages`
    [{`from`, `text`}]), `email` (`message_id`, `from`, `subject`, `body`, `attachments`).
    Answers 201 `{"ticket": {"id", "number", "department", "priority", "channel", ...},
    "customer": {"id", "level", ...} or null, "past_tickets": [...], "duplicate": false}`; the
    same message delivered again answers 200 with `"duplicate": true` and the same ticket.
    """
    hq, _ = await admin_principal(request)
    channel = request.path_params["channel"]
    adapter = ADAPTERS.get(channel)
    if adapter is None:
        raise NotFound("unknown_channel", value=channel)
    raw = await _body(request)
    try:
        message = adapter(raw)
    except UnreadablePayload as exc:
        raise BadRequest("invalid_json") from exc
    except InvalidField as exc:
        raise from_invalid_field(exc, **exc.params) from exc

    def run() -> tuple[intake.IntakeResult, list[intake.PastTicket]]:
        result = intake.receive(hq.db, hq.clock, channel, message, _now_ms())
        past: list[intake.PastTicket] = []
        if result.customer is not None:
            # A read of its own: the history query need not hold the writers' lock.
            with hq.db.read() as conn:
                past = intake.customer_history(conn, result.customer.id, exclude=result.ticket_id)
        return result, past

    result, past = await run_in_threadpool(run)
    ticket = result.ticket
    body = {
        "ticket": {
            "id": ticket.id,
            "number": ticket.number,
            "type": ticket.type,
            "title": ticket.title,
            "status": ticket.status,
            "department": ticket.department,
            "assignee": ticket.assignee,
            "priority": ticket.priority,
            "tags": list(ticket.tags),
            "channel": ticket.channel,
        },
        "customer": customer_json(result.customer) if result.customer is not None else None,
        "past_tickets": [past_ticket_json(p) for p in past],
        "duplicate": not result.created,
    }
    return json_response(body, status_code=201 if result.created else 200)


@operation(
    parameters=[
        {"name": "id", "in": "path", "required": True, "description": "customer id", "schema": {"type": "string"}}
    ]
)
async def get_customer(request: Request) -> Response:
    """A customer (phone, member id, name, level) with their tickets, newest first.

    Answers `{"id", "phone", "member_id", "name", "level", "created_at", "updated_at",
    "tickets": [{"id", "number", "title", "status", "channel", "created_at"}...]}`.
    """
    hq, principal = await staff_principal(request)
    customer_id = request.path_params["id"]
    scope = principal.ticket_condition()

    def run() -> tuple[intake.Customer | None, list[intake.PastTicket]]:
        with hq.db.read() as conn:
            customer = intake.get_customer(conn, customer_id)
            if customer is None:
                return None, []
            history = intake.customer_history(conn, customer.id)
            if scope is not None and history:
                query = sa.select(tickets.c.id).where(tickets.c.id.in_([t.id for t in history]), scope)
                visible = {str(i) for i in conn.execute(query).scalars()}
                history = [t for t in history if t.id in visible]
            return customer, history

    customer, history = await run_in_threadpool(run)
    if customer is None:
        raise NotFound("customer_not_found", value=customer_id)
    return json_response({**customer_json(customer), "tickets": [past_ticket_json(t) for t in history]})


routes = [
    Route("/api/v1/intake/{channel}", receive_message, methods=["POST"]),
    Route("/api/v1/customers/{id}", get_customer, methods=["GET"]),
]
