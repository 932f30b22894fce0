"""Enrolled store nodes: token lookup, their sync state, and their stored op results.

A node's token is random; HQ keeps only its SHA-256, so looking a token up is one indexed query
on the hash and no token can be read back from the database.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server.schema import nodes, push_results, stores
from sync_protocol.messages import OpResult


@dataclass(frozen=True)
class Node:
    """An enrolled node and its store, as HQ knows them when a request arrives."""

    id: str
    node_no: int
    store_id: str
    store_code: str
    store_name: str
    region_id: str
    high_water: int
    ticket_counter: int
    #: When the node last reached HQ (ms): a push, or a pull or wait (recorded at most once a minute).
    last_seen_at: int | None = None
    #: What the node said of itself at its last recorded contact: its ops not yet acknowledged,
    #: its protocol and its software version.
    pending_ops: int | None = None
    protocol: int | None = None
    client_version: str | None = None


TOKEN_PREFIX = "sdn_"


def new_token() -> str:
    """A new random node token (256 bits, URL-safe).

    Prefixed so it never starts with ``-``: a bare URL-safe token does one time in 64, and
    ``storedesk store serve --token T`` would then read it as an option.
    """
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_NODE_COLUMNS = (
    nodes.c.id,
    nodes.c.node_no,
    nodes.c.store_id,
    stores.c.code,
    stores.c.name,
    stores.c.region_id,
    nodes.c.high_water,
    nodes.c.ticket_counter,
    nodes.c.last_seen_at,
    nodes.c.pending_ops,
    nodes.c.protocol,
    nodes.c.client_version,
)


def _node(row: Any) -> Node:
    node_id, node_no, store_id, code, name, region_id, high_water, counter, seen, pending, protocol, client = row
    return Node(
        str(node_id),
        int(node_no),
        str(store_id),
        str(code),
        str(name),
        str(region_id or ""),
        int(high_water),
        int(counter),
        None if seen is None else int(seen),
        None if pending is None else int(pending),
        None if protocol is None else int(protocol),
        None if client is None else str(client),
    )


def find_by_token(conn: Connection, token: str) -> Node | None:
    """The node whose token this is, or None."""
    query = (
        sa.select(*_NODE_COLUMNS)
        .select_from(nodes.join(stores, nodes.c.store_id == stores.c.id))
        .where(nodes.c.token_hash == hash_token(token))
    )
    row = conn.execute(query).first()
    return _node(row) if row is not None else None


def get(conn: Connection, node_id: str) -> Node:
    """A node by id, with its current high-water mark (read inside the caller's transaction)."""
    query = (
        sa.select(*_NODE_COLUMNS)
        .select_from(nodes.join(stores, nodes.c.store_id == stores.c.id))
        .where(nodes.c.id == node_id)
    )
    return _node(conn.execute(query).one())


def insert(conn: Connection, *, node_id: str, store_id: str, token: str, now_ms: int) -> int:
    """A new node for ``store_id`` with the next node number; returns the number."""
    top = conn.execute(sa.select(sa.func.max(nodes.c.node_no)).where(nodes.c.store_id == store_id)).scalar()
    node_no = int(top or 0) + 1
    conn.execute(
        nodes.insert().values(
            id=node_id,
            store_id=store_id,
            node_no=node_no,
            token_hash=hash_token(token),
            high_water=0,
            ticket_counter=0,
            created_at=now_ms,
        )
    )
    return node_no


def record_sync(conn: Connection, node_id: str, *, high_water: int, ticket_counter: int, now_ms: int) -> None:
    conn.execute(
        nodes.update()
        .where(nodes.c.id == node_id)
        .values(high_water=high_water, ticket_counter=ticket_counter, last_seen_at=now_ms)
    )


@dataclass(frozen=True)
class Report:
    """What a node says of itself on a request (its headers); None where it said nothing."""

    pending_ops: int | None
    protocol: int | None
    client_version: str | None

    def differs_from(self, node: Node) -> bool:
        return (self.pending_ops, self.protocol, self.client_version) != (
            node.pending_ops,
            node.protocol,
            node.client_version,
        )


def touch(conn: Connection, node_id: str, now_ms: int, report: Report | None = None) -> None:
    values: dict[str, object] = {"last_seen_at": now_ms}
    if report is not None:
        values.update(pending_ops=report.pending_ops, protocol=report.protocol, client_version=report.client_version)
    conn.execute(nodes.update().where(nodes.c.id == node_id).values(**values))


class KeptResult(msgspec.Struct, array_like=True):
    """An op's answer as HQ keeps it, with what the op was about (for reports and diagnostics)."""

    result: OpResult
    kind: str
    entity_id: str


_kept_encoder = msgspec.msgpack.Encoder()
_kept_decoder = msgspec.msgpack.Decoder(list[KeptResult])


def stored_results(conn: Connection, node_id: str, seqs: Iterable[int]) -> dict[int, OpResult]:
    """The results HQ stored for these seqs of a node (duplicates get them again)."""
    wanted = set(seqs)
    if not wanted:
        return {}
    c = push_results.c
    query = sa.select(c.results).where(c.node_id == node_id, c.last_seq >= min(wanted), c.first_seq <= max(wanted))
    found: dict[int, OpResult] = {}
    for (data,) in conn.execute(query):
        for kept in _kept_decoder.decode(data):
            if kept.result.seq in wanted:
                found[kept.result.seq] = kept.result
    return found


def store_results(conn: Connection, node_id: str, results: list[KeptResult], now_ms: int) -> None:
    """Keep the results of a batch's newly processed ops (consecutive seqs) as one row."""
    if not results:
        return
    conn.execute(
        push_results.insert().values(
            node_id=node_id,
            first_seq=results[0].result.seq,
            last_seq=results[-1].result.seq,
            results=_kept_encoder.encode(results),
            rejected=sum(1 for kept in results if kept.result.status == "rejected"),
            created_at=now_ms,
        )
    )
