"""Tickets, comments and history in the database: batched loads, and the one flush that writes
their rows together with their change-log entries (in the caller's write transaction).

Loads are one ``SELECT ... IN`` per 500 ids; the flush is one ``executemany`` per table. A ticket
changed by several ops of one batch gets one change-log entry (its version after the batch).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import bulk, changelog
from hq_server.schema import comments, meta, ticket_assignments, ticket_history, tickets
from hq_server.ticket_rules import TicketBatch
from sync_protocol.entities import encode_entity
from sync_protocol.hlc import HybridClock
from sync_protocol.tickets import CommentState, HistoryEntry, TicketState

#: Columns of ``tickets`` that hold a :class:`TicketState` field of the same name.
STATE_COLUMNS: tuple[str, ...] = tuple(TicketState.__struct_fields__)
_UPDATABLE = tuple(name for name in STATE_COLUMNS if name not in ("id", "number", "store_id", "created_at"))
_JSON_COLUMNS = ("field_hlcs", "extra", "tags")


def state_of(row: Any) -> TicketState:
    """A ticket row (mapping) as a :class:`TicketState`."""
    values = {name: row[name] for name in STATE_COLUMNS}
    values["store_id"] = values["store_id"] or ""
    return TicketState(**values)


_json_decoders: dict[str, msgspec.json.Decoder[Any]] = {
    "field_hlcs": msgspec.json.Decoder(dict[str, str]),
    "extra": msgspec.json.Decoder(dict[str, Any]),
    "tags": msgspec.json.Decoder(list[str]),
}


def _loaded(row: Sequence[Any]) -> TicketState:
    values = dict(zip(STATE_COLUMNS, row, strict=True))
    values["store_id"] = values["store_id"] or ""
    for name in _JSON_COLUMNS:
        values[name] = _json_decoders[name].decode(values[name])
    values["sla_paused"] = bool(values["sla_paused"])
    return TicketState(**values)


def load_tickets(
    conn: Connection, ids: Iterable[str], *, rows: dict[str, tuple[Any, ...]] | None = None
) -> dict[str, TicketState]:
    """The tickets with these ids that exist, by id; their rows as stored go into ``rows`` when
    given (a :class:`TicketBatch` keeps them so its flush updates only the columns that changed).

    Read straight through the driver (:func:`hq_server.bulk.select_in`): JSON columns come as
    their text and are decoded by msgspec here."""
    found: dict[str, TicketState] = {}
    for row in bulk.select_in(conn, tickets, STATE_COLUMNS, "id", ids):
        state = _loaded(row)
        found[state.id] = state
        if rows is not None:
            rows[state.id] = row
    return found


def existing_ids(conn: Connection, table: sa.Table, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` are already rows of ``table`` (comments or history)."""
    return {str(row[0]) for row in bulk.select_in(conn, table, ("id",), "id", ids)}


def numbers_in_use(conn: Connection, numbers: Iterable[str]) -> dict[str, str]:
    """Which of ``numbers`` tickets already carry: number -> ticket id."""
    return {
        str(number): str(ticket_id)
        for number, ticket_id in bulk.select_in(conn, tickets, ("number", "id"), "number", numbers)
    }


def find_ticket(conn: Connection, key: str) -> TicketState | None:
    """A ticket by id or by number."""
    columns = [tickets.c[name] for name in STATE_COLUMNS]
    row = conn.execute(sa.select(*columns).where(tickets.c.id == key)).mappings().first()
    if row is None:
        row = (
            conn.execute(sa.select(*columns).where(tickets.c.number == key).order_by(tickets.c.created_at))
            .mappings()
            .first()
        )
    return state_of(row) if row is not None else None


def comments_of(conn: Connection, ticket_id: str) -> list[CommentState]:
    query = (
        sa.select(*(comments.c[name] for name in CommentState.__struct_fields__))
        .where(comments.c.ticket_id == ticket_id)
        .order_by(comments.c.created_at, comments.c.hlc)
    )
    return [CommentState(**row) for row in conn.execute(query).mappings()]


def history_of(conn: Connection, ticket_id: str) -> list[HistoryEntry]:
    query = (
        sa.select(*(ticket_history.c[name] for name in HistoryEntry.__struct_fields__))
        .where(ticket_history.c.ticket_id == ticket_id)
        .order_by(ticket_history.c.hlc)
    )
    return [HistoryEntry(**row) for row in conn.execute(query).mappings()]


_STATE_INDEX = {name: index for index, name in enumerate(STATE_COLUMNS)}
_STORE_INDEX = _STATE_INDEX["store_id"]
_JSON_INDEXES = tuple(_STATE_INDEX[name] for name in _JSON_COLUMNS)
_INSERT_COLUMNS = (*STATE_COLUMNS, "origin_node_id")
_COMMENT_COLUMNS = (*CommentState.__struct_fields__, "origin_node_id")
_HISTORY_COLUMNS = (*HistoryEntry.__struct_fields__, "origin_node_id")


