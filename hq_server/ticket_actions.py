"""Ticket changes made at HQ (staff API): each one write transaction with its change-log entries.

HQ edits are stamped with HQ's clock after observing the ticket's own HLC, so they are later than
every version HQ holds and merge with store edits by last-writer-wins per field; they reach the
store on its next pull (or wait). Values are validated by the protocol rules before anything is
written; a broken rule raises :class:`~hq_server.errors.InvalidInput` naming the field.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.engine import Connection

from hq_server import assignment, collaboration, dispatch, reference, ticket_store
from hq_server.db import Database
from hq_server.errors import InvalidInput, NotFound, from_invalid_field
from hq_server.ticket_rules import Outcome, TicketBatch, add_comment, change_status, create_ticket, hq_edit, hq_stamp
from sync_protocol.errors import InvalidField
from sync_protocol.hlc import HybridClock
from sync_protocol.ops import TicketComment, TicketCreate, TicketStatus, new_id
from sync_protocol.tickets import CLERK_FIELDS, HQ_FIELDS, CommentState, TicketState

HQ_ACTOR = "总部"
#: Fields an HQ edit can change that the SLA depends on.
SLA_INPUTS = ("priority", "department", "type")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _raise_if_rejected(outcome: Outcome) -> None:
    if outcome.status == "rejected":
        raise InvalidInput(outcome.code, field=outcome.field, **outcome.params)


def _batch(conn: Connection, ticket_ids: list[str]) -> TicketBatch:
    return TicketBatch(
        tickets=ticket_store.load_tickets(conn, ticket_ids),
        type_codes=reference.ticket_type_codes(conn),
        department_codes=reference.department_codes(conn),
        forms=reference.forms_of(conn),
    )


def create(db: Database, clock: HybridClock, fields: dict[str, Any], *, store: str | None) -> TicketState:
    """A ticket made at HQ, numbered ``HQ-000123``; for ``store`` (code or id) if given."""
    unknown = [name for name in fields if name not in CLERK_FIELDS and name not in HQ_FIELDS and name != "extra"]
    if unknown:
        raise InvalidInput("unknown_field", field=unknown[0])
    extra = fields.get("extra", {})
    if not isinstance(extra, dict):
        raise InvalidInput("invalid_type", field="extra")
    clerk = {name: fields.get(name, "") for name in CLERK_FIELDS}
    hq_only = {name: fields[name] for name in HQ_FIELDS if name in fields}
    with db.write() as conn:
        store_id = ""
        if store:
            found = reference.find_store(conn, store)
            if found is None:
                raise InvalidInput("unknown_store", field="store", value=store)
            store_id = str(found["id"])
        batch = _batch(conn, [])
        for name, value in clerk.items():
            if not isinstance(value, str):
                raise InvalidInput("invalid_type", field=name)
        payload = TicketCreate(
            ticket_id=new_id(),
            number=ticket_store.next_hq_number(conn),
            created_at=_now_ms(),
            extra=extra,
            **clerk,
        )
        hlc = clock.now().encode()
        _raise_if_rejected(create_ticket(batch, payload, store_id=store_id, hlc=hlc, origin=None))
        batch.tickets[payload.ticket_id].channel = "hq"
        if hq_only:
            try:
                hq_edit(batch, payload.ticket_id, hq_only, hlc)
            except InvalidField as exc:
                raise from_invalid_field(exc, value=exc.field) from exc
        dispatch.decide(conn, clock, batch, _now_ms())
        ticket_store.flush(conn, clock, batch)
    return batch.tickets[payload.ticket_id]


def edit(
    db: Database, clock: HybridClock, key: str, changes: dict[str, Any], *, actor: str | None = None
) -> TicketState:
    """Change clerk and HQ-only fields of a ticket (id or number); a ``status`` key (with an
    optional ``note``) is a status change through the transition rules and the history.
    ``actor``: the department acting (None: the admin); only the owner changes status, assignee
    and department (:func:`hq_server.collaboration.check_owner`)."""
    changes = dict(changes)
    status = changes.pop("status", None)
    note = changes.pop("note", "")
    if status is None and note:
        raise InvalidInput("unknown_field", field="note")
    if status is None and not changes:
        raise InvalidInput("required", field="changes")
    with db.write() as conn:
        ticket = _load(conn, key)
        for name in collaboration.OWNER_FIELDS:
            if name in changes or (name == "status" and status is not None):
                collaboration.check_owner(ticket, actor, name)
        batch = _batch(conn, [ticket.id])
        ticket = batch.tickets[ticket.id]
        hlc = hq_stamp(clock, ticket)
        if status is not None:
            if not isinstance(status, str) or not isinstance(note, str):
                raise InvalidInput("invalid_type", field="status" if not isinstance(status, str) else "note")
            event = TicketStatus(
                ticket_id=ticket.id, event_id=new_id(), status=status, note=note, actor=HQ_ACTOR, at=_now_ms()
            )
            _raise_if_rejected(change_status(batch, event, store_id=None, hlc=hlc, origin=None))
            _first_response(batch, ticket.id)
        if changes:
            try:
                if "assignee" in changes:
                    department = changes.get("department", ticket.department)
                    assignment.check_assignee(conn, str(department), changes["assignee"])
                hq_edit(batch, ticket.id, changes, hlc)
            except InvalidField as exc:
                raise from_invalid_field(exc, value=changes.get(exc.field, "")) from exc
            if "assignee" in changes and status is None:
                _follow_assignment(batch, clock, ticket.id)
        sla_inputs = status is not None or any(name in changes for name in SLA_INPUTS)
        dispatch.decide(conn, clock, batch, _now_ms(), touched=[ticket.id] if sla_inputs else [])
        ticket_store.flush(conn, clock, batch)
        dispatch.after_flush(conn, batch, _now_ms())
    return batch.tickets[ticket.id]


def comment(db: Database, clock: HybridClock, key: str, body: object, author: object) -> CommentState:
    """A comment written at HQ on a ticket (id or number)."""
    if not isinstance(body, str):
        raise InvalidInput("invalid_type", field="body")
    if not isinstance(author, str):
        raise InvalidInput("invalid_type", field="author")
    with db.write() as conn:
        ticket = _load(conn, key)
        batch = _batch(conn, [ticket.id])
        hlc = hq_stamp(clock, batch.tickets[ticket.id])
        payload = TicketComment(
            ticket_id=ticket.id,
            comment_id=new_id(),
            body=body,
            author=author or HQ_ACTOR,
            created_at=_now_ms(),
        )
        _raise_if_rejected(add_comment(batch, payload, store_id=None, hlc=hlc, origin=None, source="hq"))
        _first_response(batch, ticket.id)
        dispatch.decide(conn, clock, batch, _now_ms(), touched=[ticket.id])
        ticket_store.flush(conn, clock, batch)
    return batch.comments[0]


def _follow_assignment(batch: TicketBatch, clock: HybridClock, ticket_id: str) -> None:
    """A lead's (re)assignment shows in the status: a pool ticket given to an agent becomes
    ``assigned``; an assigned ticket taken from its agent goes back to ``new`` (the pool)."""
    ticket = batch.tickets[ticket_id]
    target = {("new", True): "assigned", ("assigned", False): "new"}.get((ticket.status, bool(ticket.assignee)))
    if target is not None:
        event = TicketStatus(
            ticket_id=ticket_id, event_id=new_id(), status=target, note=ticket.assignee, actor=HQ_ACTOR, at=_now_ms()
        )
        _raise_if_rejected(change_status(batch, event, store_id=None, hlc=clock.now().encode(), origin=None))


def _first_response(batch: TicketBatch, ticket_id: str) -> None:
    """HQ's first reply or status change on a ticket is its first response (for the SLA)."""
    ticket = batch.tickets[ticket_id]
    if ticket.first_responded_at is None:
        ticket.first_responded_at = _now_ms()
        batch.changed[ticket_id] = None


