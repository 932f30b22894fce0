"""Applying HQ's state to the replica: pulled change-log pages and the snapshots of push acks.

Local view = last HQ state + pending local ops: a field with a local edit HQ has not acknowledged
yet keeps its local value (its ack brings HQ's merged value later).
"""

from __future__ import annotations

import json
import operator
import sqlite3
from typing import Any

import msgspec

from store_node import outbox
from store_node.node import Node
from store_node.replica import in_chunks
from sync_protocol.entities import decode_entity
from sync_protocol.messages import Change, OpResult, ReferenceItem
from sync_protocol.tickets import CommentState, HistoryEntry, TicketState

TICKET_COLUMNS = (
    "id",
    "number",
    "store_id",
    "type",
    "title",
    "description",
    "category",
    "product_code",
    "customer_phone",
    "customer_name",
    "status",
    "department",
    "assignee",
    "priority",
    "first_response_due",
    "resolution_due",
    "created_at",
    "updated_at",
    "hlc",
    "channel",
    "routed_at",
    "first_responded_at",
    "sla_paused",
)
#: Positional parameters: sqlite3 binds ``?`` from a tuple much faster than ``:name`` from a dict.
_UPSERT_TICKET = (
    f"INSERT INTO tickets ({', '.join(TICKET_COLUMNS)}, extra, tags, origin, gen)"
    f" VALUES ({', '.join('?' for _ in TICKET_COLUMNS)}, ?, ?, 'hq', ?)"
    " ON CONFLICT(id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in TICKET_COLUMNS if c != "id")
    + ", extra = excluded.extra, tags = excluded.tags, gen = excluded.gen"
)
_ticket_values = operator.attrgetter(*TICKET_COLUMNS)
_TICKET_INDEX = {name: index for index, name in enumerate(TICKET_COLUMNS)}
_json = msgspec.json.Encoder()
_COMMENT_COLUMNS = ("id", "ticket_id", "body", "author", "source", "created_at", "hlc")
_comment_values = operator.attrgetter(*_COMMENT_COLUMNS)
_UPSERT_COMMENT = (
    f"INSERT INTO comments ({', '.join(_COMMENT_COLUMNS)}, gen) VALUES ({', '.join('?' * len(_COMMENT_COLUMNS))}, ?)"
    " ON CONFLICT(id) DO UPDATE SET body = excluded.body, hlc = excluded.hlc, gen = excluded.gen"
)
_HISTORY_COLUMNS = ("id", "ticket_id", "from_status", "to_status", "note", "actor", "at", "hlc")
_history_values = operator.attrgetter(*_HISTORY_COLUMNS)
_UPSERT_HISTORY = (
    f"INSERT INTO history ({', '.join(_HISTORY_COLUMNS)}, gen) VALUES ({', '.join('?' * len(_HISTORY_COLUMNS))}, ?)"
    " ON CONFLICT(id) DO UPDATE SET gen = excluded.gen"
)
_UPSERT_REFERENCE = (
    "INSERT INTO reference (entity, id, code, name_zh, name_en, attrs) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT(entity, id) DO UPDATE SET code = excluded.code, name_zh = excluded.name_zh,"
    " name_en = excluded.name_en, attrs = excluded.attrs"
)


def apply_changes(node: Node, conn: sqlite3.Connection, changes: list[Change]) -> None:
    """Upsert HQ snapshots (inside the caller's transaction), keeping pending local fields."""
    gen = node.replica.get_int("gen")
    tickets: dict[str, TicketState] = {}
    comments: list[tuple[Any, ...]] = []
    history: list[tuple[Any, ...]] = []
    references: list[tuple[str, str, str, str, str, str]] = []
    if changes:
        node.observe(max(change.hlc for change in changes))
    for change in changes:
        try:
            state = decode_entity(change.entity, change.data)
        except KeyError:
            continue  # an entity kind this version does not know yet: ignore, HQ keeps it
        if isinstance(state, TicketState):
            tickets[state.id] = state  # a later version in the same page wins
        elif isinstance(state, CommentState):
            comments.append((*_comment_values(state), gen))
        elif isinstance(state, HistoryEntry):
            history.append((*_history_values(state), gen))
        elif isinstance(state, ReferenceItem):
            references.append(
                (change.entity, state.id, state.code, state.name_zh, state.name_en, json.dumps(state.attrs))
            )
    if tickets:
        _upsert_tickets(conn, list(tickets.values()), gen)
    if comments:
        conn.executemany(_UPSERT_COMMENT, comments)
    if history:
        conn.executemany(_UPSERT_HISTORY, history)
    if references:
        conn.executemany(_UPSERT_REFERENCE, references)


