"""Returns and exchanges at the store: checked against the local order copy and the synced policy,
the goods back in stock at once, one op queued, HQ's decision applied (store_node.return_actions,
.return_views, .apply, the return routes of .api)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
from starlette.testclient import TestClient

from store_node import apply, order_views, return_actions, return_records, return_views, stock_actions
from store_node.app import create_app
from store_node.node import Node
from sync_protocol.entities import encode_entity
from sync_protocol.hlc import Hlc, system_wall_ms
from sync_protocol.messages import Change, OpResult, ReferenceItem
from sync_protocol.ops import ReturnCreate, decode_payload
from sync_protocol.orders import OrderLine, OrderState
from sync_protocol.return_policy import ReturnPolicy
from sync_protocol.returns import ReturnState
from tests.hq.helpers import Hq
from tests.store.conftest import StoreFactory
from tests.store.helpers import (
    SKU_L,
    SKU_M,
    Store,
    error_of,
    hq_levels,
    import_catalogue,
    on_hand_matches_moves,
    outbox_rows,
    scalar,
)
from tests.store.test_stock import store_api

EN = {"Accept-Language": "en"}
DAY_MS = 24 * 3600 * 1000
JEANS_M, JEANS_L, TEE, SOCKS = "JN-2041-BL-M", "JN-2041-BL-L", "TS-1001-WH-M", "SK-01-WH"
ORDER = "SH012-S-0001"


def _hlc() -> str:
    return Hlc(system_wall_ms(), 0, "hq").encode()


def _change(entity: str, entity_id: str, state: msgspec.Struct, hlc: str | None = None) -> Change:
    return Change(pos=0, entity=entity, entity_id=entity_id, hlc=hlc or _hlc(), data=msgspec.Raw(encode_entity(state)))


def _product(code: str, name: str, category: str, price_cents: int | None, *skus: tuple[str, str, str]) -> Change:
    item = ReferenceItem(
        id=code,
        code=code,
        name_zh=name,
        name_en=f"{code} (en)",
        attrs={
            "category": category,
            "price_cents": price_cents,
            "skus": [{"code": sku, "colour": colour, "size": size, "barcode": ""} for sku, colour, size in skus],
        },
    )
    return _change("product", code, item)


def pull(node: Node, *changes: Change) -> None:
    with node.replica.tx() as conn:
        apply.apply_changes(node, conn, list(changes))


def order_state(node: Node, days_ago: int, *, number: str = ORDER, hlc: str | None = None) -> OrderState:
    """An own order paid ``days_ago`` days ago: two pairs of jeans (299.00) and a tee (59.00)."""
    paid = system_wall_ms() - days_ago * DAY_MS
    return OrderState(
        id=f"id-{number}",
        number=number,
        channel="store",
        store_id=node.replica.get("store_id"),
        customer_phone="13800138000",
        customer_name="王女士",
        paid_at=paid,
        total_cents=2 * 29900 + 5900,
        lines=[
            OrderLine(
                line_no=1,
                sku=JEANS_M,
                product_code="JN-2041",
                name="修身牛仔裤",
                category="jeans",
                colour="蓝",
                size="M",
                qty=2,
                unit_price_cents=29900,
            ),
            OrderLine(
                line_no=2,
                sku=TEE,
                product_code="TS-1001",
                name="纯棉T恤",
                category="tops",
                colour="白",
                size="M",
                qty=1,
                unit_price_cents=5900,
            ),
        ],
        created_at=paid,
        hlc=hlc or _hlc(),
    )


def seed(node: Node, days_ago: int = 3) -> OrderState:
    """The catalogue (socks without a price), the store's own row and one own order."""
    store = ReferenceItem(
        id=node.replica.get("store_id"),
        code="SH012",
        name_zh="静安店",
        attrs={"address": "上海市静安区南京西路 1 号", "phone": "021-61234567"},
    )
    order = order_state(node, days_ago)
    pull(
        node,
        _product("JN-2041", "修身牛仔裤", "jeans", 29900, (JEANS_M, "蓝", "M"), (JEANS_L, "蓝", "L")),
        _product("TS-1001", "纯棉T恤", "tops", 5900, (TEE, "白", "M")),
        _product("SK-01", "袜子", "socks", None, (SOCKS, "白", "F")),
        _change("store", store.id, store),
        _change("order", order.id, order),
    )
    return order


