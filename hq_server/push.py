"""The push action: a node's batch of ops applied in one transaction (docs/sync.md, "Push").

Envelope checks (protocol, node, store, seq order, size) come first and refuse the whole batch.
Then, under the change-log lock: ops at or below the node's high-water mark are duplicates and get
the result stored the first time, unless HQ stored another op under that seq (a replica restored
from an older copy: :class:`~hq_server.errors.SeqReused`, nothing applied); the first new op must
be ``high_water + 1`` (else :class:`~hq_server.errors.SeqGap`, nothing applied). A new ticket
whose number another ticket already has takes the node's next number. The batch's tickets are loaded in one
``SELECT ... IN``, the ops applied in memory (:mod:`hq_server.ticket_rules`) and everything flushed
with one ``executemany`` per table. An op kind HQ does not know stops the batch there
(``upgrade_required``, not stored, high-water mark not advanced past it).

The answer carries HQ's current snapshot of each of the store's tickets whose copy at the store
may now differ from HQ's with no new change-log entry to bring it: a ticket with an op that was
merged, rejected, re-stamped, renumbered or answered as a duplicate. A ticket whose ops were all
applied as sent needs none: its new version is in the change log, after the store's cursor, and
the store's next pull brings it (before, every touched ticket was in the answer and again in the
pull: two thirds of the store's work on an ack).

Result codes: ``applied`` ops have code ``""``, or ``clock_clamped`` when the op's HLC was more
than the drift bound ahead and HQ re-stamped it (``OpResult.hlc`` is then HQ's time), or
``renumbered`` for a transfer request whose number another transfer had (the ack's snapshot
carries the new one); ``merged``
ops have ``superseded`` (fields lost to later writes) or ``duplicate`` (already there); ``rejected``
ops carry the rule's code. Reasons are rendered in the caller's language when first processed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy.engine import Connection

from hq_server import dispatch, nodes, reference, return_store, return_tickets, stock_alerts, stock_store, ticket_store
from hq_server.db import Database
from hq_server.errors import BadRequest, Forbidden, PayloadTooLarge, SeqGap, SeqReused, UnsupportedProtocol
from hq_server.nodes import Node
from hq_server.return_rules import ReturnBatch, apply_return
from hq_server.schema import comments, ticket_history
from hq_server.stock_rules import StockBatch, apply_move, request_transfer, step_transfer
from hq_server.ticket_rules import (
    Outcome,
    TicketBatch,
    add_comment,
    change_status,
    create_ticket,
    rejected,
    set_fields,
)
from sync_protocol.entities import encode_entity
from sync_protocol.errors import ClockDriftError
from sync_protocol.hlc import Hlc, HybridClock
from sync_protocol.i18n import render
from sync_protocol.messages import UPGRADE_REQUIRED, Change, OpResult, PushRequest, PushResponse
from sync_protocol.ops import (
    KINDS,
    Op,
    Payload,
    ReturnCreate,
    StockMove,
    TicketComment,
    TicketCreate,
    TicketSet,
    TicketStatus,
    TransferRequest,
    TransferStep,
    decode_payload,
)
from sync_protocol.texts import field_label
from sync_protocol.tickets import ticket_number
from sync_protocol.version import MAX_PUSH_OPS, PROTOCOL_VERSION, SUPPORTED_VERSIONS

log = logging.getLogger("storedesk.hq.push")

_TICKET_PAYLOADS = (TicketCreate, TicketSet, TicketComment, TicketStatus)
_STOCK_PAYLOADS = (StockMove, TransferRequest, TransferStep, ReturnCreate)


@dataclass
class _Prepared:
    """An op decoded outside the transaction: its payload and HLC, or why it cannot be applied."""

    op: Op
    payload: Payload | None
    hlc: Hlc | None
    error: Outcome | None


def _prepare(op: Op) -> _Prepared:
    # The kind first: an op of a later version keeps its place in the outbox whatever else it holds.
    if op.kind not in KINDS:
        return _Prepared(op, None, None, rejected(UPGRADE_REQUIRED, kind=op.kind))
    try:
        hlc = Hlc.parse(op.hlc)
    except ValueError:
        return _Prepared(op, None, None, rejected("malformed_op", detail=f"hlc {op.hlc!r}"))
    try:
        payload = decode_payload(op.kind, op.payload)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return _Prepared(op, None, hlc, rejected("malformed_op", detail=str(exc)))
    return _Prepared(op, payload, hlc, None)


def check_envelope(node: Node, request: PushRequest) -> None:
    """Refuse a batch that is not this node's, too large or out of order (nothing applied)."""
    if request.protocol not in SUPPORTED_VERSIONS:
        supported = ", ".join(map(str, SUPPORTED_VERSIONS))
        raise UnsupportedProtocol(value=request.protocol, supported=supported)
    if len(request.ops) > MAX_PUSH_OPS:
        raise PayloadTooLarge("too_many_ops", limit=MAX_PUSH_OPS, count=len(request.ops))
    if request.node_id != node.id:
        raise Forbidden("wrong_node")
    previous = 0
    for op in request.ops:
        if op.node_id != node.id:
            raise Forbidden("wrong_node")
        if op.store_id != node.store_id:
            raise Forbidden("wrong_store")
        if op.seq <= previous:
            raise BadRequest("seq_order", field="seq")
        previous = op.seq


