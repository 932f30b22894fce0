"""Returns and exchanges across stores: the record HQ keeps and the rules both sides check.

A customer brings goods back to any store, with the order looked up by phone or number. The clerk
picks lines and quantities, a reason, whether each item is unworn, photos for a quality problem,
refund or exchange, and how a refund is paid. The store checks the request against its copy of
the order and the chain's policy (:mod:`sync_protocol.return_policy`), takes the goods back into
its stock at once, prints the voucher and queues a ``return.create`` op (status ``pending``).

HQ decides, in push order: the same checks (:func:`check_request`), then no line returned beyond
what was bought across all stores (:func:`over_returned`; the first return HQ applies wins), then
the policy per line (:func:`decide_lines`). An accepted return adds to the order's returned units,
counts the movements, opens one refund task for finance, and for an exchange issues the new items
as a sale. A refused one (its goods already at the store) counts nothing, opens one finance
exception ticket whatever the reason, and tells the store why.

Amounts are integer cents. An exchange refunds what the returned items cost beyond the new ones
(``refund_cents``) or has the customer pay the difference at the till (``payable_cents``).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from sync_protocol.errors import InvalidField
from sync_protocol.orders import OrderLine, OrderState, yuan
from sync_protocol.return_policy import (
    KINDS,
    QUALITY_REASONS,
    REASON_LABELS,
    Decision,
    ReturnCase,
    ReturnPolicy,
    decide,
)

#: How a refund is paid: code -> (zh, en).
REFUND_METHOD_LABELS: dict[str, tuple[str, str]] = {
    "original": ("原路退回", "to the original payment"),
    "cash": ("现金", "cash"),
    "wechat": ("微信", "WeChat Pay"),
    "alipay": ("支付宝", "Alipay"),
    "card": ("银行卡", "bank card"),
}
REFUND_METHODS: tuple[str, ...] = tuple(REFUND_METHOD_LABELS)

#: ``pending``: taken in at the store, HQ has not decided; then ``accepted`` or ``rejected``.
RETURN_STATUS_LABELS: dict[str, tuple[str, str]] = {
    "pending": ("待总部确认", "awaiting HQ"),
    "accepted": ("已受理", "accepted"),
    "rejected": ("总部已拒绝", "rejected by HQ"),
}
RETURN_KIND_LABELS: dict[str, tuple[str, str]] = {"refund": ("退货退款", "refund"), "exchange": ("换货", "exchange")}

MAX_PHOTOS = 9
MAX_PHOTO_REF = 500


class ReturnedLine(msgspec.Struct, kw_only=True):
    """A line of the order brought back, with the order line's details and the policy's decision."""

    line_no: int
    sku: str
    product_code: str = ""
    name: str = ""
    category: str = ""
    colour: str = ""
    size: str = ""
    qty: int
    unit_price_cents: int
    unworn: bool = True
    move_id: str
    decision: Decision | None = None

    @property
    def amount_cents(self) -> int:
        return self.qty * self.unit_price_cents


class ExchangeItem(msgspec.Struct, kw_only=True):
    """An item an exchange hands out (a sale at the returning store)."""

    sku: str
    product_code: str = ""
    name: str = ""
    colour: str = ""
    size: str = ""
    qty: int
    unit_price_cents: int
    move_id: str

    @property
    def amount_cents(self) -> int:
        return self.qty * self.unit_price_cents


class ReturnState(msgspec.Struct, kw_only=True):
    """A return (entity ``return``, seen by the returning store)."""

    id: str
    number: str
    order_id: str
    order_number: str
    order_channel: str = ""
    #: The store that sold the order ("" for an online order).
    selling_store_id: str = ""
    paid_at: int = 0
    customer_phone: str = ""
    #: The store that took the goods back.
    store_id: str
    kind: str
    reason: str
    note: str = ""
    photos: list[str] = []
    method: str = "original"
    lines: list[ReturnedLine]
    exchange: list[ExchangeItem] = []
    returned_cents: int = 0
    exchange_cents: int = 0
    refund_cents: int = 0
    payable_cents: int = 0
    status: str = "pending"
    #: Why HQ refused it: a text code and the text in both languages.
    code: str = ""
    refusal_zh: str = ""
    refusal_en: str = ""
    #: HQ's tickets: the refund task and the exception (their numbers), and the exchange's sale.
    refund_ticket: str = ""
    exception_ticket: str = ""
    exchange_order: str = ""
    actor: str = ""
    #: When the customer brought the goods (the store's clock), and when HQ decided.
    at: int
    decided_at: int = 0
    hlc: str = ""
    #: The order as HQ holds it after an accepted return (its returned units), for the store's copy.
    order: OrderState | None = None
    #: Exchange items handed out below the price HQ expects (the returned line's price for the same
    #: product, else the catalogue's): (sku, price sent, price expected) for finance to check.
    price_checks: list[tuple[str, int, int]] = []

    def refusal(self, lang: str) -> str:
        return self.refusal_en if lang == "en" and self.refusal_en else self.refusal_zh


def returned_line(
    line: OrderLine, *, qty: int, unworn: bool, move_id: str, decision: Decision | None = None
) -> ReturnedLine:
    """``qty`` units of an order line brought back, with the line's details."""
    return ReturnedLine(
        line_no=line.line_no,
        sku=line.sku,
        product_code=line.product_code,
        name=line.name,
        category=line.category,
        colour=line.colour,
        size=line.size,
        qty=qty,
        unit_price_cents=line.unit_price_cents,
        unworn=unworn,
        move_id=move_id,
        decision=decision,
    )


