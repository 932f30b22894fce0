"""Values that do not fit HQ's columns are refused where they enter, never as a 500 on commit.

Runs on both engines: PostgreSQL refuses an over-long VARCHAR and SQLite an over-large integer,
so a value out of bounds must be caught before either sees it.
"""

from __future__ import annotations

import pytest

from sync_protocol.version import MAX_EPOCH_MS, MAX_INT64
from tests.hq.helpers import Hq
from tests.hq.test_sync_boundary import assert_error

TOO_LONG_ID = "x" * 37


def test_payload_with_an_overlong_id_is_rejected_alone_and_the_ops_behind_it_apply(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create()
    bad_create = node.create()
    bad_create.ticket_id = TOO_LONG_ID
    bad_comment = node.comment(create.ticket_id)
    bad_comment.comment_id = TOO_LONG_ID
    ops = [node.op(create), node.op(bad_create), node.op(bad_comment), node.op(node.comment(create.ticket_id, "好"))]
    answer = node.push(ops)
    assert [(r.status, r.code) for r in answer.results] == [
        ("applied", ""),
        ("rejected", "malformed_op"),
        ("rejected", "malformed_op"),
        ("applied", ""),
    ]
    assert answer.high_water == 4
    assert [c["body"] for c in hq.ticket(create.ticket_id)["comments"]] == ["好"]


@pytest.mark.parametrize("created_at", [2**63, -1, MAX_EPOCH_MS + 1])
def test_payload_time_out_of_range_is_rejected_as_malformed(hq: Hq, created_at: int) -> None:
    node = hq.enroll()
    create = node.create()
    create.created_at = created_at
    answer = node.push([node.op(create), node.op(node.create("正常的"))])
    assert [(r.status, r.code) for r in answer.results] == [("rejected", "malformed_op"), ("applied", "")]
    assert "created_at" in answer.results[0].reason


def test_ticket_counter_beyond_64_bits_is_rejected_as_malformed(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create()
    create.counter = MAX_INT64 + 1
    assert node.push([node.op(create)]).results[0].code == "malformed_op"
    assert node.hello().high_water == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("op_id", TOO_LONG_ID), ("hlc", "9" * 65), ("entity_id", "e" * 65), ("kind", "k" * 41)],
)
def test_envelope_out_of_bounds_makes_the_body_malformed_and_nothing_applies(hq: Hq, field: str, value: str) -> None:
    node = hq.enroll()
    good, bad = node.op(node.create()), node.op(node.create())
    setattr(bad, field, value)
    error = assert_error(node.push_raw(node.body([good, bad])), 400, "malformed_body")
    assert field in str(error["message"])
    assert node.hello().high_water == 0
    node.seq = 0
    assert node.push([node.op(node.create())]).results[0].status == "applied"


def test_unknown_kind_is_upgrade_required_even_when_its_hlc_is_unreadable_here(hq: Hq) -> None:
    node = hq.enroll()
    future = node.op(node.create(), kind="loyalty.points", hlc="v2:some-later-format")
    answer = node.push([future])
    assert [(r.status, r.code) for r in answer.results] == [("rejected", "upgrade_required")]
    assert answer.high_water == 0


@pytest.mark.parametrize("due", [10**30, -5, MAX_EPOCH_MS + 1, "0001-01-01T00:00:00Z"])
def test_staff_due_time_out_of_range_is_422_naming_the_field(hq: Hq, due: object) -> None:
    node = hq.enroll()
    create = node.create()
    node.push([node.op(create)])
    before = hq.ticket(create.ticket_id)["first_response_due"]  # the SLA's, set when it was routed
    response = hq.api("PATCH", f"/api/v1/tickets/{create.ticket_id}", json={"first_response_due": due})
    error = assert_error(response, 422, "invalid_time")
    assert error["field"] == "first_response_due"
    assert hq.ticket(create.ticket_id)["first_response_due"] == before
