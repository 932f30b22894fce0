"""What a ``return.create`` op does, decided in memory against a :class:`ReturnBatch`.

No SQL here: :mod:`hq_server.return_store` loads the batch (the orders, earlier returns, the
policy) and flushes it; :mod:`hq_server.push` drives it in seq order inside the write lock, so of
two stores returning the same line while offline the first return applied wins and the second
sees the first one's units.

The order of the checks (the first that fails decides):
1. a return id HQ has already decided is a duplicate (``merged``);
2. an order HQ does not have is refused (``unknown_order``; nothing recorded);
3. :func:`sync_protocol.returns.check_request` (kind, reason, method, lines, exchange, photos);
4. no line returned beyond what was bought, across all stores (``over_return``, naming where and
   when the earlier returns were made);
5. the chain's policy for each line (``return_not_allowed`` with the sentence of the refusal);
6. the exchange's items must be SKUs of the catalogue (``unknown_sku``).

An accepted return adds its units to the order's lines, counts the movements the store sent
(+qty ``return`` per line, -qty ``sale`` per exchange item; each move id once) and, for an
exchange, issues the items handed out as a sale order of the returning store. A refused return
whose order is known is recorded as ``rejected`` (the store and finance see why) and counts nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec

from hq_server.stock_rules import StockBatch
from hq_server.ticket_rules import Outcome, rejected, wall_of
from sync_protocol.errors import InvalidField
from sync_protocol.i18n import render
from sync_protocol.ops import ReturnCreate
from sync_protocol.orders import OrderLine, OrderState
from sync_protocol.return_policy import Decision, ReturnPolicy, explain
from sync_protocol.returns import (
    ExchangeItem,
    OverReturn,
    ReturnedLine,
    ReturnState,
    check_request,
    decide_lines,
    new_return,
    over_returned,
    returned_line,
)
from sync_protocol.tickets import validate_text

_SHANGHAI = ZoneInfo("Asia/Shanghai")
#: Longest return or order number (their columns hold 64 characters).
MAX_NUMBER = 64


@dataclass(frozen=True)
class EarlierReturn:
    """An accepted return of an order: where and when, and its units per line."""

    number: str
    store_name: str
    at: int
    units: dict[int, int]


@dataclass
class ReturnBatch:
    """Return state loaded for one transaction, and what the transaction decided."""

    #: Orders by id (with their returned units), and each order's selling store name.
    orders: dict[str, OrderState]
    store_names: dict[str, str]
    #: Accepted returns per order id, oldest first (this batch's are added as they are decided).
    earlier: dict[str, list[EarlierReturn]]
    #: Return ids HQ has decided, and the return numbers it holds.
    known_ids: set[str]
    numbers_in_use: set[str]
    policy: ReturnPolicy
    #: Returns decided in this batch, in order.
    decided: list[ReturnState] = dataclasses.field(default_factory=list)
    #: Orders whose returned units changed.
    changed_orders: dict[str, None] = dataclasses.field(default_factory=dict)
    #: The sale orders of this batch's exchanges.
    exchange_orders: list[OrderState] = dataclasses.field(default_factory=list)

    def by_id(self, return_id: str) -> ReturnState | None:
        return next((state for state in self.decided if state.id == return_id), None)


def apply_return(
    batch: ReturnBatch,
    stock: StockBatch,
    p: ReturnCreate,
    *,
    store_id: str,
    hlc: str,
    origin: str | None,
    lang: str,
) -> Outcome:
    """``return.create`` of a node of ``store_id`` (see the module docstring). A refusal's text
    parameters come in ``lang``; the recorded return keeps its text in both languages."""
    if p.return_id in batch.known_ids:
        return Outcome("merged", "duplicate")
    order = batch.orders.get(p.order_id)
    if order is None:
        return rejected("unknown_order", "order", value=p.order_number or p.order_id)
    now_ms = wall_of(hlc)
    at = min(p.at, now_ms)
    state = _state(batch, stock, p, order, store_id=store_id, hlc=hlc, at=at, now_ms=now_ms)
    outcome = _check(batch, stock, p, order, state)
    batch.known_ids.add(p.return_id)
    batch.decided.append(state)
    if outcome.status == "rejected":
        state.status, state.code = "rejected", outcome.code
        state.refusal_zh = render(outcome.code, "zh", field=outcome.field, **_texts(outcome, "zh"))
        state.refusal_en = render(outcome.code, "en", field=outcome.field, **_texts(outcome, "en"))
        state.order = order
        return Outcome("rejected", outcome.code, outcome.field, _texts(outcome, lang))
    _accept(batch, stock, state, order, origin=origin)
    number_taken = state.number != p.number
    return Outcome("applied", "renumbered") if number_taken else Outcome("applied")


def _state(
    batch: ReturnBatch,
    stock: StockBatch,
    p: ReturnCreate,
    order: OrderState,
    *,
    store_id: str,
    hlc: str,
    at: int,
    now_ms: int,
) -> ReturnState:
    """The return as asked, with the order's line details (not yet decided)."""
    by_no = {line.line_no: line for line in order.lines}
    lines = [_line(by_no.get(item.line_no), item.line_no, item.qty, item.unworn, item.move_id) for item in p.lines]
    exchange = []
    for item in p.exchange:
        info = stock.skus.get(item.sku)
        exchange.append(
            ExchangeItem(
                sku=item.sku,
                product_code=info.product_code if info else "",
                name=info.name if info else "",
                colour=info.colour if info else "",
                size=info.size if info else "",
                qty=item.qty,
                unit_price_cents=item.unit_price_cents,
                move_id=item.move_id,
            )
        )
    number = p.number
    if number in batch.numbers_in_use:  # a replica restored from an older copy reused it
        number = _bounded(f"{number}-{p.return_id[-8:]}", f"T-{p.return_id}")
    batch.numbers_in_use.add(number)
    state = new_return(
        order,
        return_id=p.return_id,
        number=number,
        store_id=store_id,
        kind=p.return_kind,
        reason=p.reason,
        lines=lines,
        exchange=exchange,
        method=p.method,
        photos=list(p.photos),
        note=p.note,
        actor=p.actor,
        at=at,
    )
    state.decided_at, state.hlc = now_ms, hlc
    return state


