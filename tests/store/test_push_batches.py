"""Push batches stay inside HQ's limits however large the queued ops are (store_node.sync_client)."""

from __future__ import annotations

from store_node import ticket_actions
from sync_protocol.tickets import MAX_LENGTH
from sync_protocol.version import MAX_PUSH_BYTES
from tests.store.conftest import StoreFactory


def test_ops_larger_in_total_than_hqs_body_limit_go_out_in_several_pushes(make_store: StoreFactory) -> None:
    store = make_store("SH001")
    store.sync()
    # 300 tickets with the longest description allowed: ~9 MB of ops, above HQ's 8 MiB body limit.
    description = "顾客反映衣服洗后褪色严重" * (MAX_LENGTH["description"] // 12)
    for i in range(300):
        ticket_actions.create_ticket(store.node, {"type": "quality", "title": f"褪色 {i}", "description": description})
    queued = sum(len(row[0]) for row in store.node.replica.query("SELECT payload FROM outbox WHERE state = 'pending'"))
    assert queued > MAX_PUSH_BYTES
    store.line.paths.clear()

    answered = store.call(lambda client: client.push_all())

    assert answered == 300
    assert store.pending() == 0
    assert store.line.paths.count("/sync/v1/push") >= 2
    assert store.seen_by_hq().high_water == 300