def refund(*lines: tuple[int, int], reason: str = "size", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order": ORDER,
        "kind": "refund",
        "reason": reason,
        "lines": [{"line_no": no, "qty": qty} for no, qty in lines],
    }
    body.update(fields)
    return body


@contextmanager
def local_api(node: Node, data_dir: Path) -> Iterator[TestClient]:
    """The local API over ``node``, with no line to HQ (every answer is the replica's)."""
    app = create_app(data_dir, "http://hq.test", "token", start_sync=False)
    with TestClient(app) as client:
        app.state.node = node
        app.state.sync = None
        yield client


def on_hand(node: Node, sku: str) -> int:
    return stock_actions.on_hand(node, [sku])[sku]


def moves_of(node: Node, return_id: str) -> list[tuple[str, int, str]]:
    rows = node.replica.query("SELECT sku, qty, reason FROM stock_moves WHERE ref = ? ORDER BY qty DESC", (return_id,))
    return [(r["sku"], r["qty"], r["reason"]) for r in rows]


def returnable(node: Node) -> list[tuple[int, int, int]]:
    """(returned_qty, pending_return_qty, returnable_qty) per line of the order, as the clerk sees it."""
    order = order_views.local_order(node, ORDER)
    assert order is not None
    return [(x["returned_qty"], x["pending_return_qty"], x["returnable_qty"]) for x in order["lines"]]


def nothing_recorded(node: Node) -> bool:
    return (
        scalar(node.replica, "SELECT count(*) FROM returns") == 0
        and scalar(node.replica, "SELECT count(*) FROM stock_moves") == 0
        and outbox_rows(node) == []
    )


# -- taken in at the store --------------------------------------------------------------------------------


def test_return_of_own_order_takes_goods_back_into_stock_and_queues_one_op(node: Node, data_dir: Path) -> None:
    seed(node, days_ago=3)
    with local_api(node, data_dir) as api:
        answer = api.post("/api/v1/returns", json=refund((1, 1), method="wechat", note="尺码偏小", actor="小王"))
        assert answer.status_code == 201, answer.text
        body = answer.json()
    assert (body["number"], body["status"], body["status_label"]) == ("SH012-T000001", "pending", "待总部确认")
    assert (body["kind_label"], body["reason_label"], body["method_label"]) == ("退货退款", "尺码不合适", "微信")
    assert body["order"]["number"] == ORDER and body["selling_store"]["name"] == "静安店"
    assert (body["returned"], body["refund"], body["payable"]) == ("299.00", "299.00", "0.00")
    [line] = body["lines"]
    assert (line["sku"], line["name"], line["colour"], line["size"], line["qty"], line["amount"]) == (
        JEANS_M,
        "修身牛仔裤",
        "蓝",
        "M",
        1,
        "299.00",
    )
    assert line["decision"]["allowed"] and line["decision"]["code"] == "within_no_reason_window"
    assert line["decision"]["sentence"].startswith("购买后第 3 天")
    assert body["voucher_url"] == "/returns/SH012-T000001/voucher"
    assert body["at"].endswith("Z") and isinstance(body["at_ms"], int)

    # The goods are back in stock at once, as one movement that names the return.
    assert moves_of(node, body["id"]) == [(JEANS_M, 1, "return")]
    assert on_hand(node, JEANS_M) == 1 and on_hand_matches_moves(node)
    # One op, in the same transaction, carrying the movement's id and the counter.
    [op] = outbox_rows(node)
    assert (op["kind"], op["entity_id"], op["record_id"], op["state"]) == (
        "return.create",
        body["id"],
        body["id"],
        "pending",
    )
    payload = decode_payload(op["kind"], op["payload"])
    assert isinstance(payload, ReturnCreate)
    assert (payload.number, payload.return_kind, payload.reason, payload.method, payload.counter) == (
        "SH012-T000001",
        "refund",
        "size",
        "wechat",
        1,
    )
    move_id = scalar(node.replica, "SELECT id FROM stock_moves WHERE ref = ?", (body["id"],))
    assert [(x.line_no, x.qty, x.unworn, x.move_id) for x in payload.lines] == [(1, 1, True, move_id)]
    # The next return takes the next number.
    second = return_actions.create_return(node, refund((2, 1)), lang="zh")
    assert return_records.find_return(node, second).number == "SH012-T000002"