def push(db: Database, clock: HybridClock, node: Node, request: PushRequest, lang: str) -> PushResponse:
    """Apply ``request`` for ``node``; see the module docstring for the rules."""
    check_envelope(node, request)
    prepared = [_prepare(op) for op in request.ops]
    ticket_ids = {p.payload.ticket_id for p in prepared if isinstance(p.payload, _TICKET_PAYLOADS)}
    now_ms = time.time_ns() // 1_000_000
    with db.write() as conn:
        state = nodes.get(conn, node.id)
        high_water = state.high_water
        new = [p for p in prepared if p.op.seq > high_water]
        if new and (new[0].op.seq != high_water + 1 or new[-1].op.seq - new[0].op.seq != len(new) - 1):
            raise SeqGap(high_water + 1)
        stored = nodes.stored_results(conn, node.id, [p.op.seq for p in prepared if p.op.seq <= high_water])
        for p in prepared:
            kept = stored.get(p.op.seq)
            if kept is not None and kept.op_id != p.op.op_id:
                raise SeqReused(p.op.seq, high_water + 1)
        stored_rows: dict[str, tuple[Any, ...]] = {}
        comment_ids, event_ids, new_numbers = _record_keys(new)
        batch = TicketBatch(
            tickets=ticket_store.load_tickets(conn, ticket_ids, rows=stored_rows),
            stored_rows=stored_rows,
            type_codes=reference.ticket_type_codes(conn),
            forms=reference.forms_of(conn),
            known_comment_ids=ticket_store.existing_ids(conn, comments, comment_ids),
            known_event_ids=ticket_store.existing_ids(conn, ticket_history, event_ids),
        )
        returns = return_store.load_batch(conn, _payloads(new, ReturnCreate), [node.store_id])
        stock = _load_stock(conn, node, new, prepared, returns)
        results: list[OpResult] = []
        fresh: list[nodes.KeptResult] = []
        touched: dict[str, None] = {}
        touched_transfers: dict[str, None] = {}
        touched_returns: dict[str, None] = {}
        retyped: list[str] = []
        counter = state.ticket_counter
        numbers = ticket_store.numbers_in_use(conn, new_numbers)
        for item in prepared:
            op = item.op
            renumbered = False
            if op.seq <= high_water:
                result = stored.get(op.seq) or _lost_result(op, lang)
                results.append(result)
                stale = True
            else:
                if isinstance(item.payload, TicketCreate):
                    sent = item.payload.number
                    item.payload, counter = _unique_number(item.payload, batch, numbers, node, counter)
                    renumbered = item.payload.number != sent
                result = _apply(batch, stock, returns, clock, node, item, lang)
                results.append(result)
                if result.code == UPGRADE_REQUIRED:
                    break
                fresh.append(nodes.KeptResult(result, op.kind, op.entity_id))
                high_water = op.seq
                if isinstance(item.payload, TicketSet) and "type" in item.payload.changes:
                    retyped.append(item.payload.ticket_id)  # its SLA policy may differ now
                stale = renumbered or result.status != "applied" or result.code != ""
            if stale and isinstance(item.payload, _TICKET_PAYLOADS):
                touched[item.payload.ticket_id] = None
            elif stale and isinstance(item.payload, (TransferRequest, TransferStep)):
                touched_transfers[item.payload.transfer_id] = None
            elif isinstance(item.payload, ReturnCreate):  # the store's copy waits for HQ's decision
                touched_returns[item.payload.return_id] = None
        alerts = stock_alerts.open_tickets(conn, clock, batch, stock, now_ms)
        return_tickets.open_tickets(conn, clock, batch, returns, now_ms)
        dispatch.decide(conn, clock, batch, now_ms, touched=retyped)
        ticket_store.flush(conn, clock, batch)
        stock_store.flush(conn, clock, stock)
        return_store.flush(conn, clock, returns)
        stock_alerts.record(conn, alerts)
        dispatch.after_flush(conn, batch, now_ms)
        nodes.store_results(conn, node.id, fresh, now_ms)
        nodes.record_sync(conn, node.id, high_water=high_water, ticket_counter=counter, now_ms=now_ms)
        decided = _return_snapshots(conn, returns, touched_returns, node.store_id)
    return PushResponse(
        protocol=PROTOCOL_VERSION,
        high_water=high_water,
        results=results,
        server_hlc=clock.now().encode(),
        entities=[
            *_snapshots(batch, touched, node.store_id),
            *_transfer_snapshots(stock, touched_transfers, node.store_id),
            *decided,
        ],
        ticket_counter=counter,
    )