def new_return(
    order: OrderState,
    *,
    return_id: str,
    number: str,
    store_id: str,
    kind: str,
    reason: str,
    lines: list[ReturnedLine],
    exchange: list[ExchangeItem],
    method: str,
    photos: list[str],
    note: str,
    actor: str,
    at: int,
) -> ReturnState:
    """A return of ``order`` as taken in (``pending``), with its amounts."""
    returned, handed, refund, payable = amounts(kind, lines, exchange)
    return ReturnState(
        id=return_id,
        number=number,
        order_id=order.id,
        order_number=order.number,
        order_channel=order.channel,
        selling_store_id=order.store_id,
        paid_at=order.paid_at,
        customer_phone=order.customer_phone,
        store_id=store_id,
        kind=kind,
        reason=reason,
        note=note,
        photos=photos,
        method=method,
        lines=lines,
        exchange=exchange,
        returned_cents=returned,
        exchange_cents=handed,
        refund_cents=refund,
        payable_cents=payable,
        actor=actor,
        at=at,
    )


def summary_json(state: ReturnState, lang: str) -> dict[str, str]:
    """A return's id, number, status, kind, reason and refund method, each code with its label."""
    return {
        "id": state.id,
        "number": state.number,
        "status": state.status,
        "status_label": label(RETURN_STATUS_LABELS, state.status, lang),
        "kind": state.kind,
        "kind_label": label(RETURN_KIND_LABELS, state.kind, lang),
        "reason": state.reason,
        "reason_label": label(REASON_LABELS, state.reason, lang),
        "method": state.method,
        "method_label": label(REFUND_METHOD_LABELS, state.method, lang),
    }


def amounts_json(state: ReturnState) -> dict[str, str]:
    """A return's amounts as people see them (yuan with two decimals)."""
    return {
        "returned": yuan(state.returned_cents),
        "exchange_amount": yuan(state.exchange_cents),
        "refund": yuan(state.refund_cents),
        "payable": yuan(state.payable_cents),
    }


def return_number(store_code: str, node_no: int, counter: int) -> str:
    """The voucher number of a return taken in at a store node: ``SH012-T000045`` (退 = T)."""
    if node_no <= 1:
        return f"{store_code}-T{counter:06d}"
    return f"{store_code}-{node_no}-T{counter:06d}"


def amounts(kind: str, lines: Sequence[ReturnedLine], exchange: Sequence[ExchangeItem]) -> tuple[int, int, int, int]:
    """(returned, exchange, refund, payable) cents of a return of ``lines`` for ``exchange``."""
    returned = sum(line.amount_cents for line in lines)
    handed = sum(item.amount_cents for item in exchange) if kind == "exchange" else 0
    return returned, handed, max(0, returned - handed), max(0, handed - returned)