def test_return_refused_by_policy_answers_the_sentence_and_records_nothing(node: Node, data_dir: Path) -> None:
    seed(node, days_ago=8)
    with local_api(node, data_dir) as api:
        error = error_of(api.post("/api/v1/returns", json=refund((1, 1), (2, 1))), 422)
        assert error["code"] == "return_not_allowed" and error["field"] == "lines[0]"
        assert error["message"] == (
            "第 1 行 JN-2041-BL-M：已超过 7 天无理由退换期（今天是购买后第 8 天），不能无理由退货；"
            "如有质量问题，90 天内可免费退换。"
        )
        assert [(x["line_no"], x["allowed"], x["code"], x["alternative"]) for x in error["lines"]] == [
            (1, False, "no_reason_window_passed", "quality"),
            (2, False, "no_reason_window_passed", "quality"),
        ]
        english = error_of(api.post("/api/v1/returns", json=refund((1, 1)), headers=EN), 422)
        assert english["message"].startswith("line 1 JN-2041-BL-M: It is past the 7-day no-reason window")
    assert nothing_recorded(node)


def test_quality_return_without_photo_is_refused_naming_photos(node: Node, data_dir: Path) -> None:
    seed(node, days_ago=30)
    with local_api(node, data_dir) as api:
        error = error_of(api.post("/api/v1/returns", json=refund((1, 1), reason="quality")), 400)
        assert (error["code"], error["field"], error["message"]) == (
            "photos_required",
            "photos",
            "质量问题退换须拍照上传（至少 1 张）",
        )
        assert nothing_recorded(node)
        blank = error_of(api.post("/api/v1/returns", json=refund((1, 1), reason="quality", photos=[" "])), 400)
        assert (blank["code"], blank["field"]) == ("invalid_photo", "photos[0]")
        taken = api.post("/api/v1/returns", json=refund((1, 1), reason="quality", photos=["photo://ab12"]))
        assert taken.status_code == 201, taken.text
        assert taken.json()["lines"][0]["decision"]["code"] == "quality_within_window"
        assert taken.json()["photos"] == ["photo://ab12"]


def test_bad_requests_are_refused_naming_the_field(node: Node, data_dir: Path) -> None:
    seed(node)
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        (refund((1, 1), colour="红"), 400, "unknown_field", "colour"),
        ({**refund((1, 1)), "order": "NOPE-1"}, 404, "order_not_found", ""),
        ({k: v for k, v in refund((1, 1)).items() if k != "kind"}, 400, "required", "kind"),
        (refund((1, 1), kind="swap"), 400, "invalid_choice", "kind"),
        (refund((1, 1), reason="bored"), 400, "invalid_choice", "reason"),
        (refund((1, 1), method="cheque"), 400, "invalid_choice", "method"),
        (refund(), 400, "required", "lines"),
        (refund((3, 1)), 400, "unknown_order_line", "lines[0].line_no"),
        (refund((1, 1), (1, 1)), 400, "duplicate_line", "lines[1].line_no"),
        (refund((1, 0)), 400, "out_of_range", "lines[0].qty"),
        (refund((1, 1), lines=[{"line_no": 1, "qty": 1, "worn": True}]), 400, "unknown_field", "lines[0].worn"),
        (refund((1, 1), exchange=[{"sku": JEANS_L, "qty": 1}]), 400, "exchange_items_not_allowed", "exchange"),
        (refund((1, 1), kind="exchange"), 400, "exchange_items_required", "exchange"),
        (refund((1, 1), kind="exchange", exchange=[{"sku": "NOPE", "qty": 1}]), 400, "unknown_sku", "exchange[0].sku"),
        (
            refund((1, 1), kind="exchange", exchange=[{"sku": JEANS_L, "qty": 1, "unit_price": "1.234"}]),
            400,
            "invalid_unit_price",
            "exchange[0].unit_price",
        ),
    ]
    with local_api(node, data_dir) as api:
        for body, status, code, field in cases:
            error = error_of(api.post("/api/v1/returns", json=body), status)
            assert (error["code"], error.get("field", "")) == (code, field), body
        assert (
            "NOPE-1"
            in error_of(api.post("/api/v1/returns", json={**refund((1, 1)), "order": "NOPE-1"}), 404)["message"]
        )
    assert nothing_recorded(node)


