"""Store accounts in the change log: what reaches a store node of its staff's accounts.

A store node lets its clerks sign in against the accounts HQ publishes to it (offline too), so
every write of a store-role account (store manager, clerk) appends an ``account`` entry
(:class:`~sync_protocol.accounts.StoreAccount`) scoped to the account's store, in the same write
transaction (which holds the change-log lock: :meth:`hq_server.db.Database.write`):

- the account as it now stands, with its argon2id hashes (never a secret), to its store; an
  inactive account goes with both hashes empty;
- an account moved to another store, or whose role left the store roles, also goes to its old
  store as ``active=False`` with empty hashes (that store forgets how to sign it in);
- an account of an HQ role is never sent to a store.

The sign-in counter (:func:`hq_server.accounts.authenticate`) is bookkeeping and logs nothing,
not even when it stores a rehashed password: the store's older hash still verifies.

The writers in :mod:`hq_server.accounts` are handed the database and HQ's clock, which stamps the
entries.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import changelog
from hq_server.principals import STORE_ROLES
from hq_server.schema import users
from sync_protocol.accounts import StoreAccount
from sync_protocol.entities import encode_entity
from sync_protocol.hlc import HybridClock

ENTITY = "account"


def placement(role: str, store_id: str | None) -> str | None:
    """The store whose node holds an account of ``role`` at ``store_id`` (None: no store)."""
    return store_id if role in STORE_ROLES and store_id else None


def publish(
    conn: Connection,
    clock: HybridClock,
    user_id: str,
    *,
    previous: tuple[str, str | None] | None,
    now_ms: int,
) -> int:
    """Append the entries of ``user_id``'s new state (read in ``conn``) to the change log.

    ``previous`` is the account's (role, store id) before this write (None for a new account):
    when it was at a store it no longer belongs to, that store gets an inactive entry (with the
    old role). Returns the number of entries appended.
    """
    row = conn.execute(sa.select(users).where(users.c.id == user_id)).mappings().one()
    store = placement(str(row["role"]), row["store_id"])
    previous_store = placement(*previous) if previous is not None else None
    entries: list[changelog.Entry] = []
    if previous is not None and previous_store is not None and previous_store != store:
        gone = _account(row, active=False, updated_at=now_ms, role=previous[0])
        entries.append(changelog.Entry(ENTITY, user_id, previous_store, None, encode_entity(gone)))
    if store is not None:
        current = _account(row, active=bool(row["active"]), updated_at=int(row["updated_at"]), role=str(row["role"]))
        entries.append(changelog.Entry(ENTITY, user_id, store, None, encode_entity(current)))
    if not entries:
        return 0
    changelog.append(conn, clock, entries)
    return len(entries)


def _account(row: sa.RowMapping, *, active: bool, updated_at: int, role: str) -> StoreAccount:
    return StoreAccount(
        id=str(row["id"]),
        username=str(row["username"]),
        display_name=str(row["display_name"]),
        role=role,
        password_hash=str(row["password_hash"]) if active else "",
        pin_hash=str(row["pin_hash"] or "") if active else "",
        active=active,
        updated_at=updated_at,
    )
