"""Collaboration on a ticket at HQ: sharing it with another department, internal notes, links
between tickets, and merging duplicates.

A ticket belongs to one department (its ``department``: the owner). Sharing gives another
department its own task on the ticket (``ticket_shares``: open, in progress, done): the ticket
shows in that department's queue, each side sees the other's progress, and the shared department
works its task without touching the owner's: it cannot change the ticket's status, assignee or
department, nor share it on (:func:`check_owner`). Internal notes are for HQ only: they are not
written to the change log, so no store ever receives them. Merging closes a duplicate with a
note naming the ticket it was merged into (the store sees that), and links the two.

Who acts is a department (``actor``): until HQ has user accounts the staff API takes it from the
``X-StoreDesk-Department`` header; without one the caller is HQ's administrator, who may do all.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import notifications
from hq_server.errors import Conflict, Forbidden, InvalidInput, NotFound
from hq_server.schema import internal_notes, ticket_links, ticket_shares, tickets
from sync_protocol.ops import new_id
from sync_protocol.tickets import TicketState, validate_text

SHARE_STATUSES = ("open", "in_progress", "done")
LINK_KINDS = ("related", "duplicate")
#: Fields of a ticket only its owner department changes.
OWNER_FIELDS = ("status", "assignee", "department")


def check_owner(ticket: TicketState, actor: str | None, action: str) -> None:
    """Refuse ``action`` on ``ticket`` by a department that does not own it (None: the admin)."""
    if actor is not None and actor != ticket.department:
        raise Forbidden("not_owner", action=action, department=ticket.department)


def share(
    conn: Connection, ticket: TicketState, department: str, *, actor: str | None, note: str, now_ms: int
) -> dict[str, Any]:
    """Share ``ticket`` with ``department``; its lead is notified. Sharing again is a no-op."""
    check_owner(ticket, actor, "share")
    if department == ticket.department:
        raise InvalidInput("share_with_owner", field="department", value=department)
    note = validate_text("note", note)
    existing = _share(conn, ticket.id, department)
    if existing is not None:
        return existing
    conn.execute(
        ticket_shares.insert().values(
            ticket_id=ticket.id,
            department=department,
            status="open",
            note=note,
            shared_by=ticket.department,
            created_at=now_ms,
            updated_at=now_ms,
        )
    )
    notifications.notify(
        conn,
        role="lead",
        department=department,
        ticket_id=ticket.id,
        kind="shared",
        params={"from_department": ticket.department, "note": note},
        now_ms=now_ms,
    )
    found = _share(conn, ticket.id, department)
    assert found is not None
    return found


def update_share(
    conn: Connection,
    ticket: TicketState,
    department: str,
    *,
    actor: str | None,
    status: object,
    note: object,
    now_ms: int,
) -> dict[str, Any]:
    """Progress of a department's task on a shared ticket: only that department (or the admin)."""
    if actor is not None and actor != department:
        raise Forbidden("not_your_task", department=department)
    if _share(conn, ticket.id, department) is None:
        raise NotFound("share_not_found", value=department)
    if status not in SHARE_STATUSES:
        raise InvalidInput("invalid_choice", field="status")
    values: dict[str, Any] = {"status": status, "updated_at": now_ms}
    if note is not None:
        values["note"] = validate_text("note", note)
    c = ticket_shares.c
    conn.execute(ticket_shares.update().where(c.ticket_id == ticket.id, c.department == department).values(values))
    found = _share(conn, ticket.id, department)
    assert found is not None
    return found


def shares_of(conn: Connection, ticket_id: str) -> list[dict[str, Any]]:
    c = ticket_shares.c
    query = sa.select(ticket_shares).where(c.ticket_id == ticket_id).order_by(c.created_at, c.department)
    return [dict(row) for row in conn.execute(query).mappings()]


def _share(conn: Connection, ticket_id: str, department: str) -> dict[str, Any] | None:
    c = ticket_shares.c
    row = (
        conn.execute(sa.select(ticket_shares).where(c.ticket_id == ticket_id, c.department == department))
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def shared_with(department: str) -> sa.ColumnElement[bool]:
    """The condition on ``tickets`` of those shared with ``department`` (for queues)."""
    c = ticket_shares.c
    return tickets.c.id.in_(sa.select(c.ticket_id).where(c.department == department).scalar_subquery())


def add_note(
    conn: Connection, ticket: TicketState, *, body: object, author: object, actor: str | None, now_ms: int
) -> dict[str, Any]:
    """An internal note (HQ only). The owner and the departments it is shared with may write."""
    if actor is not None and actor != ticket.department and _share(conn, ticket.id, actor) is None:
        raise Forbidden("not_involved", department=actor)
    text = validate_text("body", body, required=True)
    who = validate_text("author", author if author is not None else "")
    note = {
        "id": new_id(),
        "ticket_id": ticket.id,
        "department": actor or "",
        "author": who,
        "body": text,
        "created_at": now_ms,
    }
    conn.execute(internal_notes.insert().values(note))
    return note


def notes_of(conn: Connection, ticket_id: str) -> list[dict[str, Any]]:
    c = internal_notes.c
    query = sa.select(internal_notes).where(c.ticket_id == ticket_id).order_by(c.created_at, c.id)
    return [dict(row) for row in conn.execute(query).mappings()]


def link(conn: Connection, ticket: TicketState, other: TicketState, kind: str, now_ms: int) -> None:
    """Link two tickets (``related`` both ways; ``duplicate``: ``ticket`` is a duplicate of ``other``)."""
    if kind not in LINK_KINDS:
        raise InvalidInput("invalid_choice", field="kind")
    if ticket.id == other.id:
        raise InvalidInput("link_to_itself", field="ticket")
    pairs = [(ticket.id, other.id)] if kind == "duplicate" else [(ticket.id, other.id), (other.id, ticket.id)]
    for a, b in pairs:
        c = ticket_links.c
        if conn.execute(sa.select(c.kind).where(c.ticket_id == a, c.other_id == b)).first() is None:
            conn.execute(ticket_links.insert().values(ticket_id=a, other_id=b, kind=kind, created_at=now_ms))


def links_of(conn: Connection, ticket_id: str) -> list[dict[str, Any]]:
    c = ticket_links.c
    query = (
        sa.select(c.other_id, c.kind, tickets.c.number, tickets.c.status)
        .select_from(ticket_links.join(tickets, tickets.c.id == c.other_id))
        .where(c.ticket_id == ticket_id)
        .order_by(c.created_at)
    )
    return [
        {"ticket_id": i, "kind": kind, "number": number, "status": status}
        for i, kind, number, status in conn.execute(query)
    ]


def check_mergeable(ticket: TicketState, into: TicketState) -> None:
    if ticket.id == into.id:
        raise InvalidInput("link_to_itself", field="into")
    if ticket.status == "closed":
        raise Conflict("already_closed", value=ticket.number)
