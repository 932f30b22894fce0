"""The read side of sync: hello, pull and the check behind wait (docs/sync.md).

A pull reads the log head first and then scans the store's scope up to it, in one read
transaction. Because writers append under the change-log lock, every entry at or below the head
is committed, so the next cursor (the last entry returned, or the head when the page is not full)
never passes over an entry that commits later.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from hq_server import changelog
from hq_server.db import Database
from hq_server.errors import BadRequest
from hq_server.nodes import Node
from sync_protocol.hlc import HybridClock
from sync_protocol.messages import Hello, PullResponse, decode_cursor, encode_cursor
from sync_protocol.version import MAX_PULL_LIMIT, MAX_PUSH_OPS, PROTOCOL_VERSION, SUPPORTED_VERSIONS

DEFAULT_PULL_LIMIT = 1000


def hello(clock: HybridClock, node: Node) -> Hello:
    """HQ's view of the calling node (``node`` was read when the request was authenticated)."""
    return Hello(
        protocol=PROTOCOL_VERSION,
        supported=list(SUPPORTED_VERSIONS),
        node_id=node.id,
        node_no=node.node_no,
        store_id=node.store_id,
        store_code=node.store_code,
        store_name=node.store_name,
        region_id=node.region_id,
        high_water=node.high_water,
        ticket_counter=node.ticket_counter,
        server_hlc=clock.now().encode(),
        max_push_ops=MAX_PUSH_OPS,
    )


def parse_cursor(cursor: str) -> tuple[int, str]:
    try:
        return decode_cursor(cursor)
    except ValueError as exc:
        raise BadRequest("invalid_cursor", field="cursor") from exc


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PULL_LIMIT
    try:
        limit = int(raw)
    except ValueError as exc:
        raise BadRequest("invalid_param", field="limit") from exc
    if limit < 1:
        raise BadRequest("invalid_param", field="limit")
    return min(limit, MAX_PULL_LIMIT)


def _resume_pos(conn: Connection, pos: int, hlc: str) -> int | None:
    """Where to continue from ``pos:hlc``: ``pos``, or None when this log has no such entry."""
    if pos == 0:
        return 0
    return pos if changelog.entry_hlc(conn, pos) == hlc else None


def pull(db: Database, clock: HybridClock, node: Node, cursor: str, limit: int) -> PullResponse:
    """The store's changes after ``cursor``, at most ``limit``; ``reset`` when the cursor is not
    from this log (then from the beginning)."""
    pos, hlc = parse_cursor(cursor)
    with db.read() as conn:
        after = _resume_pos(conn, pos, hlc)
        reset = after is None
        start = 0 if after is None else after
        head_pos, head_hlc = changelog.head(conn)
        page = changelog.scan(
            conn,
            store_id=node.store_id,
            region_id=node.region_id or None,
            after=start,
            upto=head_pos,
            limit=limit + 1,
        )
    has_more = len(page) > limit
    if has_more:
        page = page[:limit]
        next_cursor = encode_cursor(page[-1].pos, page[-1].hlc)
    elif head_pos > start:
        next_cursor = encode_cursor(head_pos, head_hlc)
    else:
        next_cursor = encode_cursor(start, hlc if not reset else "")
    return PullResponse(
        protocol=PROTOCOL_VERSION,
        changes=page,
        cursor=next_cursor,
        has_more=has_more,
        reset=reset,
        node_high_water=node.high_water,
        server_hlc=clock.now().encode(),
    )


def has_changes(db: Database, node: Node, cursor: tuple[int, str]) -> bool:
    """True when the store's scope has entries after ``cursor`` (or the cursor is not from this
    log, so the store must pull to learn of the reset)."""
    pos, hlc = cursor
    with db.read() as conn:
        after = _resume_pos(conn, pos, hlc)
        if after is None:
            return True
        found = changelog.scan(
            conn, store_id=node.store_id, region_id=node.region_id or None, after=after, upto=None, limit=1
        )
        return bool(found)


def head_pos(db: Database) -> int:
    """Position of the newest change-log entry (what the wait notifier polls)."""
    with db.read() as conn:
        return changelog.head_pos(conn)
