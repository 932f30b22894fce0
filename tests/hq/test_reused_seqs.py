"""A store PC restored from an older copy of its replica reuses seqs and ticket numbers HQ has
already seen. HQ never answers a different op with a stored result, and never gives two tickets
one number (hq_server.push)."""

from __future__ import annotations

from sync_protocol.messages import error_decoder
from tests.hq.helpers import Hq
from tests.hq.test_sync_boundary import assert_error


def test_seq_reused_by_a_different_op_is_refused_with_409_and_nothing_applies(hq: Hq) -> None:
    node = hq.enroll()
    first = node.create("昨天的单")
    assert node.push([node.op(first)]).results[0].status == "applied"
    node.seq = 0  # the restored replica hands out seq 1 again, to a new op
    reused = node.create("恢复后的新单")
    response = node.push_raw(node.body([node.op(reused), node.op(node.create("又一张"))]))
    error = assert_error(response, 409, "seq_reused")
    assert "备份" in str(error["message"])
    assert error_decoder.decode(response.content).error.expected_seq == 2
    assert node.hello().high_water == 1
    assert hq.api("GET", f"/api/v1/tickets/{reused.ticket_id}").status_code == 404


def test_the_same_op_sent_again_is_still_a_plain_duplicate(hq: Hq) -> None:
    node = hq.enroll()
    op = node.op(node.create())
    first = node.push([op]).results[0]
    again = node.push([op]).results[0]
    assert (again.status, again.op_id, again.hlc) == (first.status, first.op_id, first.hlc)


def test_ticket_number_already_held_by_another_ticket_gets_the_next_free_number(hq: Hq) -> None:
    node = hq.enroll("SH001")
    yesterday = node.create("昨天的单")  # SH001-000001
    node.push([node.op(yesterday)])
    node.counter = 0  # the restored replica numbers from an older counter
    today = node.create("恢复后的新单")  # SH001-000001 again
    answer = node.push([node.op(today)])
    assert answer.results[0].status == "applied"
    assert hq.ticket(today.ticket_id)["number"] == "SH001-000002"
    assert hq.ticket(yesterday.ticket_id)["number"] == "SH001-000001"
    # The ack tells the store its ticket's new number and how far HQ's counter went.
    [snapshot] = [c for c in answer.entities if c.entity_id == today.ticket_id]
    assert answer.ticket_counter == 2
    assert node.hello().ticket_counter == 2
    assert snapshot.entity == "ticket"


def test_a_retried_create_keeps_its_number(hq: Hq) -> None:
    node = hq.enroll("SH001")
    create = node.create("重发的单")
    node.push([node.op(create)])
    node.push([node.op(create)])  # same ticket, new seq: an upsert, not a clash with itself
    assert hq.ticket(create.ticket_id)["number"] == "SH001-000001"
