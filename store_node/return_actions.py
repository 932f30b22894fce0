"""Returns and exchanges taken in at the store (see :mod:`sync_protocol.returns`).

The clerk picks lines of an order the replica holds (the store's own, or one looked up through
HQ), a reason, refund or exchange. The store checks the request against its copy of the order and
the chain's policy as last synced (HQ's defaults until then); a refused line is answered with the
sentence the clerk reads out, and nothing is written. An accepted request is written in one
transaction: the return (status ``pending``), the movements that take the goods back into stock
(and sell an exchange's new items) at once, and the ``return.create`` op. HQ decides; a refusal
drops the movements again (:func:`store_node.apply.drop_refused_records`).

Units of this store's pending returns count as returned until HQ has decided them, so the same
units are not taken back twice while offline.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from store_node import outbox, stock_actions
from store_node.errors import InvalidInput
from store_node.node import Node
from store_node.replica import in_chunks
from store_node.return_records import encode_return, find_order, local_policy, pending_units
from store_node.stock_actions import MoveRow
from sync_protocol import orders as orders_protocol
from sync_protocol.errors import InvalidField
from sync_protocol.ops import ExchangeInput, ReturnCreate, ReturnLineInput, new_id
from sync_protocol.orders import MAX_LINE_QTY, MAX_LINES, MAX_UNIT_PRICE_CENTS, FoundOrder, yuan
from sync_protocol.return_policy import Decision, explain
from sync_protocol.returns import (
    ExchangeItem,
    ReturnedLine,
    ReturnState,
    amounts_json,
    check_request,
    decide_lines,
    new_return,
    over_returned,
    return_number,
    returned_line,
)
from sync_protocol.texts import text
from sync_protocol.tickets import validate_text

_FIELDS = frozenset({"order", "kind", "reason", "lines", "exchange", "method", "photos", "note", "actor"})
_LINE_FIELDS = frozenset({"line_no", "qty", "unworn"})
_ITEM_FIELDS = frozenset({"sku", "barcode", "qty", "unit_price"})


class Refused(InvalidInput):
    """A request the store understood but cannot take in: 409 (``over_return``) or 422 (a line
    the policy refuses, an exchange item without a price). ``details`` join the error body."""

    status = 422

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int = 422,
        field: str | None = None,
        details: dict[str, Any] | None = None,
        **params: object,
    ) -> None:
        super().__init__(message, code=code, field=field, **params)
        self.status = status
        self.details = details or {}


# -- reading the request --------------------------------------------------------------------------


def _invalid(exc: InvalidField, prefix: str = "") -> InvalidInput:
    return InvalidInput(exc.message, code=exc.code, field=f"{prefix}{exc.field}", **exc.params)


def _unknown(data: Mapping[str, Any], allowed: frozenset[str], prefix: str = "") -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]}", code="unknown_field", field=f"{prefix}{unknown[0]}")


def _objects(data: Mapping[str, Any], field: str, *, required: bool) -> list[Mapping[str, Any]]:
    value = data.get(field)
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value):
        raise InvalidInput(f"{field} must be a non-empty list", code="required", field=field)
    if len(value) > MAX_LINES:
        raise InvalidInput(f"at most {MAX_LINES} {field}", code="too_long", field=field, limit=MAX_LINES)
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise InvalidInput(f"{field}[{index}] must be an object", code="invalid_type", field=f"{field}[{index}]")
    return value


def _count(value: object, field: str, *, maximum: int) -> int:
    if value is None:
        raise InvalidInput(f"{field} is required", code="required", field=field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{field} must be a whole number", code="invalid_type", field=field)
    if not 1 <= value <= maximum:
        raise InvalidInput(f"{field} is out of range", code="out_of_range", field=field, minimum=1, maximum=maximum)
    return value


def parse_yuan(value: object, field: str) -> int:
    """An amount in yuan (a string or number, at most two decimals, not negative) as cents."""
    try:
        return orders_protocol.parse_yuan(value, field=field, code="invalid_unit_price", max_cents=MAX_UNIT_PRICE_CENTS)
    except InvalidField as exc:
        raise _invalid(exc) from exc


def _text(data: Mapping[str, Any], field: str, *, required: bool = False, default: str = "") -> str:
    value = data.get(field)
    if value is None:
        value = default
    if required and value == "":
        raise InvalidInput(f"{field} is required", code="required", field=field)
    try:
        return validate_text(field, value, required=required)
    except InvalidField as exc:
        raise _invalid(exc) from exc


def _photos(data: Mapping[str, Any]) -> list[str]:
    photos = data.get("photos")
    if photos is None:
        return []
    if not isinstance(photos, list) or not all(isinstance(p, str) for p in photos):
        raise InvalidInput("photos must be a list of text", code="invalid_type", field="photos")
    return [p.strip() for p in photos]


@dataclass(frozen=True)
class _Sku:
    sku: str
    product_code: str
    name: str
    colour: str
    size: str
    price_cents: int | None


def _sku_details(node: Node, skus: Sequence[str]) -> dict[str, _Sku]:
    """Catalogue details of SKUs: their product, its Chinese name and price, colour and size."""
    found: dict[str, _Sku] = {}
    for chunk, marks in in_chunks(list(dict.fromkeys(skus))):
        for r in node.replica.query(
            "SELECT s.sku, s.product_code, s.colour, s.size, p.name_zh, p.attrs FROM catalogue_skus AS s"
            " LEFT JOIN reference AS p ON p.entity = 'product' AND p.code = s.product_code"
            f" WHERE s.sku IN ({marks})",
            tuple(chunk),
        ):
            price = json.loads(r["attrs"] or "{}").get("price_cents")
            found[r["sku"]] = _Sku(
                r["sku"],
                r["product_code"],
                r["name_zh"] or "",
                r["colour"],
                r["size"],
                price if isinstance(price, int) and not isinstance(price, bool) else None,
            )
    return found


# -- the checks both the pre-check and the return make ----------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A checked request: the return as it would be recorded (not numbered yet), and the policy's
    decision on each line."""

    found: FoundOrder
    state: ReturnState
    policy_source: str

    @property
    def allowed(self) -> bool:
        return all(line.decision is None or line.decision.allowed for line in self.state.lines)


