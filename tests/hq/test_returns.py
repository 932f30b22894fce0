"""Returns decided at HQ (hq_server.return_rules, return_store, return_tickets, returns_api):
at any store, against the chain's policy, never beyond what was bought across all stores, with
one refund task per accepted return and one exception ticket per refused one."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hq_server.schema import tickets
from sync_protocol.messages import PushResponse
from sync_protocol.returns import ReturnState
from tests.hq.helpers import DAY_MS, Hq, WireNode, entities_in, import_catalogue, now_ms, stock_level

CATALOGUE = """product_code,name_zh,name_en,category,colour,size
JN-2041,修身牛仔裤,Slim jeans,jeans,蓝,M
JN-2041,修身牛仔裤,Slim jeans,jeans,蓝,L
UW-0100,棉质内裤,Cotton briefs,underwear,白,M
"""
M, L, BRIEFS = "JN-2041-蓝-M", "JN-2041-蓝-L", "UW-0100-白-M"


def sell(hq: Hq, number: str, *, store: str = "SH001", days_ago: int = 2, qty: int = 1) -> dict[str, Any]:
    """A store order: ``qty`` jeans (299.00 each) and one pair of briefs (39.00), paid days ago."""
    body = {
        "number": number,
        "channel": "store" if store else "tmall",
        "store": store,
        "customer_phone": "13800138000",
        "paid_at": now_ms() - days_ago * DAY_MS,
        "lines": [{"sku": M, "qty": qty, "unit_price": "299.00"}, {"sku": BRIEFS, "qty": 1, "unit_price": "39.00"}],
    }
    response = hq.api("POST", "/api/v1/orders", json=body)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


def setup(hq: Hq) -> tuple[WireNode, WireNode]:
    import_catalogue(hq, CATALOGUE)
    return hq.enroll("SH001"), hq.enroll("HZ001")


def decided(answer: PushResponse) -> ReturnState:
    found = [c for c in answer.entities if c.entity == "return"]
    assert len(found) == 1, answer.entities
    state: ReturnState = entities_in(found, "return")[found[0].entity_id]
    return state


def hq_tickets(hq: Hq, ticket_type: str) -> list[dict[str, Any]]:
    with hq.ctx.db.read() as conn:
        rows = conn.execute(sa.select(tickets.c.id).where(tickets.c.type == ticket_type)).all()
    return [hq.ticket(str(row[0])) for row in rows]


def order_at_hq(hq: Hq, number: str) -> dict[str, Any]:
    response = hq.api("GET", f"/api/v1/orders/{number}")
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


def test_return_at_another_store_is_accepted_and_opens_one_refund_task(hq: Hq) -> None:
    sh, hz = setup(hq)
    order = sell(hq, "SO-1001")
    answer = hz.send(hz.take_back(order["id"], [(1, 1)], method="wechat"))
    assert answer.results[0].status == "applied", answer.results[0]
    state = decided(answer)
    assert state.status == "accepted" and state.refund_cents == 29900
    assert state.order is not None and state.order.lines[0].returned_qty == 1
    refunds = hq_tickets(hq, "refund")
    assert len(refunds) == 1
    task = refunds[0]
    assert task["number"] == state.refund_ticket
    assert task["department"] == "finance"
    assert task["extra"]["refund"] == "299.00" and task["extra"]["method"] == "wechat"
    assert task["store_code"] == "HZ001"
    assert stock_level(hq, hz.store_id, M) == (1, 0)
    assert order_at_hq(hq, "SO-1001")["lines"][0]["returned_qty"] == 1
    # The selling store receives its order again with the returned unit, under a newer HLC.
    orders = entities_in(sh.pull_all()[0], "order")
    assert orders[order["id"]].lines[0].returned_qty == 1


def test_resent_return_is_a_duplicate_and_opens_no_second_refund_task(hq: Hq) -> None:
    _, hz = setup(hq)
    order = sell(hq, "SO-1002")
    payload = hz.take_back(order["id"], [(1, 1)])
    op = hz.stock_op(payload)
    first = hz.push([op])
    again = hz.push([op])  # the ack was lost: the same op again gets the answer HQ kept
    assert again.results == first.results
    assert decided(again).status == "accepted"
    later = hz.send(payload)  # the same return under a new seq (a replica restored from a copy)
    assert later.results[0].code == "duplicate"
    assert len(hq_tickets(hq, "refund")) == 1
    assert stock_level(hq, hz.store_id, M) == (1, 0)
    assert order_at_hq(hq, "SO-1002")["lines"][0]["returned_qty"] == 1


def test_two_stores_returning_the_same_line_one_is_rejected_with_reason_and_one_exception_ticket(hq: Hq) -> None:
    sh, hz = setup(hq)
    order = sell(hq, "SO-1003")
    first, second = sh.take_back(order["id"], [(1, 1)]), hz.take_back(order["id"], [(1, 1)])
    # Both stores took the jeans back while offline; SH001's push reaches HQ first.
    assert sh.send(first).results[0].status == "applied"
    answer = hz.send(second)
    result = answer.results[0]
    assert result.status == "rejected" and result.code == "over_return"
    assert "SO-1003" in result.reason and first.number in result.reason and "SH001 门店" in result.reason
    state = decided(answer)
    assert state.status == "rejected" and state.code == "over_return"
    assert state.refusal_zh == result.reason and "already returned" in state.refusal_en
    exceptions = hq_tickets(hq, "return_exception")
    assert len(exceptions) == 1 and exceptions[0]["number"] == state.exception_ticket
    assert exceptions[0]["department"] == "finance" and exceptions[0]["store_code"] == "HZ001"
    assert len(hq_tickets(hq, "refund")) == 1
    assert stock_level(hq, hz.store_id, M) == (0, 0)  # the refused return counts no stock
    assert order_at_hq(hq, "SO-1003")["lines"][0]["returned_qty"] == 1


def test_units_of_one_line_returned_at_two_stores_add_up_to_what_was_bought(hq: Hq) -> None:
    sh, hz = setup(hq)
    order = sell(hq, "SO-1004", qty=2)
    assert sh.send(sh.take_back(order["id"], [(1, 1)])).results[0].status == "applied"
    assert hz.send(hz.take_back(order["id"], [(1, 1)])).results[0].status == "applied"
    third = hz.send(hz.take_back(order["id"], [(1, 1)])).results[0]
    assert third.code == "over_return"
    assert "最多还可退 0 件" in third.reason
    assert order_at_hq(hq, "SO-1004")["lines"][0]["returnable_qty"] == 0


def test_no_reason_return_on_day_8_is_refused_at_hq_with_the_policy_sentence(hq: Hq) -> None:
    _, hz = setup(hq)
    order = sell(hq, "SO-1005", days_ago=8)
    result = hz.send(hz.take_back(order["id"], [(1, 1)])).results[0]
    assert result.code == "return_not_allowed"
    assert "第 8 天" in result.reason and "7 天无理由" in result.reason
    assert len(hq_tickets(hq, "return_exception")) == 1  # the store had taken the goods back


def test_no_reason_return_on_day_7_is_accepted(hq: Hq) -> None:
    _, hz = setup(hq)
    order = sell(hq, "SO-1006", days_ago=7)
    assert hz.send(hz.take_back(order["id"], [(1, 1)])).results[0].status == "applied"


def test_quality_return_on_day_30_is_accepted_and_needs_a_photo(hq: Hq) -> None:
    _, hz = setup(hq)
    order = sell(hq, "SO-1007", days_ago=30)
    no_photo = hz.send(hz.take_back(order["id"], [(1, 1)], reason="quality", photos=[])).results[0]
    assert no_photo.code == "photos_required"
    answer = hz.send(hz.take_back(order["id"], [(1, 1)], reason="quality", unworn=False))
    assert answer.results[0].status == "applied"
    line = decided(answer).lines[0]
    assert line.decision is not None and line.decision.code == "quality_within_window"


def test_excluded_category_is_refused_without_a_quality_problem(hq: Hq) -> None:
    _, hz = setup(hq)
    policy = hq.api("PUT", "/api/v1/return-policy", json={"excluded_categories": ["underwear"]})
    assert policy.status_code == 200, policy.text
    order = sell(hq, "SO-1008")
    result = hz.send(hz.take_back(order["id"], [(2, 1)])).results[0]
    assert result.code == "return_not_allowed" and "不参加无理由退换" in result.reason
    assert hz.send(hz.take_back(order["id"], [(2, 1)], reason="quality")).results[0].status == "applied"


def test_exchange_issues_the_new_item_as_a_sale_at_the_returning_store(hq: Hq) -> None:
    _, hz = setup(hq)
    order = sell(hq, "SO-1009")
    answer = hz.send(hz.take_back(order["id"], [(1, 1)], kind="exchange", exchange=[(L, 1, 29900)]))
    assert answer.results[0].status == "applied", answer.results[0]
    state = decided(answer)
    assert state.refund_cents == 0 and state.payable_cents == 0 and not state.refund_ticket
    assert hq_tickets(hq, "refund") == []
    sale = order_at_hq(hq, state.exchange_order)
    assert sale["channel"] == "store" and sale["store"]["code"] == "HZ001"
    assert [(line["sku"], line["qty"]) for line in sale["lines"]] == [(L, 1)]
    assert stock_level(hq, hz.store_id, M) == (1, 0) and stock_level(hq, hz.store_id, L) == (-1, 0)


def test_exchange_for_cheaper_items_refunds_the_difference(hq: Hq) -> None:
    _, hz = setup(hq)
    order = sell(hq, "SO-1010")
    answer = hz.send(hz.take_back(order["id"], [(1, 1)], kind="exchange", exchange=[(BRIEFS, 2, 3900)]))
    state = decided(answer)
    assert state.refund_cents == 29900 - 7800
    assert hq_tickets(hq, "refund")[0]["extra"]["refund"] == "221.00"


def test_return_of_an_order_hq_does_not_know_is_rejected(hq: Hq) -> None:
    _, hz = setup(hq)
    result = hz.send(hz.take_back("no-such-order", [(1, 1)])).results[0]
    assert result.status == "rejected" and result.code == "unknown_order"


def test_return_policy_is_checked_and_published_to_every_store(hq: Hq) -> None:
    sh, _ = setup(hq)
    bad = hq.api("PUT", "/api/v1/return-policy", json={"no_reason_days": 30, "quality_days": 10})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "quality_days"
    assert hq.api("GET", "/api/v1/return-policy").json()["source"] == "default"
    ok = hq.api("PUT", "/api/v1/return-policy", json={"no_reason_days": 14})
    assert ok.status_code == 200 and ok.json()["source"] == "hq"
    policies = entities_in(sh.pull_all()[0], "return_policy")
    assert policies["chain"].no_reason_days == 14


def test_returns_api_lists_and_reports_reasons(hq: Hq) -> None:
    sh, hz = setup(hq)
    order = sell(hq, "SO-1011", qty=2)
    hz.send(hz.take_back(order["id"], [(1, 1)], reason="size"))
    sh.send(sh.take_back(order["id"], [(1, 1), (2, 1)], reason="quality"))
    hz.send(hz.take_back(order["id"], [(1, 1)], reason="colour"))  # refused: nothing left
    listed = hq.api("GET", "/api/v1/returns", params={"store": "HZ001"}).json()["items"]
    assert [r["status"] for r in listed] == ["rejected", "accepted"]
    one = hq.api("GET", f"/api/v1/returns/{listed[1]['number']}").json()
    assert one["lines"][0]["decision"]["text"].startswith("购买后第 2 天")
    report = hq.api("GET", "/api/v1/returns/reasons").json()
    by_reason = {item["reason"]: item for item in report["reasons"]}
    assert by_reason["quality"]["units"] == 2 and by_reason["quality"]["returns"] == 1
    assert {c["category"]: c["units"] for c in by_reason["quality"]["categories"]} == {"jeans": 1, "underwear": 1}
    assert by_reason["size"]["refund"] == "299.00" and "colour" not in by_reason
    assert report["total"] == {"returns": 2, "units": 3}
    assert hq.api("GET", "/api/v1/returns", params={"status": "lost"}).status_code == 422
    assert hq.api("GET", "/api/v1/returns/R-none").status_code == 404


def test_refund_task_opens_even_when_the_refund_type_has_a_required_form_field(hq: Hq) -> None:
    _, hz = setup(hq)
    form = {"fields": [{"name": "bank_ref", "label_zh": "银行流水号", "kind": "text", "required": True}]}
    assert hq.api("PUT", "/api/v1/ticket-types/refund/form", json=form).status_code == 200
    order = sell(hq, "SO-1012")
    state = decided(hz.send(hz.take_back(order["id"], [(1, 1)])))
    assert state.status == "accepted" and state.refund_ticket
    assert len(hq_tickets(hq, "refund")) == 1


def test_refund_task_of_a_hundred_line_return_is_cut_to_the_description_limit(hq: Hq) -> None:
    _, hz = setup(hq)
    name = "超长商品名称" * 19
    rows = "".join(f"LG-{i:03d},{name},Long,tops,深灰蓝色,XXL\n" for i in range(100))
    import_catalogue(hq, "product_code,name_zh,name_en,category,colour,size\n" + rows)
    body = {
        "number": "SO-1013",
        "channel": "store",
        "store": "SH001",
        "paid_at": now_ms() - DAY_MS,
        "lines": [{"sku": f"LG-{i:03d}-深灰蓝色-XXL", "qty": 1, "unit_price": "10.00"} for i in range(100)],
    }
    posted = hq.api("POST", "/api/v1/orders", json=body)
    assert posted.status_code == 201, posted.text
    state = decided(hz.send(hz.take_back(posted.json()["id"], [(n, 1) for n in range(1, 101)])))
    assert state.refund_cents == 100000 and state.refund_ticket
    assert len(hq_tickets(hq, "refund")[0]["description"]) <= 10_000


def test_a_reused_return_number_of_a_long_store_code_stays_within_64_characters(hq: Hq) -> None:
    import_catalogue(hq, CATALOGUE)
    node = hq.enroll("STORE_WITH_A_RATHER_LONG_CODE_1234567890")
    order = sell(hq, "SO-1014", store="STORE_WITH_A_RATHER_LONG_CODE_1234567890", qty=2)
    assert node.send(node.take_back(order["id"], [(1, 1)])).results[0].status == "applied"
    node.return_counter = 0  # a replica restored from an older copy hands out the number again
    answer = node.send(node.take_back(order["id"], [(1, 1)], kind="exchange", exchange=[(L, 1, 29900)]))
    assert answer.results[0].code == "renumbered", answer.results[0]
    state = decided(answer)
    assert len(state.number) <= 64 and len(state.exchange_order) <= 64
    assert order_at_hq(hq, state.exchange_order)["lines"][0]["sku"] == L


def test_an_exchange_item_handed_out_below_its_price_is_flagged_in_the_refund_task(hq: Hq) -> None:
    _, hz = setup(hq)
    order = sell(hq, "SO-1015")
    state = decided(hz.send(hz.take_back(order["id"], [(1, 1)], kind="exchange", exchange=[(L, 1, 0)])))
    assert state.refund_cents == 29900 and state.price_checks == [(L, 0, 29900)]
    task = hq_tickets(hq, "refund")[0]
    assert task["extra"]["price_checks"] == [{"sku": L, "price": "0.00", "expected": "299.00"}]
    assert "请核对" in task["description"]


def test_a_resent_return_is_answered_with_the_order_as_hq_holds_it(hq: Hq) -> None:
    _, hz = setup(hq)
    order = sell(hq, "SO-1016")
    op = hz.stock_op(hz.take_back(order["id"], [(1, 1)]))
    hz.push([op])
    again = decided(hz.push([op]))  # the first answer was lost
    assert again.order is not None and again.order.lines[0].returned_qty == 1


def test_every_refused_return_opens_one_exception_ticket(hq: Hq) -> None:
    _, hz = setup(hq)
    order = sell(hq, "SO-1017")
    answer = hz.send(hz.take_back(order["id"], [(1, 1)], kind="exchange", exchange=[("NO-SUCH-SKU", 1, 100)]))
    assert answer.results[0].code == "unknown_sku"
    state = decided(answer)
    assert state.exception_ticket and len(hq_tickets(hq, "return_exception")) == 1
    assert "。。" not in hq_tickets(hq, "return_exception")[0]["description"]
