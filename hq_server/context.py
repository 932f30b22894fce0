"""What the handlers of one HQ app share: the database, the clock, the wait notifier, the admin
token. Nothing here holds state another HQ process would need (DESIGN.md, scale-out)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starlette.requests import Request

from hq_server import nodes
from hq_server.db import Database
from hq_server.errors import Unauthorized
from hq_server.notify import ChangeNotifier
from sync_protocol.hlc import HybridClock


@dataclass
class HqContext:
    db: Database
    clock: HybridClock
    notifier: ChangeNotifier
    admin_token: str

    def find_node(self, token: str) -> nodes.Node | None:
        """The node a sync token belongs to (blocking: call in a thread)."""
        with self.db.read() as conn:
            return nodes.find_by_token(conn, token)

    def is_admin(self, token: str) -> bool:
        """Constant-time comparison with the admin token; an unset admin token admits nobody."""
        if not self.admin_token:
            return False
        return hmac.compare_digest(token.encode(), self.admin_token.encode())


def context_of(request: Request) -> HqContext:
    hq = request.app.state.hq
    assert isinstance(hq, HqContext)
    return hq


def bearer_token(request: Request) -> str:
    """The bearer token of the request, or :class:`~hq_server.errors.Unauthorized`."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized()
    return token
