"""Clerk actions on tickets. Each writes the row and its op in one transaction (the outbox)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from store_node import outbox
from store_node.errors import InvalidInput, NotFound
from store_node.node import Node
from sync_protocol import forms
from sync_protocol.errors import InvalidField
from sync_protocol.ops import TicketComment, TicketCreate, TicketSet, TicketStatus, new_id
from sync_protocol.tickets import (
    CLERK_FIELDS,
    check_transition,
    ticket_number,
    validate_clerk_changes,
    validate_text,
)


def _invalid(exc: InvalidField) -> InvalidInput:
    return InvalidInput(exc.message, code=exc.code, field=exc.field, **exc.params)


def _known_type(node: Node, code: str) -> forms.Form:
    """The form of ticket type ``code``; refuses a type HQ has not published (once any synced)."""
    rows = {
        row[0]: row[1] for row in node.replica.query("SELECT code, attrs FROM reference WHERE entity = 'ticket_type'")
    }
    if rows and code not in rows:
        raise InvalidInput(f"unknown ticket type {code}", code="unknown_ticket_type", field="type", value=code)
    return forms.form_of(json.loads(rows[code] or "{}")) if code in rows else forms.Form()


def _form_values(data: Mapping[str, Any]) -> dict[str, Any]:
    extra = data.get("extra", {})
    if not isinstance(extra, dict):
        raise InvalidInput("extra must be an object", code="invalid_type", field="extra")
    return extra


def create_ticket(node: Node, data: Mapping[str, Any], *, author: str = "") -> str:
    """A new ticket, numbered at once without HQ. Returns its id."""
    ident = node.identity
    try:
        fields = validate_clerk_changes({k: data.get(k, "") for k in CLERK_FIELDS})
    except InvalidField as exc:
        raise _invalid(exc) from exc
    form = _known_type(node, fields["type"])
    extra = _form_values(data)
    try:
        forms.check(form, product_code=fields["product_code"], extra=extra)
    except InvalidField as exc:
        raise _invalid(exc) from exc
    unknown = set(data) - set(CLERK_FIELDS) - {"extra"}
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(f"unknown field {name}", code="unknown_field", field=name)
    ticket_id = new_id()
    now = node.wall_ms()
    with node.replica.tx() as conn:
        counter = node.replica.get_int("ticket_counter") + 1
        number = ticket_number(ident.store_code, ident.node_no, counter)
        payload = TicketCreate(
            ticket_id=ticket_id,
            number=number,
            created_at=now,
            counter=counter,
            type=fields["type"],
            title=fields["title"],
            description=fields["description"],
            category=fields["category"],
            product_code=fields["product_code"],
            customer_phone=fields["customer_phone"],
            customer_name=fields["customer_name"],
            extra=extra,
        )
        outbox.append(node, conn, payload, entity_id=ticket_id, record_id=ticket_id, fields=CLERK_FIELDS)
        conn.execute(
            "INSERT INTO tickets (id, number, store_id, type, title, description, category, product_code,"
            " customer_phone, customer_name, status, created_at, updated_at, hlc, extra, origin, gen)"
            " VALUES (:id, :number, :store_id, :type, :title, :description, :category, :product_code,"
            " :customer_phone, :customer_name, 'new', :now, :now, :hlc, :extra, 'store', :gen)",
            {
                **fields,
                "extra": json.dumps(extra, ensure_ascii=False),
                "id": ticket_id,
                "number": number,
                "store_id": ident.store_id,
                "now": now,
                "hlc": node.replica.get("hlc"),
                "gen": node.replica.get_int("gen"),
            },
        )
        node.replica.set(ticket_counter=counter)
    node.notify_local_write()
    return ticket_id


def resolve_id(node: Node, key: str) -> str:
    """A ticket id from its id or its human number; :class:`NotFound` otherwise."""
    row = node.replica.one("SELECT id FROM tickets WHERE id = ? OR number = ?", (key, key))
    if row is None:
        raise NotFound(f"no ticket {key}", code="ticket_not_found", value=key)
    return str(row[0])


def edit_ticket(node: Node, key: str, changes: Mapping[str, Any]) -> str:
    """Change clerk-editable fields; only the changed ones travel."""
    node.identity  # noqa: B018 - raises NotEnrolled before anything is written
    ticket_id = resolve_id(node, key)
    try:
        cleaned = validate_clerk_changes(changes)
    except InvalidField as exc:
        raise _invalid(exc) from exc
    if "type" in cleaned:
        _known_type(node, cleaned["type"])
    with node.replica.tx() as conn:
        current = conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        changed = {k: v for k, v in cleaned.items() if current[k] != v}
        if not changed:
            return ticket_id
        outbox.append(
            node,
            conn,
            TicketSet(ticket_id=ticket_id, changes=changed),
            entity_id=ticket_id,
            record_id=ticket_id,
            fields=changed,
        )
        assignments = ", ".join(f"{name} = :{name}" for name in changed)
        conn.execute(
            f"UPDATE tickets SET {assignments}, updated_at = :now, hlc = :hlc WHERE id = :id",
            {**changed, "now": node.wall_ms(), "hlc": node.replica.get("hlc"), "id": ticket_id},
        )
    node.notify_local_write()
    return ticket_id


def add_comment(node: Node, key: str, body: object, *, author: str = "") -> str:
    node.identity  # noqa: B018
    ticket_id = resolve_id(node, key)
    try:
        text = validate_text("body", body, required=True)
        author = validate_text("author", author)
    except InvalidField as exc:
        raise _invalid(exc) from exc
    comment_id = new_id()
    now = node.wall_ms()
    with node.replica.tx() as conn:
        payload = TicketComment(ticket_id=ticket_id, comment_id=comment_id, body=text, author=author, created_at=now)
        outbox.append(node, conn, payload, entity_id=ticket_id, record_id=comment_id)
        conn.execute(
            "INSERT INTO comments (id, ticket_id, body, author, source, created_at, hlc, gen)"
            " VALUES (?, ?, ?, ?, 'store', ?, ?, ?)",
            (comment_id, ticket_id, text, author, now, node.replica.get("hlc"), node.replica.get_int("gen")),
        )
    node.notify_local_write()
    return comment_id


def change_status(node: Node, key: str, status: object, note: object = "", *, actor: str = "") -> str:
    node.identity  # noqa: B018
    ticket_id = resolve_id(node, key)
    try:
        note_text = validate_text("note", note or "")
        actor = validate_text("actor", actor)
        if not isinstance(status, str):
            raise InvalidField("status", "status is required", code="required")
        with node.replica.tx() as conn:
            current = conn.execute("SELECT status FROM tickets WHERE id = ?", (ticket_id,)).fetchone()[0]
            check_transition(current, status)
            event_id = new_id()
            now = node.wall_ms()
            payload = TicketStatus(
                ticket_id=ticket_id, event_id=event_id, status=status, note=note_text, actor=actor, at=now
            )
            outbox.append(node, conn, payload, entity_id=ticket_id, record_id=event_id, fields=("status",))
            hlc = node.replica.get("hlc")
            conn.execute(
                "UPDATE tickets SET status = ?, updated_at = ?, hlc = ? WHERE id = ?",
                (status, now, hlc, ticket_id),
            )
            conn.execute(
                "INSERT INTO history (id, ticket_id, from_status, to_status, note, actor, at, hlc, gen)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (event_id, ticket_id, current, status, note_text, actor, now, hlc, node.replica.get_int("gen")),
            )
    except InvalidField as exc:
        raise _invalid(exc) from exc
    node.notify_local_write()
    return ticket_id
