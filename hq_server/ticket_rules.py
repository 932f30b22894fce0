"""What an op or an HQ edit does to tickets, applied in memory to a :class:`TicketBatch`.

No SQL and no HTTP here: :mod:`hq_server.ticket_store` loads the batch and flushes it (rows and
change-log entries in one transaction); :mod:`hq_server.push` and :mod:`hq_server.ticket_actions`
drive it. The merge rules themselves live in :mod:`sync_protocol.tickets`; this module applies
them to HQ's state and says what became of each op (:class:`Outcome`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any

from sync_protocol import forms
from sync_protocol.errors import ClockDriftError, InvalidField
from sync_protocol.hlc import Hlc, HybridClock
from sync_protocol.messages import OpStatus
from sync_protocol.ops import TicketComment, TicketCreate, TicketSet, TicketStatus
from sync_protocol.tickets import (
    CLERK_FIELDS,
    CommentState,
    HistoryEntry,
    TicketState,
    decide_status,
    merge_fields,
    validate_clerk_changes,
    validate_hq_changes,
    validate_status,
    validate_text,
)


@dataclass
class Outcome:
    """What became of one op: ``applied``, ``merged`` (with ``superseded`` fields) or ``rejected``
    (with a ``code``, the ``field`` at fault and parameters for its text)."""

    status: OpStatus
    code: str = ""
    field: str | None = None
    params: dict[str, object] = dataclasses.field(default_factory=dict)
    superseded: list[str] = dataclasses.field(default_factory=list)


def rejected(code: str, field: str | None = None, **params: object) -> Outcome:
    return Outcome("rejected", code, field, dict(params))


def _invalid(exc: InvalidField, **params: object) -> Outcome:
    return rejected(exc.code, exc.field, **params)


@dataclass
class TicketBatch:
    """Tickets loaded for one transaction, and what the transaction did to them in memory."""

    tickets: dict[str, TicketState]
    #: Codes of the ticket types and departments HQ knows.
    type_codes: frozenset[str]
    department_codes: frozenset[str] = frozenset()
    #: The form of each ticket type that has one (checked when a ticket is created).
    forms: dict[str, forms.Form] = dataclasses.field(default_factory=dict)
    #: Comment and history ids already stored (upserts on client UUIDs).
    known_comment_ids: set[str] = dataclasses.field(default_factory=set)
    known_event_ids: set[str] = dataclasses.field(default_factory=set)
    created: set[str] = dataclasses.field(default_factory=set)
    #: Tickets changed in this batch, in the order they were first changed.
    changed: dict[str, None] = dataclasses.field(default_factory=dict)
    comments: list[CommentState] = dataclasses.field(default_factory=list)
    history: list[HistoryEntry] = dataclasses.field(default_factory=list)
    #: The node that made a record (ticket, comment or history id -> node id).
    origins: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Tickets that changed hands in this batch (ticket id -> when), for the assignment timeout.
    assigned: dict[str, int] = dataclasses.field(default_factory=dict)
    #: The loaded tickets' rows as stored (ticket id -> column values), when the loader kept them.
    stored_rows: dict[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)
    #: Changed tickets as encoded by the flush (ticket id -> snapshot), for the push's answer.
    encoded: dict[str, bytes] = dataclasses.field(default_factory=dict)

    def mark(self, ticket: TicketState, hlc: str) -> None:
        """Record that ``ticket`` changed at ``hlc``."""
        if hlc > ticket.hlc:
            ticket.hlc = hlc
        ticket.updated_at = max(ticket.updated_at, wall_of(hlc))
        self.changed[ticket.id] = None


def wall_of(hlc: str) -> int:
    """The wall-clock milliseconds of an encoded HLC."""
    return int(hlc.split(".", 1)[0])


def _ticket_for(batch: TicketBatch, ticket_id: str, store_id: str | None) -> TicketState | Outcome:
    ticket = batch.tickets.get(ticket_id)
    if ticket is None:
        return rejected("unknown_ticket")
    if store_id is not None and ticket.store_id != store_id:
        return rejected("wrong_store")
    return ticket


def create_ticket(
    batch: TicketBatch, p: TicketCreate, *, store_id: str, hlc: str, origin: str | None, check_form: bool = True
) -> Outcome:
    """``ticket.create``: upsert on ``ticket_id``; a retry or a replay never makes a second one.
    ``check_form=False`` for a ticket HQ opens itself: a type's form is what clerks fill in."""
    try:
        number = validate_text("number", p.number, required=True)
        fields: dict[str, Any] = {
            f: validate_text(f, getattr(p, f), required=f in ("title", "type")) for f in CLERK_FIELDS
        }
    except InvalidField as exc:
        return _invalid(exc)
    if fields["type"] not in batch.type_codes:
        return rejected("unknown_ticket_type", "type", value=fields["type"])
    existing = batch.tickets.get(p.ticket_id)
    if existing is None and check_form:
        try:
            forms.check(
                batch.forms.get(fields["type"], forms.Form()), product_code=fields["product_code"], extra=p.extra
            )
        except InvalidField as exc:
            return _invalid(exc, **exc.params)
    if existing is not None:
        if existing.store_id != store_id:
            return rejected("wrong_store")
        # Already there (a retry, or a replay after a restore): only values that differ and win
        # by last-writer-wins change anything.
        differing = {name: value for name, value in fields.items() if getattr(existing, name) != value}
        if not differing:
            return Outcome("merged", "duplicate")
        return _merge_clerk_fields(batch, existing, differing, hlc)
    ticket = TicketState(
        id=p.ticket_id,
        number=number,
        store_id=store_id,
        created_at=p.created_at,
        updated_at=max(p.created_at, wall_of(hlc)),
        hlc=hlc,
        field_hlcs={**dict.fromkeys(CLERK_FIELDS, hlc), "status": hlc},
        extra=dict(p.extra),
        **fields,
    )
    batch.tickets[ticket.id] = ticket
    batch.created.add(ticket.id)
    batch.changed[ticket.id] = None
    if origin:
        batch.origins[ticket.id] = origin
    return Outcome("applied")


