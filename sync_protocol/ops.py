"""Operations: the op envelope and one payload Struct per op kind.

A store records every local change as an op in its outbox, in the same SQLite transaction as the
change. The envelope travels with its payload as raw msgpack (``msgspec.Raw``) so that HQ can
decode the envelope of an op whose kind it does not know and answer ``upgrade_required`` for that
op alone. Payloads form one tagged union; the tag is the op kind.

Schema evolution follows msgspec's rules: new fields get defaults, nothing is retyped or
reordered, and a new kind is a new Struct in :data:`Payload`.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Annotated, Any, Union

import msgspec

from sync_protocol.errors import UnknownOpKind
from sync_protocol.orders import MAX_LINE_QTY, MAX_UNIT_PRICE_CENTS
from sync_protocol.orders import MAX_LINES as MAX_ORDER_LINES
from sync_protocol.version import (
    MAX_ENTITY_ID_LENGTH,
    MAX_EPOCH_MS,
    MAX_HLC_LENGTH,
    MAX_ID_LENGTH,
    MAX_INT64,
    MAX_KIND_LENGTH,
)

# Wire bounds, checked as a message is decoded: a payload out of bounds is rejected as
# ``malformed_op`` on its own; an envelope out of bounds makes the push body malformed (400).
#: A client-generated id (UUID text).
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
#: A moment in ms since the Unix epoch.
EpochMs = Annotated[int, msgspec.Meta(ge=0, le=MAX_EPOCH_MS)]
#: A non-negative count that fits HQ's 64-bit columns.
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT64)]


class TicketCreate(msgspec.Struct, tag_field="kind", tag="ticket.create", kw_only=True):
    """A ticket made at a store. ``ticket_id`` is a client-generated UUID; HQ upserts on it."""

    ticket_id: Id
    number: str
    type: str
    title: str
    description: str = ""
    category: str = ""
    product_code: str = ""
    customer_phone: str = ""
    customer_name: str = ""
    created_at: EpochMs
    #: The node's ticket counter used for ``number`` (lets a re-created replica resume it).
    counter: Count = 0
    extra: dict[str, Any] = {}


class TicketSet(msgspec.Struct, tag_field="kind", tag="ticket.set", kw_only=True):
    """Changed clerk-editable fields only; merged per field by HLC."""

    ticket_id: Id
    changes: dict[str, Any]


class TicketComment(msgspec.Struct, tag_field="kind", tag="ticket.comment", kw_only=True):
    """An appended comment. ``comment_id`` is a client-generated UUID."""

    ticket_id: Id
    comment_id: Id
    body: str
    author: str = ""
    created_at: EpochMs


class TicketStatus(msgspec.Struct, tag_field="kind", tag="ticket.status", kw_only=True):
    """A status change event. ``event_id`` is a client-generated UUID."""

    ticket_id: Id
    event_id: Id
    status: str
    note: str = ""
    actor: str = ""
    at: EpochMs


class StockMove(msgspec.Struct, tag_field="kind", tag="stock.move", kw_only=True):
    """A movement of a store's stock of one SKU: ``qty`` is the signed change (a sale of two is
    -2). ``move_id`` is a client-generated UUID; HQ counts each id once."""

    move_id: Id
    sku: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    qty: Annotated[int, msgspec.Meta(ge=-100_000, le=100_000)]
    reason: str
    at: EpochMs
    note: str = ""


class TransferRequest(msgspec.Struct, tag_field="kind", tag="transfer.request", kw_only=True):
    """A store asks for ``qty`` units of ``sku`` from ``source_store_id`` (empty: HQ picks the
    nearest store that has them). ``transfer_id`` is a client-generated UUID."""

    transfer_id: Id
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    sku: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    qty: Annotated[int, msgspec.Meta(ge=1, le=100_000)]
    source_store_id: str = ""
    note: str = ""
    actor: str = ""
    at: EpochMs
    counter: Count = 0


class TransferStep(msgspec.Struct, tag_field="kind", tag="transfer.step", kw_only=True):
    """A step of a transfer taken at a store: approve, reject (with a reason), ship, receive or
    cancel. ``move_id`` names the stock movement of a ship or receive step."""

    transfer_id: Id
    event_id: Id
    action: str
    reason: str = ""
    actor: str = ""
    move_id: Annotated[str, msgspec.Meta(max_length=MAX_ID_LENGTH)] = ""
    at: EpochMs


class ReturnLineInput(msgspec.Struct, kw_only=True):
    """A line of the order brought back: how many units, whether unworn, and the id of the
    movement that takes them back into the returning store's stock."""

    line_no: Annotated[int, msgspec.Meta(ge=1, le=MAX_ORDER_LINES)]
    qty: Annotated[int, msgspec.Meta(ge=1, le=MAX_LINE_QTY)]
    unworn: bool = True
    move_id: Id


