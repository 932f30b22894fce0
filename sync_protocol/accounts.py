"""Store staff accounts as HQ publishes them to their store (change-log entity ``account``).

HQ sends each store the accounts of its store roles (store manager, clerk) so a clerk can sign in
at the store node with no connection to HQ. An entry carries argon2id hashes (PHC strings), never
a password or PIN; an account that is deactivated, moved to another store or given a role that
does not work in a store reaches its (old) store as ``active=False`` with both hashes empty.
"""

from __future__ import annotations

import msgspec


class StoreAccount(msgspec.Struct, kw_only=True):
    """One store account as its store node keeps it."""

    id: str
    username: str
    display_name: str
    #: ``store_manager`` or ``clerk``.
    role: str
    #: argon2id hash of the password ("" when inactive).
    password_hash: str
    #: argon2id hash of the PIN, "" when the account has none (or is inactive).
    pin_hash: str = ""
    active: bool = True
    #: HQ's ms of the change; a store keeps the newest version it has seen.
    updated_at: int = 0
