"""GET /sync/v1/pull and /sync/v1/wait: cursors, scope, resets, long-poll (hq_server.pull, notify)."""

from __future__ import annotations

import threading
import time

from sync_protocol.entities import decode_entity
from sync_protocol.messages import decode_cursor, encode_cursor, wait_response_decoder
from tests.hq.helpers import Hq, WireNode, tickets_in


def make_tickets(hq: Hq, store: str, count: int) -> None:
    for i in range(count):
        response = hq.api("POST", "/api/v1/tickets", json={"store": store, "type": "other", "title": f"总部工单 {i}"})
        assert response.status_code == 201, response.text


def test_pull_cursor_paging_returns_every_change_exactly_once(hq: Hq) -> None:
    a, b = hq.enroll("SH001"), hq.enroll("SH002", region="west")
    make_tickets(hq, "SH001", 12)
    make_tickets(hq, "SH002", 5)  # out of a's scope, interleaved in the log below
    make_tickets(hq, "SH001", 8)
    everything, _ = a.pull_all(limit=5000)
    for limit in (1, 3, 7):
        paged, _ = a.pull_all(limit=limit)
        assert [c.pos for c in paged] == [c.pos for c in everything]
    positions = [c.pos for c in everything]
    assert positions == sorted(set(positions))
    assert len(tickets_in(everything)) == 20
    assert {c.entity for c in everything} >= {"department", "ticket_type", "store", "region", "ticket"}
    assert len(tickets_in(b.pull_all()[0])) == 5


def test_pull_resumes_from_its_cursor_without_missing_or_repeating(hq: Hq) -> None:
    node = hq.enroll()
    make_tickets(hq, "SH001", 10)
    page = node.pull(limit=4)
    assert page.has_more
    seen = [c.pos for c in page.changes]
    make_tickets(hq, "SH001", 3)
    rest, cursor = node.pull_all(page.cursor, limit=4)
    seen += [c.pos for c in rest]
    assert seen == [c.pos for c in node.pull_all()[0]]
    idle = node.pull(cursor)
    assert (idle.changes, idle.cursor, idle.has_more, idle.reset) == ([], cursor, False, False)


def test_cursor_passes_over_other_stores_changes_at_the_head(hq: Hq) -> None:
    a, _ = hq.enroll("SH001"), hq.enroll("SH002", region="west")
    _, cursor = a.pull_all()
    make_tickets(hq, "SH002", 3)
    page = a.pull(cursor)
    assert page.changes == [] and not page.has_more
    assert decode_cursor(page.cursor)[0] > decode_cursor(cursor)[0]


def test_store_sees_its_own_tickets_region_and_global_entries_only(hq: Hq) -> None:
    a, b = hq.enroll("SH001", region="east"), hq.enroll("SH002", region="west")
    a.push([a.op(a.create("A 的工单"))])
    b.push([b.op(b.create("B 的工单"))])
    seen_by_a = tickets_in(a.pull_all()[0])
    assert [t.title for t in seen_by_a.values()] == ["A 的工单"]
    stores = {decode_entity("store", c.data).code for c in a.pull_all()[0] if c.entity == "store"}
    assert stores == {"SH001", "SH002"}


def test_cursor_from_another_log_resets_to_the_beginning(hq: Hq) -> None:
    node = hq.enroll()
    make_tickets(hq, "SH001", 3)
    everything, cursor = node.pull_all()
    pos, _ = decode_cursor(cursor)
    for foreign in (encode_cursor(pos, "000000000000001.000000.other"), encode_cursor(pos + 1000, "x")):
        page = node.pull(foreign)
        assert page.reset
        assert [c.pos for c in page.changes] == [c.pos for c in everything]


def test_pull_reports_the_nodes_high_water_mark(hq: Hq) -> None:
    node = hq.enroll()
    node.push([node.op(node.create()), node.op(node.create())])
    assert node.pull().node_high_water == 2


def wait(node: WireNode, cursor: str, timeout: float) -> tuple[bool, float]:
    started = time.monotonic()
    response = node.client.get("/sync/v1/wait", params={"cursor": cursor, "timeout": timeout}, headers=node.headers)
    assert response.status_code == 200, response.text
    return wait_response_decoder.decode(response.content).changed, time.monotonic() - started


def test_wait_answers_at_once_when_there_is_something_and_times_out_when_not(hq: Hq) -> None:
    node = hq.enroll()
    assert wait(node, "0", 5)[0]
    _, cursor = node.pull_all()
    changed, took = wait(node, cursor, 0.3)
    assert not changed and 0.25 <= took < 2


def test_wait_returns_soon_after_an_hq_change_in_scope_but_not_for_another_store(hq: Hq) -> None:
    node = hq.enroll("SH001")
    hq.enroll("SH002", region="west")
    _, cursor = node.pull_all()

    def change_later() -> None:
        time.sleep(0.3)
        make_tickets(hq, "SH002", 1)  # not in scope: the wait goes on
        time.sleep(0.3)
        make_tickets(hq, "SH001", 1)

    worker = threading.Thread(target=change_later)
    worker.start()
    changed, took = wait(node, cursor, 10)
    worker.join()
    assert changed
    assert 0.5 <= took < 1.5


def test_wait_on_a_cursor_from_another_log_answers_changed(hq: Hq) -> None:
    node = hq.enroll()
    assert wait(node, encode_cursor(10_000, "x"), 5)[0]
