"""Fixtures every test package may use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher, Type

from hq_server import passwords


@pytest.fixture
def fast_hashing() -> Iterator[None]:
    """Cheap argon2id parameters for tests that hash and verify many passwords (the real ones
    take a fifth of a second each)."""
    previous = passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID))
    try:
        yield
    finally:
        passwords.use_hasher(previous)