def test_pending_return_counts_against_returnable_quantity(node: Node, data_dir: Path) -> None:
    seed(node)
    assert returnable(node) == [(0, 0, 2), (0, 0, 1)]
    first = return_actions.create_return(node, refund((1, 1)), lang="zh")
    assert returnable(node) == [(0, 1, 1), (0, 0, 1)]
    with local_api(node, data_dir) as api:
        error = error_of(api.post("/api/v1/returns", json=refund((2, 1), (1, 2))), 409)
        assert (error["code"], error["field"]) == ("over_return", "lines[1].qty")
        day = error["message"].split("件（")[1][:10]
        assert error["message"] == (
            f"订单 {ORDER} 第 1 行（{JEANS_M}）共购买 2 件，已退 1 件（{day} 在静安店，退货单 SH012-T000001），"
            "最多还可退 1 件，本次退 2 件超出可退数量"
        )
        assert error["lines"] == [{"line_no": 1, "sku": JEANS_M, "bought": 2, "returned": 1, "left": 1, "asked": 2}]
        # The same check answers the pre-check.
        assert error_of(api.post("/api/v1/returns/check", json=refund((1, 2))), 409)["code"] == "over_return"
        # What is left can still be returned; then nothing is.
        assert api.post("/api/v1/returns", json=refund((1, 1))).status_code == 201
        assert returnable(node) == [(0, 2, 0), (0, 0, 1)]
        assert error_of(api.post("/api/v1/returns", json=refund((1, 1))), 409)["code"] == "over_return"
        listed = api.get("/api/v1/orders/" + ORDER).json()["lines"][0]
        assert (listed["returned_qty"], listed["returnable_qty"]) == (0, 0)
    assert [r["number"] for r in return_views.list_returns(node, order=ORDER)["items"]] == [
        "SH012-T000002",
        return_records.find_return(node, first).number,
    ]
    assert on_hand(node, JEANS_M) == 2 and len(outbox_rows(node)) == 2


def test_exchange_defaults_to_returned_line_price_and_sells_the_new_item(node: Node, data_dir: Path) -> None:
    seed(node)
    size_swap = refund((1, 1), kind="exchange", exchange=[{"sku": JEANS_L, "qty": 1}])
    with local_api(node, data_dir) as api:
        answer = api.post("/api/v1/returns", json=size_swap)
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert body["kind_label"] == "换货"
        [item] = body["exchange"]
        assert (item["sku"], item["name"], item["size"], item["unit_price"], item["amount"]) == (
            JEANS_L,
            "修身牛仔裤",
            "L",
            "299.00",
            "299.00",
        )
        assert (body["returned"], body["exchange_amount"], body["refund"], body["payable"]) == (
            "299.00",
            "299.00",
            "0.00",
            "0.00",
        )
        # The jeans come back; the new pair is sold out of the store's stock.
        assert moves_of(node, body["id"]) == [(JEANS_M, 1, "return"), (JEANS_L, -1, "sale")]
        [op] = outbox_rows(node)
        payload = decode_payload(op["kind"], op["payload"])
        assert isinstance(payload, ReturnCreate)
        assert [(i.sku, i.qty, i.unit_price_cents) for i in payload.exchange] == [(JEANS_L, 1, 29900)]

        # Another product at the catalogue's price: the customer gets the difference back.
        tee = api.post("/api/v1/returns", json=refund((1, 1), kind="exchange", exchange=[{"sku": TEE, "qty": 2}]))
        assert tee.status_code == 201, tee.text
        assert (tee.json()["exchange_amount"], tee.json()["refund"], tee.json()["payable"]) == (
            "118.00",
            "181.00",
            "0.00",
        )
        # A price given wins; an item without one and without a catalogue price is refused.
        priced = api.post(
            "/api/v1/returns/check",
            json=refund((2, 1), kind="exchange", exchange=[{"sku": JEANS_L, "qty": 1, "unit_price": 199.5}]),
        )
        assert (priced.json()["exchange"][0]["unit_price"], priced.json()["payable"]) == ("199.50", "140.50")
        error = error_of(
            api.post("/api/v1/returns", json=refund((2, 1), kind="exchange", exchange=[{"sku": SOCKS, "qty": 1}])),
            422,
        )
        assert (error["code"], error["field"]) == ("required", "exchange[0].unit_price")
    assert on_hand(node, JEANS_M) == 2 and on_hand(node, JEANS_L) == -1 and on_hand(node, TEE) == -2


