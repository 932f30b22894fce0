"""HQ's decisions on the tickets of a write, made just before it is flushed: the one place where
push (tickets arriving from stores) and the staff API (tickets made or changed at HQ) route
tickets and keep their SLA fields current.

A ticket is routed the first time HQ holds it (:mod:`hq_server.routing`) and handed to an agent
of its department if one can take it (:mod:`hq_server.assignment`). Its SLA fields are
recomputed (:mod:`hq_server.service_levels`) when it is routed, when its status changes, and when
HQ changes what its SLA depends on (priority, department, type) or answers it for the first time.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import assignment, routing, service_levels, surveys
from hq_server.schema import meta
from hq_server.ticket_rules import TicketBatch
from sync_protocol.hlc import HybridClock


def decide(
    conn: Connection, clock: HybridClock, batch: TicketBatch, now_ms: int, *, touched: Iterable[str] = ()
) -> None:
    """Route the batch's tickets that reach HQ now and give them to an agent of their department,
    and refresh the SLA of those that need it (``touched``: tickets HQ changed in a way the SLA
    depends on)."""
    fresh = routing.unrouted(batch.tickets[ticket_id] for ticket_id in batch.changed)
    if fresh:
        context = routing.load_context(conn, fresh)
        for ticket in fresh:
            routing.route(ticket, context, now_ms)
        assignment.assign_pool(conn, clock, batch, [t.id for t in fresh], now_ms)
    status_changed = [entry.ticket_id for entry in batch.history]
    service_levels.refresh(conn, batch, [*(t.id for t in fresh), *status_changed, *touched], now_ms)


#: ``meta`` key of the address customers reach HQ at (survey links); ``hq serve`` records it.
PUBLIC_URL_KEY = "public_url"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8700"


def after_flush(conn: Connection, batch: TicketBatch, now_ms: int) -> None:
    """What follows a write once its tickets are stored: a satisfaction survey for each ticket
    resolved in it (the survey row refers to the ticket row, hence after the flush)."""
    if any(entry.to_status == "resolved" for entry in batch.history):
        surveys.open_for_resolved(conn, batch, now_ms, base_url=public_url(conn))


def public_url(conn: Connection) -> str:
    value = conn.execute(sa.select(meta.c.value).where(meta.c.key == PUBLIC_URL_KEY)).scalar()
    return str(value) if value else DEFAULT_PUBLIC_URL


def set_public_url(conn: Connection, url: str) -> None:
    conn.execute(meta.delete().where(meta.c.key == PUBLIC_URL_KEY))
    conn.execute(meta.insert().values(key=PUBLIC_URL_KEY, value=url.rstrip("/")))
