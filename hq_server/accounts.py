"""Staff accounts: create, change, list, sign in (with lockout), and the Principal of a user.

Rules:

- Usernames are 3 to 40 characters ``a-z 0-9 . _ - @``, stored lowercased; sign-in ignores case.
- A role's scope (:mod:`hq_server.principals`): ``agent`` and ``group_lead`` need at least one
  existing department, ``regional_manager`` at least one existing region (given by id or code,
  stored by id), ``store_manager`` and ``clerk`` exactly one existing store (id or code); the
  other roles take none. A scope field a role does not take is refused (``scope_not_for_role``);
  when a user's role changes, the scope fields it no longer takes are cleared.
- Only store staff have a PIN (4 to 8 digits, for the store node's quick sign-in).
- Sign-in: :data:`MAX_FAILED_LOGINS` consecutive wrong passwords lock the account for
  :data:`LOCKOUT_MS` (15 minutes; the failure that locks it already answers ``account_locked``);
  while locked even the right password is refused with ``account_locked`` and the minutes left. A
  success resets the count. An unknown or deactivated username costs one verification against a
  dummy hash and answers ``bad_credentials`` like a wrong password, so the answer and its time do
  not tell whether a username exists. (A lockout does tell, to whoever makes five attempts.)
- The last active administrator can be neither deactivated nor given another role.
- Every write of a store-role account (create; name, role, store, active or PIN; password) also
  appends its ``account`` entry for its store node to the change log, in the same transaction
  (:mod:`hq_server.account_sync`); the sign-in counter's writes do not.

Functions that hash a password or PIN take the :class:`~hq_server.db.Database` and hash outside
any transaction (a fifth of a second would otherwise hold HQ's writer). The writers take
HQ's ``clock`` for the change log. No function returns a
hash: :class:`User` has no such field, and reads select every column but the ``*_hash`` ones.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import account_sync, passwords, reference, sessions
from hq_server.db import Database
from hq_server.errors import Conflict, HqError, InvalidInput, NotFound, Unauthorized
from hq_server.principals import ROLES, STORE_ROLES, Principal
from hq_server.schema import regions, users
from sync_protocol.hlc import HybridClock
from sync_protocol.ops import new_id

log = logging.getLogger("storedesk.hq.accounts")

MAX_FAILED_LOGINS = 5
LOCKOUT_MS = 15 * 60_000
MAX_DISPLAY_NAME_LENGTH = 80
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{2,39}")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

#: Roles whose scope is departments, regions, or one store.
DEPARTMENT_ROLES = frozenset({"agent", "group_lead"})
REGION_ROLES = frozenset({"regional_manager"})

CREATE_FIELDS = frozenset({"username", "display_name", "role", "password", "pin", "departments", "regions", "store"})
UPDATE_FIELDS = frozenset({"display_name", "role", "departments", "regions", "store", "active", "pin"})


class AccountLocked(HqError):
    """Too many failed sign-ins: the account is locked for ``minutes`` more."""

    status = 423
    code = "account_locked"


@dataclass(frozen=True)
class User:
    """A staff account as the API shows it: everything but the hashes."""

    id: str
    username: str
    display_name: str
    role: str
    departments: tuple[str, ...]
    #: Region ids.
    regions: tuple[str, ...]
    store_id: str | None
    active: bool
    failed_logins: int
    locked_until: int | None
    created_at: int
    updated_at: int
    password_changed_at: int
    has_pin: bool

    def locked(self, now_ms: int) -> bool:
        return self.locked_until is not None and self.locked_until > now_ms


_PUBLIC_COLUMNS = [column for column in users.c if not column.name.endswith("_hash")]
_SELECT_USER = sa.select(*_PUBLIC_COLUMNS, users.c.pin_hash.is_not(None).label("has_pin"))


def _user(row: sa.RowMapping) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        departments=tuple(row["departments"] or ()),
        regions=tuple(row["regions"] or ()),
        store_id=row["store_id"],
        active=bool(row["active"]),
        failed_logins=int(row["failed_logins"]),
        locked_until=row["locked_until"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        password_changed_at=row["password_changed_at"],
        has_pin=bool(row["has_pin"]),
    )


# -- reads --------------------------------------------------------------------------------------


def get_user(conn: Connection, user_id: str) -> User | None:
    row = conn.execute(_SELECT_USER.where(users.c.id == user_id)).mappings().first()
    return _user(row) if row is not None else None


def require_user(conn: Connection, user_id: str) -> User:
    user = get_user(conn, user_id)
    if user is None:
        raise NotFound("user_not_found", value=user_id)
    return user


def find_by_username(conn: Connection, username: str) -> User | None:
    row = conn.execute(_SELECT_USER.where(users.c.username == normalize_username(username))).mappings().first()
    return _user(row) if row is not None else None


def list_users(conn: Connection, *, role: str | None = None, active: bool | None = None) -> list[User]:
    """Every account, by username; ``role``/``active`` filter."""
    query = _SELECT_USER.order_by(users.c.username)
    if role is not None:
        query = query.where(users.c.role == role)
    if active is not None:
        query = query.where(users.c.active == active)
    return [_user(row) for row in conn.execute(query).mappings()]


def region_codes(conn: Connection, region_ids: Iterable[str]) -> dict[str, str]:
    """Region id -> code for ``region_ids`` (for showing a regional manager's scope)."""
    wanted = list(region_ids)
    if not wanted:
        return {}
    query = sa.select(regions.c.id, regions.c.code).where(regions.c.id.in_(wanted))
    return {str(rid): str(code) for rid, code in conn.execute(query)}


def principal_of_user(user: User) -> Principal:
    """Who ``user`` is for the scope checks."""
    return Principal(
        role=user.role,
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        departments=frozenset(user.departments),
        regions=frozenset(user.regions),
        store_id=user.store_id,
    )


# -- field rules --------------------------------------------------------------------------------


def normalize_username(value: object) -> str:
    """A username as stored (stripped, lowercased); "" for anything but text."""
    return value.strip().lower() if isinstance(value, str) else ""


def check_username(value: object) -> str:
    if value is None or value == "":
        raise InvalidInput("required", field="username")
    if not isinstance(value, str):
        raise InvalidInput("invalid_type", field="username")
    username = normalize_username(value)
    if not _USERNAME.fullmatch(username):
        raise InvalidInput("invalid_username", field="username")
    return username


def check_display_name(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput("invalid_type", field="display_name")
    if _UNSTORABLE.search(value):
        raise InvalidInput("invalid_text", field="display_name")
    name = value.strip()
    if not name:
        raise InvalidInput("required", field="display_name")
    if len(name) > MAX_DISPLAY_NAME_LENGTH:
        raise InvalidInput("too_long", field="display_name")
    return name


def check_role(value: object) -> str:
    if value is None or value == "":
        raise InvalidInput("required", field="role")
    if not isinstance(value, str) or value not in ROLES:
        raise InvalidInput("invalid_role", field="role", value=str(value)[:40], roles=", ".join(ROLES))
    return value


def _text_list(field: str, value: object) -> list[str]:
    """A list of texts (duplicates dropped, order kept); None reads as empty."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInput("invalid_type", field=field)
    return list(dict.fromkeys(item.strip() for item in value if item.strip()))


def _empty(value: object) -> bool:
    return value is None or value == "" or value == []


def resolve_scope(
    conn: Connection, role: str, departments: object, regions_value: object, store: object
) -> tuple[list[str], list[str], str | None]:
    """The (department codes, region ids, store id) of a ``role`` account, checked against the
    role's rules and the reference data; :class:`InvalidInput` naming the field otherwise."""
    takes = {
        "departments": role in DEPARTMENT_ROLES,
        "regions": role in REGION_ROLES,
        "store": role in STORE_ROLES,
    }
    for field, value in (("departments", departments), ("regions", regions_value), ("store", store)):
        if not takes[field] and not _empty(value):
            raise InvalidInput("scope_not_for_role", field=field, role=role)
    dept_codes: list[str] = []
    region_ids: list[str] = []
    store_id: str | None = None
    if takes["departments"]:
        dept_codes = _text_list("departments", departments)
        if not dept_codes:
            raise InvalidInput("departments_required", field="departments")
        known = reference.department_codes(conn)
        for code in dept_codes:
            if code not in known:
                raise InvalidInput("unknown_department", field="departments", value=code[:40])
    if takes["regions"]:
        for key in _text_list("regions", regions_value):
            query = sa.select(regions.c.id).where(sa.or_(regions.c.id == key, regions.c.code == key))
            found = conn.execute(query).scalar_one_or_none()
            if found is None:
                raise InvalidInput("unknown_region", field="regions", value=key[:40])
            if str(found) not in region_ids:
                region_ids.append(str(found))
        if not region_ids:
            raise InvalidInput("regions_required", field="regions")
    if takes["store"]:
        if _empty(store):
            raise InvalidInput("store_required", field="store")
        if not isinstance(store, str):
            raise InvalidInput("invalid_type", field="store")
        row = reference.find_store(conn, store.strip())
        if row is None:
            raise InvalidInput("unknown_store", field="store", value=store.strip()[:40])
        store_id = str(row["id"])
    return dept_codes, region_ids, store_id


def _check_fields(given: Iterable[str], allowed: frozenset[str]) -> None:
    for name in given:
        if name not in allowed:
            raise InvalidInput("unknown_field", field=name[:40])


def _active_admins(conn: Connection) -> list[str]:
    query = sa.select(users.c.id).where(users.c.role == "admin", users.c.active == sa.true())
    return [str(uid) for uid in conn.execute(query).scalars()]


# -- writes -------------------------------------------------------------------------------------


def create_user(db: Database, fields: Mapping[str, object], now_ms: int, *, clock: HybridClock) -> User:
    """A new account from ``fields`` (``username``, ``display_name``, ``role``, ``password``, and
    as the role needs ``departments``, ``regions``, ``store``, ``pin``)."""
    _check_fields(fields, CREATE_FIELDS)
    username = check_username(fields.get("username"))
    role = check_role(fields.get("role"))
    display_name = check_display_name(fields.get("display_name") or username)
    password = fields.get("password")
    if password is None or password == "":
        raise InvalidInput("required", field="password")
    passwords.check_password(password, username=username)
    pin = fields.get("pin")
    if not _empty(pin):
        if role not in STORE_ROLES:
            raise InvalidInput("pin_not_for_role", field="pin")
        passwords.check_pin(pin)
    with db.read() as conn:
        resolve_scope(conn, role, fields.get("departments"), fields.get("regions"), fields.get("store"))
        if find_by_username(conn, username) is not None:
            raise Conflict("username_taken", field="username", value=username)
    assert isinstance(password, str)
    password_hash = passwords.hash_secret(password)
    pin_hash = passwords.hash_secret(pin) if isinstance(pin, str) and pin else None
    user_id = new_id()
    try:
        with db.write() as conn:
            dept_codes, region_ids, store_id = resolve_scope(
                conn, role, fields.get("departments"), fields.get("regions"), fields.get("store")
            )
            conn.execute(
                users.insert().values(
                    id=user_id,
                    username=username,
                    display_name=display_name,
                    role=role,
                    password_hash=password_hash,
                    pin_hash=pin_hash,
                    departments=dept_codes,
                    regions=region_ids,
                    store_id=store_id,
                    active=True,
                    failed_logins=0,
                    locked_until=None,
                    created_at=now_ms,
                    updated_at=now_ms,
                    password_changed_at=now_ms,
                )
            )
            account_sync.publish(conn, clock, user_id, previous=None, now_ms=now_ms)
            user = require_user(conn, user_id)
    except sa.exc.IntegrityError as exc:
        # Another request took the username between the check and the insert.
        raise Conflict("username_taken", field="username", value=username) from exc
    log.info("account %s (%s) created with role %s", user.username, user.id, user.role)
    return user


def update_user(db: Database, user_id: str, changes: Mapping[str, object], now_ms: int, *, clock: HybridClock) -> User:
    """Change an account's ``display_name``, ``role``, scope (``departments``, ``regions``,
    ``store``), ``active`` or ``pin`` (null clears it). Deactivating ends the user's sessions."""
    _check_fields(changes, UPDATE_FIELDS)
    with db.read() as conn:
        current = require_user(conn, user_id)
    role = check_role(changes["role"]) if "role" in changes else current.role
    values: dict[str, Any] = {}
    if "display_name" in changes:
        values["display_name"] = check_display_name(changes["display_name"])
    if "active" in changes:
        if not isinstance(changes["active"], bool):
            raise InvalidInput("invalid_type", field="active")
        values["active"] = changes["active"]
    if "pin" in changes and not _empty(changes["pin"]):
        if role not in STORE_ROLES:
            raise InvalidInput("pin_not_for_role", field="pin")
        values["pin_hash"] = passwords.hash_secret(passwords.check_pin(changes["pin"]))
    elif ("pin" in changes and _empty(changes["pin"])) or role not in STORE_ROLES:
        values["pin_hash"] = None
    with db.write() as conn:
        current = require_user(conn, user_id)
        departments: object = changes.get("departments", list(current.departments) if role in DEPARTMENT_ROLES else [])
        region_list: object = changes.get("regions", list(current.regions) if role in REGION_ROLES else [])
        store: object = changes.get("store", current.store_id if role in STORE_ROLES else None)
        dept_codes, region_ids, store_id = resolve_scope(conn, role, departments, region_list, store)
        values.update(role=role, departments=dept_codes, regions=region_ids, store_id=store_id, updated_at=now_ms)
        stays_admin = role == "admin" and values.get("active", current.active)
        if current.role == "admin" and current.active and not stays_admin and _active_admins(conn) == [user_id]:
            raise Conflict("last_admin")
        conn.execute(users.update().where(users.c.id == user_id).values(**values))
        previous = (current.role, current.store_id)
        account_sync.publish(conn, clock, user_id, previous=previous, now_ms=now_ms)
        ended = 0
        if values.get("active") is False:
            ended = sessions.delete_user_sessions(conn, user_id)
        user = require_user(conn, user_id)
    if ended:
        log.info("account %s (%s) deactivated: %d session(s) ended", user.username, user.id, ended)
    return user


def set_password(
    db: Database,
    user_id: str,
    password: object,
    now_ms: int,
    *,
    keep_session: str | None = None,
    clock: HybridClock,
) -> int:
    """Give ``user_id`` a new password: it also clears a lockout and ends every session of the
    user but ``keep_session`` (the caller's own, when users change their own password). Returns
    how many sessions ended."""
    with db.read() as conn:
        user = require_user(conn, user_id)
    if password is None or password == "":
        raise InvalidInput("required", field="password")
    new_password = passwords.check_password(password, username=user.username)
    password_hash = passwords.hash_secret(new_password)
    with db.write() as conn:
        updated = conn.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(
                password_hash=password_hash,
                password_changed_at=now_ms,
                updated_at=now_ms,
                failed_logins=0,
                locked_until=None,
            )
        )
        if not updated.rowcount:
            raise NotFound("user_not_found", value=user_id)
        # (Role and store are unchanged: the account goes to the store it is at, if any.)
        account_sync.publish(conn, clock, user_id, previous=None, now_ms=now_ms)
        ended = sessions.delete_user_sessions(conn, user_id, keep=keep_session)
    log.info("password of %s (%s) changed: %d other session(s) ended", user.username, user.id, ended)
    return ended


def check_current_password(db: Database, user: User, password: object, now_ms: int) -> None:
    """:class:`InvalidInput` ``current_password_wrong`` unless ``password`` is ``user``'s. A wrong
    one counts as a failed sign-in (so a stolen session cannot guess it without the lockout); a
    locked account answers :class:`AccountLocked`."""
    if password is None or password == "":
        raise InvalidInput("required", field="current_password")
    try:
        authenticate(db, user.username, password, now_ms)
    except Unauthorized as exc:
        raise InvalidInput("current_password_wrong", field="current_password") from exc


# -- sign-in ------------------------------------------------------------------------------------


def _minutes_left(locked_until: int, now_ms: int) -> int:
    return max(1, math.ceil((locked_until - now_ms) / 60_000))


def authenticate(db: Database, username: object, password: object, now_ms: int) -> User:
    """The account ``username`` if ``password`` is its password and it may sign in now.

    Raises :class:`~hq_server.errors.Unauthorized` ``bad_credentials`` (unknown or deactivated
    username, wrong password) or :class:`AccountLocked`. The password is verified in every case,
    so all refusals take the time of one verification.
    """
    name = normalize_username(username)
    secret = password if isinstance(password, str) else ""
    row = None
    if name and len(name) <= 40:
        with db.read() as conn:
            query = sa.select(
                users.c.id, users.c.username, users.c.password_hash, users.c.active, users.c.locked_until
            ).where(users.c.username == name)
            row = conn.execute(query).mappings().first()
    if row is None or not row["active"] or not secret:
        # Same work as a real verification; the same answer as a wrong password.
        passwords.verify_dummy(secret)
        log.info("sign-in refused: bad credentials (%s)", f"inactive account {row['id']}" if row else "no such account")
        raise Unauthorized("bad_credentials")
    user_id = str(row["id"])
    stored_hash = str(row["password_hash"])
    matches = passwords.verify(stored_hash, secret)
    new_hash = passwords.hash_secret(secret) if matches and passwords.needs_rehash(stored_hash) else None
    # (Decided and written in one short transaction; raised only after it commits.)
    refusal: HqError | None = None
    with db.write_bookkeeping() as conn:
        state = (
            conn.execute(sa.select(users.c.failed_logins, users.c.locked_until).where(users.c.id == user_id))
            .mappings()
            .one()
        )
        locked_until = state["locked_until"]
        if locked_until is not None and locked_until > now_ms:
            refusal = AccountLocked(minutes=_minutes_left(int(locked_until), now_ms))
        elif matches:
            values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
            if new_hash is not None:
                values["password_hash"] = new_hash
            conn.execute(users.update().where(users.c.id == user_id).values(**values))
        else:
            failures = int(state["failed_logins"]) + 1
            if failures >= MAX_FAILED_LOGINS:
                locked_until = now_ms + LOCKOUT_MS
                conn.execute(
                    users.update().where(users.c.id == user_id).values(failed_logins=0, locked_until=locked_until)
                )
                log.warning("account %s (%s) locked after %d failed sign-ins", row["username"], user_id, failures)
                refusal = AccountLocked(minutes=_minutes_left(locked_until, now_ms))
            else:
                conn.execute(users.update().where(users.c.id == user_id).values(failed_logins=failures))
                log.info("sign-in refused: wrong password for account %s (failure %d)", user_id, failures)
                refusal = Unauthorized("bad_credentials")
        user = require_user(conn, user_id)
    if refusal is not None:
        raise refusal
    return user