def _line(line: OrderLine | None, line_no: int, qty: int, unworn: bool, move_id: str) -> ReturnedLine:
    if line is None:  # refused by the checks
        return ReturnedLine(line_no=line_no, sku="", qty=qty, unit_price_cents=0, unworn=unworn, move_id=move_id)
    return returned_line(line, qty=qty, unworn=unworn, move_id=move_id)


def _check(batch: ReturnBatch, stock: StockBatch, p: ReturnCreate, order: OrderState, state: ReturnState) -> Outcome:
    """Checks 3 to 6; sets each line's policy decision on ``state``."""
    picked = [(item.line_no, item.qty) for item in p.lines]
    try:
        check_request(
            order,
            kind=p.return_kind,
            reason=p.reason,
            method=p.method,
            lines=picked,
            exchange_count=len(p.exchange),
            photos=p.photos,
        )
        state.note = validate_text("note", p.note)
        state.actor = validate_text("actor", p.actor)
    except InvalidField as exc:
        return rejected(exc.code, exc.field, **exc.params)
    moves = [item.move_id for item in p.lines] + [item.move_id for item in p.exchange]
    if len(set(moves)) != len(moves) or any(move in stock.known_move_ids for move in moves):
        return rejected("malformed_op", "lines", detail="a move id is used twice")
    over = over_returned(order, picked)
    if over:
        return _over_return(batch, order, over[0])
    unworn = [(item.line_no, item.unworn) for item in p.lines]
    decisions = decide_lines(batch.policy, order, kind=p.return_kind, reason=p.reason, lines=unworn, at=state.at)
    for line, decision in zip(state.lines, decisions, strict=True):
        line.decision = decision
    for line, decision in zip(state.lines, decisions, strict=True):
        if not decision.allowed:
            return rejected(
                "return_not_allowed",
                "lines",
                line_no=line.line_no,
                sku=line.sku,
                decision=msgspec.to_builtins(decision),
            )
    for index, item in enumerate(p.exchange):
        if item.sku not in stock.skus:
            return rejected("unknown_sku", f"exchange[{index}].sku", value=item.sku)
    return Outcome("applied")


