"""What a store node says of itself on its pulls and waits (ops not yet acknowledged, protocol,
software) is recorded on its node, for HQ's sync-health page (hq_server.sync_api.note_contact)."""

from __future__ import annotations

import sqlalchemy as sa

from hq_server.schema import nodes
from tests.hq.helpers import Hq, WireNode


def reported(hq: Hq, node_id: str) -> tuple[int | None, int | None, str | None]:
    with hq.ctx.db.read() as conn:
        row = conn.execute(
            sa.select(nodes.c.pending_ops, nodes.c.protocol, nodes.c.client_version).where(nodes.c.id == node_id)
        ).one()
    return row[0], row[1], row[2]


def pull_saying(node: WireNode, **headers: str) -> None:
    response = node.client.get("/sync/v1/pull", params={"cursor": "0"}, headers={**node.headers, **headers})
    assert response.status_code == 200, response.text


def test_a_pull_records_what_the_node_reports_and_a_change_is_recorded_at_once(hq: Hq) -> None:
    node = hq.enroll("SH001")
    assert reported(hq, node.node_id) == (None, None, None)
    pull_saying(node, **{"X-StoreDesk-Pending": "7", "X-StoreDesk-Client": "storedesk/0.9.1"})
    assert reported(hq, node.node_id) == (7, 1, "storedesk/0.9.1")
    pull_saying(node, **{"X-StoreDesk-Pending": "0", "X-StoreDesk-Client": "storedesk/0.9.1"})  # within a minute
    assert reported(hq, node.node_id) == (0, 1, "storedesk/0.9.1")


def test_malformed_reports_are_ignored_not_refused(hq: Hq) -> None:
    node = hq.enroll("SH001")
    pull_saying(node, **{"X-StoreDesk-Pending": "-3", "X-StoreDesk-Client": "x" * 200})
    pending, protocol, client = reported(hq, node.node_id)
    assert pending is None and protocol == 1 and client is not None and len(client) == 40
