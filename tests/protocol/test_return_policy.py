"""The return policy engine (sync_protocol.return_policy): each rule at its boundary, the days in
the chain's time zone, and the sentence a clerk reads out for every decision."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from sync_protocol.errors import InvalidField
from sync_protocol.i18n import render
from sync_protocol.return_policy import (
    ALTERNATIVES,
    DECISION_CODES,
    REASONS,
    Decision,
    ReturnCase,
    ReturnKind,
    ReturnPolicy,
    day_number,
    decide,
    explain,
    parse_policy,
)
from sync_protocol.texts import TEXTS

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
#: Bought on a Saturday afternoon in Shanghai.
BOUGHT = datetime(2025, 3, 1, 15, 20, tzinfo=SHANGHAI)
POLICY = parse_policy({"excluded_categories": ["underwear", "swimwear"]})


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def case(
    day: int,
    *,
    reason: str = "size",
    category: str = "jeans",
    unworn: bool = True,
    kind: ReturnKind = "refund",
    hour: int = 11,
) -> ReturnCase:
    """A return at ``hour`` local time on ``day`` after :data:`BOUGHT`."""
    returned = (BOUGHT + timedelta(days=day)).replace(hour=hour, minute=0)
    return ReturnCase(
        paid_at=ms(BOUGHT), category=category, reason=reason, unworn=unworn, kind=kind, returned_at=ms(returned)
    )


def test_size_return_on_day_7_is_allowed() -> None:
    decision = decide(POLICY, case(7))
    assert (decision.allowed, decision.code, decision.day) == (True, "within_no_reason_window", 7)
    assert explain(decision) == "购买后第 7 天，在 7 天无理由退换期内，可以办理退货。"
    assert explain(decision, "en") == "Day 7 after purchase, within the 7-day no-reason window: a refund can be made."


def test_size_return_on_day_8_is_refused_and_says_quality_returns_are_still_possible() -> None:
    decision = decide(POLICY, case(8, hour=0))
    assert (decision.allowed, decision.code, decision.day) == (False, "no_reason_window_passed", 8)
    assert decision.alternative == "quality"
    assert explain(decision) == (
        "已超过 7 天无理由退换期（今天是购买后第 8 天），不能无理由退货；如有质量问题，90 天内可免费退换。"
    )
    assert explain(decision, "en") == (
        "It is past the 7-day no-reason window (today is day 8 after purchase), so a refund without a reason"
        " cannot be made; with a quality problem it can be returned or exchanged free of charge within 90 days."
    )


def test_quality_return_on_day_30_is_allowed() -> None:
    decision = decide(POLICY, case(30, reason="quality", unworn=False))
    assert (decision.allowed, decision.code, decision.day) == (True, "quality_within_window", 30)
    assert explain(decision) == "购买后第 30 天，商品有质量问题，在 90 天质量问题退换期内，可以免费办理退货。"


def test_quality_return_on_day_90_is_allowed() -> None:
    assert decide(POLICY, case(90, reason="quality")).code == "quality_within_window"


def test_quality_return_on_day_91_is_refused() -> None:
    decision = decide(POLICY, case(91, reason="quality"))
    assert (decision.allowed, decision.code, decision.day) == (False, "quality_window_passed", 91)
    assert decision.alternative == ""
    assert explain(decision) == "已超过 90 天质量问题退换期（今天是购买后第 91 天），不能办理退货。"


def test_excluded_category_is_refused_without_a_quality_problem() -> None:
    decision = decide(POLICY, case(0, category="underwear"))
    assert (decision.allowed, decision.code) == (False, "excluded_category")
    assert decision.alternative == "quality"
    assert explain(decision) == "该类商品不参加无理由退换，没有质量问题不能退货；如有质量问题，90 天内可免费退换。"


def test_excluded_category_matches_whatever_the_case_and_spaces() -> None:
    assert decide(POLICY, case(1, category=" Underwear")).code == "excluded_category"


def test_excluded_category_with_a_quality_problem_is_allowed() -> None:
    decision = decide(POLICY, case(30, category="underwear", reason="quality", unworn=False))
    assert (decision.allowed, decision.code) == (True, "quality_within_window")


def test_worn_goods_are_refused_without_a_quality_problem() -> None:
    decision = decide(POLICY, case(2, unworn=False))
    assert (decision.allowed, decision.code) == (False, "worn_goods")
    assert explain(decision) == "商品已穿着，不能无理由退货；如有质量问题，90 天内可免费退换。"


def test_worn_goods_may_be_returned_when_the_policy_does_not_require_unworn() -> None:
    policy = parse_policy({"require_unworn": False})
    assert decide(policy, case(2, unworn=False)).code == "within_no_reason_window"


def test_purchase_day_is_day_0_and_says_so() -> None:
    decision = decide(POLICY, case(0, kind="exchange", hour=18))
    assert (decision.allowed, decision.day) == (True, 0)
    assert explain(decision) == "购买当天，在 7 天无理由退换期内，可以办理换货。"
    assert explain(decision, "en").startswith("The day of purchase, within the 7-day no-reason window")


def test_days_are_counted_in_the_chains_time_zone() -> None:
    # 23:30 and 00:30 in Shanghai are 15:30 and 16:30 UTC of the same UTC date: still day 1.
    bought = datetime(2025, 3, 1, 23, 30, tzinfo=SHANGHAI)
    returned = datetime(2025, 3, 2, 0, 30, tzinfo=SHANGHAI)
    assert bought.astimezone(UTC).date() == returned.astimezone(UTC).date()
    assert day_number(ms(bought), ms(returned)) == 1
    # 07:30 and 08:30 in Shanghai are 23:30 and 00:30 UTC across a UTC midnight: still day 0.
    bought = datetime(2025, 3, 1, 7, 30, tzinfo=SHANGHAI)
    returned = datetime(2025, 3, 1, 8, 30, tzinfo=SHANGHAI)
    assert bought.astimezone(UTC).date() != returned.astimezone(UTC).date()
    assert day_number(ms(bought), ms(returned)) == 0
    # The same two moments in a chain set to UTC are a day apart.
    assert day_number(ms(bought), ms(returned), "UTC") == 1


def test_day_7_ends_at_local_midnight() -> None:
    bought = datetime(2025, 3, 1, 23, 30, tzinfo=SHANGHAI)
    last = datetime(2025, 3, 8, 23, 59, 59, 999000, tzinfo=SHANGHAI)
    first_too_late = datetime(2025, 3, 9, 0, 0, tzinfo=SHANGHAI)
    on_time = ReturnCase(
        paid_at=ms(bought), category="jeans", reason="colour", unworn=True, kind="refund", returned_at=ms(last)
    )
    assert decide(POLICY, on_time).allowed
    assert not decide(POLICY, msgspec.structs.replace(on_time, returned_at=ms(first_too_late))).allowed


def test_return_dated_before_the_purchase_day_is_refused_but_an_earlier_hour_that_day_is_not() -> None:
    decision = decide(POLICY, case(-1))
    assert (decision.allowed, decision.code, decision.day) == (False, "returned_before_purchase", -1)
    # A till clock a little behind the POS on the purchase day is day 0, not a refusal.
    same_day = case(0, hour=9)
    assert same_day.returned_at < same_day.paid_at
    assert decide(POLICY, same_day).code == "within_no_reason_window"


def test_unknown_reason_is_refused_and_lists_the_reasons() -> None:
    decision = decide(POLICY, case(1, reason="changed_mind"))
    assert (decision.allowed, decision.code) == (False, "unknown_reason")
    assert (
        explain(decision)
        == "未知的退换原因「changed_mind」，请从以下原因中选择：尺码不合适、面料、质量问题、颜色、其他。"
    )
    assert REASONS == ("size", "fabric", "quality", "colour", "other")


def test_refund_not_offered_but_exchange_is() -> None:
    policy = parse_policy({"allow_refund": False})
    decision = decide(policy, case(3))
    assert (decision.allowed, decision.code, decision.alternative) == (False, "refund_not_offered", "exchange")
    assert explain(decision) == "本店不提供退货；可以改为办理换货。"
    assert explain(decision, "en") == "We do not offer refunds; an exchange can be made instead."
    exchange = decide(policy, case(3, kind="exchange"))
    assert (exchange.allowed, exchange.code) == (True, "within_no_reason_window")
    assert explain(exchange) == "购买后第 3 天，在 7 天无理由换货期内，可以办理换货。"


def test_exchange_not_offered_names_a_refund_only_while_one_is_allowed() -> None:
    policy = parse_policy({"allow_exchange": False})
    assert decide(policy, case(3, kind="exchange")).alternative == "refund"
    late = decide(policy, case(20, kind="exchange"))
    assert (late.code, late.alternative) == ("exchange_not_offered", "quality")
    assert explain(late) == "本店不提供换货；如有质量问题，90 天内可免费退货。"


def test_exchange_days_extend_exchanges_but_not_refunds() -> None:
    policy = parse_policy({"exchange_days": 15})
    exchange = decide(policy, case(15, kind="exchange"))
    assert (exchange.allowed, exchange.code) == (True, "within_exchange_window")
    assert explain(exchange) == "购买后第 15 天，在 15 天换货期内，可以办理换货。"
    refund = decide(policy, case(8))
    assert (refund.allowed, refund.code, refund.alternative) == (False, "no_reason_window_passed", "exchange")
    assert explain(refund) == "已超过 7 天无理由退换期（今天是购买后第 8 天），不能无理由退货；可以改为办理换货。"
    late = decide(policy, case(16, kind="exchange"))
    assert (late.allowed, late.code, late.alternative) == (False, "exchange_window_passed", "quality")


def test_exchange_days_do_not_reach_worn_goods_or_excluded_categories() -> None:
    policy = parse_policy({"exchange_days": 15, "excluded_categories": ["underwear"]})
    assert decide(policy, case(10, kind="exchange", unworn=False)).code == "worn_goods"
    assert decide(policy, case(10, kind="exchange", category="underwear")).code == "excluded_category"


def _every_decision() -> list[Decision]:
    """Decisions covering every code and every alternative, under several policies."""
    exchange_only = parse_policy({"allow_refund": False, "exchange_days": 15})
    refund_only = parse_policy({"allow_exchange": False})
    cases: list[tuple[ReturnPolicy, ReturnCase]] = [
        (POLICY, case(0)),
        (POLICY, case(7, kind="exchange")),
        (POLICY, case(8)),
        (POLICY, case(30, reason="quality")),
        (POLICY, case(91, reason="quality", kind="exchange")),
        (POLICY, case(100)),
        (POLICY, case(1, category="underwear", kind="exchange")),
        (POLICY, case(1, unworn=False)),
        (POLICY, case(1, reason="?")),
        (POLICY, case(-3)),
        (exchange_only, case(12, kind="exchange")),
        (exchange_only, case(16, kind="exchange")),
        (exchange_only, case(2)),
        (exchange_only, case(40)),
        (refund_only, case(2, kind="exchange")),
        (refund_only, case(50, reason="quality")),
        (refund_only, case(10, kind="exchange")),
    ]
    return [decide(policy, one) for policy, one in cases]


def test_every_decision_explains_itself_in_both_languages_without_placeholders() -> None:
    decisions = _every_decision()
    assert {d.code for d in decisions} == set(DECISION_CODES)
    assert {d.alternative for d in decisions} == {"", *ALTERNATIVES}
    for code in DECISION_CODES:
        assert set(TEXTS[f"return_{code}"]) == {"zh", "en"}
    for decision in decisions:
        zh, en = explain(decision), explain(decision, "en")
        assert "{" not in zh and "}" not in zh, zh
        assert "{" not in en and "}" not in en, en
        assert zh.endswith("。") and en.endswith("."), (zh, en)
        assert zh != en
        assert not any("\u4e00" <= char <= "\u9fff" for char in en), en
        # A decision goes through the sync as JSON and explains itself the same on the other side.
        again = msgspec.json.decode(msgspec.json.encode(decision), type=Decision)
        assert explain(again) == zh


def message(error: InvalidField, lang: str = "zh") -> str:
    """The people-facing text of a policy error, as HQ's settings API renders it."""
    params: dict[str, Any] = dict(error.params)
    return render(error.code, lang, field=error.field, **params)


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        pytest.param({"no_reason_days": -1}, "no_reason_days", "out_of_range", id="negative-days"),
        pytest.param({"quality_days": 100_000}, "quality_days", "out_of_range", id="too-many-days"),
        pytest.param({"no_reason_days": "7"}, "no_reason_days", "invalid_type", id="days-as-text"),
        pytest.param({"no_reason_days": True}, "no_reason_days", "invalid_type", id="days-as-bool"),
        pytest.param({"quality_days": 5}, "quality_days", "return_window_order", id="quality-shorter"),
        pytest.param({"exchange_days": 3}, "exchange_days", "return_window_order", id="exchange-shorter"),
        pytest.param({"exchange_days": 120}, "exchange_days", "return_window_order", id="exchange-past-quality"),
        pytest.param({"tz": "Mars/Olympus_Mons"}, "tz", "invalid_choice", id="unknown-tz"),
        pytest.param({"tz": "../etc/passwd"}, "tz", "invalid_choice", id="path-as-tz"),
        pytest.param({"excluded_categories": ["socks", "  "]}, "excluded_categories[1]", "required", id="blank"),
        pytest.param({"excluded_categories": ["x" * 41]}, "excluded_categories[0]", "too_long", id="long-category"),
        pytest.param({"excluded_categories": ["socks", 3]}, "excluded_categories[1]", "invalid_type", id="not-text"),
        pytest.param({"excluded_categories": "socks"}, "excluded_categories", "invalid_type", id="not-a-list"),
        pytest.param({"allow_refund": False, "allow_exchange": False}, "allow_refund", "return_nothing_offered"),
        pytest.param({"returns_days": 7}, "returns_days", "unknown_field", id="unknown-field"),
        pytest.param([7, 90], "return_policy", "invalid_type", id="not-an-object"),
    ],
)
def test_parse_policy_rejects_bad_values_naming_the_field(data: Any, field: str, code: str) -> None:
    with pytest.raises(InvalidField) as raised:
        parse_policy(data)
    assert (raised.value.field, raised.value.code) == (field, code)
    for lang in ("zh", "en"):
        text = message(raised.value, lang)
        assert "{" not in text, text


def test_parse_policy_names_the_field_in_the_people_facing_text() -> None:
    with pytest.raises(InvalidField) as raised:
        parse_policy({"exchange_days": 3})
    assert message(raised.value) == ("换货天数应在 7 到 90 天之间（无理由退换天数 ≤ 换货天数 ≤ 质量问题退换天数）")


def test_parse_policy_keeps_good_values_and_strips_categories() -> None:
    policy = parse_policy(
        {"no_reason_days": 0, "quality_days": 0, "excluded_categories": [" underwear "], "tz": "Europe/Berlin"}
    )
    assert policy == ReturnPolicy(
        no_reason_days=0, quality_days=0, excluded_categories=["underwear"], tz="Europe/Berlin"
    )
    assert parse_policy(policy) is policy
    assert parse_policy({}) == ReturnPolicy()
