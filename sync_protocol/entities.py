"""Encoders and decoders of the entity snapshots carried in :class:`~sync_protocol.messages.Change`."""

from __future__ import annotations

from typing import Any

import msgspec

from sync_protocol.accounts import StoreAccount
from sync_protocol.messages import ReferenceItem
from sync_protocol.orders import OrderState
from sync_protocol.return_policy import ReturnPolicy
from sync_protocol.returns import ReturnState
from sync_protocol.stock import StockLevel, StockMoveState, TransferState
from sync_protocol.tickets import CommentState, HistoryEntry, TicketState

#: entity name -> Struct of its ``data``.
ENTITY_TYPES: dict[str, type[msgspec.Struct]] = {
    "ticket": TicketState,
    "comment": CommentState,
    "history": HistoryEntry,
    "ticket_type": ReferenceItem,
    "store": ReferenceItem,
    "region": ReferenceItem,
    "department": ReferenceItem,
    "product": ReferenceItem,
    "agent": ReferenceItem,
    "stock": StockLevel,
    "stock_move": StockMoveState,
    "transfer": TransferState,
    "order": OrderState,
    "return": ReturnState,
    "return_policy": ReturnPolicy,
    "account": StoreAccount,
}

_encoder = msgspec.msgpack.Encoder()
_decoders: dict[str, msgspec.msgpack.Decoder[Any]] = {
    name: msgspec.msgpack.Decoder(struct) for name, struct in ENTITY_TYPES.items()
}


def encode_entity(state: msgspec.Struct) -> bytes:
    return _encoder.encode(state)


def decode_entity(entity: str, data: bytes | msgspec.Raw) -> Any:
    """Decode the data of a change; ``KeyError`` for an entity this version does not know."""
    return _decoders[entity].decode(data)