def _payloads(items: Sequence[_Prepared], kind: type[ReturnCreate]) -> list[ReturnCreate]:
    return [i.payload for i in items if isinstance(i.payload, kind)]


def _load_stock(
    conn: Connection, node: Node, items: Sequence[_Prepared], sent: Sequence[_Prepared], returns: ReturnBatch
) -> StockBatch:
    """The stock state the batch's new stock, transfer and return ops (``items``) need, and the
    transfers of every transfer op ``sent`` (a duplicate's answer carries its transfer's snapshot
    too); nothing when there are none."""
    if not any(isinstance(i.payload, _STOCK_PAYLOADS) for i in sent):  # ``items`` are some of ``sent``
        return StockBatch(levels={}, skus={}, stores={}, transfers={})
    moves = [i.payload for i in items if isinstance(i.payload, StockMove)]
    requests = [i.payload for i in items if isinstance(i.payload, TransferRequest)]
    steps = [i.payload for i in items if isinstance(i.payload, TransferStep)]
    taken_back = _payloads(items, ReturnCreate)
    resent = [i.payload.transfer_id for i in sent if isinstance(i.payload, (TransferRequest, TransferStep))]
    if not moves and not requests and not steps and not resent and not taken_back:
        return StockBatch(levels={}, skus={}, stores={}, transfers={})
    return_skus = [line.sku for order in returns.orders.values() for line in order.lines]
    return_skus += [item.sku for p in taken_back for item in p.exchange]
    return_moves = [line.move_id for p in taken_back for line in p.lines]
    return_moves += [item.move_id for p in taken_back for item in p.exchange]
    return stock_store.load_batch(
        conn,
        stores_of=[node.store_id],
        skus_of=[*(m.sku for m in moves), *return_skus],
        sku_everywhere=[r.sku for r in requests],
        transfer_ids=resent,
        move_ids=[*(m.move_id for m in moves), *(s.move_id for s in steps), *return_moves],
        transfer_numbers=[r.number for r in requests],
        store_keys=[node.store_id, *(r.source_store_id for r in requests)],
    )


def _record_keys(items: Sequence[_Prepared]) -> tuple[list[str], list[str], list[str]]:
    """The comment ids, status event ids and new ticket numbers ``items`` carry (one pass)."""
    comment_ids: list[str] = []
    event_ids: list[str] = []
    numbers: list[str] = []
    for item in items:
        payload = item.payload
        if isinstance(payload, TicketComment):
            comment_ids.append(payload.comment_id)
        elif isinstance(payload, TicketStatus):
            event_ids.append(payload.event_id)
        elif isinstance(payload, TicketCreate):
            numbers.append(payload.number)
    return comment_ids, event_ids, numbers


def _unique_number(
    p: TicketCreate, batch: TicketBatch, numbers: dict[str, str], node: Node, counter: int
) -> tuple[TicketCreate, int]:
    """``p`` with a number no other ticket has, and the node's ticket counter after it.

    A replica restored from an older copy hands out numbers HQ has already seen; its new ticket
    then takes the node's next number (the ack's snapshot tells the store). A ticket HQ already
    has keeps the number it has.
    """
    counter = max(counter, p.counter)
    holder = numbers.get(p.number, p.ticket_id)
    if holder != p.ticket_id and p.ticket_id not in batch.tickets:
        counter += 1
        p = msgspec.structs.replace(p, number=ticket_number(node.store_code, node.node_no, counter), counter=counter)
        log.warning("node %s: ticket %s renumbered %s (its number was taken)", node.id, p.ticket_id, p.number)
    numbers[p.number] = p.ticket_id
    return p, counter