class ExchangeInput(msgspec.Struct, kw_only=True):
    """An item an exchange hands out, sold at ``unit_price_cents``; ``move_id`` names its sale."""

    sku: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    qty: Annotated[int, msgspec.Meta(ge=1, le=MAX_LINE_QTY)]
    unit_price_cents: Annotated[int, msgspec.Meta(ge=0, le=MAX_UNIT_PRICE_CENTS)]
    move_id: Id


class ReturnCreate(msgspec.Struct, tag_field="kind", tag="return.create", kw_only=True):
    """A return or exchange taken in at a store (see :mod:`sync_protocol.returns`). HQ decides it:
    the policy, and no line returned beyond what was bought across all stores."""

    return_id: Id
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    order_id: Id
    order_number: str = ""
    #: ``refund`` or ``exchange`` (``kind`` is the op's tag).
    return_kind: str
    #: One of :data:`sync_protocol.return_policy.REASONS`.
    reason: str
    lines: Annotated[list[ReturnLineInput], msgspec.Meta(max_length=MAX_ORDER_LINES)]
    exchange: Annotated[list[ExchangeInput], msgspec.Meta(max_length=MAX_ORDER_LINES)] = []
    #: How the refund is paid: one of :data:`sync_protocol.returns.REFUND_METHODS`.
    method: str = "original"
    photos: list[str] = []
    note: str = ""
    actor: str = ""
    at: EpochMs
    counter: Count = 0


Payload = Union[
    TicketCreate, TicketSet, TicketComment, TicketStatus, StockMove, TransferRequest, TransferStep, ReturnCreate
]

#: Every op kind this version knows.
KINDS: frozenset[str] = frozenset(
    {
        "ticket.create",
        "ticket.set",
        "ticket.comment",
        "ticket.status",
        "stock.move",
        "transfer.request",
        "transfer.step",
        "return.create",
    }
)


def kind_of(payload: Payload) -> str:
    """The op kind of a payload (its tag)."""
    tag = type(payload).__struct_config__.tag
    assert isinstance(tag, str)
    return tag


class Op(msgspec.Struct, kw_only=True):
    """The op envelope.

    ``seq`` is gapless per node, from 1. ``hlc`` is the encoded HLC of the change.
    ``entity_id`` is the id of the record the op is about (the ticket id for ticket ops).
    """

    op_id: Id
    node_id: Id
    store_id: Id
    seq: Annotated[int, msgspec.Meta(ge=1, le=MAX_INT64)]
    hlc: Annotated[str, msgspec.Meta(max_length=MAX_HLC_LENGTH)]
    kind: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_KIND_LENGTH)]
    entity_id: Annotated[str, msgspec.Meta(max_length=MAX_ENTITY_ID_LENGTH)]
    payload: msgspec.Raw


_payload_encoder = msgspec.msgpack.Encoder()
_payload_decoder = msgspec.msgpack.Decoder(Payload)


def encode_payload(payload: Payload) -> bytes:
    """msgpack bytes of a payload (tag included)."""
    return _payload_encoder.encode(payload)


def decode_payload(kind: str, raw: bytes | msgspec.Raw) -> Payload:
    """Decode an op payload.

    Raises :class:`UnknownOpKind` when ``kind`` is not in :data:`KINDS`, and
    ``msgspec.ValidationError``/``msgspec.DecodeError`` when the bytes do not match it.
    """
    if kind not in KINDS:
        raise UnknownOpKind(kind)
    payload: Payload = _payload_decoder.decode(raw)
    if kind_of(payload) != kind:
        raise msgspec.ValidationError(f"payload kind {kind_of(payload)!r} does not match op kind {kind!r}")
    return payload


def new_id() -> str:
    """A time-ordered UUID (version 7) as text, for op ids and client-made records."""
    return str(uuid7())


def uuid7() -> uuid.UUID:
    """RFC 9562 UUIDv7: 48-bit Unix ms timestamp, version 7, variant, 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = rand >> 68  # 12 bits
    rand_b = rand & ((1 << 62) - 1)  # 62 bits
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)
