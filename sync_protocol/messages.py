"""Messages of the sync endpoints (msgpack over HTTP).

    GET  /sync/v1/hello              -> Hello            who am I, where does HQ stand for me
    POST /sync/v1/push   PushRequest -> PushResponse     ops in seq order, one result each
    GET  /sync/v1/pull?cursor=&limit -> PullResponse     the change log since the cursor, in scope
    GET  /sync/v1/wait?cursor=&timeout -> WaitResponse   long-poll until something is in scope

Errors are not msgpack: every non-200 answer carries the JSON error envelope
``{"error": {"code": ..., "message": ..., "field": ...}}`` (see :class:`ErrorBody`); a seq gap
adds ``expected_seq``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from sync_protocol.ops import Op
from sync_protocol.version import LEGACY_MAX_PUSH_OPS

#: Outcome of one op at HQ.
#: ``applied``: took effect as sent. ``merged``: accepted, but part or all of it lost to a later
#: write (last-writer-wins) or was already there. ``rejected``: refused for good with a code and a
#: reason; the high-water mark still advances past it, except for ``upgrade_required``.
OpStatus = Literal["applied", "merged", "rejected"]

#: The one rejection that does not advance the high-water mark: the op stays in the outbox until
#: HQ is upgraded.
UPGRADE_REQUIRED = "upgrade_required"
#: The 409 code of a push whose seqs HQ has already seen with other ops.
SEQ_REUSED = "seq_reused"


class Hello(msgspec.Struct, kw_only=True):
    """HQ's view of the calling node. A fresh replica adopts ``high_water`` and
    ``ticket_counter`` so that a re-created file never re-uses a seq or a ticket number."""

    protocol: int
    supported: list[int]
    node_id: str
    node_no: int
    store_id: str
    store_code: str
    store_name: str
    region_id: str = ""
    high_water: int
    ticket_counter: int
    server_hlc: str
    #: Most ops HQ accepts in one push (its ``MAX_PUSH_OPS``); absent from an HQ that predates
    #: it, whose limit was :data:`~sync_protocol.version.LEGACY_MAX_PUSH_OPS`.
    max_push_ops: int = LEGACY_MAX_PUSH_OPS


class PushRequest(msgspec.Struct, kw_only=True):
    protocol: int
    node_id: str
    ops: list[Op]


class OpResult(msgspec.Struct, kw_only=True):
    seq: int
    op_id: str
    status: OpStatus
    code: str = ""
    reason: str = ""
    #: The HLC HQ recorded for the op (differs from the sent one when HQ clamped a clock far ahead).
    hlc: str = ""
    #: The fields (for ``ticket.set``) that lost to a later write.
    superseded: list[str] = []

    @property
    def awaits_upgrade(self) -> bool:
        """HQ is too old for the op: it stays pending and so do the ops behind it."""
        return self.status == "rejected" and self.code == UPGRADE_REQUIRED


class Change(msgspec.Struct, kw_only=True):
    """One entry of HQ's change log: the state of one entity after a change.

    ``entity`` names the Struct in ``data``: ``ticket`` (TicketState), ``comment`` (CommentState),
    ``history`` (HistoryEntry), ``ticket_type``, ``store``, ``region``, ``department``, ``product``,
    ``agent`` (ReferenceItem), ``stock`` (StockLevel), ``stock_move`` (StockMoveState), ``transfer``
    (TransferState); :data:`sync_protocol.entities.ENTITY_TYPES` is the list.
    """

    pos: int
    entity: str
    entity_id: str
    hlc: str
    data: msgspec.Raw


class PushResponse(msgspec.Struct, kw_only=True):
    protocol: int
    #: The node's applied high-water mark after this push.
    high_water: int
    results: list[OpResult]
    server_hlc: str
    #: Current HQ state of every entity the pushed ops touched, as of this answer
    #: (``pos`` is 0: these are not log entries). The store merges them when it acks.
    entities: list[Change] = []
    #: The node's ticket counter at HQ after this push: the store numbers its next ticket above it.
    ticket_counter: int = 0


class PullResponse(msgspec.Struct, kw_only=True):
    protocol: int
    changes: list[Change]
    #: Opaque; send it back as ``cursor`` on the next pull or wait.
    cursor: str
    has_more: bool
    #: True when HQ could not continue from the cursor sent (HQ restored from an older copy, or
    #: the cursor fell off the retained log): ``changes`` then start from the beginning of the
    #: store's scope, and the store must drop HQ-made records that do not come back.
    reset: bool = False
    #: The node's applied high-water mark at HQ; below the store's acked seq means HQ lost ops
    #: and the store must send them again.
    node_high_water: int
    server_hlc: str


class WaitResponse(msgspec.Struct, kw_only=True):
    #: True when the store's scope has changes after the cursor.
    changed: bool
    server_hlc: str


class ReferenceItem(msgspec.Struct, kw_only=True):
    """Reference data HQ owns (ticket types, stores, departments, regions): code and names plus
    whatever attributes the kind has."""

    id: str
    code: str
    name_zh: str
    name_en: str = ""
    attrs: dict[str, object] = {}


class ErrorDetail(msgspec.Struct, kw_only=True, omit_defaults=True):
    code: str
    message: str
    field: str | None = None
    expected_seq: int | None = None


class ErrorBody(msgspec.Struct):
    """The one JSON error envelope of every StoreDesk HTTP API."""

    error: ErrorDetail


# Encoders and decoders, built once.
msgpack_encoder = msgspec.msgpack.Encoder()
json_encoder = msgspec.json.Encoder()
hello_decoder = msgspec.msgpack.Decoder(Hello)
push_request_decoder = msgspec.msgpack.Decoder(PushRequest)
push_response_decoder = msgspec.msgpack.Decoder(PushResponse)
pull_response_decoder = msgspec.msgpack.Decoder(PullResponse)
wait_response_decoder = msgspec.msgpack.Decoder(WaitResponse)
error_decoder = msgspec.json.Decoder(ErrorBody)


def encode_cursor(pos: int, hlc: str) -> str:
    """A pull cursor: the position of the last log entry examined and its HLC.

    HQ checks that the entry at ``pos`` still carries ``hlc``; if not, its log is not the one the
    store followed (restored from a backup, or compacted past it) and the pull resets.
    """
    return f"{pos}:{hlc}" if pos else "0"


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Inverse of :func:`encode_cursor`. Raises ``ValueError`` on malformed text."""
    if cursor in ("", "0"):
        return 0, ""
    pos_text, _, hlc = cursor.partition(":")
    pos = int(pos_text)
    if pos < 0 or not hlc:
        raise ValueError(f"malformed cursor {cursor!r}")
    return pos, hlc
