"""The chain's return policy as HQ keeps it: one JSON value in ``meta``, published to every store.

Until an admin sets one, HQ and the stores both use :class:`~sync_protocol.return_policy.ReturnPolicy`'s
defaults (7 days without reason for unworn goods, 90 days for a quality problem).
"""

from __future__ import annotations

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import changelog
from hq_server.schema import meta
from sync_protocol.entities import encode_entity
from sync_protocol.hlc import HybridClock
from sync_protocol.return_policy import ReturnPolicy

#: ``meta`` key of the policy, and the id of its change-log entity (``return_policy``).
POLICY_KEY = "return_policy"
POLICY_ID = "chain"


def get_policy(conn: Connection) -> ReturnPolicy:
    """The policy in force (the defaults when none was set)."""
    value = conn.execute(sa.select(meta.c.value).where(meta.c.key == POLICY_KEY)).scalar()
    if value is None:
        return ReturnPolicy()
    return msgspec.json.decode(value, type=ReturnPolicy)


def is_set(conn: Connection) -> bool:
    return conn.execute(sa.select(meta.c.key).where(meta.c.key == POLICY_KEY)).first() is not None


def put_policy(conn: Connection, clock: HybridClock, policy: ReturnPolicy) -> None:
    """Store ``policy`` (checked by :func:`~sync_protocol.return_policy.parse_policy`) and publish
    it to every store; inside a write transaction."""
    value = msgspec.json.encode(policy).decode()
    updated = conn.execute(meta.update().where(meta.c.key == POLICY_KEY).values(value=value)).rowcount
    if not updated:
        conn.execute(meta.insert().values(key=POLICY_KEY, value=value))
    changelog.append(conn, clock, [changelog.Entry("return_policy", POLICY_ID, None, None, encode_entity(policy))])
