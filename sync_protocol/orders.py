"""Orders: store sales and online orders, the records a return is checked against.

An order has lines (SKU, quantity, unit price); each line keeps how many units were returned, so
HQ can refuse a return of more than was bought (the same line returned at two stores while both
were offline: the first one HQ applies wins). Amounts are integer cents. An order is published to
its selling store (its own orders work offline there); any store may look one up through HQ by
the customer's phone or the order number.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import msgspec

from sync_protocol.errors import InvalidField

#: Where an order was made: a store's till, or an online channel.
CHANNELS: tuple[str, ...] = ("store", "tmall", "jd", "douyin", "wechat", "web", "other")
CHANNEL_LABELS: dict[str, tuple[str, str]] = {
    "store": ("门店", "store"),
    "tmall": ("天猫", "Tmall"),
    "jd": ("京东", "JD"),
    "douyin": ("抖音", "Douyin"),
    "wechat": ("微信小程序", "WeChat mini program"),
    "web": ("官网", "web shop"),
    "other": ("其他", "other"),
}
MAX_LINES = 200
MAX_LINE_QTY = 10_000
MAX_UNIT_PRICE_CENTS = 10_000_000_00  # 10 million yuan
ORDER_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
PHONE = re.compile(r"\+?[0-9][0-9 -]{4,30}")


class OrderLine(msgspec.Struct, kw_only=True):
    line_no: int
    sku: str
    product_code: str = ""
    name: str = ""
    category: str = ""
    colour: str = ""
    size: str = ""
    qty: int
    unit_price_cents: int
    #: Units of this line HQ has accepted back (at any store).
    returned_qty: int = 0

    @property
    def amount_cents(self) -> int:
        return self.qty * self.unit_price_cents


class OrderState(msgspec.Struct, kw_only=True):
    """An order as HQ holds it (entity ``order``, seen by its selling store)."""

    id: str
    number: str
    channel: str
    #: The selling store (empty for an online order).
    store_id: str = ""
    customer_phone: str = ""
    customer_name: str = ""
    paid_at: int
    total_cents: int
    lines: list[OrderLine]
    created_at: int
    hlc: str


def yuan(cents: int) -> str:
    """Cents as a yuan amount with two decimals (``29900`` -> ``"299.00"``)."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def parse_yuan(value: object, *, field: str, code: str, max_cents: int) -> int:
    """An amount in yuan (a string or number, at most two decimals, not negative) as cents;
    :class:`InvalidField` with ``code`` and ``limit`` (yuan) otherwise."""
    amount: Decimal | None = None
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        try:
            amount = Decimal(value.strip() if isinstance(value, str) else str(value))
        except InvalidOperation:
            amount = None
    if (
        amount is None
        or not amount.is_finite()
        or amount < 0
        or amount * 100 > max_cents
        or amount != amount.quantize(Decimal("0.01"))
    ):
        raise InvalidField(field, f"{field} is not an amount", code=code, limit=max_cents // 100)
    return int(amount * 100)


def normalize_phone(value: str) -> str:
    """A phone number as stored and searched: digits only, a leading ``+86``/``86`` dropped from a
    mainland mobile number (``+86 138-0013-8000`` -> ``13800138000``)."""
    digits = re.sub(r"\D", "", value)
    if len(digits) == 13 and digits.startswith("86") and digits[2] == "1":
        digits = digits[2:]
    return digits


def check_order_number(value: object, field: str = "number") -> str:
    if not isinstance(value, str) or not ORDER_NUMBER.fullmatch(value.strip()):
        raise InvalidField(field, f"{field} must be 1-64 letters, digits, '_', '.' or '-'", code="invalid_order_number")
    return value.strip()


def check_phone(value: object, field: str = "customer_phone") -> str:
    """A phone number (may be empty), normalized."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not PHONE.fullmatch(value.strip()):
        raise InvalidField(field, f"{field} is not a phone number", code="invalid_phone")
    return normalize_phone(value)


def check_line_numbers(lines: list[OrderLine]) -> None:
    """Lines are numbered 1, 2, ... once each, with a positive quantity and a price."""
    if not lines:
        raise InvalidField("lines", "an order needs at least one line", code="required")
    if len(lines) > MAX_LINES:
        raise InvalidField("lines", f"at most {MAX_LINES} lines", code="too_long")
    seen: set[int] = set()
    for index, line in enumerate(lines):
        where = f"lines[{index}]"
        if line.line_no < 1 or line.line_no in seen:
            raise InvalidField(f"{where}.line_no", "line numbers must be 1, 2, ... once each", code="invalid_line_no")
        seen.add(line.line_no)
        if not 1 <= line.qty <= MAX_LINE_QTY:
            raise InvalidField(f"{where}.qty", "qty is out of range", code="invalid_qty")
        if not 0 <= line.unit_price_cents <= MAX_UNIT_PRICE_CENTS:
            raise InvalidField(f"{where}.unit_price", "the price is out of range", code="invalid_price")
        if not 0 <= line.returned_qty <= line.qty:
            raise InvalidField(f"{where}.returned_qty", "returned_qty is out of range", code="invalid_qty")


class FoundOrder(msgspec.Struct, kw_only=True):
    """An order as a lookup shows it: with its selling store's code and name (empty online)."""

    order: OrderState
    store_code: str = ""
    store_name: str = ""


class OrderLookup(msgspec.Struct, kw_only=True):
    """HQ's answer to a store's live order lookup (``GET /sync/v1/orders``): newest paid first."""

    orders: list[FoundOrder]
    server_time: int