def test_check_return_explains_without_recording(node: Node, data_dir: Path) -> None:
    seed(node, days_ago=8)
    with local_api(node, data_dir) as api:
        refused = api.post("/api/v1/returns/check", json=refund((1, 1)))
        assert refused.status_code == 200, refused.text
        body = refused.json()
        assert (body["allowed"], body["policy_source"], body["refund"]) == (False, "default", "299.00")
        [line] = body["lines"]
        assert (line["sku"], line["name"], line["qty"], line["allowed"], line["code"], line["alternative"]) == (
            JEANS_M,
            "修身牛仔裤",
            1,
            False,
            "no_reason_window_passed",
            "quality",
        )
        assert line["sentence"].startswith("已超过 7 天无理由退换期（今天是购买后第 8 天）")
        english = api.post("/api/v1/returns/check", json=refund((1, 1)), headers=EN).json()
        assert english["lines"][0]["sentence"].startswith("It is past the 7-day no-reason window")
        quality = api.post("/api/v1/returns/check", json=refund((1, 1), reason="quality", photos=["p1"])).json()
        assert quality["allowed"] and quality["lines"][0]["code"] == "quality_within_window"
        bad = error_of(api.post("/api/v1/returns/check", json=refund((1, 1), reason="quality")), 400)
        assert bad["code"] == "photos_required"
    assert nothing_recorded(node)


def test_synced_policy_is_used_and_shown(node: Node, data_dir: Path) -> None:
    seed(node, days_ago=10)
    with local_api(node, data_dir) as api:
        shown = api.get("/api/v1/return-policy").json()
        assert (shown["source"], shown["no_reason_days"], shown["quality_days"]) == ("default", 7, 90)
        assert shown["summary"] == "购买后 7 天内，未穿着的商品可无理由退换；有质量问题的，90 天内可免费退换。"
        assert api.post("/api/v1/returns/check", json=refund((1, 1))).json()["allowed"] is False

        policy = ReturnPolicy(no_reason_days=14, exchange_days=30, excluded_categories=["tops"])
        pull(node, _change("return_policy", "chain", policy))
        older = ReturnPolicy(no_reason_days=3)
        pull(node, _change("return_policy", "chain", older, Hlc(1, 0, "hq").encode()))  # an older version loses

        shown = api.get("/api/v1/return-policy", headers=EN).json()
        assert (shown["source"], shown["no_reason_days"], shown["exchange_days"]) == ("hq", 14, 30)
        assert shown["summary"] == (
            "Unworn goods can be returned or exchanged without a reason within 14 days of purchase, and free of"
            " charge within 90 days with a quality problem. Exchanges are possible up to 30 days after purchase."
            " These categories are taken back only with a quality problem: tops."
        )
        checked = api.post("/api/v1/returns/check", json=refund((1, 1), (2, 1))).json()
        assert [(x["allowed"], x["code"]) for x in checked["lines"]] == [
            (True, "within_no_reason_window"),
            (False, "excluded_category"),
        ]
        assert api.post("/api/v1/returns", json=refund((1, 1))).status_code == 201


# -- HQ's answer, applied as the sync client applies an ack ------------------------------------------------


def _ack(node: Node, result: OpResult, *entities: Change) -> None:
    """What :meth:`SyncClient._record_push` does with one op's answer and the ack's snapshots."""
    from store_node import outbox

    with node.replica.tx() as conn:
        outbox.record_results(conn, [result], node.wall_ms())
        apply.drop_refused_records(conn, [result])
        apply.apply_changes(node, conn, list(entities))


def _decided(node: Node, return_id: str, status: str, **fields: Any) -> ReturnState:
    state = return_records.find_return(node, return_id)
    return msgspec.structs.replace(state, status=status, hlc=_hlc(), decided_at=system_wall_ms(), **fields)


def test_refusal_in_an_ack_drops_the_movements_and_keeps_the_return_shown_rejected(node: Node) -> None:
    seed(node)
    return_id = return_actions.create_return(
        node, refund((1, 1), kind="exchange", exchange=[{"sku": JEANS_L, "qty": 1}]), lang="zh"
    )
    [op] = outbox_rows(node)
    reason = "订单 SH012-S-0001 第 1 行已全部退回"
    snapshot = _decided(
        node, return_id, "rejected", code="over_return", refusal_zh=reason, refusal_en="line 1 was returned already"
    )
    _ack(
        node,
        OpResult(seq=op["seq"], op_id=op["op_id"], status="rejected", code="over_return", reason=reason),
        _change("return", return_id, snapshot),
    )
    assert moves_of(node, return_id) == [] and on_hand(node, JEANS_M) == 0 and on_hand(node, JEANS_L) == 0
    shown = return_views.get_return(node, return_id, "en")
    assert (shown["status"], shown["code"], shown["refusal"]) == ("rejected", "over_return", snapshot.refusal_en)
    assert return_views.get_return(node, return_id)["refusal"] == reason
    assert returnable(node) == [(0, 0, 2), (0, 0, 1)]  # a refused return holds nothing back

    # Before any snapshot comes in, the op's reason alone already says why.
    other = return_actions.create_return(node, refund((2, 1)), lang="zh")
    op2 = outbox_rows(node)[-1]
    _ack(
        node, OpResult(seq=op2["seq"], op_id=op2["op_id"], status="rejected", code="return_not_allowed", reason="不行")
    )
    assert [(r["status"], r["code"]) for r in return_views.list_returns(node, status="rejected")["items"]] == [
        ("rejected", "return_not_allowed"),
        ("rejected", "over_return"),
    ]
    assert return_views.get_return(node, other, "en")["refusal"] == "不行"
    assert on_hand_matches_moves(node)


