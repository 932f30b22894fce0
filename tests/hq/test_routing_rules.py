"""Ticket routing rules (hq_server.routing_rules): matching, rule order, validation, the JSON file."""

from __future__ import annotations

from typing import Any

import pytest

from hq_server.routing_rules import (
    Actions,
    Conditions,
    Decision,
    Rule,
    TicketFacts,
    decide,
    dump_rules,
    first_match,
    load_rules_file,
    matches,
    parse_rules,
)
from sync_protocol.errors import InvalidField
from sync_protocol.tickets import DEFAULT_TICKET_TYPES

DEPARTMENTS = frozenset({"cs", "qc", "finance", "it", "ops"})
TICKET_TYPES = frozenset(DEFAULT_TICKET_TYPES)


def facts(**overrides: str) -> TicketFacts:
    """A regular customer's quality ticket from store SH001 (east region), unless overridden."""
    values = {
        "type": "quality",
        "channel": "store",
        "store": "SH001",
        "region": "east",
        "customer_level": "regular",
        "product_category": "denim",
        "title": "牛仔裤拉链坏了",
        "description": "",
    }
    return TicketFacts(**{**values, **overrides})


def rule(rule_id: str = "r", *, enabled: bool = True, then: Actions | None = None, **when: list[str]) -> Rule:
    return Rule(
        id=rule_id,
        name=rule_id,
        enabled=enabled,
        when=Conditions(**when),
        then=then or Actions(department="cs"),
    )


def parse(data: object) -> list[Rule]:
    return parse_rules(data, departments=DEPARTMENTS, ticket_types=TICKET_TYPES)


# --- Matching -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "ticket", "expected"),
    [
        pytest.param({"types": ["quality"]}, {"type": "quality"}, True, id="type-in-list-matches"),
        pytest.param({"types": ["quality"]}, {"type": "complaint"}, False, id="type-not-in-list-fails"),
        pytest.param({"channels": ["wechat"]}, {"channel": "wechat"}, True, id="channel-in-list-matches"),
        pytest.param({"channels": ["wechat"]}, {"channel": "phone"}, False, id="channel-not-in-list-fails"),
        pytest.param({"stores": ["SH001"]}, {"store": "SH001"}, True, id="store-in-list-matches"),
        pytest.param({"stores": ["SH001"]}, {"store": "BJ002"}, False, id="store-not-in-list-fails"),
        pytest.param({"stores": ["sh001"]}, {"store": "SH001"}, False, id="codes-are-case-sensitive"),
        pytest.param({"stores": ["SH001"]}, {"store": ""}, False, id="ticket-without-store-fails-store-list"),
        pytest.param({"regions": ["south"]}, {"region": "south"}, True, id="region-in-list-matches"),
        pytest.param({"regions": ["south"]}, {"region": "east"}, False, id="region-not-in-list-fails"),
        pytest.param({"customer_levels": ["vip"]}, {"customer_level": "vip"}, True, id="level-in-list-matches"),
        pytest.param({"customer_levels": ["vip"]}, {"customer_level": "gold"}, False, id="level-not-in-list-fails"),
        pytest.param(
            {"product_categories": ["denim"]}, {"product_category": "denim"}, True, id="category-in-list-matches"
        ),
        pytest.param(
            {"product_categories": ["denim"]}, {"product_category": "shoes"}, False, id="category-not-in-list-fails"
        ),
        pytest.param({"keywords": ["拉链"]}, {"title": "牛仔裤拉链坏了"}, True, id="keyword-in-title-matches"),
        pytest.param({"keywords": ["退款"]}, {"title": "牛仔裤拉链坏了"}, False, id="keyword-absent-fails"),
        pytest.param({}, {}, True, id="empty-conditions-match-anything"),
        pytest.param(
            {},
            {"type": "other", "channel": "email", "store": "", "region": "", "customer_level": "", "title": ""},
            True,
            id="empty-conditions-match-a-ticket-with-no-facts",
        ),
        pytest.param(
            {"types": ["quality"], "channels": ["wechat"]},
            {"type": "quality", "channel": "wechat"},
            True,
            id="all-conditions-hold-matches",
        ),
        pytest.param(
            {"types": ["quality"], "channels": ["wechat"]},
            {"type": "quality", "channel": "store"},
            False,
            id="one-condition-failing-fails-the-rule-AND",
        ),
        pytest.param(
            {"types": ["quality"], "keywords": ["退款"]},
            {"type": "quality", "title": "拉链坏了"},
            False,
            id="codes-holding-but-keywords-not-fails-AND",
        ),
        pytest.param(
            {"types": ["quality", "complaint"]}, {"type": "complaint"}, True, id="any-value-in-one-list-matches-OR"
        ),
        pytest.param({"keywords": ["退款", "refund"]}, {"title": "I want a refund"}, True, id="any-keyword-matches-OR"),
    ],
)
def test_matches(when: dict[str, list[str]], ticket: dict[str, str], expected: bool) -> None:
    assert matches(rule(**when), facts(**ticket)) is expected


