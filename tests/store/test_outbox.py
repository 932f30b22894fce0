"""The outbox: local changes and their ops commit together; seq order; what is still pending."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from store_node import outbox, ticket_actions
from store_node.node import Node
from sync_protocol.hlc import Hlc
from sync_protocol.messages import UPGRADE_REQUIRED, OpResult
from sync_protocol.ops import TicketComment, TicketCreate, TicketSet, TicketStatus, decode_payload
from sync_protocol.tickets import CLERK_FIELDS
from tests.store.helpers import enrolled_node, new_ticket, outbox_rows, scalar


def break_writes(node: Node, table: str, event: str = "INSERT") -> None:
    """Make every ``event`` on ``table`` fail the way a full disk would."""
    node.replica.conn.execute(
        f"CREATE TRIGGER broken_{table} BEFORE {event} ON {table} BEGIN SELECT RAISE(ABORT, 'disk is full'); END"
    )


def repair_writes(node: Node, table: str) -> None:
    node.replica.conn.execute(f"DROP TRIGGER broken_{table}")


def snapshot(node: Node) -> dict[str, object]:
    """Everything a failed action must leave untouched."""
    replica = node.replica
    return {
        "tickets": [dict(r) for r in replica.query("SELECT * FROM tickets ORDER BY id")],
        "comments": [dict(r) for r in replica.query("SELECT * FROM comments ORDER BY id")],
        "history": [dict(r) for r in replica.query("SELECT * FROM history ORDER BY id")],
        "outbox": outbox_rows(node),
        "meta": {k: replica.get(k) for k in ("next_seq", "ticket_counter", "hlc")},
    }


def test_local_ticket_create_and_its_op_are_written_together(node: Node) -> None:
    ticket_id = new_ticket(node, "收银机死机", customer_phone="13800000000")
    ticket = node.replica.one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
    assert ticket is not None and ticket["title"] == "收银机死机" and ticket["status"] == "new"
    [op] = outbox_rows(node)
    assert (op["seq"], op["kind"], op["entity_id"], op["record_id"], op["state"]) == (
        1,
        "ticket.create",
        ticket_id,
        ticket_id,
        "pending",
    )
    payload = decode_payload(op["kind"], op["payload"])
    assert isinstance(payload, TicketCreate)
    assert (payload.ticket_id, payload.number, payload.title, payload.customer_phone) == (
        ticket_id,
        ticket["number"],
        "收银机死机",
        "13800000000",
    )
    assert op["hlc"] == ticket["hlc"]
    assert set(op["fields"].split(",")) == set(CLERK_FIELDS)


def test_local_edit_and_its_op_are_written_in_one_transaction(node: Node) -> None:
    ticket_id = new_ticket(node, "冷柜不制冷")
    ticket_actions.edit_ticket(node, ticket_id, {"title": "冷柜温度过高", "category": "冷链", "type": "equipment"})
    row = node.replica.one("SELECT title, category FROM tickets WHERE id = ?", (ticket_id,))
    assert row is not None and tuple(row) == ("冷柜温度过高", "冷链")
    op = outbox_rows(node)[-1]
    payload = decode_payload(op["kind"], op["payload"])
    # Only the fields that changed travel.
    assert isinstance(payload, TicketSet) and payload.changes == {"title": "冷柜温度过高", "category": "冷链"}
    assert sorted(op["fields"].split(",")) == ["category", "title"]


def test_comment_and_status_change_write_their_record_and_op(node: Node) -> None:
    ticket_id = new_ticket(node)
    comment_id = ticket_actions.add_comment(node, ticket_id, "  已联系维修  ", author="小王")
    ticket_actions.change_status(node, ticket_id, "in_progress", "维修中", actor="小王")
    comment = node.replica.one("SELECT body, author, ticket_id FROM comments WHERE id = ?", (comment_id,))
    assert comment is not None and tuple(comment) == ("已联系维修", "小王", ticket_id)
    history = node.replica.one("SELECT id, from_status, to_status, note FROM history WHERE ticket_id = ?", (ticket_id,))
    assert history is not None and tuple(history)[1:] == ("new", "in_progress", "维修中")
    assert scalar(node.replica, "SELECT status FROM tickets WHERE id = ?", (ticket_id,)) == "in_progress"
    _, comment_op, status_op = outbox_rows(node)
    assert (comment_op["kind"], comment_op["record_id"], comment_op["fields"]) == ("ticket.comment", comment_id, "")
    assert (status_op["kind"], status_op["record_id"], status_op["fields"]) == ("ticket.status", history[0], "status")
    assert isinstance(decode_payload(comment_op["kind"], comment_op["payload"]), TicketComment)
    assert isinstance(decode_payload(status_op["kind"], status_op["payload"]), TicketStatus)


Action = Callable[[Node, str], object]

FAILURES: list[tuple[str, str, str, Action]] = [
    ("create, op fails", "outbox", "INSERT", lambda n, t: new_ticket(n, "新工单")),
    ("create, row fails", "tickets", "INSERT", lambda n, t: new_ticket(n, "新工单")),
    ("edit, op fails", "outbox", "INSERT", lambda n, t: ticket_actions.edit_ticket(n, t, {"title": "改了"})),
    ("edit, row fails", "tickets", "UPDATE", lambda n, t: ticket_actions.edit_ticket(n, t, {"title": "改了"})),
    ("comment, op fails", "outbox", "INSERT", lambda n, t: ticket_actions.add_comment(n, t, "补充")),
    ("comment, row fails", "comments", "INSERT", lambda n, t: ticket_actions.add_comment(n, t, "补充")),
    ("status, op fails", "outbox", "INSERT", lambda n, t: ticket_actions.change_status(n, t, "resolved")),
    ("status, history fails", "history", "INSERT", lambda n, t: ticket_actions.change_status(n, t, "resolved")),
]


@pytest.mark.parametrize(("table", "event", "action"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_a_failed_write_rolls_back_both_the_change_and_its_op(
    node: Node, table: str, event: str, action: Action
) -> None:
    ticket_id = new_ticket(node)
    before = snapshot(node)
    break_writes(node, table, event)
    with pytest.raises(sqlite3.IntegrityError, match="disk is full"):
        action(node, ticket_id)
    assert snapshot(node) == before
    assert not node.replica.conn.in_transaction

    repair_writes(node, table)
    action(node, ticket_id)
    assert [op["seq"] for op in outbox_rows(node)] == [1, 2]  # still gapless


def test_ops_get_gapless_increasing_seqs_and_hlcs_across_restarts(data_dir: Path) -> None:
    node = enrolled_node(data_dir)
    ticket_id = new_ticket(node)
    ticket_actions.edit_ticket(node, ticket_id, {"title": "改"})
    ticket_actions.add_comment(node, ticket_id, "评论")
    ticket_actions.change_status(node, ticket_id, "in_progress")
    node.close()

    node = enrolled_node(data_dir)
    try:
        new_ticket(node)
        rows = outbox_rows(node)
        assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
        hlcs = [Hlc.parse(r["hlc"]) for r in rows]
        assert hlcs == sorted(hlcs) and len(set(hlcs)) == 5
        assert {h.node for h in hlcs} == {"node-1"}
        assert node.replica.get_int("next_seq") == 6
    finally:
        node.close()


def test_pending_ops_respects_limit_and_after_seq(node: Node) -> None:
    ticket_ids = [new_ticket(node, f"工单 {i}") for i in range(5)]
    assert [op.seq for op in outbox.pending_ops(node, 2)] == [1, 2]
    assert [op.seq for op in outbox.pending_ops(node, 10, after_seq=2)] == [3, 4, 5]
    assert outbox.pending_ops(node, 10, after_seq=5) == []

    with node.replica.tx() as conn:
        outbox.record_results(conn, [OpResult(seq=3, op_id="x", status="applied")], node.wall_ms())
    ops = outbox.pending_ops(node, 10)
    assert [op.seq for op in ops] == [1, 2, 4, 5]
    first = ops[0]
    assert (first.node_id, first.store_id, first.kind, first.entity_id) == (
        "node-1",
        "store-SH012",
        "ticket.create",
        ticket_ids[0],
    )
    payload = msgspec.msgpack.decode(first.payload, type=TicketCreate)
    assert payload.title == "工单 0"


def test_pending_fields_reports_fields_with_unacknowledged_ops(node: Node) -> None:
    a, b = new_ticket(node, "A"), new_ticket(node, "B")
    with node.replica.tx() as conn:
        assert outbox.pending_fields(conn, [a, b]) == {a: set(CLERK_FIELDS), b: set(CLERK_FIELDS)}
        outbox.record_results(
            conn, [OpResult(seq=1, op_id="x", status="applied"), OpResult(seq=2, op_id="y", status="merged")], 1
        )
        assert outbox.pending_fields(conn, [a, b]) == {}

    ticket_actions.edit_ticket(node, a, {"title": "A2", "customer_name": "张女士"})
    ticket_actions.change_status(node, a, "in_progress")
    ticket_actions.add_comment(node, a, "评论不占字段")
    ticket_actions.edit_ticket(node, b, {"description": "会被拒绝"})
    with node.replica.tx() as conn:
        assert outbox.pending_fields(conn, [a, b, "unknown"]) == {
            a: {"title", "customer_name", "status"},
            b: {"description"},
        }
        outbox.record_results(conn, [OpResult(seq=6, op_id="z", status="rejected", code="c", reason="r")], 2)
        assert outbox.pending_fields(conn, [a, b]) == {a: {"title", "customer_name", "status"}}


def test_record_results_acks_and_rejects_and_stops_at_upgrade_required(node: Node) -> None:
    for i in range(4):
        new_ticket(node, f"工单 {i}")
    results = [
        OpResult(seq=1, op_id="a", status="applied"),
        OpResult(seq=2, op_id="b", status="rejected", code="unknown_ticket_type", reason="未知的工单类型"),
        OpResult(seq=3, op_id="c", status="rejected", code=UPGRADE_REQUIRED, reason="too old"),
        OpResult(seq=4, op_id="d", status="applied"),
    ]
    with node.replica.tx() as conn:
        assert outbox.record_results(conn, results, 1234) is False
    rows = outbox_rows(node)
    assert [(r["state"], r["code"], r["done_at"]) for r in rows] == [
        ("acked", "", 1234),
        ("rejected", "unknown_ticket_type", 1234),
        ("pending", "", None),
        ("pending", "", None),
    ]
    assert rows[1]["reason"] == "未知的工单类型"
    assert outbox.count(node) == 2 and outbox.count(node, outbox.REJECTED) == 1
    assert [r["seq"] for r in outbox.rejected(node)] == [2]


def test_rewind_requeues_answered_ops_above_a_seq(node: Node) -> None:
    for i in range(4):
        new_ticket(node, f"工单 {i}")
    with node.replica.tx() as conn:
        outbox.record_results(
            conn,
            [
                OpResult(seq=1, op_id="a", status="applied"),
                OpResult(seq=2, op_id="b", status="applied"),
                OpResult(seq=3, op_id="c", status="rejected", code="x", reason="y"),
            ],
            99,
        )
        assert outbox.rewind(conn, 1) == 2
    assert [(r["state"], r["code"], r["done_at"]) for r in outbox_rows(node)] == [
        ("acked", "", 99),
        ("pending", "", None),
        ("pending", "", None),
        ("pending", "", None),
    ]


def test_prune_forgets_only_acked_ops_answered_before_the_cutoff(node: Node) -> None:
    for i in range(3):
        new_ticket(node, f"工单 {i}")
    with node.replica.tx() as conn:
        outbox.record_results(conn, [OpResult(seq=1, op_id="a", status="applied")], 100)
        outbox.record_results(conn, [OpResult(seq=2, op_id="b", status="applied")], 300)
        assert outbox.prune(conn, 200) == 1
        assert not outbox.holds(conn, 1) and outbox.holds(conn, 2)
    assert [(r["seq"], r["state"]) for r in outbox_rows(node)] == [(2, "acked"), (3, "pending")]


def test_pending_records_name_the_records_made_by_unacknowledged_ops(node: Node) -> None:
    ticket_id = new_ticket(node)
    comment_id = ticket_actions.add_comment(node, ticket_id, "评论")
    with node.replica.tx() as conn:
        outbox.record_results(conn, [OpResult(seq=1, op_id="a", status="applied")], 1)
        assert outbox.pending_records(conn) == {comment_id}
    assert outbox.pending_records_of(node, ticket_id) == {comment_id}
    assert outbox.pending_records_of(node, "other") == set()
