"""Concurrent edits converge at HQ: per-field last writer wins by HLC (hq_server.ticket_rules)."""

from __future__ import annotations

from sync_protocol.entities import decode_entity
from sync_protocol.hlc import Hlc
from tests.hq.helpers import Hq, tickets_in


def test_concurrent_edits_of_one_field_later_hlc_wins_whatever_the_arrival_order(hq: Hq) -> None:
    a, b = hq.enroll("SH001"), hq.enroll("SH001")
    create = a.create("原标题")
    a.push([a.op(create)])
    early = a.op(a.set(create.ticket_id, title="先改的"))
    late = b.op(b.set(create.ticket_id, title="后改的"))
    assert early.hlc < late.hlc
    assert b.push([late]).results[0].status == "applied"
    answer = a.push([early])  # arrives last, but was written first
    assert (answer.results[0].status, answer.results[0].superseded) == ("merged", ["title"])
    assert "标题" in answer.results[0].reason
    assert decode_entity("ticket", answer.entities[0].data).title == "后改的"
    assert hq.ticket(create.ticket_id)["title"] == "后改的"


def test_edits_of_different_fields_both_survive(hq: Hq) -> None:
    a, b = hq.enroll("SH001"), hq.enroll("SH001")
    create = a.create("原标题")
    a.push([a.op(create)])
    title = a.op(a.set(create.ticket_id, title="A 改标题"))
    description = b.op(b.set(create.ticket_id, description="B 补充描述"))
    b.push([description])
    assert a.push([title]).results[0].status == "applied"
    ticket = hq.ticket(create.ticket_id)
    assert (ticket["title"], ticket["description"]) == ("A 改标题", "B 补充描述")


def test_one_op_can_win_some_fields_and_lose_others(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create("原标题")
    node.push([node.op(create)])
    old = node.op(node.set(create.ticket_id, title="旧标题", category="旧分类"))
    assert hq.api("PATCH", f"/api/v1/tickets/{create.ticket_id}", json={"title": "总部标题"}).status_code == 200
    result = node.push([old]).results[0]
    assert (result.status, result.superseded) == ("merged", ["title"])
    ticket = hq.ticket(create.ticket_id)
    assert (ticket["title"], ticket["category"]) == ("总部标题", "旧分类")


def test_hq_edit_is_later_than_every_version_hq_holds(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create("原标题")
    ahead = Hlc(hq.ctx.clock.wall() + 60_000, 0, node.node_id).encode()  # within the drift bound
    node.push([node.op(create), node.op(node.set(create.ticket_id, title="门店"), hlc=ahead)])
    assert hq.api("PATCH", f"/api/v1/tickets/{create.ticket_id}", json={"title": "总部"}).status_code == 200
    changes, _ = node.pull_all()
    state = tickets_in(changes)[create.ticket_id]
    assert state.title == "总部"
    assert state.field_hlcs["title"] > ahead


def test_later_store_edit_wins_over_an_earlier_hq_edit(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create("原标题")
    node.push([node.op(create)])
    assert hq.api("PATCH", f"/api/v1/tickets/{create.ticket_id}", json={"title": "总部先改"}).status_code == 200
    node.clock.observe(Hlc.parse(node.hello().server_hlc))
    assert node.push([node.op(node.set(create.ticket_id, title="门店后改"))]).results[0].status == "applied"
    assert hq.ticket(create.ticket_id)["title"] == "门店后改"


def test_status_event_older_than_the_status_held_is_merged_away(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create()
    node.push([node.op(create)])
    old = node.op(node.status(create.ticket_id, "in_progress"))
    assert hq.api("PATCH", f"/api/v1/tickets/{create.ticket_id}", json={"status": "resolved"}).status_code == 200
    result = node.push([old]).results[0]
    assert (result.status, result.superseded) == ("merged", ["status"])
    ticket = hq.ticket(create.ticket_id)
    assert ticket["status"] == "resolved"
    assert [(h["from_status"], h["to_status"]) for h in ticket["history"]] == [("new", "resolved")]


def test_comments_and_status_events_upsert_on_their_client_ids(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create()
    comment = node.comment(create.ticket_id, "只一次")
    event = node.status(create.ticket_id, "in_progress")
    node.push([node.op(create), node.op(comment), node.op(event)])
    answer = node.push([node.op(comment), node.op(event)])  # new seqs, same records
    assert [(r.status, r.code) for r in answer.results] == [("merged", "duplicate"), ("merged", "duplicate")]
    ticket = hq.ticket(create.ticket_id)
    assert len(ticket["comments"]) == 1 and len(ticket["history"]) == 1


def test_several_ops_on_one_ticket_in_a_batch_make_one_ticket_change(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create("一")
    _, cursor = node.pull_all()
    node.push(
        [
            node.op(create),
            node.op(node.set(create.ticket_id, title="二")),
            node.op(node.set(create.ticket_id, description="三")),
            node.op(node.status(create.ticket_id, "in_progress")),
        ]
    )
    changes, _ = node.pull_all(cursor)
    assert [c.entity for c in changes] == ["ticket", "history"]
    state = decode_entity("ticket", changes[0].data)
    assert (state.title, state.description, state.status) == ("二", "三", "in_progress")
