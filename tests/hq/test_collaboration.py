"""Collaboration on a ticket (hq_server.collaboration): sharing with another department, internal
notes, links and merging duplicates."""

from __future__ import annotations

from typing import Any

from tests.hq.helpers import Hq
from tests.hq.test_sync_boundary import assert_error

AS_CLAIMS = {"X-StoreDesk-Department": "claims"}
AS_FINANCE = {"X-StoreDesk-Department": "finance"}


def after_sales_ticket(hq: Hq) -> tuple[Any, dict[str, Any]]:
    """A return with a freight claim: after-sales (claims) owns it."""
    node = hq.enroll()
    create = node.create("退货运费理赔", type="after_sales")
    node.push([node.op(create)])
    ticket = hq.ticket(create.ticket_id)
    assert ticket["department"] == "claims"
    return node, ticket


def queue(hq: Hq, department: str) -> list[str]:
    items = hq.api("GET", "/api/v1/tickets", params={"department": department}).json()["items"]
    return [t["id"] for t in items]


def test_a_shared_ticket_is_in_both_queues_and_each_side_sees_the_others_progress(hq: Hq) -> None:
    _, ticket = after_sales_ticket(hq)
    shared = hq.api(
        "POST",
        f"/api/v1/tickets/{ticket['id']}/shares",
        json={"department": "finance", "note": "请核算运费"},
        headers=AS_CLAIMS,
    )
    assert shared.status_code == 201, shared.text
    assert ticket["id"] in queue(hq, "claims") and ticket["id"] in queue(hq, "finance")
    assert ticket["id"] not in queue(hq, "qc")
    [lead_notice] = hq.api("GET", "/api/v1/notifications", params={"role": "lead", "department": "finance"}).json()[
        "items"
    ]
    assert lead_notice["ticket_id"] == ticket["id"]
    done = hq.api(
        "PATCH",
        f"/api/v1/tickets/{ticket['id']}/shares/finance",
        json={"status": "done", "note": "已退运费"},
        headers=AS_FINANCE,
    )
    assert done.status_code == 200, done.text
    detail = hq.ticket(ticket["id"])
    assert [(s["department"], s["status"], s["note"]) for s in detail["shares"]] == [("finance", "done", "已退运费")]
    assert detail["status"] not in ("resolved", "closed")  # the owner's work goes on


def test_resolving_the_owners_ticket_leaves_the_shared_task_open(hq: Hq) -> None:
    _, ticket = after_sales_ticket(hq)
    hq.api("POST", f"/api/v1/tickets/{ticket['id']}/shares", json={"department": "finance"}, headers=AS_CLAIMS)
    resolved = hq.api("PATCH", f"/api/v1/tickets/{ticket['id']}", json={"status": "resolved"}, headers=AS_CLAIMS)
    assert resolved.status_code == 200, resolved.text
    assert [s["status"] for s in hq.ticket(ticket["id"])["shares"]] == ["open"]


def test_the_shared_department_cannot_change_status_or_assignee_nor_share_on(hq: Hq) -> None:
    _, ticket = after_sales_ticket(hq)
    hq.api("POST", f"/api/v1/tickets/{ticket['id']}/shares", json={"department": "finance"}, headers=AS_CLAIMS)
    path = f"/api/v1/tickets/{ticket['id']}"
    assert_error(hq.api("PATCH", path, json={"status": "resolved"}, headers=AS_FINANCE), 403, "not_owner")
    assert_error(hq.api("PATCH", path, json={"assignee": ""}, headers=AS_FINANCE), 403, "not_owner")
    assert_error(hq.api("POST", f"{path}/shares", json={"department": "qc"}, headers=AS_FINANCE), 403, "not_owner")
    assert_error(
        hq.api("PATCH", f"{path}/shares/finance", json={"status": "done"}, headers=AS_CLAIMS), 403, "not_your_task"
    )
    assert hq.ticket(ticket["id"])["status"] == ticket["status"]


def test_internal_notes_stay_at_hq_and_never_reach_the_store(hq: Hq) -> None:
    node, ticket = after_sales_ticket(hq)
    _, cursor = node.pull_all()
    note = hq.api(
        "POST",
        f"/api/v1/tickets/{ticket['id']}/notes",
        json={"body": "顾客此前有多次恶意退货记录", "author": "孙杰"},
        headers=AS_CLAIMS,
    )
    assert note.status_code == 201, note.text
    assert [n["body"] for n in hq.ticket(ticket["id"])["internal_notes"]] == ["顾客此前有多次恶意退货记录"]
    changes, _ = node.pull_all(cursor)
    assert all(b"\xe6\x81\xb6\xe6\x84\x8f" not in bytes(c.data) for c in changes)  # "恶意" nowhere
    assert_error(
        hq.api(
            "POST",
            f"/api/v1/tickets/{ticket['id']}/notes",
            json={"body": "x"},
            headers={"X-StoreDesk-Department": "qc"},
        ),
        403,
        "not_involved",
    )


def test_merging_a_duplicate_closes_it_with_a_note_and_links_it(hq: Hq) -> None:
    node = hq.enroll()
    first, second = node.create("试衣间灯不亮"), node.create("试衣间灯坏了")
    node.push([node.op(first), node.op(second)])
    merged = hq.api("POST", f"/api/v1/tickets/{second.ticket_id}/merge", json={"into": first.ticket_id})
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert body["status"] == "closed"
    assert body["history"][-1]["note"] == f"已合并到 {hq.ticket(first.ticket_id)['number']}"
    assert [(link["ticket_id"], link["kind"]) for link in body["links"]] == [(first.ticket_id, "duplicate")]
    assert_error(
        hq.api("POST", f"/api/v1/tickets/{second.ticket_id}/merge", json={"into": first.ticket_id}),
        409,
        "already_closed",
    )
    # The store sees its duplicate closed, with the note.
    changes, _ = node.pull_all()
    assert any(c.entity == "history" and "已合并到".encode() in bytes(c.data) for c in changes)


def test_related_tickets_are_linked_both_ways(hq: Hq) -> None:
    node = hq.enroll()
    a, b = node.create("A"), node.create("B")
    node.push([node.op(a), node.op(b)])
    linked = hq.api("POST", f"/api/v1/tickets/{a.ticket_id}/links", json={"ticket": b.ticket_id, "kind": "related"})
    assert linked.status_code == 200, linked.text
    assert [x["ticket_id"] for x in hq.ticket(b.ticket_id)["links"]] == [a.ticket_id]
    assert_error(
        hq.api("POST", f"/api/v1/tickets/{a.ticket_id}/links", json={"ticket": a.ticket_id}), 422, "link_to_itself"
    )
