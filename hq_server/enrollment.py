"""Enrolling a store PC: the store (created if needed), its region, and a new node with a token.

Each call makes a new node: a second PC at the same store is a second node with the next node
number and its own token. HQ keeps only the token's hash; the token is returned once.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from hq_server import nodes, reference
from hq_server.db import Database
from hq_server.errors import InvalidInput
from sync_protocol.hlc import HybridClock
from sync_protocol.ops import new_id

CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
#: A store code begins every ticket number of the store (``SH012-000123``, ``SH012-2-000045``
#: for its second PC), so it holds no ``-``: "SH012-2" would number like SH012's second PC.
STORE_CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{0,39}")
#: Codes whose numbers HQ uses itself (``HQ-000001`` for tickets made at HQ).
RESERVED_STORE_CODES = frozenset({"HQ"})
MAX_CODE_LENGTH = 40
MAX_NAME_LENGTH = 80


@dataclass(frozen=True)
class Enrollment:
    node_id: str
    node_no: int
    store_id: str
    store_code: str
    token: str


def _check_code(field: str, value: str) -> str:
    value = value.strip()
    if not CODE_PATTERN.fullmatch(value):
        raise InvalidInput("invalid_code", field=field, limit=MAX_CODE_LENGTH)
    return value


def enroll_store(
    db: Database, clock: HybridClock, code: str, *, name: str | None = None, region: str | None = None
) -> Enrollment:
    """Create the store ``code`` if needed (with ``name`` and ``region`` code) and a new node."""
    code = code.strip()
    if not STORE_CODE_PATTERN.fullmatch(code):
        raise InvalidInput("invalid_store_code", field="code", limit=MAX_CODE_LENGTH)
    if code.upper() in RESERVED_STORE_CODES:
        raise InvalidInput("reserved_store_code", field="code", value=code)
    region_code = _check_code("region", region) if region else None
    name = (name or "").strip() or None
    if name is not None and len(name) > MAX_NAME_LENGTH:
        raise InvalidInput("too_long", field="name")
    token = nodes.new_token()
    node_id = new_id()
    now_ms = time.time_ns() // 1_000_000
    with db.write() as conn:
        region_id = reference.ensure_region(conn, clock, region_code, now_ms) if region_code else None
        store = reference.ensure_store(conn, clock, code, name=name, region_id=region_id, now_ms=now_ms)
        node_no = nodes.insert(conn, node_id=node_id, store_id=store["id"], token=token, now_ms=now_ms)
    return Enrollment(node_id=node_id, node_no=node_no, store_id=store["id"], store_code=code, token=token)
