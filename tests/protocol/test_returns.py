"""The return checks both sides share (sync_protocol.returns)."""

from __future__ import annotations

import pytest

from sync_protocol.errors import InvalidField
from sync_protocol.orders import OrderLine, OrderState
from sync_protocol.return_policy import ReturnPolicy
from sync_protocol.returns import (
    ExchangeItem,
    ReturnedLine,
    amounts,
    check_request,
    decide_lines,
    over_returned,
    return_number,
)

DAY_MS = 24 * 3600 * 1000
PAID = 1_764_000_000_000  # 2025-11-24 16:00 UTC: day 0 in Shanghai is 2025-11-25


def order(returned: int = 0) -> OrderState:
    lines = [
        OrderLine(line_no=1, sku="JN-M", category="jeans", qty=2, unit_price_cents=29900, returned_qty=returned),
        OrderLine(line_no=2, sku="UW-M", category="underwear", qty=1, unit_price_cents=3900),
    ]
    return OrderState(
        id="o1", number="SO-1", channel="store", paid_at=PAID, total_cents=63700, lines=lines, created_at=PAID, hlc=""
    )


def check(**overrides: object) -> None:
    values: dict[str, object] = {
        "kind": "refund",
        "reason": "size",
        "method": "original",
        "lines": [(1, 1)],
        "exchange_count": 0,
        "photos": [],
    }
    values.update(overrides)
    check_request(order(), **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"kind": "swap"}, "kind", "invalid_choice"),
        ({"reason": "mood"}, "reason", "invalid_choice"),
        ({"method": "bitcoin"}, "method", "invalid_choice"),
        ({"lines": []}, "lines", "required"),
        ({"lines": [(1, 1), (1, 1)]}, "lines[1].line_no", "duplicate_line"),
        ({"lines": [(3, 1)]}, "lines[0].line_no", "unknown_order_line"),
        ({"kind": "exchange"}, "exchange", "exchange_items_required"),
        ({"exchange_count": 1}, "exchange", "exchange_items_not_allowed"),
        ({"reason": "quality"}, "photos", "photos_required"),
        ({"reason": "quality", "photos": [" "]}, "photos[0]", "invalid_photo"),
        ({"photos": ["p"] * 10}, "photos", "too_long"),
    ],
)
def test_request_that_cannot_be_taken_in_names_its_field(overrides: dict[str, object], field: str, code: str) -> None:
    with pytest.raises(InvalidField) as caught:
        check(**overrides)
    assert (caught.value.field, caught.value.code) == (field, code)


def test_quality_return_with_a_photo_passes_the_checks() -> None:
    check(reason="quality", photos=["photo://1.jpg"])


def test_over_return_counts_what_hq_and_pending_returns_took_back() -> None:
    assert over_returned(order(returned=1), [(1, 1)]) == []
    over = over_returned(order(returned=1), [(1, 1)], pending={1: 1})
    assert len(over) == 1 and over[0].left == 0 and over[0].returned == 2 and over[0].asked == 1
    assert over_returned(order(), [(1, 3)])[0].left == 2


def test_amounts_of_a_refund_and_of_exchanges_up_and_down() -> None:
    line = ReturnedLine(line_no=1, sku="JN-M", qty=1, unit_price_cents=29900, move_id="m1")
    cheaper = ExchangeItem(sku="UW-M", qty=2, unit_price_cents=3900, move_id="m2")
    dearer = ExchangeItem(sku="CO-L", qty=1, unit_price_cents=49900, move_id="m3")
    assert amounts("refund", [line], []) == (29900, 0, 29900, 0)
    assert amounts("exchange", [line], [cheaper]) == (29900, 7800, 22100, 0)
    assert amounts("exchange", [line], [dearer]) == (29900, 49900, 0, 20000)


def test_decisions_per_line_use_each_line_category() -> None:
    policy = ReturnPolicy(excluded_categories=["underwear"])
    found = decide_lines(policy, order(), kind="refund", reason="size", lines=[(1, True), (2, True)], at=PAID + DAY_MS)
    assert [(d.allowed, d.code) for d in found] == [(True, "within_no_reason_window"), (False, "excluded_category")]


def test_return_numbers_name_the_store_and_node() -> None:
    assert return_number("SH012", 1, 45) == "SH012-T000045"
    assert return_number("SH012", 2, 45) == "SH012-2-T000045"
