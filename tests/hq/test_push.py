"""POST /sync/v1/push: exactly-once application, gaps, per-op results (hq_server.push)."""

from __future__ import annotations

import msgspec

from sync_protocol.entities import decode_entity
from sync_protocol.ops import TicketCreate
from tests.hq.helpers import Hq


def test_duplicate_batch_applies_once_and_gets_the_stored_results_again(hq: Hq) -> None:
    node = hq.enroll("SH001")
    create = node.create("拉链坏了")
    ops = [
        node.op(create),
        node.op(node.set(create.ticket_id, title="拉链总坏")),
        node.op(node.comment(create.ticket_id)),
    ]
    first = node.push(ops)
    again = node.push(ops)
    assert [(r.seq, r.status, r.hlc) for r in first.results] == [
        (1, "applied", ops[0].hlc),
        (2, "applied", ops[1].hlc),
        (3, "applied", ops[2].hlc),
    ]
    assert again.results == first.results
    assert first.high_water == again.high_water == 3
    ticket = hq.ticket(create.ticket_id)
    assert ticket["title"] == "拉链总坏"
    assert [c["body"] for c in ticket["comments"]] == ["补充说明"]
    assert hq.api("GET", "/api/v1/tickets").json()["total"] == 1


def test_batch_overlapping_the_high_water_mark_applies_only_the_new_ops(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create()
    first = [node.op(create), node.op(node.comment(create.ticket_id, "一"))]
    node.push(first)
    second = node.op(node.comment(create.ticket_id, "二"))
    answer = node.push([*first, second])
    assert [r.seq for r in answer.results] == [1, 2, 3]
    assert answer.high_water == 3
    assert [c["body"] for c in hq.ticket(create.ticket_id)["comments"]] == ["一", "二"]


def test_retried_create_with_a_new_seq_never_makes_a_second_ticket(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create("只有一张")
    node.push([node.op(create)])
    answer = node.push([node.op(create)])  # e.g. a replica rebuilt from a backup re-sends it
    assert (answer.results[0].status, answer.results[0].code) == ("merged", "duplicate")
    assert hq.api("GET", "/api/v1/tickets").json()["total"] == 1


def test_seq_gap_is_refused_with_409_and_expected_seq_and_nothing_of_the_batch_applies(hq: Hq) -> None:
    node = hq.enroll()
    node.push([node.op(node.create("第一张"))])
    node.seq += 1  # skip seq 2
    response = node.push_raw(node.body([node.op(node.create("第三张")), node.op(node.create("第四张"))]))
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["expected_seq"]) == ("seq_gap", 2)
    assert error["message"]
    assert [t["title"] for t in hq.api("GET", "/api/v1/tickets").json()["items"]] == ["第一张"]
    assert node.hello().high_water == 1


def test_hole_inside_the_new_ops_is_a_gap_too(hq: Hq) -> None:
    node = hq.enroll()
    ops = [node.op(node.create("一"), seq=1), node.op(node.create("三"), seq=3)]
    response = node.push_raw(node.body(ops))
    assert response.status_code == 409
    assert response.json()["error"]["expected_seq"] == 1
    assert hq.api("GET", "/api/v1/tickets").json()["total"] == 0


def test_hq_only_field_from_a_store_is_rejected_for_good_and_advances_the_high_water_mark(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create()
    answer = node.push([node.op(create), node.op(node.set(create.ticket_id, department="qc", title="新"))])
    rejected = answer.results[1]
    assert (rejected.status, rejected.code) == ("rejected", "hq_only_field")
    assert "总部" in rejected.reason
    assert answer.high_water == 2
    ticket = hq.ticket(create.ticket_id)
    # The department is routing's (the type's default), not the store's.
    assert (ticket["department"], ticket["title"]) == ("operations", "货架松动")


def test_forbidden_transition_is_rejected_and_the_ops_behind_it_still_apply(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create()
    node.push([node.op(create)])
    assert hq.api("PATCH", f"/api/v1/tickets/{create.ticket_id}", json={"status": "closed"}).status_code == 200
    answer = node.push(
        [
            node.op(node.status(create.ticket_id, "in_progress")),
            node.op(node.comment(create.ticket_id, "已联系厂家")),
        ]
    )
    assert [(r.status, r.code) for r in answer.results] == [
        ("rejected", "invalid_transition"),
        ("applied", ""),
    ]
    assert "已关闭" in answer.results[0].reason
    assert answer.high_water == 3
    ticket = hq.ticket(create.ticket_id)
    assert ticket["status"] == "closed"
    assert [c["body"] for c in ticket["comments"]] == ["已联系厂家"]


def test_unknown_op_kind_is_upgrade_required_and_the_high_water_mark_stops_before_it(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create()
    first = node.op(create)
    future = node.op(node.comment(create.ticket_id), kind="loyalty.points")
    behind = node.op(node.comment(create.ticket_id, "后面的"))
    answer = node.push([first, future, behind])
    assert [(r.seq, r.status, r.code) for r in answer.results] == [
        (1, "applied", ""),
        (2, "rejected", "upgrade_required"),
    ]
    assert "loyalty.points" in answer.results[1].reason
    assert answer.high_water == 1
    assert node.hello().high_water == 1
    assert hq.ticket(create.ticket_id)["comments"] == []


def test_undecodable_op_payload_is_rejected_as_malformed_without_stopping_the_batch(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create()
    first = node.op(create)
    broken = node.op(node.comment(create.ticket_id))
    broken.payload = msgspec.Raw(msgspec.msgpack.encode({"kind": "ticket.comment", "ticket_id": 5}))
    answer = node.push([first, broken, node.op(node.comment(create.ticket_id, "好的"))])
    assert [(r.status, r.code) for r in answer.results] == [
        ("applied", ""),
        ("rejected", "malformed_op"),
        ("applied", ""),
    ]


def test_ops_on_tickets_hq_does_not_know_or_of_unknown_type_are_rejected(hq: Hq) -> None:
    node = hq.enroll()
    answer = node.push(
        [node.op(node.set("no-such-ticket", title="x")), node.op(node.create("未知类型", type="teleport"))]
    )
    assert [(r.status, r.code) for r in answer.results] == [
        ("rejected", "unknown_ticket"),
        ("rejected", "unknown_ticket_type"),
    ]
    assert "teleport" in answer.results[1].reason


def test_invalid_text_fields_are_rejected_with_the_rule_broken(hq: Hq) -> None:
    node = hq.enroll()
    answer = node.push([node.op(node.create("   ")), node.op(node.create("x" * 201))])
    assert [r.code for r in answer.results] == ["required", "too_long"]
    assert answer.results[0].reason == "标题为必填项"


def test_reasons_are_english_when_asked(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create()
    response = node.push_raw(
        node.body([node.op(create), node.op(node.set(create.ticket_id, assignee="x"))]),
        headers={"Accept-Language": "en"},
    )
    result = msgspec.msgpack.decode(response.content)["results"][1]
    assert result["reason"] == "assignee can only be changed by HQ"


def test_ack_carries_the_current_snapshot_of_every_ticket_the_batch_touched_also_for_duplicates(
    hq: Hq,
) -> None:
    node = hq.enroll()
    create = node.create("原标题")
    ops = [node.op(create)]
    node.push(ops)
    assert hq.api("PATCH", f"/api/v1/tickets/{create.ticket_id}", json={"priority": "high"}).status_code == 200
    again = node.push(ops)
    assert [(c.pos, c.entity, c.entity_id) for c in again.entities] == [(0, "ticket", create.ticket_id)]
    snapshot = decode_entity("ticket", again.entities[0].data)
    assert (snapshot.priority, snapshot.title) == ("high", "原标题")


def test_ack_leaves_out_tickets_whose_ops_applied_as_sent_and_the_next_pull_brings_them(hq: Hq) -> None:
    node = hq.enroll()
    _, cursor = node.pull_all()
    kept = node.create("照常的单")
    lost = node.create("会被覆盖的单")
    node.push([node.op(kept), node.op(lost)])
    _, cursor = node.pull_all(cursor)
    assert hq.api("PATCH", f"/api/v1/tickets/{lost.ticket_id}", json={"title": "总部改的"}).status_code == 200
    edit = node.op(node.set(kept.ticket_id, title="照常改"))
    comment = node.op(node.comment(kept.ticket_id))
    stale_edit = node.op(node.set(lost.ticket_id, title="门店改的"), hlc="000000000000001.000000.old")
    answer = node.push([edit, comment, stale_edit])
    assert [r.status for r in answer.results] == ["applied", "applied", "merged"]
    # Only the ticket whose edit lost is in the ack, with HQ's value.
    assert [c.entity_id for c in answer.entities] == [lost.ticket_id]
    assert decode_entity("ticket", answer.entities[0].data).title == "总部改的"
    # The applied one comes with the next pull, as HQ holds it now.
    changes, _ = node.pull_all(cursor)
    [version] = [c for c in changes if c.entity == "ticket" and c.entity_id == kept.ticket_id]
    assert decode_entity("ticket", version.data).title == "照常改"


def test_store_cannot_touch_another_stores_ticket_and_gets_no_snapshot_of_it(hq: Hq) -> None:
    a, b = hq.enroll("SH001"), hq.enroll("SH002")
    create = b.create("B 店的")
    b.push([b.op(create)])
    answer = a.push([a.op(a.set(create.ticket_id, title="冒改")), a.op(a.comment(create.ticket_id))])
    assert [r.code for r in answer.results] == ["wrong_store", "wrong_store"]
    assert answer.entities == []
    assert hq.ticket(create.ticket_id)["title"] == "B 店的"


def test_hello_reports_the_high_water_mark_and_highest_ticket_counter(hq: Hq) -> None:
    node = hq.enroll("SH009")
    node.push([node.op(node.create()), node.op(node.create())])
    hello = node.hello()
    assert (hello.high_water, hello.ticket_counter, hello.store_code, hello.node_no) == (2, 2, "SH009", 1)
    assert hello.store_name == "SH009 门店"


def test_ticket_created_at_a_store_keeps_its_number(hq: Hq) -> None:
    node = hq.enroll("SH012")
    create: TicketCreate = node.create()
    node.push([node.op(create)])
    ticket = hq.ticket(create.number)
    assert (ticket["id"], ticket["number"], ticket["store_code"]) == (
        create.ticket_id,
        "SH012-000001",
        "SH012",
    )


def test_ticket_rows_match_their_latest_snapshot_after_edits_that_change_few_columns(hq: Hq) -> None:
    """A push updates only the columns an edit changed (an index on an untouched column is not
    rewritten); what it writes must still be the whole ticket HQ holds."""
    from hq_server import ticket_store

    node = hq.enroll()
    creates = [node.create(title=f"冷柜 {n}") for n in range(3)]
    node.push([node.op(c) for c in creates])
    first, second, third = (c.ticket_id for c in creates)
    hq.api("PATCH", f"/api/v1/tickets/{second}", json={"priority": "high", "status": "in_progress"})
    node.push(
        [
            node.op(node.set(first, title="冷柜不制冷")),
            node.op(node.set(second, description="压缩机异响", customer_phone="13800000000")),
            node.op(node.comment(third)),
            node.op(node.status(first, "in_progress")),
            node.op(node.set(first, category="设备")),
        ]
    )
    changes, _ = node.pull_all()
    latest = {c.entity_id: decode_entity("ticket", c.data) for c in changes if c.entity == "ticket"}
    with hq.ctx.db.read() as conn:
        stored = ticket_store.load_tickets(conn, [first, second, third])
    for ticket_id in (first, second, third):
        assert msgspec.structs.asdict(stored[ticket_id]) == msgspec.structs.asdict(latest[ticket_id])
    assert stored[first].title == "冷柜不制冷" and stored[first].status == "in_progress"
    assert stored[second].priority == "high" and stored[second].customer_phone == "13800000000"