def _upsert_tickets(conn: sqlite3.Connection, states: list[TicketState], gen: int) -> None:
    _move_aside_numbers(conn, states)
    held = outbox.pending_fields(conn, (s.id for s in states))
    local = _local_rows(conn, list(held))
    rows: list[list[Any]] = []
    for state in states:
        row = list(_ticket_values(state))
        mine = local.get(state.id)
        if mine is not None:
            for field in held[state.id]:
                row[_TICKET_INDEX[field]] = mine[field]
        row.append(_json.encode(state.extra).decode())
        row.append(_json.encode(state.tags).decode())
        row.append(gen)
        rows.append(row)
    conn.executemany(_UPSERT_TICKET, rows)


def _move_aside_numbers(conn: sqlite3.Connection, states: list[TicketState]) -> None:
    """HQ's number wins: a local ticket holding the number of an incoming other ticket (made on a
    replica restored from an older copy, its create not yet answered) takes a provisional
    ``NUMBER#id`` until its own ack brings the number HQ gave it."""
    incoming = {state.number: state.id for state in states}
    numbers = list(incoming)
    for chunk, marks in in_chunks(numbers):
        rows = conn.execute(f"SELECT id, number FROM tickets WHERE number IN ({marks})", chunk).fetchall()
        for ticket_id, number in rows:
            if incoming[number] != ticket_id:
                conn.execute("UPDATE tickets SET number = ? WHERE id = ?", (f"{number}#{ticket_id[-8:]}", ticket_id))


#: The local row an op made, by kind, for the ops whose row HQ may refuse to keep.
_RECORD_TABLES = {"ticket.comment": "comments", "ticket.status": "history"}


def drop_refused_records(conn: sqlite3.Connection, results: list[OpResult]) -> int:
    """Remove the local comment or status-history row of each op HQ did not keep.

    HQ keeps no row for an op it rejected for good, nor for a status change a later one overtook;
    the store's replica must not go on showing it. (The ack's snapshot restores the fields.)
    Returns how many rows went.
    """
    seqs = [
        r.seq
        for r in results
        if (r.status == "rejected" and not r.awaits_upgrade) or (r.status == "merged" and r.code == "superseded")
    ]
    dropped = 0
    for chunk, marks in in_chunks(seqs):
        ops = conn.execute(f"SELECT kind, record_id FROM outbox WHERE seq IN ({marks})", chunk).fetchall()
        for kind, record_id in ops:
            table = _RECORD_TABLES.get(kind)
            if table is not None:
                dropped += conn.execute(f"DELETE FROM {table} WHERE id = ?", (record_id,)).rowcount
    return dropped


def _local_rows(conn: sqlite3.Connection, ticket_ids: list[str]) -> dict[str, sqlite3.Row]:
    """The replica's rows of ``ticket_ids``, in chunks of one ``SELECT ... IN`` each."""
    found: dict[str, sqlite3.Row] = {}
    for chunk, marks in in_chunks(ticket_ids):
        for row in conn.execute(f"SELECT * FROM tickets WHERE id IN ({marks})", chunk):
            found[row["id"]] = row
    return found


def begin_reset(node: Node) -> None:
    """HQ cannot continue from our cursor: start a new generation; the re-pull marks what HQ has."""
    node.replica.set(gen=node.replica.get_int("gen") + 1, resetting=1, cursor="0")


def finish_reset(node: Node, conn: sqlite3.Connection) -> int:
    """After a complete re-pull: drop records HQ no longer has, unless a pending op makes them."""
    gen = node.replica.get_int("gen")
    keep = outbox.pending_records(conn)
    removed = 0
    for table in ("comments", "history", "tickets"):
        rows = conn.execute(f"SELECT id FROM {table} WHERE gen < ?", (gen,)).fetchall()
        doomed = [(r[0],) for r in rows if r[0] not in keep]
        if table == "tickets":
            doomed = [d for d in doomed if not _has_pending(conn, d[0])]
        conn.executemany(f"DELETE FROM {table} WHERE id = ?", doomed)
        removed += len(doomed)
    node.replica.set(resetting=0)
    return removed


def _has_pending(conn: sqlite3.Connection, ticket_id: str) -> bool:
    row = conn.execute("SELECT 1 FROM outbox WHERE entity_id = ? AND state = 'pending' LIMIT 1", (ticket_id,))
    return row.fetchone() is not None
