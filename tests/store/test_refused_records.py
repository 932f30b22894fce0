"""A comment or status change HQ did not keep leaves no row in the replica (store_node.apply)."""

from __future__ import annotations

import time

from store_node import ticket_actions, views
from tests.hq.helpers import Hq
from tests.store.conftest import StoreFactory
from tests.store.helpers import outbox_rows


def test_comment_and_status_change_hq_rejects_are_removed_from_the_replica(make_store: StoreFactory) -> None:
    store = make_store("SH001")
    store.enroll_only()  # no ticket types pulled yet, so the store cannot check the type itself
    ticket_id = ticket_actions.create_ticket(store.node, {"type": "no-such-type", "title": "类型错误"})
    ticket_actions.add_comment(store.node, ticket_id, "顾客已到店")
    ticket_actions.change_status(store.node, ticket_id, "in_progress")
    assert len(views.get_ticket(store.node, ticket_id)["comments"]) == 1
    store.sync()
    assert [(op["kind"], op["state"], op["code"]) for op in outbox_rows(store.node)] == [
        ("ticket.create", "rejected", "unknown_ticket_type"),
        ("ticket.comment", "rejected", "unknown_ticket"),
        ("ticket.status", "rejected", "unknown_ticket"),
    ]
    ticket = views.get_ticket(store.node, ticket_id)
    assert ticket["comments"] == []
    assert ticket["history"] == []
    # What the clerk wrote is not lost: the rejected ops stay listed with their reasons.
    assert len(views.sync_status(store.node)["rejected_ops"]) == 3


def test_status_change_overtaken_by_a_later_hq_change_leaves_only_hqs_history(hq: Hq, make_store: StoreFactory) -> None:
    store = make_store("SH001")
    store.sync()
    ticket_id = ticket_actions.create_ticket(store.node, {"type": "equipment", "title": "收银机死机"})
    store.sync()
    ticket_actions.change_status(store.node, ticket_id, "in_progress", "先重启看看")
    time.sleep(0.005)  # HQ's change is stamped later than the store's, which HQ has not seen yet
    response = hq.api("PATCH", f"/api/v1/tickets/{ticket_id}", json={"status": "resolved", "note": "已远程修复"})
    assert response.status_code == 200, response.text
    store.sync()
    [_, op] = outbox_rows(store.node)
    assert (op["kind"], op["state"]) == ("ticket.status", "acked")
    ticket = views.get_ticket(store.node, ticket_id)
    assert ticket["status"] == "resolved"
    assert [(h["to_status"], h["note"]) for h in ticket["history"]] == [("resolved", "已远程修复")]
    assert [(h["to_status"]) for h in hq.ticket(ticket_id)["history"]] == ["resolved"]


def test_status_change_hq_applies_keeps_its_local_history_row(make_store: StoreFactory) -> None:
    store = make_store("SH001")
    store.sync()
    ticket_id = ticket_actions.create_ticket(store.node, {"type": "equipment", "title": "灯箱不亮"})
    store.sync()
    ticket_actions.change_status(store.node, ticket_id, "in_progress")
    store.sync()
    assert [h["to_status"] for h in views.get_ticket(store.node, ticket_id)["history"]] == ["in_progress"]