def test_acceptance_in_an_ack_updates_status_and_order_copy(node: Node) -> None:
    order = seed(node)
    return_id = return_actions.create_return(node, refund((1, 1)), lang="zh")
    [op] = outbox_rows(node)
    lines = [msgspec.structs.replace(order.lines[0], returned_qty=1), order.lines[1]]
    after = msgspec.structs.replace(order, lines=lines, hlc=_hlc())
    snapshot = _decided(node, return_id, "accepted", refund_ticket="SH012-000007", order=after)
    _ack(node, OpResult(seq=op["seq"], op_id=op["op_id"], status="applied"), _change("return", return_id, snapshot))
    shown = return_views.get_return(node, snapshot.number)
    assert (shown["status"], shown["status_label"], shown["refund_ticket"]) == ("accepted", "已受理", "SH012-000007")
    assert shown["decided_at"] is not None
    assert returnable(node) == [(1, 0, 1), (0, 0, 1)]  # HQ's figure, nothing pending any more
    assert moves_of(node, return_id) == [(JEANS_M, 1, "return")]  # the goods stay
    assert scalar(node.replica, "SELECT source FROM orders WHERE number = ?", (ORDER,)) == "own"
    # An older snapshot (a pull page fetched before the ack) does not bring "pending" back.
    stale = msgspec.structs.replace(snapshot, status="pending", hlc=Hlc(1, 0, "hq").encode(), order=None)
    pull(node, _change("return", return_id, stale))
    assert return_views.get_return(node, return_id)["status"] == "accepted"


def test_a_reset_keeps_the_movements_of_a_return_hq_has_not_answered(node: Node) -> None:
    order = seed(node)
    return_id = return_actions.create_return(node, refund((1, 1)), lang="zh")
    apply.begin_reset(node)
    pull(node, _change("order", order.id, order))  # HQ re-sends what it publishes; it has not seen the return
    with node.replica.tx() as conn:
        apply.finish_reset(node, conn)
    assert moves_of(node, return_id) == [(JEANS_M, 1, "return")] and on_hand(node, JEANS_M) == 1
    assert return_records.find_return(node, return_id).status == "pending"
    assert returnable(node) == [(0, 1, 1), (0, 0, 1)]


def test_voucher_route_renders_the_number(node: Node, data_dir: Path) -> None:
    seed(node)
    return_id = return_actions.create_return(node, refund((1, 1)), lang="zh")
    number = return_records.find_return(node, return_id).number
    with local_api(node, data_dir) as api:
        page = api.get(f"/returns/{number}/voucher")
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert number in page.text and "静安店" in page.text
        assert api.get(f"/returns/{return_id}/voucher", headers=EN).status_code == 200
        missing = error_of(api.get("/returns/SH012-T999999/voucher"), 404)
        assert missing["code"] == "return_not_found"
        assert error_of(api.get("/api/v1/returns/nope"), 404)["code"] == "return_not_found"
        assert error_of(api.get("/api/v1/returns", params={"status": "lost"}), 400)["code"] == "invalid_choice"


# -- against an in-process HQ ----------------------------------------------------------------------------


def sell_at_hq(hq: Hq, number: str, *, store: str = "SH001", days_ago: int = 2, qty: int = 1) -> dict[str, Any]:
    """A store order at HQ: ``qty`` pairs of jeans (299.00 each), paid ``days_ago`` days ago."""
    body = {
        "number": number,
        "channel": "store",
        "store": store,
        "customer_phone": "13800138000",
        "paid_at": system_wall_ms() - days_ago * DAY_MS,
        "lines": [{"sku": SKU_M, "qty": qty, "unit_price": "299.00"}],
    }
    response = hq.api("POST", "/api/v1/orders", json=body)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


