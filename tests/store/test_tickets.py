"""Clerk actions, ticket numbers and the node's identity and clock (store_node.ticket_actions, .node)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from store_node import ticket_actions
from store_node.errors import IdentityMismatch, InvalidInput, NotEnrolled, NotFound
from store_node.node import Node
from sync_protocol.hlc import Hlc, system_wall_ms
from sync_protocol.tickets import MAX_COMMENT_LENGTH, MAX_LENGTH
from tests.store.helpers import enrolled_node, fake_hello, new_ticket, outbox_rows, scalar


def number_of(node: Node, ticket_id: str) -> str:
    return str(scalar(node.replica, "SELECT number FROM tickets WHERE id = ?", (ticket_id,)))


def test_ticket_number_is_store_code_and_node_sequence(node: Node) -> None:
    numbers = [number_of(node, new_ticket(node, f"工单 {i}")) for i in range(3)]
    assert numbers == ["SH012-000001", "SH012-000002", "SH012-000003"]


def test_second_node_of_a_store_numbers_with_its_node_number(data_dir: Path) -> None:
    node = enrolled_node(data_dir, node_id="node-2", node_no=2)
    try:
        assert number_of(node, new_ticket(node)) == "SH012-2-000001"
    finally:
        node.close()


def test_ticket_numbers_stay_unique_and_increasing_across_restarts(data_dir: Path) -> None:
    node = enrolled_node(data_dir)
    first = [number_of(node, new_ticket(node)) for _ in range(2)]
    node.close()
    node = Node(data_dir)  # a restart: the identity comes from the replica
    try:
        later = [number_of(node, new_ticket(node)) for _ in range(2)]
        assert first + later == ["SH012-000001", "SH012-000002", "SH012-000003", "SH012-000004"]
    finally:
        node.close()


def test_a_failed_create_does_not_use_up_a_ticket_number(node: Node) -> None:
    with pytest.raises(InvalidInput):
        ticket_actions.create_ticket(node, {"type": "equipment", "title": ""})
    assert number_of(node, new_ticket(node)) == "SH012-000001"


def test_concurrent_creates_get_distinct_numbers_and_gapless_seqs(node: Node) -> None:
    errors: list[BaseException] = []

    def clerk(name: str) -> None:
        try:
            for i in range(20):
                new_ticket(node, f"{name} {i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=clerk, args=(f"收银台{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    numbers = [row[0] for row in node.replica.query("SELECT number FROM tickets")]
    assert len(set(numbers)) == 80
    assert sorted(numbers) == [f"SH012-{i:06d}" for i in range(1, 81)]
    assert [op["seq"] for op in outbox_rows(node)] == list(range(1, 81))


def test_a_fresh_replica_adopts_hq_high_water_and_ticket_counter(data_dir: Path) -> None:
    node = enrolled_node(data_dir, high_water=41, ticket_counter=17)
    try:
        ticket_id = new_ticket(node)
        assert number_of(node, ticket_id) == "SH012-000018"
        assert [op["seq"] for op in outbox_rows(node)] == [42]
        assert node.replica.get_int("acked_seq") == 41
    finally:
        node.close()


def test_actions_before_enrollment_are_refused_and_write_nothing(data_dir: Path) -> None:
    node = Node(data_dir)
    try:
        assert not node.enrolled
        with pytest.raises(NotEnrolled):
            new_ticket(node)
        with pytest.raises(NotEnrolled):
            ticket_actions.add_comment(node, "SH012-000001", "评论")
        assert node.replica.query("SELECT * FROM outbox") == []
        assert node.replica.query("SELECT * FROM tickets") == []
    finally:
        node.close()


def test_a_replica_refuses_the_identity_of_another_node(node: Node) -> None:
    with pytest.raises(IdentityMismatch):
        node.adopt(fake_hello(node_id="someone-else"))
    assert node.identity.node_id == "node-1"


def test_local_hlcs_keep_increasing_after_a_restart_with_the_clock_set_back(data_dir: Path) -> None:
    now = system_wall_ms()
    node = enrolled_node(data_dir, wall_ms=lambda: now)
    new_ticket(node)
    before = Hlc.parse(outbox_rows(node)[-1]["hlc"])
    node.close()

    node = Node(data_dir, wall_ms=lambda: now - 3_600_000)  # the PC's clock went back an hour
    try:
        new_ticket(node)
        after = Hlc.parse(outbox_rows(node)[-1]["hlc"])
        assert after > before
        assert after.node == "node-1"
    finally:
        node.close()


def test_tickets_resolve_by_id_or_number(node: Node) -> None:
    ticket_id = new_ticket(node)
    assert ticket_actions.resolve_id(node, ticket_id) == ticket_id
    assert ticket_actions.resolve_id(node, "SH012-000001") == ticket_id
    with pytest.raises(NotFound) as caught:
        ticket_actions.resolve_id(node, "SH012-000099")
    assert caught.value.status == 404 and caught.value.code == "ticket_not_found"


def test_edit_without_a_real_change_writes_no_op(node: Node) -> None:
    ticket_id = new_ticket(node, "冷柜不制冷")
    ticket_actions.edit_ticket(node, ticket_id, {"title": "  冷柜不制冷  "})
    assert len(outbox_rows(node)) == 1


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"department": "维修部"}, "hq_only_field", "department"),
        ({"status": "closed"}, "unknown_field", "status"),
        ({"title": ""}, "required", "title"),
        ({"title": "x" * 201}, "too_long", "title"),
        ({"customer_phone": 13800000000}, "invalid_type", "customer_phone"),
        ({}, "required", "changes"),
    ],
)
def test_invalid_edits_are_refused_with_the_field_and_write_nothing(
    node: Node, changes: dict[str, object], code: str, field: str
) -> None:
    ticket_id = new_ticket(node)
    with pytest.raises(InvalidInput) as caught:
        ticket_actions.edit_ticket(node, ticket_id, changes)
    assert (caught.value.code, caught.value.field, caught.value.status) == (code, field, 400)
    assert len(outbox_rows(node)) == 1


@pytest.mark.parametrize(
    ("data", "code", "field"),
    [
        ({"type": "equipment"}, "required", "title"),
        ({"title": "无类型"}, "required", "type"),
        ({"type": "equipment", "title": "t", "assignee": "老李"}, "unknown_field", "assignee"),
        ({"type": "equipment", "title": "t", "description": None}, "invalid_type", "description"),
    ],
)
def test_invalid_creates_are_refused_with_the_field(node: Node, data: dict[str, object], code: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        ticket_actions.create_ticket(node, data)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert outbox_rows(node) == []


def test_ticket_type_must_be_one_hq_published_once_types_are_known(node: Node) -> None:
    new_ticket(node)  # no types synced yet: any type is accepted
    with node.replica.tx() as conn:
        conn.execute(
            "INSERT INTO reference (entity, id, code, name_zh) VALUES ('ticket_type', 't1', 'quality', '质量')"
        )
    with pytest.raises(InvalidInput) as caught:
        ticket_actions.create_ticket(node, {"type": "equipment", "title": "t"})
    assert (caught.value.code, caught.value.field) == ("unknown_ticket_type", "type")
    ticket_actions.create_ticket(node, {"type": "quality", "title": "t"})


def test_forbidden_status_change_is_refused_and_writes_nothing(node: Node) -> None:
    ticket_id = new_ticket(node)
    ticket_actions.change_status(node, ticket_id, "closed")
    with pytest.raises(InvalidInput) as caught:
        ticket_actions.change_status(node, ticket_id, "in_progress")
    assert (caught.value.code, caught.value.field) == ("invalid_transition", "status")
    with pytest.raises(InvalidInput) as caught:
        ticket_actions.change_status(node, ticket_id, "done")
    assert caught.value.code == "invalid_choice"
    assert scalar(node.replica, "SELECT status FROM tickets") == "closed"
    assert scalar(node.replica, "SELECT count(*) FROM history") == 1
    assert len(outbox_rows(node)) == 2


def test_empty_or_oversized_comment_is_refused(node: Node) -> None:
    ticket_id = new_ticket(node)
    for body in ("", "   ", None, "x" * (MAX_COMMENT_LENGTH + 1)):
        with pytest.raises(InvalidInput) as caught:
            ticket_actions.add_comment(node, ticket_id, body)
        assert caught.value.field == "body"
    assert len(outbox_rows(node)) == 1


def test_oversized_status_note_or_actor_is_refused_locally_like_hq_would(node: Node) -> None:
    ticket_id = new_ticket(node)
    with pytest.raises(InvalidInput) as caught:
        ticket_actions.change_status(node, ticket_id, "in_progress", "x" * (MAX_LENGTH["note"] + 1))
    assert (caught.value.code, caught.value.field) == ("too_long", "note")
    with pytest.raises(InvalidInput) as caught:
        ticket_actions.change_status(node, ticket_id, "in_progress", actor="x" * (MAX_LENGTH["actor"] + 1))
    assert (caught.value.code, caught.value.field) == ("too_long", "actor")
    assert scalar(node.replica, "SELECT status FROM tickets") == "new"
    assert len(outbox_rows(node)) == 1