def check_request(
    order: OrderState,
    *,
    kind: str,
    reason: str,
    method: str,
    lines: Sequence[tuple[int, int]],
    exchange_count: int,
    photos: Sequence[str],
) -> None:
    """Refuse a request that cannot be taken in whatever the policy says: an unknown kind, reason
    or refund method; no lines, a line twice or one the order does not have; an exchange without
    items or items without an exchange; a quality return without a photo. ``lines`` are
    (line_no, qty). Raises :class:`InvalidField` naming the field."""
    if kind not in KINDS:
        raise InvalidField("kind", "kind must be refund or exchange", code="invalid_choice", value=kind)
    if reason not in REASON_LABELS:
        raise InvalidField("reason", f"reason must be one of {', '.join(REASON_LABELS)}", code="invalid_choice")
    if method not in REFUND_METHODS:
        raise InvalidField("method", f"method must be one of {', '.join(REFUND_METHODS)}", code="invalid_choice")
    if not lines:
        raise InvalidField("lines", "pick at least one line", code="required")
    known = {line.line_no for line in order.lines}
    seen: set[int] = set()
    for index, (line_no, _qty) in enumerate(lines):
        if line_no in seen:
            raise InvalidField(f"lines[{index}].line_no", "a line is picked twice", code="duplicate_line")
        if line_no not in known:
            raise InvalidField(
                f"lines[{index}].line_no", "the order has no such line", code="unknown_order_line", value=line_no
            )
        seen.add(line_no)
    if kind == "exchange" and exchange_count == 0:
        raise InvalidField("exchange", "an exchange needs the items handed out", code="exchange_items_required")
    if kind != "exchange" and exchange_count:
        raise InvalidField("exchange", "only an exchange hands out items", code="exchange_items_not_allowed")
    if len(photos) > MAX_PHOTOS:
        raise InvalidField("photos", "too many photos", code="too_long", limit=MAX_PHOTOS)
    for index, photo in enumerate(photos):
        if not photo.strip() or len(photo) > MAX_PHOTO_REF:
            raise InvalidField(f"photos[{index}]", "a photo reference is blank or too long", code="invalid_photo")
    if reason in QUALITY_REASONS and not photos:
        raise InvalidField("photos", "a quality return needs a photo", code="photos_required")


class OverReturn(msgspec.Struct, frozen=True, kw_only=True):
    """A line asked back beyond what is left of it."""

    line_no: int
    sku: str
    bought: int
    returned: int
    asked: int

    @property
    def left(self) -> int:
        return max(0, self.bought - self.returned)


def over_returned(
    order: OrderState, lines: Sequence[tuple[int, int]], pending: dict[int, int] | None = None
) -> list[OverReturn]:
    """Lines of ``lines`` (line_no, qty) that would take a line beyond its bought quantity, given
    what the order says was returned plus ``pending`` (line_no -> units in returns not yet decided)."""
    by_no = {line.line_no: line for line in order.lines}
    found: list[OverReturn] = []
    for line_no, qty in lines:
        line = by_no.get(line_no)
        if line is None:
            continue
        returned = line.returned_qty + (pending or {}).get(line_no, 0)
        if returned + qty > line.qty:
            found.append(OverReturn(line_no=line_no, sku=line.sku, bought=line.qty, returned=returned, asked=qty))
    return found


def decide_lines(
    policy: ReturnPolicy, order: OrderState, *, kind: str, reason: str, lines: Sequence[tuple[int, bool]], at: int
) -> list[Decision]:
    """The policy's decision for each (line_no, unworn) of ``order`` returned at ``at``."""
    by_no = {line.line_no: line for line in order.lines}
    decisions = []
    for line_no, unworn in lines:
        category = by_no[line_no].category if line_no in by_no else ""
        case = ReturnCase(
            paid_at=order.paid_at,
            category=category,
            reason=reason,
            unworn=unworn,
            kind="exchange" if kind == "exchange" else "refund",
            returned_at=at,
        )
        decisions.append(decide(policy, case))
    return decisions


def label(labels: dict[str, tuple[str, str]], code: str, lang: str) -> str:
    pair = labels.get(code)
    if pair is None:
        return code
    return pair[1] if lang == "en" else pair[0]