def two_stores(hq: Hq, make_store: StoreFactory) -> tuple[Store, Store]:
    import_catalogue(hq)
    made = [make_store(code) for code in ("SH001", "SH002")]
    for store in made:
        store.enroll_only()
    return made[0], made[1]


def take_back(store: Store, number: str, qty: int = 1) -> str:
    body = {"order": number, "kind": "refund", "reason": "size", "lines": [{"line_no": 1, "qty": qty}]}
    return return_actions.create_return(store.node, body, lang="zh")


def order_lines(store: Store, number: str) -> list[tuple[int, int, int]]:
    order = order_views.local_order(store.node, number)
    assert order is not None
    return [(x["returned_qty"], x["pending_return_qty"], x["returnable_qty"]) for x in order["lines"]]


def test_return_accepted_by_hq_updates_status_and_order_copy(hq: Hq, make_store: StoreFactory) -> None:
    sh1, sh2 = two_stores(hq, make_store)
    sell_at_hq(hq, "SO-2001", qty=2)
    sh1.sync()
    return_id = take_back(sh1, "SO-2001")
    assert order_lines(sh1, "SO-2001") == [(0, 1, 1)]
    sh1.sync()
    assert [(op["kind"], op["state"]) for op in outbox_rows(sh1.node)] == [("return.create", "acked")]
    mine = return_views.get_return(sh1.node, return_id)
    assert (mine["status"], mine["status_label"], mine["code"]) == ("accepted", "已受理", "")
    assert mine["refund_ticket"] and mine["decided_at"] is not None
    assert order_lines(sh1, "SO-2001") == [(1, 0, 1)]  # HQ's figure; nothing pending any more
    # HQ counted the movement under the store's id: the store's ledger holds it once.
    assert on_hand(sh1.node, SKU_M) == 1 and len(moves_of(sh1.node, return_id)) == 1
    assert hq_levels(hq)[("SH001", SKU_M)] == (1, 0)

    # SH002 never looked the order up: the return asks HQ for it, then takes the last pair back.
    assert sh2.node.replica.one("SELECT 1 FROM orders") is None
    with store_api(sh2) as api:
        answer = api.post("/api/v1/returns", json={**refund((1, 1)), "order": "SO-2001"})
        assert answer.status_code == 201, answer.text
        theirs = answer.json()
        assert (theirs["status"], theirs["number"], theirs["selling_store"]["name"]) == (
            "pending",
            "SH002-T000001",
            "SH001 门店",
        )
    sh2.sync()
    assert return_views.get_return(sh2.node, theirs["id"])["status"] == "accepted"
    assert order_lines(sh2, "SO-2001") == [(2, 0, 0)]
    assert scalar(sh2.node.replica, "SELECT source FROM orders WHERE number = 'SO-2001'") == "lookup"
    # The selling store receives its order again with both pairs returned.
    sh1.sync()
    assert order_lines(sh1, "SO-2001") == [(2, 0, 0)]
    assert return_views.list_returns(sh1.node)["items"][0]["id"] == return_id  # only its own returns


def test_return_refused_by_hq_drops_its_movements_and_shows_why(hq: Hq, make_store: StoreFactory) -> None:
    sh1, sh2 = two_stores(hq, make_store)
    sell_at_hq(hq, "SO-2002")
    sh1.sync()
    with store_api(sh2) as api:
        assert api.get("/api/v1/orders/SO-2002").status_code == 200  # kept for offline use
    # Both stores take the one pair back while offline; SH002 reaches HQ first.
    first, second = take_back(sh2, "SO-2002"), take_back(sh1, "SO-2002")
    assert on_hand(sh1.node, SKU_M) == 1
    sh2.sync()
    sh1.sync()
    [op] = outbox_rows(sh1.node)
    assert (op["state"], op["code"]) == ("rejected", "over_return")
    mine = return_views.get_return(sh1.node, second)
    number = return_records.find_return(sh2.node, first).number
    assert (mine["status"], mine["status_label"], mine["code"]) == ("rejected", "总部已拒绝", "over_return")
    assert "SO-2002" in mine["refusal"] and number in mine["refusal"]
    assert mine["exception_ticket"]
    assert return_views.get_return(sh1.node, second, "en")["refusal"] != mine["refusal"]  # HQ's English text
    # The pair it took back is not counted: its movement is gone, here and at HQ.
    assert moves_of(sh1.node, second) == [] and on_hand(sh1.node, SKU_M) == 0 and on_hand_matches_moves(sh1.node)
    assert hq_levels(hq).get(("SH001", SKU_M), (0, 0)) == (0, 0)
    assert order_lines(sh1, "SO-2002") == [(1, 0, 0)]

    # A store refused with a stale looked-up copy gets HQ's figure with the refusal.
    sell_at_hq(hq, "SO-2004")
    with store_api(sh2) as api:
        assert api.get("/api/v1/orders/SO-2004").status_code == 200
    sh1.sync()
    take_back(sh1, "SO-2004")
    sh1.sync()
    late = take_back(sh2, "SO-2004")
    sh2.sync()
    assert return_views.get_return(sh2.node, late)["status"] == "rejected"
    assert order_lines(sh2, "SO-2004") == [(1, 0, 0)]