def _ticket_values(state: TicketState) -> list[Any]:
    """A ticket's column values in :data:`STATE_COLUMNS` order, driver-ready (JSON encoded) for
    :mod:`hq_server.bulk`."""
    values = list(msgspec.structs.astuple(state))
    values[_STORE_INDEX] = values[_STORE_INDEX] or None
    for index in _JSON_INDEXES:
        values[index] = bulk.json_text(values[index])
    return values


def flush(conn: Connection, clock: HybridClock, batch: TicketBatch) -> None:
    """Write what ``batch`` changed: ticket, comment and history rows, then their log entries."""
    changed = [batch.tickets[ticket_id] for ticket_id in batch.changed]
    inserts = []
    updates = []
    for state in changed:
        values = _ticket_values(state)
        if state.id in batch.created:
            inserts.append((*values, batch.origins.get(state.id)))
        else:
            updates.append(values)
    bulk.insert_values(conn, tickets, _INSERT_COLUMNS, inserts)
    for columns, group in _by_changed_columns(batch, updates).items():
        bulk.update_values(conn, tickets, "id", columns, group)
    origins = batch.origins
    bulk.insert_values(
        conn,
        ticket_history,
        _HISTORY_COLUMNS,
        [(*msgspec.structs.astuple(h), origins.get(h.id)) for h in batch.history],
    )
    bulk.insert_values(
        conn,
        comments,
        _COMMENT_COLUMNS,
        [(*msgspec.structs.astuple(c), origins.get(c.id)) for c in batch.comments],
    )

    if batch.assigned:
        ids = list(batch.assigned)
        conn.execute(ticket_assignments.delete().where(ticket_assignments.c.ticket_id.in_(ids)))
        conn.execute(
            ticket_assignments.insert(),
            [{"ticket_id": i, "assignee": batch.tickets[i].assignee, "assigned_at": batch.assigned[i]} for i in ids],
        )
    entries = []
    for state in changed:
        batch.encoded[state.id] = data = encode_entity(state)
        entries.append(changelog.Entry("ticket", state.id, _scope(state), None, data))
    for entry in batch.history:
        scope = _scope(batch.tickets[entry.ticket_id])
        entries.append(changelog.Entry("history", entry.id, scope, None, encode_entity(entry)))
    for comment in batch.comments:
        scope = _scope(batch.tickets[comment.ticket_id])
        entries.append(changelog.Entry("comment", comment.id, scope, None, encode_entity(comment)))
    changelog.append(conn, clock, entries)


def _by_changed_columns(batch: TicketBatch, rows: list[list[Any]]) -> dict[tuple[str, ...], list[tuple[Any, ...]]]:
    """Ticket updates grouped by the columns whose values differ from the row as loaded (all the
    updatable ones when the batch did not keep it), each row as the values of those columns and
    then the ticket id. Setting a column makes the database rewrite every index on it, changed or
    not: an edit of a title should not touch the status indexes."""
    groups: dict[tuple[int, ...], list[tuple[Any, ...]]] = {}
    id_index = _STATE_INDEX["id"]
    for row in rows:
        stored = batch.stored_rows.get(row[id_index])
        # Not kept by the loader: every updatable column.
        indexes = _UPDATABLE_INDEXES if stored is None else tuple(i for i in _UPDATABLE_INDEXES if row[i] != stored[i])
        if indexes:
            groups.setdefault(indexes, []).append((*(row[i] for i in indexes), row[id_index]))
    return {tuple(STATE_COLUMNS[i] for i in indexes): group for indexes, group in groups.items()}


_UPDATABLE_INDEXES = tuple(_STATE_INDEX[name] for name in _UPDATABLE)


def _scope(ticket: TicketState) -> str:
    """A ticket and its records are seen by its store only; HQ-only tickets (no store) by none."""
    return ticket.store_id


HQ_COUNTER_KEY = "hq_ticket_counter"


def next_hq_number(conn: Connection) -> str:
    """The next number of a ticket made at HQ: ``HQ-000001``, ``HQ-000002``, ..."""
    current = conn.execute(sa.select(meta.c.value).where(meta.c.key == HQ_COUNTER_KEY)).scalar_one_or_none()
    counter = int(current or 0) + 1
    if current is None:
        conn.execute(meta.insert().values(key=HQ_COUNTER_KEY, value=str(counter)))
    else:
        conn.execute(meta.update().where(meta.c.key == HQ_COUNTER_KEY).values(value=str(counter)))
    return f"HQ-{counter:06d}"
