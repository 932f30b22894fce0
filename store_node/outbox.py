"""The outbox: every local change's op, queued in seq order until HQ has answered it.

Only :func:`append` adds ops (called by the actions inside the change's own transaction); the sync
client moves them on with :func:`record_results` and :func:`rewind`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import msgspec

from store_node.node import Node
from store_node.replica import in_chunks
from sync_protocol.messages import OpResult
from sync_protocol.ops import Op, Payload, encode_payload, kind_of, new_id

PENDING, ACKED, REJECTED = "pending", "acked", "rejected"


def append(
    node: Node,
    conn: sqlite3.Connection,
    payload: Payload,
    *,
    entity_id: str,
    record_id: str,
    fields: Iterable[str] = (),
) -> int:
    """Queue the op for ``payload``; call inside the transaction that makes the change. Returns its seq."""
    seq = node.replica.get_int("next_seq", 1)
    hlc = node.stamp()
    conn.execute(
        "INSERT INTO outbox (seq, op_id, kind, entity_id, record_id, hlc, payload, fields, state, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
        (
            seq,
            new_id(),
            kind_of(payload),
            entity_id,
            record_id,
            hlc,
            encode_payload(payload),
            ",".join(fields),
            node.wall_ms(),
        ),
    )
    node.replica.set(next_seq=seq + 1)
    return seq


def pending_ops(node: Node, limit: int, *, after_seq: int = 0) -> list[Op]:
    """The next ``limit`` pending ops above ``after_seq`` in seq order, as envelopes ready to send."""
    ident = node.identity
    rows = node.replica.query(
        "SELECT seq, op_id, kind, entity_id, hlc, payload FROM outbox WHERE state = 'pending' AND seq > ?"
        " ORDER BY seq LIMIT ?",
        (after_seq, limit),
    )
    return [
        Op(
            op_id=row["op_id"],
            node_id=ident.node_id,
            store_id=ident.store_id,
            seq=row["seq"],
            hlc=row["hlc"],
            kind=row["kind"],
            entity_id=row["entity_id"],
            payload=msgspec.Raw(row["payload"]),
        )
        for row in rows
    ]


def count(node: Node, state: str = PENDING) -> int:
    row = node.replica.one("SELECT count(*) FROM outbox WHERE state = ?", (state,))
    return int(row[0]) if row else 0


def record_results(conn: sqlite3.Connection, results: list[OpResult], now_ms: int) -> bool:
    """Mark answered ops acked or rejected. Returns False when HQ asked for an upgrade (the op
    and those behind it stay pending)."""
    acked: list[tuple[int, int]] = []
    rejected: list[tuple[str, str, int, int]] = []
    upgrade = False
    for result in results:
        if result.awaits_upgrade:
            upgrade = True
            break
        if result.status == "rejected":
            rejected.append((result.code, result.reason, now_ms, result.seq))
        else:
            acked.append((now_ms, result.seq))
    conn.executemany("UPDATE outbox SET state = 'acked', done_at = ? WHERE seq = ? AND state = 'pending'", acked)
    conn.executemany(
        "UPDATE outbox SET state = 'rejected', code = ?, reason = ?, done_at = ? WHERE seq = ? AND state = 'pending'",
        rejected,
    )
    if conn.execute("SELECT 1 FROM outbox WHERE state = 'pending' LIMIT 1").fetchone() is None:
        # Drained: the next op starts the next drain (what the clerk's progress bar counts).
        conn.execute(
            "INSERT INTO meta (key, value) SELECT 'drain_from_seq', value FROM meta WHERE key = 'next_seq'"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value"
        )
    return not upgrade


def drain_progress(node: Node) -> tuple[int, int]:
    """(sent, total) of the ops made since the outbox was last empty: the clerk's progress bar
    while the outbox drains after an outage; (0, 0) when nothing is waiting."""
    pending = count(node)
    if not pending:
        return 0, 0
    total = node.replica.get_int("next_seq", 1) - node.replica.get_int("drain_from_seq", 1)
    total = max(total, pending)
    return total - pending, total


def rewind(conn: sqlite3.Connection, after_seq: int) -> int:
    """HQ lost ops above ``after_seq`` (restored from a backup): queue them again. Returns how many."""
    cursor = conn.execute(
        "UPDATE outbox SET state = 'pending', code = '', reason = '', done_at = NULL"
        " WHERE seq > ? AND state != 'pending'",
        (after_seq,),
    )
    return cursor.rowcount


def renumber_pending(conn: sqlite3.Connection, first_seq: int) -> int:
    """Give the pending ops the seqs ``first_seq, first_seq + 1, ...`` in their order (above any
    answered op, should one hold ``first_seq``); returns the next seq after them.

    For a replica restored from an older copy, whose seqs HQ has already seen for other ops.
    Re-sending an op HQ already has is harmless: every payload is an upsert on its own id or a
    per-field write HQ merges by HLC.
    """
    seqs = [row[0] for row in conn.execute("SELECT seq FROM outbox WHERE state = 'pending' ORDER BY seq")]
    # Parked on negative seqs first, so no new seq collides with a pending op not yet moved.
    conn.execute("UPDATE outbox SET seq = -seq WHERE state = 'pending'")
    answered = int(conn.execute("SELECT coalesce(max(seq), 0) FROM outbox WHERE state != 'pending'").fetchone()[0])
    seq = max(first_seq, answered + 1)
    for old in seqs:
        conn.execute("UPDATE outbox SET seq = ? WHERE seq = ?", (seq, -old))
        seq += 1
    return seq


def holds(conn: sqlite3.Connection, seq: int) -> bool:
    """Whether the op ``seq`` is still in the outbox (in any state)."""
    return conn.execute("SELECT 1 FROM outbox WHERE seq = ?", (seq,)).fetchone() is not None


def pending_fields(conn: sqlite3.Connection, entity_ids: Iterable[str]) -> dict[str, set[str]]:
    """Per entity, the fields that have local edits HQ has not acknowledged yet."""
    ids = list(set(entity_ids))
    found: dict[str, set[str]] = {}
    for chunk, marks in in_chunks(ids):
        for entity_id, fields in conn.execute(
            f"SELECT entity_id, fields FROM outbox WHERE state = 'pending' AND fields != '' AND entity_id IN ({marks})",
            chunk,
        ):
            found.setdefault(entity_id, set()).update(fields.split(","))
    return found


def pending_records(conn: sqlite3.Connection) -> set[str]:
    """Ids of records (tickets, comments, history entries) made by ops HQ has not acknowledged."""
    return {row[0] for row in conn.execute("SELECT record_id FROM outbox WHERE state = 'pending'")}


def prune(conn: sqlite3.Connection, older_than_ms: int) -> int:
    """Retention: forget acked ops answered before ``older_than_ms``."""
    return conn.execute("DELETE FROM outbox WHERE state = 'acked' AND done_at < ?", (older_than_ms,)).rowcount


def rejected(node: Node, limit: int = 100) -> list[sqlite3.Row]:
    return node.replica.query(
        "SELECT seq, kind, entity_id, code, reason, done_at FROM outbox WHERE state = 'rejected'"
        " ORDER BY seq DESC LIMIT ?",
        (limit,),
    )


def pending_records_of(node: Node, ticket_id: str) -> set[str]:
    """Ids of the records of one ticket whose ops HQ has not acknowledged yet."""
    rows = node.replica.query("SELECT record_id FROM outbox WHERE entity_id = ? AND state = 'pending'", (ticket_id,))
    return {row[0] for row in rows}