def set_fields(batch: TicketBatch, p: TicketSet, *, store_id: str, hlc: str) -> Outcome:
    """``ticket.set`` from a store: clerk fields only, last writer wins per field."""
    found = _ticket_for(batch, p.ticket_id, store_id)
    if isinstance(found, Outcome):
        return found
    try:
        cleaned = validate_clerk_changes(p.changes)
    except InvalidField as exc:
        return _invalid(exc)
    if "type" in cleaned and cleaned["type"] not in batch.type_codes:
        return rejected("unknown_ticket_type", "type", value=cleaned["type"])
    return _merge_clerk_fields(batch, found, cleaned, hlc)


def _merge_clerk_fields(batch: TicketBatch, ticket: TicketState, changes: dict[str, Any], hlc: str) -> Outcome:
    winners, losers = merge_fields(ticket.field_hlcs, changes, hlc)
    for name, value in winners.items():
        setattr(ticket, name, value)
        ticket.field_hlcs[name] = hlc
    if winners:
        batch.mark(ticket, hlc)
    if not losers:
        return Outcome("applied")
    return Outcome("merged", "superseded", superseded=losers)


def add_comment(
    batch: TicketBatch,
    p: TicketComment,
    *,
    store_id: str | None,
    hlc: str,
    origin: str | None,
    source: str = "store",
) -> Outcome:
    """``ticket.comment``: append, upsert on ``comment_id``."""
    found = _ticket_for(batch, p.ticket_id, store_id)
    if isinstance(found, Outcome):
        return found
    if p.comment_id in batch.known_comment_ids:
        return Outcome("merged", "duplicate")
    try:
        body = validate_text("body", p.body, required=True)
        author = validate_text("author", p.author)
    except InvalidField as exc:
        return _invalid(exc)
    comment = CommentState(
        id=p.comment_id,
        ticket_id=found.id,
        body=body,
        author=author,
        source=source,
        created_at=p.created_at,
        hlc=hlc,
    )
    batch.comments.append(comment)
    batch.known_comment_ids.add(comment.id)
    if origin:
        batch.origins[comment.id] = origin
    return Outcome("applied")


def change_status(
    batch: TicketBatch, p: TicketStatus, *, store_id: str | None, hlc: str, origin: str | None
) -> Outcome:
    """``ticket.status``: an event; applied when later than the status held and allowed from it."""
    found = _ticket_for(batch, p.ticket_id, store_id)
    if isinstance(found, Outcome):
        return found
    if p.event_id in batch.known_event_ids:
        return Outcome("merged", "duplicate")
    try:
        target = validate_status(p.status)
        note = validate_text("note", p.note)
        actor = validate_text("actor", p.actor)
        decision = decide_status(found.status, found.field_hlcs.get("status", ""), target, hlc)
    except InvalidField as exc:
        return _invalid(exc, from_status=found.status, to_status=p.status)
    if decision != "apply":
        return Outcome("merged", "superseded", superseded=["status"])
    entry = HistoryEntry(
        id=p.event_id,
        ticket_id=found.id,
        from_status=found.status,
        to_status=target,
        note=note,
        actor=actor,
        at=p.at,
        hlc=hlc,
    )
    found.status = target
    found.field_hlcs["status"] = hlc
    batch.mark(found, hlc)
    batch.history.append(entry)
    batch.known_event_ids.add(entry.id)
    if origin:
        batch.origins[entry.id] = origin
    return Outcome("applied")


def hq_edit(batch: TicketBatch, ticket_id: str, changes: dict[str, Any], hlc: str) -> list[str]:
    """An edit made at HQ (clerk and HQ-only fields) at HQ's ``hlc``; returns the fields changed.

    Raises :class:`InvalidField` for a value that breaks a rule, before changing anything.
    """
    ticket = batch.tickets[ticket_id]
    cleaned = validate_hq_changes(changes)
    if "type" in cleaned and cleaned["type"] not in batch.type_codes:
        raise InvalidField("type", "unknown ticket type", code="unknown_ticket_type")
    if cleaned.get("department") and cleaned["department"] not in batch.department_codes:
        raise InvalidField("department", "unknown department", code="unknown_department")
    clerk = {k: v for k, v in cleaned.items() if k in CLERK_FIELDS}
    _merge_clerk_fields(batch, ticket, clerk, hlc)
    for name, value in cleaned.items():
        if name not in CLERK_FIELDS:
            setattr(ticket, name, value)
    if "assignee" in cleaned:
        batch.assigned[ticket_id] = wall_of(hlc)
    batch.mark(ticket, hlc)
    return sorted(cleaned)


def hq_stamp(clock: HybridClock, ticket: TicketState) -> str:
    """An HQ timestamp later than every version of ``ticket`` HQ holds (another HQ process may
    have written it with a clock slightly ahead of ours), for an HQ change to it."""
    with contextlib.suppress(ClockDriftError, ValueError):
        clock.observe(Hlc.parse(max(ticket.hlc, ticket.field_hlcs.get("status", ""))))
    return clock.now().encode()