def test_synced_return_policy_replaces_the_default(hq: Hq, make_store: StoreFactory) -> None:
    sh1, _ = two_stores(hq, make_store)
    sell_at_hq(hq, "SO-2003", days_ago=10)
    sh1.sync()
    checked = return_actions.check_return(sh1.node, {**refund((1, 1)), "order": "SO-2003"}, lang="zh")
    assert (checked["allowed"], checked["policy_source"]) == (False, "default")

    response = hq.api("PUT", "/api/v1/return-policy", json={"no_reason_days": 14})
    assert response.status_code == 200, response.text
    sh1.sync()
    assert return_views.policy_json(sh1.node)["source"] == "hq"
    return_id = take_back(sh1, "SO-2003")
    assert return_views.get_return(sh1.node, return_id)["lines"][0]["decision"]["sentence"].startswith(
        "购买后第 10 天，在 14 天无理由退换期内"
    )
    sh1.sync()
    assert return_views.get_return(sh1.node, return_id)["status"] == "accepted"


def test_exchange_accepted_by_hq_counts_both_movements_once(hq: Hq, make_store: StoreFactory) -> None:
    sh1, _ = two_stores(hq, make_store)
    sell_at_hq(hq, "SO-2005")
    stock_actions.record_move(sh1.node, {"sku": SKU_L, "qty": 3, "reason": "receipt"})
    sh1.sync()
    body = {**refund((1, 1)), "order": "SO-2005", "kind": "exchange", "exchange": [{"sku": SKU_L, "qty": 1}]}
    return_id = return_actions.create_return(sh1.node, body, lang="zh")
    sh1.sync()
    shown = return_views.get_return(sh1.node, return_id)
    assert (shown["status"], shown["refund"], shown["payable"]) == ("accepted", "0.00", "0.00")
    assert shown["exchange_order"]
    assert sorted(moves_of(sh1.node, return_id)) == [(SKU_L, -1, "sale"), (SKU_M, 1, "return")]
    assert (on_hand(sh1.node, SKU_M), on_hand(sh1.node, SKU_L)) == (1, 2)
    levels = hq_levels(hq)
    assert (levels[("SH001", SKU_M)], levels[("SH001", SKU_L)]) == ((1, 0), (2, 0))


def test_a_refused_return_answered_as_a_duplicate_still_drops_its_movements(node: Node) -> None:
    """A replica restored from an older copy sends a return HQ refused before under a new seq: HQ
    answers ``duplicate`` with the refused snapshot, and the goods leave the store's stock all the same."""
    seed(node)
    return_id = return_actions.create_return(node, refund((1, 1)), lang="zh")
    [op] = outbox_rows(node)
    state = _decided(node, return_id, "rejected", code="over_return", refusal_zh="已退过", refusal_en="returned")
    _ack(
        node,
        OpResult(seq=op["seq"], op_id=op["op_id"], status="merged", code="duplicate"),
        _change("return", return_id, state),
    )
    assert return_records.find_return(node, return_id).status == "rejected"
    assert moves_of(node, return_id) == []
    assert on_hand_matches_moves(node)


def test_the_voucher_link_of_a_moved_aside_number_opens_its_voucher(node: Node, data_dir: Path) -> None:
    seed(node)
    return_id = return_actions.create_return(node, refund((1, 1)), lang="zh")
    with node.replica.tx() as conn:
        conn.execute("UPDATE returns SET number = number || '#' || substr(id, -8) WHERE id = ?", (return_id,))
    link = return_views.get_return(node, return_id)["voucher_url"]
    assert "%23" in link
    with local_api(node, data_dir) as api:
        assert api.get(link).status_code == 200
