"""Password and PIN hashing (argon2id) and the rules a new password or PIN must follow.

Hashes are argon2id in the PHC string format (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``),
with the parameters of RFC 9106's second recommendation (64 MiB, 3 passes, 4 lanes): about a
fifth of a second on a store PC. At most :data:`MAX_CONCURRENT_HASHES` hashes run at once, so a
burst of sign-ins cannot take 64 MiB per server thread. :func:`needs_rehash` tells when a stored
hash has older parameters (the sign-in then stores a new one).

PINs (store staff, 4 to 8 digits) are hashed the same way. Neither a password nor a hash is ever
logged or answered.

Rules for a password: at least :data:`MIN_PASSWORD_LENGTH` characters, at most
:data:`MAX_PASSWORD_LENGTH`, not only digits, not the username (in any case). A broken rule is an
:class:`~hq_server.errors.InvalidInput` (422) naming the field.
"""

from __future__ import annotations

import re
import threading

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from hq_server.errors import InvalidInput

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
MIN_PIN_LENGTH = 4
MAX_PIN_LENGTH = 8
MAX_CONCURRENT_HASHES = 4

#: The parameters HQ hashes with.
DEFAULT_HASHER = PasswordHasher(
    time_cost=3, memory_cost=64 * 1024, parallelism=4, hash_len=32, salt_len=16, type=Type.ID
)
#: The hasher of this process (tests swap in a cheaper one with :func:`use_hasher`).
_hasher = DEFAULT_HASHER
_slots = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)
_dummy_lock = threading.Lock()
_dummy: tuple[PasswordHasher, str] | None = None

_PIN = re.compile(rf"[0-9]{{{MIN_PIN_LENGTH},{MAX_PIN_LENGTH}}}")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def use_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Hash with ``hasher`` from now on (tests use cheap parameters); returns the previous one."""
    global _hasher
    previous, _hasher = _hasher, hasher
    return previous


def hash_secret(secret: str) -> str:
    """The argon2id hash of a password or PIN (a new random salt each time)."""
    with _slots:
        return _hasher.hash(secret)


def verify(stored_hash: str, secret: str) -> bool:
    """Whether ``secret`` matches ``stored_hash``; False also for a hash that cannot be read."""
    with _slots:
        try:
            return _hasher.verify(stored_hash, secret)
        except (VerificationError, InvalidHashError):
            return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether ``stored_hash`` was made with other parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError):
        return True


def verify_dummy(secret: str) -> None:
    """Spend the time of one verification for nothing (a username HQ does not know), so an unknown
    name cannot be told from a wrong password by the time the answer takes."""
    global _dummy
    with _dummy_lock:
        if _dummy is None or _dummy[0] is not _hasher:
            _dummy = (_hasher, _hasher.hash("storedesk-dummy-password"))
        dummy_hash = _dummy[1]
    verify(dummy_hash, secret)


def check_password(password: object, *, username: str = "", field: str = "password") -> str:
    """``password`` if it follows the rules, else :class:`InvalidInput` naming ``field``."""
    if not isinstance(password, str):
        raise InvalidInput("invalid_type", field=field)
    if _UNSTORABLE.search(password):
        raise InvalidInput("invalid_text", field=field)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password_too_short", field=field, min=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput("too_long", field=field)
    if password.isdigit():
        raise InvalidInput("password_all_digits", field=field)
    if username and password.strip().casefold() == username.strip().casefold():
        raise InvalidInput("password_is_username", field=field)
    return password


def check_pin(pin: object, *, field: str = "pin") -> str:
    """``pin`` if it is 4 to 8 digits (as text: leading zeros count), else :class:`InvalidInput`."""
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        raise InvalidInput("invalid_pin", field=field, min=MIN_PIN_LENGTH, max=MAX_PIN_LENGTH)
    return pin