@pytest.mark.parametrize(
    ("keyword", "title", "description", "expected"),
    [
        pytest.param("Zipper", "Broken ZIPPER on jeans", "", True, id="latin-ignores-case"),
        pytest.param("REFUND", "", "please refund me", True, id="latin-ignores-case-of-the-keyword"),
        pytest.param("STRASSE", "Lieferung an Hauptstraße", "", True, id="casefold-not-just-lower"),
        pytest.param("拉链", "牛仔裤拉链坏了", "", True, id="chinese-substring-of-title"),
        pytest.param("退款", "顾客投诉", "要求退款并道歉", True, id="found-in-description-only"),
        pytest.param("退款", "顾客投诉", "要求换货", False, id="in-neither-title-nor-description"),
        pytest.param("refund", "", "", False, id="empty-texts-match-no-keyword"),
    ],
)
def test_keywords(keyword: str, title: str, description: str, expected: bool) -> None:
    ticket = facts(title=title, description=description)
    assert matches(rule(keywords=[keyword]), ticket) is expected


# --- Rule order and decisions ---------------------------------------------------------------


def test_of_two_matching_rules_the_first_wins() -> None:
    rules = [rule("first", then=Actions(department="qc")), rule("second", then=Actions(department="cs"))]
    assert first_match(rules, facts()) is rules[0]
    assert decide(rules, facts(), default_department="ops", current_priority="normal").rule_id == "first"


def test_a_disabled_rule_is_skipped_even_when_first() -> None:
    rules = [rule("off", enabled=False, then=Actions(department="qc")), rule("on", then=Actions(department="cs"))]
    decision = decide(rules, facts(), default_department="ops", current_priority="normal")
    assert (decision.rule_id, decision.department) == ("on", "cs")


def test_a_non_matching_first_rule_lets_a_later_one_win() -> None:
    rules = [rule("vip", customer_levels=["vip"]), rule("quality", types=["quality"], then=Actions(department="qc"))]
    assert decide(rules, facts(), default_department="ops", current_priority="normal").rule_id == "quality"


@pytest.mark.parametrize(
    "rules",
    [
        pytest.param([], id="no-rules"),
        pytest.param([rule(types=["equipment"])], id="no-rule-matches"),
        pytest.param([rule(enabled=False)], id="only-disabled-rules-match"),
    ],
)
def test_without_a_match_the_default_applies(rules: list[Rule]) -> None:
    assert first_match(rules, facts()) is None
    decision = decide(rules, facts(), default_department="qc", current_priority="high")
    assert decision == Decision(department="qc", priority="high", tags=[], rule_id="")


@pytest.mark.parametrize(
    ("then", "expected"),
    [
        pytest.param(Actions(department="qc"), ("qc", "normal", []), id="department-only-keeps-priority"),
        pytest.param(Actions(priority="urgent"), ("ops", "urgent", []), id="priority-only-keeps-default-department"),
        pytest.param(Actions(tags=["zip"]), ("ops", "normal", ["zip"]), id="tags-only-keeps-both"),
        pytest.param(Actions(priority="low"), ("ops", "low", []), id="priority-is-set-as-given-even-lower"),
        pytest.param(
            Actions(department="cs", priority="high", tags=["a", "b"]), ("cs", "high", ["a", "b"]), id="all-actions"
        ),
    ],
)
def test_a_matching_rules_actions_apply_and_unset_ones_keep_the_default(
    then: Actions, expected: tuple[str, str, list[str]]
) -> None:
    decision = decide([rule("r1", then=then)], facts(), default_department="ops", current_priority="normal")
    assert (decision.department, decision.priority, decision.tags) == expected
    assert decision.rule_id == "r1"


