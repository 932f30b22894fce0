"""Reads for the staff API: ticket lists with filters, one ticket with its comments and history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import collaboration, ticket_store
from hq_server.schema import stores, tickets
from sync_protocol.tickets import CommentState, HistoryEntry, TicketState

MAX_LIST_LIMIT = 500


@dataclass
class TicketFilter:
    status: str | None = None
    #: Store code or id.
    store: str | None = None
    type: str | None = None
    department: str | None = None
    limit: int = 50
    offset: int = 0
    #: The caller's scope (:meth:`hq_server.principals.Principal.ticket_condition`; None: all).
    scope: sa.ColumnElement[bool] | None = None


@dataclass
class TicketView:
    """A ticket with what the staff API shows around it."""

    ticket: TicketState
    store_code: str
    comments: list[CommentState] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    shares: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)


def _store_codes(conn: Connection, store_ids: set[str]) -> dict[str, str]:
    ids = [i for i in store_ids if i]
    if not ids:
        return {}
    query = sa.select(stores.c.id, stores.c.code).where(stores.c.id.in_(ids))
    return {str(i): str(code) for i, code in conn.execute(query)}


def list_tickets(conn: Connection, flt: TicketFilter) -> tuple[list[TicketView], int]:
    """A page of tickets, newest first, and how many match in all."""
    conditions: list[sa.ColumnElement[bool]] = []
    if flt.scope is not None:
        conditions.append(flt.scope)
    if flt.status:
        conditions.append(tickets.c.status == flt.status)
    if flt.type:
        conditions.append(tickets.c.type == flt.type)
    if flt.department:
        # A department's queue: the tickets it owns and those shared with it.
        conditions.append(sa.or_(tickets.c.department == flt.department, collaboration.shared_with(flt.department)))
    if flt.store:
        store_ids = sa.select(stores.c.id).where(sa.or_(stores.c.code == flt.store, stores.c.id == flt.store))
        conditions.append(tickets.c.store_id.in_(store_ids.scalar_subquery()))
    total = int(conn.execute(sa.select(sa.func.count()).select_from(tickets).where(*conditions)).scalar_one())
    columns = [tickets.c[name] for name in ticket_store.STATE_COLUMNS]
    query = (
        sa.select(*columns)
        .where(*conditions)
        .order_by(tickets.c.created_at.desc(), tickets.c.id.desc())
        .limit(flt.limit)
        .offset(flt.offset)
    )
    found = [ticket_store.state_of(row) for row in conn.execute(query).mappings()]
    codes = _store_codes(conn, {t.store_id for t in found})
    return [TicketView(t, codes.get(t.store_id, "")) for t in found], total


def get_ticket(conn: Connection, key: str) -> TicketView | None:
    """A ticket by id or number, with comments and status history."""
    ticket = ticket_store.find_ticket(conn, key)
    if ticket is None:
        return None
    return TicketView(
        ticket,
        _store_codes(conn, {ticket.store_id}).get(ticket.store_id, ""),
        ticket_store.comments_of(conn, ticket.id),
        ticket_store.history_of(conn, ticket.id),
        collaboration.shares_of(conn, ticket.id),
        collaboration.notes_of(conn, ticket.id),
        collaboration.links_of(conn, ticket.id),
    )