def _over_return(batch: ReturnBatch, order: OrderState, over: OverReturn) -> Outcome:
    earlier = [r for r in batch.earlier.get(order.id, []) if over.line_no in r.units]
    return rejected(
        "over_return",
        "lines",
        order=order.number,
        line_no=over.line_no,
        sku=over.sku,
        bought=over.bought,
        returned=over.returned,
        left=over.left,
        asked=over.asked,
        earlier=[(r.number, r.store_name, r.at) for r in earlier[-3:]],
    )


def _texts(outcome: Outcome, lang: str) -> dict[str, object]:
    """The values of a refusal's text in ``lang`` (the sentence of a policy refusal, where and
    when earlier returns were made)."""
    params = dict(outcome.params)
    decision = params.pop("decision", None)
    if decision is not None:
        params["explanation"] = explain(msgspec.convert(decision, Decision), lang)
    earlier = params.pop("earlier", None)
    if isinstance(earlier, list):
        where = [
            render("over_return_where", lang, date=_date(int(at)), store=store, number=number)
            for number, store, at in earlier
        ]
        params["where"] = "".join(where)
    return params


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, _SHANGHAI).strftime("%Y-%m-%d")


def _accept(
    batch: ReturnBatch, stock: StockBatch, state: ReturnState, order: OrderState, *, origin: str | None
) -> None:
    state.status = "accepted"
    units = {line.line_no: line.qty for line in state.lines}
    for bought in order.lines:
        bought.returned_qty += units.get(bought.line_no, 0)
    batch.changed_orders[order.id] = None
    store_name = batch.store_names.get(state.store_id, state.store_id)
    batch.earlier.setdefault(order.id, []).append(EarlierReturn(state.number, store_name, state.at, units))
    for line in state.lines:
        stock.move(
            state.store_id,
            line.sku,
            line.qty,
            reason="return",
            at=state.at,
            hlc=state.hlc,
            move_id=line.move_id,
            ref=state.id,
            origin=origin,
        )
    for item in state.exchange:
        stock.move(
            state.store_id,
            item.sku,
            -item.qty,
            reason="sale",
            at=state.at,
            hlc=state.hlc,
            move_id=item.move_id,
            ref=state.id,
            origin=origin,
        )
    if state.kind == "exchange" and state.exchange:
        state.exchange_order = _bounded(f"{state.number}-EX", f"EX-{state.id}")
        batch.exchange_orders.append(_exchange_order(state, order))
        state.price_checks = _price_checks(state, stock)
    state.order = order


def _bounded(number: str, fallback: str) -> str:
    """``number`` when it fits the 64 characters numbers may have, else ``fallback`` (made from an
    id: unique and short)."""
    return number if len(number) <= MAX_NUMBER else fallback


def _price_checks(state: ReturnState, stock: StockBatch) -> list[tuple[str, int, int]]:
    """Exchange items handed out below the price HQ expects: the price of a returned line of the
    same product (a size or colour swap), else the catalogue's."""
    found = []
    for item in state.exchange:
        same = [
            line.unit_price_cents
            for line in state.lines
            if item.product_code and line.product_code == item.product_code
        ]
        info = stock.skus.get(item.sku)
        expected = same[0] if same else (info.price_cents if info is not None else None)
        if expected is not None and item.unit_price_cents < expected:
            found.append((item.sku, item.unit_price_cents, expected))
    return found


def _exchange_order(state: ReturnState, order: OrderState) -> OrderState:
    """The sale of the items an exchange hands out, at the returning store (id and HLC are given
    when it is written)."""
    lines = [
        OrderLine(
            line_no=index,
            sku=item.sku,
            product_code=item.product_code,
            name=item.name,
            colour=item.colour,
            size=item.size,
            qty=item.qty,
            unit_price_cents=item.unit_price_cents,
        )
        for index, item in enumerate(state.exchange, start=1)
    ]
    return OrderState(
        id="",
        number=state.exchange_order,
        channel="store",
        store_id=state.store_id,
        customer_phone=order.customer_phone,
        customer_name=order.customer_name,
        paid_at=state.at,
        total_cents=state.exchange_cents,
        lines=lines,
        created_at=state.decided_at,
        hlc="",
    )


def opens_exception(state: ReturnState) -> bool:
    """Whether finance gets an exception ticket for this decided return: every refusal (the store
    took the goods back, and may have handed out an exchange's items, before HQ decided)."""
    return state.status == "rejected"