def prepare(node: Node, data: Mapping[str, Any], *, lang: str) -> Prepared:
    """Check a return request against the order and the policy (see the module's docstring).
    Raises :class:`InvalidInput` naming the field, :class:`NotFound` for an unknown order and
    :class:`Refused` for units beyond what is left; the policy's decisions are in the answer."""
    ident = node.identity
    _unknown(data, _FIELDS)
    found = find_order(node, _text(data, "order", required=True))
    order = found.order
    kind = _text(data, "kind", required=True)
    reason = _text(data, "reason", required=True)
    method = _text(data, "method", default="original")
    note, actor, photos = _text(data, "note"), _text(data, "actor"), _photos(data)
    picked: list[tuple[int, int, bool]] = []
    for index, item in enumerate(_objects(data, "lines", required=True)):
        prefix = f"lines[{index}]."
        _unknown(item, _LINE_FIELDS, prefix)
        unworn = item.get("unworn", True)
        if not isinstance(unworn, bool):
            raise InvalidInput("unworn must be true or false", code="invalid_type", field=f"{prefix}unworn")
        picked.append(
            (
                _count(item.get("line_no"), f"{prefix}line_no", maximum=MAX_LINES),
                _count(item.get("qty"), f"{prefix}qty", maximum=MAX_LINE_QTY),
                unworn,
            )
        )
    items = _read_items(node, _objects(data, "exchange", required=False))
    try:
        check_request(
            order,
            kind=kind,
            reason=reason,
            method=method,
            lines=[(no, qty) for no, qty, _ in picked],
            exchange_count=len(items),
            photos=photos,
        )
    except InvalidField as exc:
        raise _invalid(exc) from exc
    _refuse_over_return(node, found, [(no, qty) for no, qty, _ in picked], lang)
    policy, source = local_policy(node)
    at = node.wall_ms()
    decisions = decide_lines(
        policy, order, kind=kind, reason=reason, lines=[(no, unworn) for no, _, unworn in picked], at=at
    )
    by_no = {line.line_no: line for line in order.lines}
    known = _sku_details(node, [*(by_no[no].sku for no, _, _ in picked), *(item.sku for item in items)])
    lines = []
    for (no, qty, unworn), decision in zip(picked, decisions, strict=True):
        line = by_no[no]
        if not line.product_code and line.sku in known:
            line = msgspec.structs.replace(line, product_code=known[line.sku].product_code)
        lines.append(returned_line(line, qty=qty, unworn=unworn, move_id=new_id(), decision=decision))
    state = new_return(
        order,
        return_id=new_id(),
        number="",
        store_id=ident.store_id,
        kind=kind,
        reason=reason,
        lines=lines,
        exchange=_exchange(items, lines, known),
        method=method,
        photos=photos,
        note=note,
        actor=actor,
        at=at,
    )
    return Prepared(found=found, state=state, policy_source=source)


