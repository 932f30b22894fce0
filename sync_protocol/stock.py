"""Stock and transfers: the states HQ publishes, the transfer state machine, and distances.

Stock at a store is the sum of its movements (:class:`StockMoveState`); a quantity is never sent
as a number to be written. HQ keeps each store's level per SKU (:class:`StockLevel`: on hand and
reserved for approved-but-unshipped transfers) and publishes it to the stores of the region.

A transfer (调货) moves units of one SKU from a source store to the requesting store:

    requested --approve--> approved --ship--> shipped --receive--> received
        |  \\--reject--> rejected      \\--cancel--> cancelled
        \\--cancel--> cancelled

Requesting reserves the units at the source (HQ refuses a request that the source's available
stock, on hand minus reserved, cannot cover). Shipping moves them out of the source's stock and
receiving into the requester's, each exactly once; rejecting or cancelling releases them.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import msgspec

from sync_protocol.errors import InvalidField

#: Why stock moved. The first four are entered at a store (a POS or a clerk); the transfer ones
#: come only from transfer steps.
MoveReason = Literal["sale", "receipt", "return", "adjustment", "transfer_out", "transfer_in"]
STORE_MOVE_REASONS: tuple[str, ...] = ("sale", "receipt", "return", "adjustment")
MOVE_REASONS: tuple[str, ...] = (*STORE_MOVE_REASONS, "transfer_out", "transfer_in")
#: Largest number of units one movement or one transfer may carry.
MAX_MOVE_QTY = 100_000

TransferStatus = Literal["requested", "approved", "rejected", "shipped", "received", "cancelled"]
TransferAction = Literal["approve", "reject", "ship", "receive", "cancel"]
TRANSFER_ACTIONS: tuple[str, ...] = ("approve", "reject", "ship", "receive", "cancel")
OPEN_TRANSFER_STATUSES = frozenset({"requested", "approved", "shipped"})
#: Statuses in which the units are reserved at the source.
RESERVING_STATUSES = frozenset({"requested", "approved"})

TRANSFER_STATUS_LABELS: dict[str, tuple[str, str]] = {
    "requested": ("待审批", "awaiting approval"),
    "approved": ("已批准", "approved"),
    "rejected": ("已拒绝", "rejected"),
    "shipped": ("已发货", "shipped"),
    "received": ("已收货", "received"),
    "cancelled": ("已取消", "cancelled"),
}
ACTION_LABELS: dict[str, tuple[str, str]] = {
    "request": ("申请调货", "request"),
    "approve": ("批准", "approve"),
    "reject": ("拒绝", "reject"),
    "ship": ("发货", "ship"),
    "receive": ("确认收货", "receive"),
    "cancel": ("取消", "cancel"),
}
MOVE_REASON_LABELS: dict[str, tuple[str, str]] = {
    "sale": ("销售", "sale"),
    "receipt": ("入库", "receipt"),
    "return": ("退货入库", "return"),
    "adjustment": ("盘点调整", "adjustment"),
    "transfer_out": ("调出", "transfer out"),
    "transfer_in": ("调入", "transfer in"),
}

#: status -> action -> next status.
TRANSITIONS: dict[str, dict[str, str]] = {
    "requested": {"approve": "approved", "reject": "rejected", "cancel": "cancelled"},
    "approved": {"ship": "shipped", "cancel": "cancelled"},
    "shipped": {"receive": "received"},
}
#: Which side of a transfer may take each action: the source store or the requesting store.
ACTION_SIDE: dict[str, Literal["source", "requester"]] = {
    "approve": "source",
    "reject": "source",
    "ship": "source",
    "receive": "requester",
    "cancel": "requester",
}
#: The movement each action makes: (reason, sign of the quantity, which store's stock).
ACTION_MOVES: dict[str, tuple[MoveReason, int, Literal["source", "requester"]]] = {
    "ship": ("transfer_out", -1, "source"),
    "receive": ("transfer_in", 1, "requester"),
}


class StockLevel(msgspec.Struct, kw_only=True):
    """A store's stock of one SKU as HQ holds it (entity ``stock``); ``as_of``: when HQ last
    changed it (ms)."""

    store_id: str
    sku: str
    product_code: str
    on_hand: int
    reserved: int = 0
    as_of: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockMoveState(msgspec.Struct, kw_only=True):
    """One movement HQ accepted (entity ``stock_move``, seen by its store). ``ref`` is the transfer
    id of a transfer movement."""

    id: str
    store_id: str
    sku: str
    qty: int
    reason: str
    at: int
    ref: str = ""
    note: str = ""
    hlc: str


class TransferEvent(msgspec.Struct, kw_only=True):
    """One step of a transfer's timeline; ``id`` is the op's event id (the transfer id for the request)."""

    id: str
    action: str
    status: str
    at: int
    actor: str = ""
    note: str = ""


class Party(msgspec.Struct, kw_only=True):
    """One side of a transfer order: the store with its address and contact."""

    store_id: str
    code: str = ""
    name: str = ""
    address: str = ""
    contact: str = ""
    phone: str = ""


class OrderLine(msgspec.Struct, kw_only=True):
    sku: str
    product_code: str = ""
    name: str = ""
    colour: str = ""
    size: str = ""
    qty: int


class TransferState(msgspec.Struct, kw_only=True):
    """A transfer as HQ holds it (entity ``transfer``, seen by both stores).

    ``order_no``, ``source``/``requester`` details and ``lines`` form the transfer order HQ
    issues on approval. ``code``/``reason`` say why a transfer was rejected (by the source's
    manager, or by HQ when the stock could not cover it).
    """

    id: str
    number: str
    from_store_id: str
    to_store_id: str
    sku: str
    qty: int
    status: str
    requested_at: int
    updated_at: int
    hlc: str
    note: str = ""
    code: str = ""
    reason: str = ""
    order_no: str = ""
    source: Party | None = None
    requester: Party | None = None
    lines: list[OrderLine] = []
    events: list[TransferEvent] = []
    #: When each step was taken (ms), for lead-time reports: action -> time.
    times: dict[str, int] = {}


class LookupSku(msgspec.Struct, kw_only=True):
    sku: str
    colour: str
    size: str
    on_hand: int
    reserved: int = 0


class LookupStore(msgspec.Struct, kw_only=True):
    """One store's stock of a product. ``as_of``: the figure is true as of then (the store's last
    contact with HQ, or its last counted movement, whichever is later); ``distance_km`` from the
    store that asks (None when either has no coordinates)."""

    store_id: str
    code: str
    name: str
    region_id: str = ""
    distance_km: float | None = None
    as_of: int | None = None
    skus: list[LookupSku] = []


class StockLookup(msgspec.Struct, kw_only=True):
    """Every store's stock of a product by size and colour, nearest first
    (``GET /sync/v1/stock?product=CODE`` for a store node; the staff API answers the same as JSON)."""

    product_code: str
    name_zh: str = ""
    name_en: str = ""
    stores: list[LookupStore] = []
    #: HQ's time when it answered (ms).
    server_time: int


Qty = Annotated[int, msgspec.Meta(ge=-MAX_MOVE_QTY, le=MAX_MOVE_QTY)]


def validate_qty(value: object, *, field: str = "qty", signed: bool = False) -> int:
    """A whole number of units: positive (or non-zero when ``signed``), at most :data:`MAX_MOVE_QTY`."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidField(field, f"{field} must be a whole number", code="invalid_type")
    if value == 0 or (value < 0 and not signed) or abs(value) > MAX_MOVE_QTY:
        raise InvalidField(field, f"{field} is out of range", code="invalid_qty", maximum=MAX_MOVE_QTY)
    return value


def signed_qty(reason: str, qty: int) -> int:
    """The stock change of a store movement entered as a count: a sale takes units out, a receipt
    or a return brings them in, an adjustment is signed as entered."""
    if reason == "sale":
        return -abs(qty)
    if reason in ("receipt", "return"):
        return abs(qty)
    return qty


def next_status(status: str, action: str) -> str | None:
    """The status after ``action``, or None when the action is not allowed now."""
    return TRANSITIONS.get(status, {}).get(action)


def transfer_number(store_code: str, node_no: int, counter: int) -> str:
    """The human number of a transfer requested at a store node: ``SH012-D000045`` (调 = D)."""
    if node_no <= 1:
        return f"{store_code}-D{counter:06d}"
    return f"{store_code}-{node_no}-D{counter:06d}"


def distance_km(a: tuple[float | None, float | None], b: tuple[float | None, float | None]) -> float | None:
    """Great-circle distance between two (lat, lon) points in km; None when either is unknown."""
    (lat1, lon1), (lat2, lon2) = a, b
    if lat1 is None or lon1 is None or lat2 is None or lon2 is None:
        return None
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))