def _load(conn: Connection, key: str) -> TicketState:
    ticket = ticket_store.find_ticket(conn, key)
    if ticket is None:
        raise NotFound("ticket_not_found", value=key)
    return ticket


def merge(db: Database, clock: HybridClock, key: str, into_key: str, *, actor: str | None = None) -> TicketState:
    """Merge a duplicate into another ticket: it is closed with a note naming the ticket it went
    into (its store sees that), and linked to it as a duplicate."""
    with db.write() as conn:
        ticket = _load(conn, key)
        into = _load(conn, into_key)
        collaboration.check_owner(ticket, actor, "merge")
        collaboration.check_mergeable(ticket, into)
        batch = _batch(conn, [ticket.id])
        event = TicketStatus(
            ticket_id=ticket.id,
            event_id=new_id(),
            status="closed",
            note=f"已合并到 {into.number}",
            actor=HQ_ACTOR,
            at=_now_ms(),
        )
        _raise_if_rejected(change_status(batch, event, store_id=None, hlc=hq_stamp(clock, ticket), origin=None))
        collaboration.link(conn, ticket, into, "duplicate", _now_ms())
        dispatch.decide(conn, clock, batch, _now_ms())
        ticket_store.flush(conn, clock, batch)
    return batch.tickets[ticket.id]