def test_decision_tags_are_a_copy_of_the_rules() -> None:
    rules = [rule(then=Actions(tags=["zip"]))]
    decide(rules, facts(), default_department="ops", current_priority="normal").tags.append("changed")
    assert rules[0].then.tags == ["zip"]


VIP_FIRST = [
    rule("vip", customer_levels=["vip"], then=Actions(priority="urgent", tags=["vip"])),
    rule("quality", types=["quality"], then=Actions(department="qc")),
]


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        pytest.param("vip", Decision("qc", "urgent", ["vip"], "vip"), id="vip-customer-gets-urgent"),
        pytest.param("regular", Decision("qc", "normal", [], "quality"), id="regular-customer-falls-through"),
        pytest.param("", Decision("qc", "normal", [], "quality"), id="unknown-customer-falls-through"),
    ],
)
def test_vip_rule_raises_priority_only_for_vip_customers(level: str, expected: Decision) -> None:
    decision = decide(VIP_FIRST, facts(customer_level=level), default_department="qc", current_priority="normal")
    assert decision == expected


# --- Validation -----------------------------------------------------------------------------

VALID: dict[str, Any] = {"id": "r1", "name": "质量问题", "then": {"department": "qc"}}


def one(**changes: Any) -> list[dict[str, Any]]:
    """A rule set of one valid rule with ``changes``."""
    return [{**VALID, **changes}]


def without(key: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in VALID.items() if k != key}]


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        pytest.param({"rules": []}, "rules", "invalid_rules", id="not-a-list"),
        pytest.param(None, "rules", "invalid_rules", id="null"),
        pytest.param([VALID, "r2"], "rules[1]", "invalid_rules", id="rule-not-an-object"),
        pytest.param([VALID] * 201, "rules", "too_long", id="more-than-200-rules"),
        pytest.param(one(priority="high"), "rules[0].priority", "unknown_field", id="unknown-rule-field"),
        pytest.param(one(when={"store": ["SH001"]}), "rules[0].when.store", "unknown_field", id="unknown-condition"),
        pytest.param(
            one(then={"department": "qc", "assignee": "wang"}),
            "rules[0].then.assignee",
            "unknown_field",
            id="unknown-action",
        ),
        pytest.param(without("id"), "rules[0].id", "required", id="missing-id"),
        pytest.param(without("name"), "rules[0].name", "required", id="missing-name"),
        pytest.param(without("then"), "rules[0].then", "required", id="missing-then"),
        pytest.param(one(then={"department": 7}), "rules[0].then.department", "invalid_type", id="department-not-text"),
        pytest.param(one(enabled="yes"), "rules[0].enabled", "invalid_type", id="enabled-not-a-bool"),
        pytest.param(one(when=["quality"]), "rules[0].when", "invalid_type", id="when-not-an-object"),
        pytest.param(
            one(when={"keywords": ["退款", 3]}), "rules[0].when.keywords[1]", "invalid_type", id="keyword-not-text"
        ),
        pytest.param(one(id=""), "rules[0].id", "required", id="empty-id"),
        pytest.param(one(id="Quality"), "rules[0].id", "invalid_code", id="id-with-capitals"),
        pytest.param(one(id="vip rule"), "rules[0].id", "invalid_code", id="id-with-space"),
        pytest.param(one(id="质量"), "rules[0].id", "invalid_code", id="id-not-ascii"),
        pytest.param(one(id="a" * 41), "rules[0].id", "invalid_code", id="id-over-40-chars"),
        pytest.param([VALID, {**VALID, "name": "other"}], "rules[1].id", "duplicate_rule", id="two-rules-one-id"),
        pytest.param(one(name=""), "rules[0].name", "required", id="empty-name"),
        pytest.param(one(name="   "), "rules[0].name", "required", id="blank-name"),
        pytest.param(one(name="名" * 81), "rules[0].name", "too_long", id="name-over-80-chars"),
        pytest.param(one(then={}), "rules[0].then", "required", id="no-action"),
        pytest.param(one(then={"department": "", "tags": []}), "rules[0].then", "required", id="only-empty-actions"),
        pytest.param(
            one(then={"department": "legal"}), "rules[0].then.department", "unknown_department", id="unknown-department"
        ),
        pytest.param(
            one(when={"types": ["quality", "refund"]}),
            "rules[0].when.types[1]",
            "unknown_ticket_type",
            id="unknown-ticket-type",
        ),
        pytest.param(
            one(then={"priority": "critical"}), "rules[0].then.priority", "invalid_choice", id="unknown-priority"
        ),
        pytest.param(
            one(when={"keywords": ["退" * 41]}), "rules[0].when.keywords[0]", "too_long", id="keyword-over-40-chars"
        ),
        pytest.param(one(when={"keywords": [""]}), "rules[0].when.keywords[0]", "required", id="empty-keyword"),
        pytest.param(one(when={"stores": ["SH001", " "]}), "rules[0].when.stores[1]", "required", id="blank-code"),
        pytest.param(
            one(when={"stores": [f"S{n}" for n in range(51)]}),
            "rules[0].when.stores",
            "too_long",
            id="more-than-50-values-in-a-condition",
        ),
        pytest.param(one(then={"tags": ["vip", ""]}), "rules[0].then.tags[1]", "required", id="empty-tag"),
        pytest.param(one(then={"tags": ["t" * 41]}), "rules[0].then.tags[0]", "too_long", id="tag-over-40-chars"),
        pytest.param(
            [VALID, {**VALID, "id": "r2"}, {**VALID, "id": "r3", "then": {"department": "legal"}}],
            "rules[2].then.department",
            "unknown_department",
            id="path-names-the-rule-index",
        ),
    ],
)
def test_parse_rules_refuses(data: object, field: str, code: str) -> None:
    with pytest.raises(InvalidField) as caught:
        parse(data)
    assert (caught.value.field, caught.value.code) == (field, code)


