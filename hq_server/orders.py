"""Orders at HQ: the one writer and reader of ``orders`` and ``order_lines``.

An order comes from a store's till (channel ``store``, its store required) or an online channel
(``tmall``, ``jd``, ...; a store only when one is given). :func:`put_order` validates it against
the catalogue (each line's SKU must exist; its product code, name, category, colour and size are
filled from it) and writes it, idempotent on the order number: the same number with the same
content answers the stored order, with other content :class:`~hq_server.errors.Conflict`.

Who sees what: a store order is published to its selling store (change-log entity ``order``,
``scope_store``), so its own orders work offline there. An online order is published to no store:
every store finds it through HQ's live lookup (:func:`find_orders`, by phone or order number).

CSV import (``storedesk hq import-orders``; UTF-8, a BOM is fine), one row per order line:

    order_no,channel,store,customer_phone,customer_name,paid_at,sku,qty,unit_price
    TM20250131001,tmall,,+86 138-0013-8000,王女士,2025-01-31T18:00:00+08:00,JN-2041-蓝-M,1,299.00
    TM20250131001,tmall,,,,,KN-1180-灰-L,2,99.50

Rows with the same ``order_no`` make one order, its lines numbered in file order. The order's own
columns (channel, store, phone, name, paid time) may be repeated on its later rows or left empty
there; a different value is an error. ``store``, ``customer_phone`` and ``customer_name`` are
optional columns. The whole file is checked before anything is written (an error names its line
and column), then written in one transaction.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import bulk, changelog
from hq_server.db import Database
from hq_server.errors import Conflict, HqError, InvalidInput, from_invalid_field
from hq_server.schema import order_lines, orders, products, skus, stores
from hq_server.validation import iso_ms
from sync_protocol import orders as orders_protocol
from sync_protocol.entities import encode_entity
from sync_protocol.errors import InvalidField
from sync_protocol.hlc import HybridClock
from sync_protocol.i18n import render
from sync_protocol.ops import new_id
from sync_protocol.orders import (
    CHANNEL_LABELS,
    CHANNELS,
    MAX_LINE_QTY,
    MAX_LINES,
    MAX_UNIT_PRICE_CENTS,
    FoundOrder,
    OrderLine,
    OrderState,
    check_line_numbers,
    check_order_number,
    check_phone,
    normalize_phone,
    yuan,
)
from sync_protocol.tickets import validate_text

#: A paid time may be this far ahead of HQ's clock (a till or shop whose clock runs a little fast).
PAID_AT_LEEWAY_MS = 5 * 60 * 1000
#: Paid times before 2000 are refused: most likely seconds sent where ms were meant.
EARLIEST_PAID_AT = 946_684_800_000
#: The last ms of the year 9999 (later ones cannot be shown as a date).
LATEST_PAID_AT = 253_402_300_799_999
MAX_TOTAL_CENTS = MAX_LINES * MAX_LINE_QTY * MAX_UNIT_PRICE_CENTS
MAX_SKU = 64
MAX_LOOKUP = 50

_DIGITS = re.compile(r"[0-9]{1,18}")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: Codes of :func:`sync_protocol.orders.check_line_numbers` -> the order-line texts HQ shows.
_LINE_CODES = {
    "invalid_qty": "invalid_order_qty",
    "invalid_price": "invalid_unit_price",
    "too_long": "too_many_order_lines",
}


@dataclass(frozen=True)
class LineInput:
    """An order line as sent: SKU code, quantity, unit price (cents)."""

    sku: str
    qty: int
    unit_price_cents: int


@dataclass(frozen=True)
class OrderInput:
    """An order as sent to HQ (the API body or a group of CSV rows), before validation."""

    number: str
    channel: str
    paid_at: int
    lines: Sequence[LineInput]
    #: The selling store, by code or id ("" for none).
    store: str = ""
    customer_phone: str = ""
    customer_name: str = ""
    #: The order's total; None: the sum of its lines.
    total_cents: int | None = None


@dataclass(frozen=True)
class ImportSummary:
    orders: int
    lines: int
    created: int
    already_present: int


# Values as sent: amounts in yuan, paid times.


def parse_yuan(value: object, *, field: str, code: str, max_cents: int) -> int:
    """An amount in yuan as cents (:func:`sync_protocol.orders.parse_yuan`), or :class:`InvalidInput`."""
    try:
        return orders_protocol.parse_yuan(value, field=field, code=code, max_cents=max_cents)
    except InvalidField as exc:
        raise from_invalid_field(exc, **exc.params) from exc


def parse_paid_at(value: object, field: str = "paid_at") -> int:
    """A paid time: ISO 8601 with an offset (``Z`` for UTC), or ms since the epoch (a number or a
    string of digits). A time without an offset is refused: HQ does not guess the time zone."""
    ms: int
    if isinstance(value, int) and not isinstance(value, bool):
        ms = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        ms = int(value.strip())
    elif isinstance(value, str) and value.strip():
        parsed = iso_ms(value, naive_as_utc=False)
        if parsed is None:
            raise InvalidInput("invalid_paid_at", field=field)
        ms = parsed
    else:
        raise InvalidInput("invalid_paid_at", field=field)
    if not EARLIEST_PAID_AT <= ms <= LATEST_PAID_AT:
        raise InvalidInput("invalid_paid_at", field=field)
    return ms


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# Validation against the catalogue and the stores.


@dataclass(frozen=True)
class _Sku:
    product_code: str
    name: str
    category: str
    colour: str
    size: str


@dataclass(frozen=True)
class _Store:
    id: str
    code: str
    name: str


@dataclass
class _Refs:
    """The SKUs and stores a batch of orders names (stores by id and by code)."""

    skus: dict[str, _Sku] = field(default_factory=dict)
    stores: dict[str, _Store] = field(default_factory=dict)


def _load_refs(conn: Connection, items: Sequence[OrderInput]) -> _Refs:
    refs = _Refs()
    # A key no column can hold (NUL: PostgreSQL refuses it) names nothing: it is simply not found.
    for chunk in bulk.id_chunks(x.sku.strip() for item in items for x in item.lines if _storable(x.sku)):
        query = (
            sa.select(
                skus.c.code, skus.c.product_code, products.c.name_zh, products.c.category, skus.c.colour, skus.c.size
            )
            .select_from(skus.join(products, skus.c.product_code == products.c.code))
            .where(skus.c.code.in_(chunk))
        )
        for code, product, name, category, colour, size in conn.execute(query):
            refs.skus[str(code)] = _Sku(str(product), str(name), str(category), str(colour), str(size))
    for chunk in bulk.id_chunks(item.store.strip() for item in items if _storable(item.store)):
        query = sa.select(stores.c.id, stores.c.code, stores.c.name).where(
            sa.or_(stores.c.id.in_(chunk), stores.c.code.in_(chunk))
        )
        for row in conn.execute(query):
            store = _Store(str(row.id), str(row.code), str(row.name))
            refs.stores[store.id] = refs.stores[store.code] = store
    return refs


def _storable(key: str) -> bool:
    return _UNSTORABLE.search(key) is None and len(key) <= MAX_SKU


def _check(item: OrderInput, refs: _Refs, now_ms: int) -> OrderState:
    """``item`` validated and completed from the catalogue (no id or HLC yet)."""
    try:
        number = check_order_number(item.number, "number")
        phone = check_phone(item.customer_phone, "customer_phone")
        name = validate_text("customer_name", item.customer_name)
    except InvalidField as exc:
        raise from_invalid_field(exc, **exc.params) from exc
    channel = item.channel.strip()
    if channel not in CHANNELS:
        raise InvalidInput("invalid_channel", field="channel", value=channel, choices=", ".join(CHANNELS))
    store_id = ""
    store_key = item.store.strip()
    if store_key:
        store = refs.stores.get(store_key)
        if store is None:
            raise InvalidInput("unknown_store", field="store", value=store_key)
        store_id = store.id
    elif channel == "store":
        raise InvalidInput("required", field="store")
    if not EARLIEST_PAID_AT <= item.paid_at <= LATEST_PAID_AT:
        raise InvalidInput("invalid_paid_at", field="paid_at")
    if item.paid_at > now_ms + PAID_AT_LEEWAY_MS:
        raise InvalidInput("paid_at_in_future", field="paid_at", value=_iso(item.paid_at))
    lines = [
        OrderLine(line_no=n, sku=line.sku.strip(), qty=line.qty, unit_price_cents=line.unit_price_cents)
        for n, line in enumerate(item.lines, start=1)
    ]
    try:
        check_line_numbers(lines)
    except InvalidField as exc:
        code = _LINE_CODES.get(exc.code, exc.code)
        limit = {"invalid_order_qty": MAX_LINE_QTY, "invalid_unit_price": MAX_UNIT_PRICE_CENTS // 100}.get(
            code, MAX_LINES
        )
        raise InvalidInput(code, field=exc.field, limit=limit) from exc
    for index, line in enumerate(lines):
        info = refs.skus.get(line.sku)
        if info is None:
            raise InvalidInput("unknown_sku", field=f"lines[{index}].sku", value=line.sku)
        line.product_code, line.name, line.category = info.product_code, info.name, info.category
        line.colour, line.size = info.colour, info.size
    total = sum(line.amount_cents for line in lines)
    if item.total_cents is not None and item.total_cents != total:
        raise InvalidInput("order_total_mismatch", field="total", total=yuan(item.total_cents), sum=yuan(total))
    return OrderState(
        id="",
        number=number,
        channel=channel,
        store_id=store_id,
        customer_phone=phone,
        customer_name=name,
        paid_at=item.paid_at,
        total_cents=total,
        lines=lines,
        created_at=now_ms,
        hlc="",
    )


def _content(order: OrderState) -> tuple[object, ...]:
    """What makes two submissions of an order number the same order (not what HQ adds to it)."""
    return (
        order.channel,
        order.store_id,
        order.customer_phone,
        order.customer_name,
        order.paid_at,
        order.total_cents,
        [(line.line_no, line.sku, line.qty, line.unit_price_cents) for line in order.lines],
    )


def _conflict(number: str) -> Conflict:
    return Conflict("order_conflict", field="number", number=number)


# Writing.


def insert_orders(conn: Connection, clock: HybridClock, found: list[OrderState]) -> None:
    """Insert new orders (ids and HLCs given here), and log the store orders to their stores."""
    if not found:
        return
    for order, hlc in zip(found, clock.stamps(len(found)), strict=True):
        order.id = new_id()
        order.hlc = hlc
    bulk.insert_many(
        conn,
        orders,
        [
            {
                "id": o.id,
                "number": o.number,
                "channel": o.channel,
                "store_id": o.store_id or None,
                "customer_phone": o.customer_phone,
                "customer_name": o.customer_name,
                "paid_at": o.paid_at,
                "total_cents": o.total_cents,
                "created_at": o.created_at,
                "hlc": o.hlc,
            }
            for o in found
        ],
    )
    bulk.insert_many(
        conn,
        order_lines,
        [
            {
                "order_id": o.id,
                "line_no": line.line_no,
                "sku": line.sku,
                "product_code": line.product_code,
                "name": line.name,
                "category": line.category,
                "colour": line.colour,
                "size": line.size,
                "qty": line.qty,
                "unit_price_cents": line.unit_price_cents,
                "returned_qty": line.returned_qty,
            }
            for o in found
            for line in o.lines
        ],
    )
    entries = [
        changelog.Entry("order", o.id, o.store_id, None, encode_entity(o))
        for o in found
        if o.channel == "store" and o.store_id
    ]
    changelog.append(conn, clock, entries)


def put_order(conn: Connection, clock: HybridClock, order: OrderInput, now_ms: int) -> tuple[OrderState, bool]:
    """Validate and store ``order`` in the write transaction ``conn``; the stored order and
    whether it was created (False: the same order number with the same content was there).

    :class:`InvalidInput` names the field at fault (``lines[1].sku``); :class:`Conflict` when the
    number is taken by an order with other content.
    """
    state = _check(order, _load_refs(conn, [order]), now_ms)
    before = _by_numbers(conn, [state.number]).get(state.number)
    if before is not None:
        if _content(before) != _content(state):
            raise _conflict(state.number)
        return before, False
    insert_orders(conn, clock, [state])
    return state, True


def record_returned(conn: Connection, clock: HybridClock, changed: Sequence[OrderState]) -> None:
    """Write the returned units of each order in ``changed`` (its lines' ``returned_qty``), give
    it a new HLC (a store keeps the newest copy of an order by HLC) and republish a store order
    to its selling store."""
    if not changed:
        return
    lc = order_lines.c
    for order, hlc in zip(changed, clock.stamps(len(changed)), strict=True):
        order.hlc = hlc
        for line in order.lines:
            conn.execute(
                order_lines.update()
                .where(lc.order_id == order.id, lc.line_no == line.line_no, lc.returned_qty != line.returned_qty)
                .values(returned_qty=line.returned_qty)
            )
        conn.execute(orders.update().where(orders.c.id == order.id).values(hlc=hlc))
    entries = [
        changelog.Entry("order", o.id, o.store_id, None, encode_entity(o))
        for o in changed
        if o.channel == "store" and o.store_id
    ]
    changelog.append(conn, clock, entries)


# Reading.


def by_ids(conn: Connection, ids: Iterable[str]) -> dict[str, FoundOrder]:
    """Orders by id, with their lines and selling store."""
    found: dict[str, FoundOrder] = {}
    for chunk in bulk.id_chunks(ids):
        for item in _select(conn, orders.c.id.in_(chunk), limit=None):
            found[item.order.id] = item
    return found


def _by_numbers(conn: Connection, numbers: Iterable[str]) -> dict[str, OrderState]:
    found: dict[str, OrderState] = {}
    for chunk in bulk.id_chunks(numbers):
        for item in _select(conn, orders.c.number.in_(chunk), limit=None):
            found[item.order.number] = item.order
    return found


def _select(conn: Connection, where: sa.ColumnElement[bool], *, limit: int | None) -> list[FoundOrder]:
    """Orders matching ``where``, newest paid first, with their lines and selling store."""
    o = orders.c
    query = (
        sa.select(
            o.id,
            o.number,
            o.channel,
            o.store_id,
            o.customer_phone,
            o.customer_name,
            o.paid_at,
            o.total_cents,
            o.created_at,
            o.hlc,
            stores.c.code,
            stores.c.name,
        )
        .select_from(orders.outerjoin(stores, stores.c.id == o.store_id))
        .where(where)
        .order_by(o.paid_at.desc(), o.created_at.desc(), o.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    found: list[FoundOrder] = []
    by_id: dict[str, OrderState] = {}
    for row in conn.execute(query):
        order = OrderState(
            id=str(row.id),
            number=str(row.number),
            channel=str(row.channel),
            store_id=str(row.store_id or ""),
            customer_phone=str(row.customer_phone),
            customer_name=str(row.customer_name),
            paid_at=int(row.paid_at),
            total_cents=int(row.total_cents),
            lines=[],
            created_at=int(row.created_at),
            hlc=str(row.hlc),
        )
        by_id[order.id] = order
        found.append(FoundOrder(order=order, store_code=str(row.code or ""), store_name=str(row.name or "")))
    lc = order_lines.c
    for chunk in bulk.id_chunks(by_id):
        lines = sa.select(order_lines).where(lc.order_id.in_(chunk)).order_by(lc.order_id, lc.line_no)
        for line in conn.execute(lines):
            by_id[str(line.order_id)].lines.append(
                OrderLine(
                    line_no=int(line.line_no),
                    sku=str(line.sku),
                    product_code=str(line.product_code),
                    name=str(line.name),
                    category=str(line.category),
                    colour=str(line.colour),
                    size=str(line.size),
                    qty=int(line.qty),
                    unit_price_cents=int(line.unit_price_cents),
                    returned_qty=int(line.returned_qty),
                )
            )
    return found


def find_orders(
    conn: Connection, *, phone: str | None = None, number: str | None = None, limit: int = MAX_LOOKUP
) -> list[FoundOrder]:
    """Orders of the customer's ``phone`` (any way of writing it) and/or with ``number``, newest
    paid first, at most ``limit``; each with its lines (and units returned) and selling store."""
    conditions: list[sa.ColumnElement[bool]] = []
    if phone is not None:
        digits = normalize_phone(phone)
        if not digits:
            return []
        conditions.append(orders.c.customer_phone == digits)
    if number is not None:
        if not number.strip():
            return []
        conditions.append(orders.c.number == number.strip())
    if not conditions:
        raise ValueError("find_orders needs a phone or a number")
    return _select(conn, sa.and_(*conditions), limit=limit)


def get_order(conn: Connection, key: str) -> FoundOrder | None:
    """One order by id or number."""
    found = _select(conn, sa.or_(orders.c.id == key, orders.c.number == key), limit=2)
    for item in found:
        if item.order.id == key:
            return item
    return found[0] if found else None


# CSV import.

REQUIRED_COLUMNS = ("order_no", "channel", "paid_at", "sku", "qty", "unit_price")
OPTIONAL_COLUMNS = ("store", "customer_phone", "customer_name")
#: API field of an order -> its CSV column.
_COLUMN_OF = {
    "number": "order_no",
    "channel": "channel",
    "store": "store",
    "customer_phone": "customer_phone",
    "customer_name": "customer_name",
    "paid_at": "paid_at",
}
_LINE_FIELD = re.compile(r"lines\[(\d+)\]\.(\w+)")
#: Channel as an operator may write it in the file: its code, or its Chinese or English label.
_CHANNEL_NAMES = {
    **{code: code for code in CHANNELS},
    **{zh: code for code, (zh, _) in CHANNEL_LABELS.items()},
    **{en.lower(): code for code, (_, en) in CHANNEL_LABELS.items()},
}


@dataclass
class CsvOrder:
    """An order read from a CSV file, with the file line of each of its lines."""

    order: OrderInput
    line_of: list[int]

    def locate(self, exc: HqError) -> InvalidInput:
        """``exc`` (about a field of the order) as the error of the cell it came from."""
        where = _LINE_FIELD.fullmatch(exc.field or "")
        if where is not None and int(where.group(1)) < len(self.line_of):
            return csv_error(self.line_of[int(where.group(1))], where.group(2), exc)
        return csv_error(self.line_of[0], _COLUMN_OF.get(exc.field or "", "order_no"), exc)


def csv_error(line: int, column: str, exc: HqError) -> InvalidInput:
    """The error of cell ``line``/``column``: the rule it breaks, in both languages."""
    details = {lang: render(exc.code, lang, field=column, **exc.params) for lang in ("zh", "en")}
    return InvalidInput(
        "csv_order_value",
        field=column,
        line=line,
        column=column,
        reason=exc.code,
        detail_zh=details["zh"],
        detail_en=details["en"],
    )


def _cell(row: dict[str | None, Any], column: str) -> str:
    value = row.get(column)
    return value.strip() if isinstance(value, str) else ""


def parse_csv(text: str) -> list[CsvOrder]:
    """Orders from CSV text (rows grouped by order number, in the order each number first
    appears); :class:`InvalidInput` names the line and column of the first error."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    found: dict[str, _CsvGroup] = {}
    try:
        header = [name.strip() for name in reader.fieldnames or []]
        reader.fieldnames = header
        for column in REQUIRED_COLUMNS:
            if column not in header:
                raise InvalidInput("csv_missing_column", field=column, line=1, column=column)
        for row in reader:
            line = reader.line_num
            if not any(_cell(row, column) for column in header):
                continue  # a blank row
            try:
                number = check_order_number(_cell(row, "order_no"), "order_no")
            except InvalidField as exc:
                raise csv_error(line, "order_no", from_invalid_field(exc, **exc.params)) from exc
            group = found.get(number)
            if group is None:
                group = found[number] = _CsvGroup(number=number, first_line=line)
            group.add(line, row)
    except csv.Error as exc:  # a NUL byte, an unterminated quote...
        raise HqError("file_unreadable", detail=f"CSV line {reader.line_num}: {exc}") from exc
    return [group.order() for group in found.values()]


@dataclass
class _CsvGroup:
    """The rows of one order number, as they are read."""

    number: str
    first_line: int
    head: dict[str, str] = field(default_factory=dict)
    paid_at: int | None = None
    lines: list[LineInput] = field(default_factory=list)
    line_of: list[int] = field(default_factory=list)

    def add(self, line: int, row: dict[str | None, Any]) -> None:
        for column in ("channel", "store", "customer_phone", "customer_name", "paid_at"):
            value = _cell(row, column)
            if column == "channel":
                value = _CHANNEL_NAMES.get(value.lower(), value) if value else ""
            if not value:
                continue
            if column not in self.head:
                self.head[column] = value
                if column == "paid_at":
                    self.paid_at = _located(line, column, parse_paid_at, value)
            elif not _same_cell(column, self.head[column], value):
                mismatch = InvalidInput("csv_order_mismatch", field=column, first_line=self.first_line)
                raise csv_error(line, column, mismatch)
        if line == self.first_line:
            for column in ("channel", "paid_at"):
                if column not in self.head:
                    raise csv_error(line, column, InvalidInput("required", field=column))
        sku = _cell(row, "sku")
        if not sku:
            raise csv_error(line, "sku", InvalidInput("required", field="sku"))
        if len(sku) > MAX_SKU:
            raise csv_error(line, "sku", InvalidInput("unknown_sku", field="sku", value=sku))
        qty_text = _cell(row, "qty")
        if not _DIGITS.fullmatch(qty_text) or not 1 <= int(qty_text) <= MAX_LINE_QTY:
            raise csv_error(line, "qty", InvalidInput("invalid_order_qty", field="qty", limit=MAX_LINE_QTY))
        price = _located(line, "unit_price", _unit_price, _cell(row, "unit_price"))
        self.lines.append(LineInput(sku=sku, qty=int(qty_text), unit_price_cents=price))
        self.line_of.append(line)

    def order(self) -> CsvOrder:
        assert self.paid_at is not None
        return CsvOrder(
            order=OrderInput(
                number=self.number,
                channel=self.head["channel"],
                paid_at=self.paid_at,
                lines=self.lines,
                store=self.head.get("store", ""),
                customer_phone=self.head.get("customer_phone", ""),
                customer_name=self.head.get("customer_name", ""),
            ),
            line_of=self.line_of,
        )


def _same_cell(column: str, first: str, value: str) -> bool:
    if column == "customer_phone":
        return normalize_phone(first) == normalize_phone(value)
    if column == "paid_at":
        try:
            return parse_paid_at(first) == parse_paid_at(value)
        except InvalidInput:
            return False
    return first == value


def _unit_price(text: str) -> int:
    return parse_yuan(text, field="unit_price", code="invalid_unit_price", max_cents=MAX_UNIT_PRICE_CENTS)


def _located(line: int, column: str, parse: Callable[[str], int], text: str) -> int:
    """``parse(text)``, its error as that of the cell ``line``/``column``."""
    try:
        return parse(text)
    except InvalidInput as exc:
        raise csv_error(line, column, exc) from exc


def import_orders(db: Database, clock: HybridClock, items: list[CsvOrder], now_ms: int) -> ImportSummary:
    """Check every order of a file, then write the new ones, in one transaction: nothing is
    written when one is refused (unknown SKU or store, an order number taken by other content)."""
    created: list[OrderState] = []
    present = 0
    with db.write() as conn:
        refs = _load_refs(conn, [item.order for item in items])
        stored = _by_numbers(conn, [item.order.number for item in items])
        for item in items:
            try:
                state = _check(item.order, refs, now_ms)
                before = stored.get(state.number)
                if before is not None and _content(before) != _content(state):
                    raise _conflict(state.number)
            except HqError as exc:
                raise item.locate(exc) from exc
            if before is None:
                created.append(state)
            else:
                present += 1
        insert_orders(conn, clock, created)
    return ImportSummary(
        orders=len(items),
        lines=sum(len(item.order.lines) for item in items),
        created=len(created),
        already_present=present,
    )
