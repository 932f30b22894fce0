"""Tickets HQ opens by itself (replenishment, stock exceptions, refund tasks, return exceptions).

Each is an ordinary ticket of a store, numbered by HQ, channel ``hq``, added to the push's
:class:`~hq_server.ticket_rules.TicketBatch` before routing, so it is routed, assigned and put
under its SLA like any other, and the store sees it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.engine import Connection

from hq_server import ticket_store
from hq_server.ticket_rules import TicketBatch, create_ticket
from sync_protocol.hlc import HybridClock
from sync_protocol.ops import TicketCreate, new_id
from sync_protocol.tickets import MAX_LENGTH, TicketState

log = logging.getLogger("storedesk.hq.tickets")


def open_ticket(
    conn: Connection,
    clock: HybridClock,
    batch: TicketBatch,
    *,
    store_id: str,
    type: str,
    title: str,
    description: str,
    now_ms: int,
    product_code: str = "",
    customer_phone: str = "",
    extra: dict[str, Any] | None = None,
) -> TicketState | None:
    """Open a ticket of ``store_id`` in ``batch`` (no form check; texts cut to their limits);
    None (logged as an error) when the rules still refuse it."""
    payload = TicketCreate(
        ticket_id=new_id(),
        number=ticket_store.next_hq_number(conn),
        type=type,
        title=_cut(title, MAX_LENGTH["title"]),
        description=_cut(description, MAX_LENGTH["description"]),
        product_code=product_code,
        customer_phone=customer_phone,
        created_at=now_ms,
        extra=extra or {},
    )
    outcome = create_ticket(batch, payload, store_id=store_id, hlc=clock.now().encode(), origin=None, check_form=False)
    if outcome.status != "applied":
        log.error("could not open a %s ticket of store %s: %s", type, store_id, outcome.code)
        return None
    ticket = batch.tickets[payload.ticket_id]
    ticket.channel = "hq"
    return ticket


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