@dataclass(frozen=True)
class _Item:
    sku: str
    qty: int
    unit_price_cents: int | None


def _read_items(node: Node, items: Sequence[Mapping[str, Any]]) -> list[_Item]:
    read = []
    for index, item in enumerate(items):
        prefix = f"exchange[{index}]."
        _unknown(item, _ITEM_FIELDS, prefix)
        sku = stock_actions.resolve_sku(node, item, prefix=prefix)
        qty = _count(item.get("qty"), f"{prefix}qty", maximum=MAX_LINE_QTY)
        given = item.get("unit_price")
        price = None if given in (None, "") else parse_yuan(given, f"{prefix}unit_price")
        read.append(_Item(sku, qty, price))
    return read


def _exchange(items: Sequence[_Item], lines: Sequence[ReturnedLine], known: dict[str, _Sku]) -> list[ExchangeItem]:
    """The items an exchange hands out, each at the price given, else the price of a returned line
    of the same product (a size swap costs nothing), else the catalogue's price (422 without one)."""
    handed = []
    for index, item in enumerate(items):
        info = known.get(item.sku) or _Sku(item.sku, "", "", "", "", None)
        price = item.unit_price_cents
        if price is None:
            same = [line for line in lines if info.product_code and line.product_code == info.product_code]
            price = same[0].unit_price_cents if same else info.price_cents
        if price is None:
            raise Refused(f"no price for {item.sku}", code="required", field=f"exchange[{index}].unit_price")
        handed.append(
            ExchangeItem(
                sku=item.sku,
                product_code=info.product_code,
                name=info.name,
                colour=info.colour,
                size=info.size,
                qty=item.qty,
                unit_price_cents=price,
                move_id=new_id(),
            )
        )
    return handed


def _refuse_over_return(node: Node, found: FoundOrder, lines: list[tuple[int, int]], lang: str) -> None:
    """409 ``over_return`` when a line would go beyond what was bought, counting what HQ says was
    returned and this store's returns HQ has not decided yet."""
    order = found.order
    pending = pending_units(node, [order.id]).get(order.id, {})
    over = over_returned(order, lines, pending)
    if not over:
        return
    first = over[0]
    index = next(i for i, (no, _) in enumerate(lines) if no == first.line_no)
    return_row = _latest_pending(node, order.id, first.line_no) if pending.get(first.line_no) else None
    where = ""
    if return_row is not None:
        tz = ZoneInfo(local_policy(node)[0].tz)
        day = datetime.fromtimestamp(return_row["at"] / 1000, tz).date().isoformat()
        row = stock_actions.find_store(node, node.replica.get("store_id"))
        store = str(row["name_zh"]) if row is not None else node.replica.get("store_name")
        where = text("over_return_where", lang, date=day, store=store, number=return_row["number"])
    raise Refused(
        f"line {first.line_no} asks {first.asked}, {first.left} left",
        code="over_return",
        status=409,
        field=f"lines[{index}].qty",
        details={
            "lines": [
                {
                    "line_no": o.line_no,
                    "sku": o.sku,
                    "bought": o.bought,
                    "returned": o.returned,
                    "left": o.left,
                    "asked": o.asked,
                }
                for o in over
            ]
        },
        order=order.number,
        line_no=first.line_no,
        sku=first.sku,
        bought=first.bought,
        returned=first.returned,
        left=first.left,
        asked=first.asked,
        where=where,
    )


def _latest_pending(node: Node, order_id: str, line_no: int) -> sqlite3.Row | None:
    return node.replica.one(
        "SELECT r.number, r.at FROM returns AS r, json_each(r.data, '$.lines') AS l WHERE r.order_id = ?"
        " AND r.status = 'pending' AND json_extract(l.value, '$.line_no') = ? ORDER BY r.at DESC LIMIT 1",
        (order_id, line_no),
    )


# -- the clerk's actions --------------------------------------------------------------------------------


def decision_json(decision: Decision | None, lang: str) -> dict[str, Any]:
    if decision is None:
        return {"allowed": True, "code": "", "sentence": "", "alternative": ""}
    return {
        "allowed": decision.allowed,
        "code": decision.code,
        "sentence": explain(decision, lang),
        "alternative": decision.alternative,
    }