@pytest.mark.parametrize(
    ("data", "params"),
    [
        pytest.param([VALID, VALID], {"value": "r1", "first": "rules[0]"}, id="duplicate-names-the-first"),
        pytest.param([VALID] * 201, {"limit": 200, "count": 201}, id="too-many-rules-gives-limit-and-count"),
        pytest.param(one(name="名" * 81), {"limit": 80}, id="too-long-gives-limit"),
        pytest.param(one(then={"department": "legal"}), {"value": "legal"}, id="unknown-department-gives-value"),
        pytest.param(
            one(then={"priority": "p1"}),
            {"value": "p1", "choices": "low, normal, high, urgent"},
            id="invalid-choice-gives-choices",
        ),
        pytest.param(one(color="red"), {"name": "color"}, id="unknown-field-gives-its-name"),
        pytest.param(one(enabled=1), {"detail": "Expected `bool`, got `int`"}, id="invalid-type-gives-msgspec-detail"),
    ],
)
def test_parse_rules_errors_carry_params_for_their_text(data: object, params: dict[str, object]) -> None:
    with pytest.raises(InvalidField) as caught:
        parse(data)
    assert caught.value.params == params


def test_parse_rules_accepts_values_at_their_limits() -> None:
    data = [
        {
            "id": "a" * 40,
            "name": "名" * 80,
            "when": {"stores": [f"S{n}" for n in range(50)], "keywords": ["退" * 40]},
            "then": {"tags": ["t" * 40]},
        },
        *({**VALID, "id": f"r{n}"} for n in range(199)),
    ]
    assert len(parse(data)) == 200


def test_parse_rules_accepts_an_empty_rule_set() -> None:
    assert parse([]) == []


REALISTIC: list[dict[str, Any]] = [
    {
        "id": "vip-complaint",
        "name": "VIP 顾客投诉",
        "when": {"types": ["complaint"], "customer_levels": ["vip"]},
        "then": {"department": "cs", "priority": "urgent", "tags": ["vip"]},
    },
    {
        "id": "refund",
        "name": "退款 / refund",
        "when": {"keywords": ["退款", "refund"]},
        "then": {"department": "finance"},
    },
    {
        "id": "south-equipment",
        "name": "华南设备故障",
        "when": {"regions": ["south"], "types": ["equipment"]},
        "then": {"department": "it"},
    },
    {"id": "quality", "name": "质量反馈", "when": {"types": ["quality"]}, "then": {"department": "qc"}},
    {
        "id": "old-wechat",
        "name": "旧规则 (停用)",
        "enabled": False,
        "when": {"channels": ["wechat"]},
        "then": {"department": "ops"},
    },
]