def _apply(
    batch: TicketBatch,
    stock: StockBatch,
    returns: ReturnBatch,
    clock: HybridClock,
    node: Node,
    item: _Prepared,
    lang: str,
) -> OpResult:
    op = item.op
    if item.error is not None or item.payload is None or item.hlc is None:
        outcome = item.error or rejected("malformed_op", detail="")
        return _result(op, outcome, "", clamped=False, lang=lang)
    clamped = False
    try:
        clock.observe(item.hlc)
        hlc = op.hlc  # canonical: Hlc.parse accepts nothing else
    except ClockDriftError as exc:
        hlc = clock.now().encode()
        clamped = True
        log.warning("node %s op %s: clock %d ms ahead, re-stamped %s", node.id, op.seq, exc.ahead_ms, hlc)
    match item.payload:
        case TicketCreate() as p:
            outcome = create_ticket(batch, p, store_id=node.store_id, hlc=hlc, origin=node.id)
        case TicketSet() as p:
            outcome = set_fields(batch, p, store_id=node.store_id, hlc=hlc)
        case TicketComment() as p:
            outcome = add_comment(batch, p, store_id=node.store_id, hlc=hlc, origin=node.id)
        case TicketStatus() as p:
            outcome = change_status(batch, p, store_id=node.store_id, hlc=hlc, origin=node.id)
        case StockMove() as p:
            outcome = apply_move(stock, p, store_id=node.store_id, hlc=hlc, origin=node.id)
        case TransferRequest() as p:
            outcome = request_transfer(stock, p, store_id=node.store_id, hlc=hlc)
        case TransferStep() as p:
            outcome = step_transfer(stock, p, store_id=node.store_id, hlc=hlc, origin=node.id)
        case ReturnCreate() as p:
            outcome = apply_return(returns, stock, p, store_id=node.store_id, hlc=hlc, origin=node.id, lang=lang)
    return _result(op, outcome, hlc, clamped=clamped, lang=lang)


def _result(op: Op, outcome: Outcome, hlc: str, *, clamped: bool, lang: str) -> OpResult:
    code, reason = outcome.code, ""
    if outcome.status == "rejected":
        reason = render(code, lang, field=outcome.field, **outcome.params)
    elif clamped:
        code, reason = "clock_clamped", render("clock_clamped", lang)
    elif outcome.status == "merged":
        separator = ", " if lang == "en" else "、"
        fields = separator.join(field_label(name, lang) for name in outcome.superseded)
        reason = render(code, lang, fields=fields)
    return OpResult(
        seq=op.seq,
        op_id=op.op_id,
        status=outcome.status,
        code=code,
        reason=reason,
        hlc=hlc,
        superseded=list(outcome.superseded),
    )


def _lost_result(op: Op, lang: str) -> OpResult:
    """A duplicate whose stored result was compacted away: it was processed, report it as such."""
    return OpResult(
        seq=op.seq,
        op_id=op.op_id,
        status="merged",
        code="duplicate",
        reason=render("duplicate", lang),
        hlc=op.hlc,
    )


def _snapshots(batch: TicketBatch, touched: dict[str, None], store_id: str) -> list[Change]:
    """Current state of these tickets of the store (never another store's)."""
    found = []
    for ticket_id in touched:
        ticket = batch.tickets.get(ticket_id)
        if ticket is not None and ticket.store_id == store_id:
            encoded = batch.encoded.get(ticket_id)
            data = msgspec.Raw(encoded if encoded is not None else encode_entity(ticket))
            found.append(Change(pos=0, entity="ticket", entity_id=ticket.id, hlc=ticket.hlc, data=data))
    return found


def _transfer_snapshots(stock: StockBatch, touched: dict[str, None], store_id: str) -> list[Change]:
    """Current state of these transfers the store is a party to."""
    found = []
    for transfer_id in touched:
        t = stock.transfers.get(transfer_id)
        if t is not None and store_id in (t.from_store_id, t.to_store_id):
            data = msgspec.Raw(encode_entity(t))
            found.append(Change(pos=0, entity="transfer", entity_id=t.id, hlc=t.hlc, data=data))
    return found


def _return_snapshots(conn: Connection, returns: ReturnBatch, touched: dict[str, None], store_id: str) -> list[Change]:
    """HQ's decision on each return the push carried (decided now, or before for a duplicate,
    then with its order as HQ holds it now, so the store's copy counts the returned units)."""
    found = []
    for return_id in touched:
        state = returns.by_id(return_id) or return_store.get_state(conn, return_id, with_order=True)
        if state is not None and state.store_id == store_id:
            data = msgspec.Raw(encode_entity(state))
            found.append(Change(pos=0, entity="return", entity_id=state.id, hlc=state.hlc, data=data))
    return found