def check_return(node: Node, data: Mapping[str, Any], *, lang: str) -> dict[str, Any]:
    """The clerk's pre-check: what the store would decide, without writing anything. A line the
    policy refuses is an answer (``allowed`` false, with the sentence), not an error."""
    prepared = prepare(node, data, lang=lang)
    state = prepared.state
    return {
        "allowed": prepared.allowed,
        "policy_source": prepared.policy_source,
        "lines": [
            {"line_no": x.line_no, "sku": x.sku, "name": x.name, "qty": x.qty, **decision_json(x.decision, lang)}
            for x in state.lines
        ],
        "exchange": [
            {
                "sku": i.sku,
                "name": i.name,
                "qty": i.qty,
                "unit_price": yuan(i.unit_price_cents),
                "amount": yuan(i.amount_cents),
            }
            for i in state.exchange
        ],
        **amounts_json(state),
    }


def create_return(node: Node, data: Mapping[str, Any], *, lang: str) -> str:
    """Take goods back (and hand out an exchange's items): the return, its movements and its op in
    one transaction. Refuses (422 ``return_not_allowed``) when the policy refuses a line, with the
    sentence for the clerk and each line's decision. Returns the return's id."""
    ident = node.identity
    prepared = prepare(node, data, lang=lang)
    state = prepared.state
    refused = [(i, x) for i, x in enumerate(state.lines) if x.decision is not None and not x.decision.allowed]
    if refused:
        index, first = refused[0]
        assert first.decision is not None
        raise Refused(
            f"line {first.line_no}: {first.decision.code}",
            code="return_not_allowed",
            field=f"lines[{index}]",
            details={
                "lines": [{"line_no": x.line_no, "sku": x.sku, **decision_json(x.decision, lang)} for x in state.lines]
            },
            line_no=first.line_no,
            sku=first.sku,
            explanation=explain(first.decision, lang),
        )
    with node.replica.tx() as conn:
        # Again under the lock, with the order as it is now (a pull may have brought returned units).
        current = find_order(node, state.order_id)
        _refuse_over_return(node, current, [(x.line_no, x.qty) for x in state.lines], lang)
        counter = node.replica.get_int("return_counter") + 1
        number = return_number(ident.store_code, ident.node_no, counter)
        while conn.execute("SELECT 1 FROM returns WHERE number = ?", (number,)).fetchone() is not None:
            counter += 1
            number = return_number(ident.store_code, ident.node_no, counter)
        payload = ReturnCreate(
            return_id=state.id,
            number=number,
            order_id=state.order_id,
            order_number=state.order_number,
            return_kind=state.kind,
            reason=state.reason,
            lines=[
                ReturnLineInput(line_no=x.line_no, qty=x.qty, unworn=x.unworn, move_id=x.move_id) for x in state.lines
            ],
            exchange=[
                ExchangeInput(sku=i.sku, qty=i.qty, unit_price_cents=i.unit_price_cents, move_id=i.move_id)
                for i in state.exchange
            ],
            method=state.method,
            photos=state.photos,
            note=state.note,
            actor=state.actor,
            at=state.at,
            counter=counter,
        )
        outbox.append(node, conn, payload, entity_id=state.id, record_id=state.id)
        hlc, gen = node.replica.get("hlc"), node.replica.get_int("gen")
        state = msgspec.structs.replace(state, number=number, hlc=hlc)
        conn.execute(
            "INSERT INTO returns (id, number, order_id, order_number, kind, reason, status, code, refund_cents,"
            " payable_cents, at, data, hlc, origin, gen) VALUES (?, ?, ?, ?, ?, ?, 'pending', '', ?, ?, ?, ?, '',"
            " 'store', ?)",
            (
                state.id,
                number,
                state.order_id,
                state.order_number,
                state.kind,
                state.reason,
                state.refund_cents,
                state.payable_cents,
                state.at,
                encode_return(state),
                gen,
            ),
        )
        moves = [
            MoveRow(x.move_id, x.sku, x.qty, "return", state.at, ref=state.id, note=number, hlc=hlc, gen=gen)
            for x in state.lines
        ]
        moves += [
            MoveRow(i.move_id, i.sku, -i.qty, "sale", state.at, ref=state.id, note=number, hlc=hlc, gen=gen)
            for i in state.exchange
        ]
        stock_actions.insert_moves(conn, moves)
        node.replica.set(return_counter=counter)
    node.notify_local_write()
    return state.id
