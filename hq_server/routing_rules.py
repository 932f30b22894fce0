"""Ticket routing rules: the department, priority and tags a ticket gets when it reaches HQ.

HQ routes every ticket as it arrives (from a store's sync, from a multi-channel intake, or made
at HQ) with an ordered list of :class:`Rule`: the first enabled rule whose conditions all hold
wins, and its actions apply (:func:`decide`). When no rule matches, the ticket type's default
department applies, the priority stays and no tags are added.

Rules are data: admins edit them through the API and import/export them as a JSON file
(:func:`dump_rules`, :func:`load_rules_file`). :func:`parse_rules` is the one gate every rule set
passes: it raises :class:`InvalidField` with a machine ``code`` and the path of the value at fault
(``rules[2].then.department``). No SQL and no HTTP here.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Collection, Sequence

import msgspec

from hq_server.validation import field_error
from sync_protocol.errors import InvalidField
from sync_protocol.tickets import PRIORITIES, validate_text

#: Most rules in one rule set.
MAX_RULES = 200
#: Most values in one condition list (and tags in one rule).
MAX_VALUES = 50
MAX_NAME_LENGTH = 80
MAX_KEYWORD_LENGTH = 40
MAX_TAG_LENGTH = 40
#: A rule id: a short code.
RULE_ID = re.compile(r"[a-z0-9_-]{1,40}")


class Conditions(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """When a rule applies. An empty list means any value; every non-empty list must hold (AND);
    the values within one list are alternatives (OR).

    Codes compare exactly (case-sensitive). ``keywords`` hold when any of them occurs in the
    ticket's title or description, ignoring case.
    """

    types: list[str] = []
    #: ``store``, ``platform``, ``wechat``, ``wecom``, ``phone``, ``sms``, ``webchat``, ``email``...
    channels: list[str] = []
    #: Store codes.
    stores: list[str] = []
    #: Region codes.
    regions: list[str] = []
    #: ``vip``, ``gold``, ``regular``...
    customer_levels: list[str] = []
    product_categories: list[str] = []
    keywords: list[str] = []


class Actions(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """What a matching rule does; an empty value leaves that part of the ticket as it would be."""

    department: str = ""
    priority: str = ""
    tags: list[str] = []


class Rule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """One routing rule. ``kw_only`` because the required ``then`` follows fields with defaults."""

    id: str
    name: str
    enabled: bool = True
    when: Conditions = Conditions()
    then: Actions


class TicketFacts(msgspec.Struct, frozen=True):
    """What routing looks at in a ticket; ``""`` when the ticket does not say."""

    type: str
    channel: str
    store: str = ""
    region: str = ""
    customer_level: str = ""
    product_category: str = ""
    title: str = ""
    description: str = ""


class Decision(msgspec.Struct, frozen=True):
    """Where a ticket goes; ``rule_id`` is ``""`` when no rule matched and the default applied."""

    department: str
    priority: str
    tags: list[str]
    rule_id: str


# --- Matching -------------------------------------------------------------------------------


def matches(rule: Rule, facts: TicketFacts) -> bool:
    """Whether all of ``rule``'s conditions hold for ``facts`` (``enabled`` is not looked at)."""
    when = rule.when
    codes_hold = all(_among(value, allowed) for allowed, value in _code_conditions(when, facts))
    return codes_hold and _mentions(when.keywords, facts)


def _code_conditions(when: Conditions, facts: TicketFacts) -> tuple[tuple[list[str], str], ...]:
    """Each code condition list with the ticket's value it is checked against."""
    return (
        (when.types, facts.type),
        (when.channels, facts.channel),
        (when.stores, facts.store),
        (when.regions, facts.region),
        (when.customer_levels, facts.customer_level),
        (when.product_categories, facts.product_category),
    )


def _among(value: str, allowed: list[str]) -> bool:
    return not allowed or value in allowed


def _mentions(keywords: list[str], facts: TicketFacts) -> bool:
    """Any keyword in the title or the description, ignoring case (``casefold``: ß = ss)."""
    if not keywords:
        return True
    texts = (facts.title.casefold(), facts.description.casefold())
    return any(keyword.casefold() in text for keyword in keywords for text in texts)


def first_match(rules: Sequence[Rule], facts: TicketFacts) -> Rule | None:
    """The first enabled rule, in list order, that matches ``facts``."""
    return next((rule for rule in rules if rule.enabled and matches(rule, facts)), None)


def decide(rules: Sequence[Rule], facts: TicketFacts, *, default_department: str, current_priority: str) -> Decision:
    """Route a ticket: the first matching rule's actions, or the default.

    A rule without a department action keeps ``default_department``; one without a priority
    action keeps ``current_priority``; a priority action is set as given (it may lower it).
    """
    rule = first_match(rules, facts)
    if rule is None:
        return Decision(department=default_department, priority=current_priority, tags=[], rule_id="")
    then = rule.then
    return Decision(
        department=then.department or default_department,
        priority=then.priority or current_priority,
        tags=list(then.tags),
        rule_id=rule.id,
    )