def test_parse_rules_accepts_a_realistic_rule_set() -> None:
    rules = parse(REALISTIC)
    assert [r.id for r in rules] == ["vip-complaint", "refund", "south-equipment", "quality", "old-wechat"]
    assert rules[0] == Rule(
        id="vip-complaint",
        name="VIP 顾客投诉",
        when=Conditions(types=["complaint"], customer_levels=["vip"]),
        then=Actions(department="cs", priority="urgent", tags=["vip"]),
    )
    assert rules[4].enabled is False


@pytest.mark.parametrize(
    ("ticket", "expected"),
    [
        pytest.param(
            {"type": "complaint", "customer_level": "vip"},
            Decision("cs", "urgent", ["vip"], "vip-complaint"),
            id="vip-complaint-to-cs-urgent",
        ),
        pytest.param(
            {"type": "complaint", "customer_level": "regular", "description": "顾客要求退款"},
            Decision("finance", "normal", [], "refund"),
            id="refund-keyword-to-finance",
        ),
        pytest.param(
            {"type": "after_sales", "title": "REFUND for order 42"},
            Decision("finance", "normal", [], "refund"),
            id="latin-refund-keyword-to-finance",
        ),
        pytest.param(
            {"type": "equipment", "region": "south", "title": "收银机坏了"},
            Decision("it", "normal", [], "south-equipment"),
            id="south-equipment-to-it",
        ),
        pytest.param(
            {"type": "equipment", "region": "east", "title": "收银机坏了"},
            Decision("default", "normal", [], ""),
            id="east-equipment-gets-default",
        ),
        pytest.param({"type": "quality"}, Decision("qc", "normal", [], "quality"), id="quality-to-qc"),
        pytest.param(
            {"type": "display", "channel": "wechat", "title": "陈列"},
            Decision("default", "normal", [], ""),
            id="disabled-wechat-rule-not-applied",
        ),
    ],
)
def test_realistic_rule_set_routes(ticket: dict[str, str], expected: Decision) -> None:
    decision = decide(parse(REALISTIC), facts(**ticket), default_department="default", current_priority="normal")
    assert decision == expected


# --- File -----------------------------------------------------------------------------------


def test_dump_then_load_gives_the_same_rules() -> None:
    rules = parse(REALISTIC)
    raw = dump_rules(rules)
    assert load_rules_file(raw, departments=DEPARTMENTS, ticket_types=TICKET_TYPES) == rules


def test_dump_writes_chinese_as_utf8_not_escapes() -> None:
    raw = dump_rules(parse(REALISTIC))
    assert "华南设备故障".encode() in raw
    assert b"\\u" not in raw


def test_dump_is_indented_by_two_and_leaves_defaults_out() -> None:
    text = dump_rules([Rule(id="r1", name="质量", then=Actions(department="qc"))]).decode()
    assert (
        text == '[\n  {\n    "id": "r1",\n    "name": "质量",\n    "then": {\n      "department": "qc"\n    }\n  }\n]\n'
    )


def test_load_accepts_a_utf8_bom() -> None:
    raw = "\ufeff".encode() + dump_rules(parse(REALISTIC))
    assert load_rules_file(raw, departments=DEPARTMENTS, ticket_types=TICKET_TYPES) == parse(REALISTIC)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'[{"id": "r1",', id="truncated"),
        pytest.param(b"", id="empty-file"),
        pytest.param(b"[] trailing", id="trailing-text"),
        pytest.param(b'[{"id": "\xff"}]', id="not-utf8"),
    ],
)
def test_load_refuses_a_file_that_is_not_json(raw: bytes) -> None:
    with pytest.raises(InvalidField) as caught:
        load_rules_file(raw, departments=DEPARTMENTS, ticket_types=TICKET_TYPES)
    assert (caught.value.field, caught.value.code) == ("rules", "invalid_json")
    assert caught.value.params["detail"]


def test_load_validates_the_rules_it_reads() -> None:
    raw = b'[{"id": "r1", "name": "x", "then": {"department": "legal"}}]'
    with pytest.raises(InvalidField) as caught:
        load_rules_file(raw, departments=DEPARTMENTS, ticket_types=TICKET_TYPES)
    assert (caught.value.field, caught.value.code) == ("rules[0].then.department", "unknown_department")
