"""Signing clerks in against the store accounts HQ publishes to this store (offline too).

HQ sends the accounts of this store's staff (store managers, clerks) with their argon2id hashes
(:class:`~sync_protocol.accounts.StoreAccount`, kept in the ``accounts`` table); verification
happens here, so a clerk can sign in while HQ is unreachable.

Rules:

- One secret field: input of 4 to 8 digits is checked against the account's PIN hash when it has
  one; anything else against its password hash (HQ never allows an all-digit password).
- :data:`MAX_FAILED_SIGNINS` failures in a row lock that username on this PC (the counter is in
  the replica) for :data:`LOCKOUT_MS`; the failure that locks already answers ``signin_locked``,
  and while locked even the right secret is refused. A success clears the count.
- An unknown username, an inactive account and a wrong secret all answer
  ``signin_bad_credentials`` after one verification each (a dummy hash for an unknown name), and
  count towards the lockout of the name typed.
- The replica holds no account at all (a chain that has not set up store accounts, a new PC
  before its first pull): :func:`in_use` is False and the UI keeps the name-only sign-in.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

from store_node.node import Node

MAX_FAILED_SIGNINS = 5
LOCKOUT_MS = 15 * 60_000
MAX_USERNAME_LENGTH = 40
_PIN = re.compile(r"[0-9]{4,8}")
_VERIFIER = PasswordHasher()
_dummy_lock = threading.Lock()
_dummy: dict[str, str] = {}


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    display_name: str
    role: str
    active: bool
    #: HQ's version of the account: a new password, PIN or name changes it (and ends sign-ins).
    updated_at: int = 0


class SignInRefused(Exception):
    """Why a sign-in was refused: a text key (``signin_bad_credentials``, ``signin_locked``) and,
    for a lockout, the minutes left."""

    def __init__(self, code: str, minutes: int = 0) -> None:
        super().__init__(code)
        self.code = code
        self.minutes = minutes


def in_use(node: Node) -> bool:
    """Whether this store signs clerks in with accounts (the replica holds at least one)."""
    return node.replica.one("SELECT 1 FROM accounts LIMIT 1") is not None


def find(node: Node, account_id: str) -> Account | None:
    row = node.replica.one(
        "SELECT id, username, display_name, role, active, updated_at FROM accounts WHERE id = ?", (account_id,)
    )
    if row is None:
        return None
    return Account(
        id=str(row["id"]),
        username=str(row["username"]),
        display_name=str(row["display_name"]),
        role=str(row["role"]),
        active=bool(row["active"]),
        updated_at=int(row["updated_at"]),
    )


def normalize_username(value: str) -> str:
    return value.strip().lower()[:MAX_USERNAME_LENGTH]


def authenticate(node: Node, username: str, secret: str, now_ms: int) -> Account:
    """The active account ``username`` if ``secret`` is its PIN or password; else
    :class:`SignInRefused`. Blocking (one argon2 verification): call it in a thread."""
    name = normalize_username(username)
    row = node.replica.one("SELECT id, password_hash, pin_hash, active FROM accounts WHERE username = ?", (name,))
    if row is not None and row["active"] and (row["password_hash"] or row["pin_hash"]):
        use_pin = bool(row["pin_hash"]) and _PIN.fullmatch(secret) is not None
        matches = _verify(str(row["pin_hash"] if use_pin else row["password_hash"]), secret)
    else:
        _verify(_dummy_hash(node), secret)
        matches = False
    with node.replica.tx() as conn:
        state = conn.execute(
            "SELECT failures, locked_until FROM signin_failures WHERE username = ?", (name,)
        ).fetchone()
        failures, locked_until = (int(state[0]), int(state[1])) if state is not None else (0, 0)
        if locked_until > now_ms:
            raise SignInRefused("signin_locked", _minutes_left(locked_until, now_ms))
        if matches:
            conn.execute("DELETE FROM signin_failures WHERE username = ?", (name,))
        else:
            failures += 1
            locked_until = now_ms + LOCKOUT_MS if failures >= MAX_FAILED_SIGNINS else 0
            conn.execute(
                "INSERT INTO signin_failures (username, failures, locked_until) VALUES (?, ?, ?)"
                " ON CONFLICT(username) DO UPDATE SET failures = excluded.failures,"
                " locked_until = excluded.locked_until",
                (name, 0 if locked_until else failures, locked_until),
            )
    if not matches:
        if locked_until:
            raise SignInRefused("signin_locked", _minutes_left(locked_until, now_ms))
        raise SignInRefused("signin_bad_credentials")
    account = find(node, str(row["id"])) if row is not None else None
    if account is None or not account.active:  # (changed by a pull since the check above)
        raise SignInRefused("signin_bad_credentials")
    return account


def _verify(stored_hash: str, secret: str) -> bool:
    try:
        return _VERIFIER.verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def _minutes_left(locked_until: int, now_ms: int) -> int:
    return max(1, math.ceil((locked_until - now_ms) / 60_000))


def _dummy_hash(node: Node) -> str:
    """A hash with the parameters of this store's accounts (those HQ hashes with), to spend the
    time of a real verification on a username this store does not know."""
    row = node.replica.one("SELECT password_hash FROM accounts WHERE password_hash != '' LIMIT 1")
    sample = str(row[0]) if row is not None else ""
    try:
        hasher = PasswordHasher.from_parameters(extract_parameters(sample)) if sample else _VERIFIER
    except InvalidHashError:
        hasher = _VERIFIER
    key = f"{hasher.time_cost}:{hasher.memory_cost}:{hasher.parallelism}:{hasher.hash_len}:{hasher.salt_len}"
    with _dummy_lock:
        found = _dummy.get(key)
        if found is None:
            found = _dummy[key] = hasher.hash("storedesk-dummy-secret")
    return found
