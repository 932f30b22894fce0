"""HQ's change log: the one module that writes the ``changes`` table, and the queries that read it.

Every entry is the snapshot of one entity version (msgpack of a :mod:`sync_protocol.entities`
Struct) with the scope of stores that may see it: ``scope_store`` (one store), ``scope_region``
(every store of a region) or neither (every store: reference data).

Never skip a late commit: a writer takes :func:`lock` at the start of its transaction
(:meth:`hq_server.db.Database.write` does), so positions become visible in order. On PostgreSQL
that is a transaction-scoped advisory lock, released only after the commit is visible; on SQLite
the database has a single writer anyway. A reader that reads the head first and then scans up to
it therefore never misses an entry below the head.

Each entry carries its own HLC from HQ's clock, unique per entry: with the position it forms the
pull cursor, so a log restored from an older copy (whose positions are reused by other entries)
is recognised by its different HLC.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import bulk
from hq_server.schema import changes
from sync_protocol.hlc import HybridClock
from sync_protocol.messages import Change

#: Key of the PostgreSQL advisory lock that serializes change-log writers ("StoreDesk log").
ADVISORY_LOCK_KEY = 0x5D0C_1060
_LOCKED = "storedesk_changelog_locked"


class Entry(NamedTuple):
    """A change-log entry to append: an entity version and who may see it."""

    entity: str
    entity_id: str
    scope_store: str | None
    scope_region: str | None
    data: bytes


def lock(conn: Connection) -> None:
    """Take the change-log lock for the rest of the transaction. Call first in the transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    conn.info[_LOCKED] = True


def unlock(conn: Connection) -> None:
    """Forget the lock mark when the transaction ends (the lock itself ends with it)."""
    conn.info.pop(_LOCKED, None)


def append(conn: Connection, clock: HybridClock, entries: Sequence[Entry]) -> None:
    """Append ``entries`` in order, each stamped with a new HLC of ``clock``."""
    if not entries:
        return
    if not conn.info.get(_LOCKED):
        raise RuntimeError("append to the change log without holding its lock")
    rows = [
        (e.entity, e.entity_id, e.scope_store, e.scope_region, hlc, e.data)
        for e, hlc in zip(entries, clock.stamps(len(entries)), strict=True)
    ]
    bulk.insert_values(conn, changes, _COLUMNS, rows)


_COLUMNS = ("entity", "entity_id", "scope_store", "scope_region", "hlc", "data")


def head(conn: Connection) -> tuple[int, str]:
    """Position and HLC of the newest entry, ``(0, "")`` for an empty log."""
    row = conn.execute(sa.select(changes.c.pos, changes.c.hlc).order_by(changes.c.pos.desc()).limit(1)).first()
    return (int(row[0]), str(row[1])) if row is not None else (0, "")


def head_pos(conn: Connection) -> int:
    """Position of the newest entry (0 for an empty log)."""
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(changes.c.pos), 0))).scalar_one())


def entry_hlc(conn: Connection, pos: int) -> str | None:
    """The HLC of the entry at ``pos``, or None when there is none."""
    value = conn.execute(sa.select(changes.c.hlc).where(changes.c.pos == pos)).scalar_one_or_none()
    return None if value is None else str(value)


def scan(
    conn: Connection,
    *,
    store_id: str,
    region_id: str | None,
    after: int,
    upto: int | None,
    limit: int,
) -> list[Change]:
    """Entries with ``after < pos <= upto`` in the scope of a store, oldest first, at most ``limit``.

    One index range scan per scope (the store's entries, its region's, the global ones), each
    already in position order, merged here; ``data`` is returned as stored (``msgspec.Raw``).
    """
    c = changes.c
    bounds = [c.pos > after] if upto is None else [c.pos > after, c.pos <= upto]
    scopes = [c.scope_store == store_id, sa.and_(c.scope_store.is_(None), c.scope_region.is_(None))]
    if region_id:
        scopes.append(sa.and_(c.scope_region == region_id, sa.or_(c.scope_store.is_(None), c.scope_store != store_id)))
    rows: list[Any] = []
    runs = 0
    for scope in scopes:
        query = sa.select(c.pos, c.entity, c.entity_id, c.hlc, c.data).where(scope, *bounds).order_by(c.pos)
        found = conn.execute(query.limit(limit)).all()
        if found:
            rows.extend(found)
            runs += 1
    if runs > 1:
        rows.sort(key=_pos_of)
    return [
        Change(pos=pos, entity=entity, entity_id=entity_id, hlc=hlc, data=msgspec.Raw(data))
        for pos, entity, entity_id, hlc, data in rows[:limit]
    ]


def _pos_of(row: Any) -> int:
    return int(row[0])


def count(conn: Connection) -> int:
    """Number of entries (for tests and diagnostics)."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(changes)).scalar_one())