# --- Validation -----------------------------------------------------------------------------


def parse_rules(data: object, *, departments: Collection[str], ticket_types: Collection[str]) -> list[Rule]:
    """Validate a JSON-like rule set (a list of rule objects) against HQ's departments and ticket
    types. Raises :class:`InvalidField` naming the first value at fault; changes no value."""
    rules = _decode(data)
    first_index: dict[str, int] = {}
    for index, rule in enumerate(rules):
        at = f"rules[{index}]"
        _check_id(f"{at}.id", rule.id, first_index)
        first_index[rule.id] = index
        _check_name(f"{at}.name", rule.name)
        _check_conditions(f"{at}.when", rule.when, ticket_types)
        _check_actions(f"{at}.then", rule.then, departments)
    return rules


def _decode(data: object) -> list[Rule]:
    """The shape: a list of at most :data:`MAX_RULES` objects, each one a :class:`Rule`."""
    if not isinstance(data, list):
        raise InvalidField("rules", "rules must be a list of rules", code="invalid_rules")
    if len(data) > MAX_RULES:
        raise InvalidField("rules", f"more than {MAX_RULES} rules", code="too_long", limit=MAX_RULES, count=len(data))
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise InvalidField(f"rules[{index}]", "a rule must be an object", code="invalid_rules")
    try:
        return msgspec.convert(data, list[Rule])
    except msgspec.ValidationError as exc:
        raise field_error(exc, root="rules") from exc


def _check_id(field: str, rule_id: str, first_index: dict[str, int]) -> None:
    validate_text(field, rule_id, required=True)
    if not RULE_ID.fullmatch(rule_id):
        raise InvalidField(
            field, f"{field} must match {RULE_ID.pattern}", code="invalid_code", value=rule_id, pattern=RULE_ID.pattern
        )
    if rule_id in first_index:
        first = f"rules[{first_index[rule_id]}]"
        raise InvalidField(
            field, f"rule id {rule_id} is already used by {first}", code="duplicate_rule", value=rule_id, first=first
        )


def _check_name(field: str, name: str) -> None:
    validate_text(field, name, required=True)
    _check_length(field, name, MAX_NAME_LENGTH)


def _check_conditions(at: str, when: Conditions, ticket_types: Collection[str]) -> None:
    for name in when.__struct_fields__:
        limit = MAX_KEYWORD_LENGTH if name == "keywords" else None
        _check_values(f"{at}.{name}", getattr(when, name), limit)
    for index, code in enumerate(when.types):
        if code not in ticket_types:
            field = f"{at}.types[{index}]"
            raise InvalidField(field, f"unknown ticket type {code}", code="unknown_ticket_type", value=code)


def _check_actions(at: str, then: Actions, departments: Collection[str]) -> None:
    if not (then.department or then.priority or then.tags):
        raise InvalidField(at, "a rule needs at least one action", code="required")
    if then.department and then.department not in departments:
        field = f"{at}.department"
        raise InvalidField(
            field, f"unknown department {then.department}", code="unknown_department", value=then.department
        )
    if then.priority and then.priority not in PRIORITIES:
        field = f"{at}.priority"
        choices = ", ".join(PRIORITIES)
        raise InvalidField(
            field, f"priority must be one of {choices}", code="invalid_choice", value=then.priority, choices=choices
        )
    _check_values(f"{at}.tags", then.tags, MAX_TAG_LENGTH)


def _check_values(field: str, values: list[str], max_length: int | None) -> None:
    """A list of codes, keywords or tags: at most :data:`MAX_VALUES`, none blank (a blank keyword
    would match every ticket), each at most ``max_length`` characters when given."""
    if len(values) > MAX_VALUES:
        raise InvalidField(
            field, f"{field} has more than {MAX_VALUES} values", code="too_long", limit=MAX_VALUES, count=len(values)
        )
    for index, value in enumerate(values):
        item = f"{field}[{index}]"
        validate_text(item, value, required=True)
        if max_length is not None:
            _check_length(item, value, max_length)


def _check_length(field: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise InvalidField(field, f"{field} is longer than {limit} characters", code="too_long", limit=limit)


# --- File -----------------------------------------------------------------------------------


def dump_rules(rules: Sequence[Rule]) -> bytes:
    """A rule set as a JSON file: indented by 2, UTF-8 with non-ASCII text as is, defaults left out."""
    return msgspec.json.format(msgspec.json.encode(list(rules)), indent=2) + b"\n"


def load_rules_file(raw: bytes, *, departments: Collection[str], ticket_types: Collection[str]) -> list[Rule]:
    """Read a rules file written by :func:`dump_rules` (or by hand; a UTF-8 BOM is allowed)."""
    try:
        data: object = msgspec.json.decode(raw.removeprefix(codecs.BOM_UTF8))
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InvalidField("rules", "the rules file is not valid JSON", code="invalid_json", detail=str(exc)) from exc
    return parse_rules(data, departments=departments, ticket_types=ticket_types)
