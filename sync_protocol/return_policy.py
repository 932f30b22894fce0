"""The return policy and the decision on one return (pure: no I/O, no clock).

HQ sets one policy for the whole chain (:class:`ReturnPolicy`) and syncs it to the stores. The store
runs :func:`decide` offline as a pre-check while the customer is at the till; HQ runs the same
function to make the decision. :func:`explain` turns a decision into one sentence a clerk can read
out to the customer: what is decided, why, and (for a refusal) what is still possible.

Days are calendar days in the chain's time zone: the purchase is on day 0 (the local date of
``paid_at``), and a return on the local date 7 days later is on day 7, whatever the hour.

The rules, in the order :func:`decide` applies them (the first that applies decides):

1. an unknown reason is refused (``unknown_reason``);
2. a return dated on a day before the purchase is refused (``returned_before_purchase``);
3. a kind the chain does not offer is refused (``refund_not_offered``, ``exchange_not_offered``);
4. a quality problem is allowed up to ``quality_days`` inclusive, whatever the category and wear
   (``quality_within_window``), and refused after (``quality_window_passed``);
5. any other reason: a category in ``excluded_categories`` is refused (``excluded_category``);
6. worn goods are refused when ``require_unworn`` (``worn_goods``);
7. up to ``no_reason_days`` inclusive it is allowed (``within_no_reason_window``);
8. an exchange is allowed up to ``exchange_days`` inclusive (``within_exchange_window``) and refused
   after (``exchange_window_passed``); any other return is refused (``no_reason_window_passed``).

A refusal names what is still possible (:attr:`Decision.alternative`): the other kind when the
chain offers it and the rules allow it, else a quality return while the quality window is open.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from sync_protocol.errors import InvalidField
from sync_protocol.texts import DEFAULT_LANG, text

#: Why the customer brings the goods back, as a clerk picks it: code -> (zh, en).
REASON_LABELS: dict[str, tuple[str, str]] = {
    "size": ("尺码不合适", "wrong size"),
    "fabric": ("面料", "fabric"),
    "quality": ("质量问题", "quality problem"),
    "colour": ("颜色", "colour"),
    "other": ("其他", "other"),
}
#: The reason codes, in the order a clerk is offered them.
REASONS: tuple[str, ...] = tuple(REASON_LABELS)
#: Reasons that are a quality problem: returned free within ``quality_days``.
QUALITY_REASONS = frozenset({"quality"})

ReturnKind = Literal["refund", "exchange"]
KINDS: tuple[str, ...] = ("refund", "exchange")
#: What the customer asks for: kind -> (zh, en), in the form the sentences use.
KIND_LABELS: dict[str, tuple[str, str]] = {
    "refund": ("退货", "a refund"),
    "exchange": ("换货", "an exchange"),
}
#: What the chain offers (``both``, ``refund`` or ``exchange``) -> (zh, en), in the form the
#: sentences use: "7 天无理由退换期", "can be returned or exchanged".
OFFERED_LABELS: dict[str, tuple[str, str]] = {
    "both": ("退换", "returned or exchanged"),
    "refund": ("退货", "returned"),
    "exchange": ("换货", "exchanged"),
}

#: The machine codes of a decision; the text of each is ``TEXTS["return_" + code]``.
ALLOWED_CODES: tuple[str, ...] = ("within_no_reason_window", "within_exchange_window", "quality_within_window")
REFUSED_CODES: tuple[str, ...] = (
    "unknown_reason",
    "returned_before_purchase",
    "quality_window_passed",
    "excluded_category",
    "worn_goods",
    "no_reason_window_passed",
    "exchange_window_passed",
    "refund_not_offered",
    "exchange_not_offered",
)
DECISION_CODES: tuple[str, ...] = (*ALLOWED_CODES, *REFUSED_CODES)
#: What a refusal says is still possible: the other kind, or a return for a quality problem.
ALTERNATIVES: tuple[str, ...] = ("refund", "exchange", "quality")

#: Longest window a policy may set (ten years).
MAX_DAYS = 3650
#: Longest category code (as in the product catalogue) and most excluded categories.
MAX_CATEGORY_LEN = 40
MAX_EXCLUDED_CATEGORIES = 200

_ERROR_AT = re.compile(r" - at `(?:key` in `)?\$\.?(?P<path>[^`]*)`$")


class ReturnPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """The chain's return policy. Check one with :func:`parse_policy`.

    Unknown fields are ignored when decoding, so a store keeps working when a newer HQ adds one;
    :func:`parse_policy` (an admin's input) refuses them.
    """

    #: Returns without a quality problem are allowed up to this day (inclusive).
    no_reason_days: int = 7
    #: Returns for a quality problem are free up to this day (inclusive), whatever the category.
    quality_days: int = 90
    #: Categories (product catalogue codes) taken back only for a quality problem, e.g. underwear.
    excluded_categories: list[str] = []
    #: Returns without a quality problem only for unworn goods.
    require_unworn: bool = True
    allow_refund: bool = True
    allow_exchange: bool = True
    #: Exchanges without a quality problem are allowed up to this day (inclusive); ``None``: the
    #: same window as refunds (``no_reason_days``). At least ``no_reason_days``, at most ``quality_days``.
    exchange_days: int | None = None
    #: The time zone in which days are counted.
    tz: str = "Asia/Shanghai"


class ReturnCase(msgspec.Struct, frozen=True, kw_only=True):
    """One item a customer brings back. Times are ms since the epoch."""

    paid_at: int
    #: The product's category code in the catalogue.
    category: str
    #: One of :data:`REASONS`.
    reason: str
    unworn: bool
    kind: ReturnKind
    returned_at: int


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of :func:`decide`; :func:`explain` renders it."""

    allowed: bool
    #: One of :data:`DECISION_CODES`; stable.
    code: str
    #: Calendar days from the purchase (day 0) to the return; negative when dated before it.
    day: int
    #: For a refusal, what is still possible: one of :data:`ALTERNATIVES`, or ``""``.
    alternative: str = ""
    #: Values for the text (plain JSON values, so a decision syncs and explains itself on the other
    #: side): ``kind``, ``reason``, ``category``, the windows ``no_reason_days``, ``quality_days``
    #: and ``exchange_days`` (the exchange window in force: ``no_reason_days`` when the policy sets
    #: none), and ``offered`` (``both``, ``refund`` or ``exchange``).
    params: dict[str, object] = {}


def parse_policy(data: object) -> ReturnPolicy:
    """A checked :class:`ReturnPolicy` from JSON-like data (or a :class:`ReturnPolicy`).

    Raises :class:`InvalidField` naming the field for an unknown field (``unknown_field``), a value
    of the wrong type (``invalid_type``), a number of days outside 0 .. :data:`MAX_DAYS`
    (``out_of_range``), ``quality_days`` shorter than ``no_reason_days`` or ``exchange_days``
    outside ``no_reason_days`` .. ``quality_days`` (``return_window_order``), an unknown time zone
    (``invalid_choice``), a blank category (``required``) or one longer than
    :data:`MAX_CATEGORY_LEN` (``too_long``), and a policy offering neither refunds nor exchanges
    (``return_nothing_offered``). Categories come back stripped.
    """
    if isinstance(data, ReturnPolicy):
        policy = data
    else:
        if isinstance(data, dict):
            for key in data:
                if key not in ReturnPolicy.__struct_fields__:
                    raise InvalidField(str(key), f"unknown field {key!r}", code="unknown_field")
        try:
            policy = msgspec.convert(data, ReturnPolicy)
        except msgspec.ValidationError as exc:
            message = str(exc)
            at = _ERROR_AT.search(message)
            field = at["path"] if at and at["path"] else "return_policy"
            raise InvalidField(field, message, code="invalid_type", detail=message) from None
    for field in ("no_reason_days", "quality_days", "exchange_days"):
        days = getattr(policy, field)
        if days is not None and not 0 <= days <= MAX_DAYS:
            raise InvalidField(field, f"{field} is out of range", code="out_of_range", minimum=0, maximum=MAX_DAYS)
    if policy.quality_days < policy.no_reason_days:
        raise InvalidField(
            "quality_days",
            "quality_days is shorter than no_reason_days",
            code="return_window_order",
            minimum=policy.no_reason_days,
            maximum=MAX_DAYS,
        )
    if policy.exchange_days is not None and not policy.no_reason_days <= policy.exchange_days <= policy.quality_days:
        raise InvalidField(
            "exchange_days",
            "exchange_days must be from no_reason_days to quality_days",
            code="return_window_order",
            minimum=policy.no_reason_days,
            maximum=policy.quality_days,
        )
    _zone(policy.tz)
    if len(policy.excluded_categories) > MAX_EXCLUDED_CATEGORIES:
        raise InvalidField("excluded_categories", "too many categories", code="too_long", limit=MAX_EXCLUDED_CATEGORIES)
    categories = [category.strip() for category in policy.excluded_categories]
    for index, category in enumerate(categories):
        field = f"excluded_categories[{index}]"
        if not category:
            raise InvalidField(field, "a category cannot be blank", code="required")
        if len(category) > MAX_CATEGORY_LEN:
            raise InvalidField(field, "the category is too long", code="too_long", limit=MAX_CATEGORY_LEN)
    if not (policy.allow_refund or policy.allow_exchange):
        raise InvalidField("allow_refund", "neither refunds nor exchanges are offered", code="return_nothing_offered")
    if categories != policy.excluded_categories:
        policy = msgspec.structs.replace(policy, excluded_categories=categories)
    return policy


def day_number(paid_at: int, returned_at: int, tz: str = "Asia/Shanghai") -> int:
    """Calendar days in ``tz`` from the purchase (day 0) to the return; negative before it."""
    zone = _zone(tz)
    bought = datetime.fromtimestamp(paid_at // 1000, zone).date()
    returned = datetime.fromtimestamp(returned_at // 1000, zone).date()
    return (returned - bought).days


def decide(policy: ReturnPolicy, case: ReturnCase) -> Decision:
    """Whether ``policy`` allows ``case``, with the rule that decided (see the module's docstring).

    ``policy`` should come from :func:`parse_policy`; an unknown time zone raises :class:`InvalidField`.
    """
    day = day_number(case.paid_at, case.returned_at, policy.tz)
    params: dict[str, object] = {
        "kind": case.kind,
        "reason": case.reason,
        "category": case.category,
        "no_reason_days": policy.no_reason_days,
        "exchange_days": _exchange_window(policy),
        "quality_days": policy.quality_days,
        "offered": _offered(policy),
    }
    if case.reason not in REASON_LABELS:
        return Decision(allowed=False, code="unknown_reason", day=day, params=params)
    if day < 0:
        return Decision(allowed=False, code="returned_before_purchase", day=day, params=params)
    if _offers(policy, case.kind):
        allowed, code = _rules(policy, case, case.kind, day)
    else:
        allowed, code = False, f"{case.kind}_not_offered"
    alternative = "" if allowed else _alternative(policy, case, day)
    return Decision(allowed=allowed, code=code, day=day, alternative=alternative, params=params)


def explain(decision: Decision, lang: str = DEFAULT_LANG) -> str:
    """One sentence a clerk can read out to the customer, in ``lang`` (``zh`` or ``en``)."""
    en = lang == "en"
    values: dict[str, object] = dict(decision.params)
    values["day"] = decision.day
    values["when"] = text(
        "return_when_purchase_day" if decision.day == 0 else "return_when_day", lang, day=decision.day
    )
    values["kind_label"] = _label(KIND_LABELS, values.get("kind"), en)
    values["offered_label"] = _label(OFFERED_LABELS, values.get("offered"), en)
    values["reasons"] = (", " if en else "、").join(labels[1 if en else 0] for labels in REASON_LABELS.values())
    values["hint"] = text(f"return_hint_{decision.alternative}", lang, **values) if decision.alternative else ""
    return text(f"return_{decision.code}", lang, **values)


def summary(policy: ReturnPolicy, lang: str = DEFAULT_LANG) -> str:
    """A sentence or two a clerk can read out: the windows, and what is excluded."""
    en = lang == "en"
    offered_label = _label(OFFERED_LABELS, _offered(policy), en)
    goods = ("Unworn goods" if en else "未穿着的商品") if policy.require_unworn else ("Goods" if en else "商品")
    parts = [
        text(
            "policy_summary_windows",
            lang,
            no_reason_days=policy.no_reason_days,
            quality_days=policy.quality_days,
            goods=goods,
            offered_label=offered_label,
        )
    ]
    if policy.allow_exchange and policy.exchange_days is not None and policy.exchange_days > policy.no_reason_days:
        parts.append(text("policy_summary_exchange", lang, exchange_days=policy.exchange_days))
    if policy.excluded_categories:
        categories = (", " if en else "、").join(policy.excluded_categories)
        parts.append(text("policy_summary_excluded", lang, categories=categories))
    return ("" if not en else " ").join(parts)


def _rules(policy: ReturnPolicy, case: ReturnCase, kind: str, day: int) -> tuple[bool, str]:
    """Rules 4 to 8 for a return of ``kind`` on ``day`` (0 or later): (allowed, code)."""
    if case.reason in QUALITY_REASONS:
        if day <= policy.quality_days:
            return True, "quality_within_window"
        return False, "quality_window_passed"
    if _category_key(case.category) in {_category_key(c) for c in policy.excluded_categories}:
        return False, "excluded_category"
    if policy.require_unworn and not case.unworn:
        return False, "worn_goods"
    if day <= policy.no_reason_days:
        return True, "within_no_reason_window"
    if kind == "exchange" and _exchange_window(policy) > policy.no_reason_days:
        if day <= _exchange_window(policy):
            return True, "within_exchange_window"
        return False, "exchange_window_passed"
    return False, "no_reason_window_passed"


def _alternative(policy: ReturnPolicy, case: ReturnCase, day: int) -> str:
    """What is still possible when ``case`` is refused: the other kind, or a quality return."""
    other = "exchange" if case.kind == "refund" else "refund"
    if _offers(policy, other) and _rules(policy, case, other, day)[0]:
        return other
    if case.reason not in QUALITY_REASONS and day <= policy.quality_days and _offered(policy):
        return "quality"
    return ""


def _exchange_window(policy: ReturnPolicy) -> int:
    return policy.no_reason_days if policy.exchange_days is None else policy.exchange_days


def _offers(policy: ReturnPolicy, kind: str) -> bool:
    return policy.allow_refund if kind == "refund" else policy.allow_exchange


def _offered(policy: ReturnPolicy) -> str:
    """``both``, ``refund`` or ``exchange``; ``""`` when the (unchecked) policy offers nothing."""
    if policy.allow_refund and policy.allow_exchange:
        return "both"
    if policy.allow_refund:
        return "refund"
    return "exchange" if policy.allow_exchange else ""


def _category_key(category: str) -> str:
    return category.strip().casefold()


def _label(labels: dict[str, tuple[str, str]], key: object, en: bool) -> str:
    pair = labels.get(key) if isinstance(key, str) else None
    if pair is None:
        return str(key or "")
    return pair[1] if en else pair[0]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        raise InvalidField("tz", f"unknown time zone {name!r}", code="invalid_choice", value=name) from None
