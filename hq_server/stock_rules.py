"""What stock and transfer ops do, applied in memory to a :class:`StockBatch`.

No SQL here: :mod:`hq_server.stock_store` loads the batch (levels, transfers, stores, SKUs) and
flushes it; :mod:`hq_server.push` drives it in seq order, so within HQ's write lock the first op
applied wins the last unit and every later one sees what is left.

Rules:
- ``stock.move``: counted once per ``move_id``; only the store's own stock; the SKU must exist.
- ``transfer.request``: reserves ``qty`` at the source against its available stock (on hand minus
  reserved); with no source named, HQ picks the nearest store (by coordinates) that can cover it.
  A request nothing can cover is rejected with what the source has left and which store has it.
- ``transfer.step``: only the side :data:`~sync_protocol.stock.ACTION_SIDE` names, only along
  :data:`~sync_protocol.stock.TRANSITIONS`; ship moves the units out of the source, receive into
  the requester, each once; reject and cancel release the reservation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hq_server.ticket_rules import Outcome, rejected, wall_of
from sync_protocol.errors import InvalidField
from sync_protocol.ops import StockMove, TransferRequest, TransferStep, new_id
from sync_protocol.stock import (
    ACTION_MOVES,
    ACTION_SIDE,
    RESERVING_STATUSES,
    STORE_MOVE_REASONS,
    TRANSFER_ACTIONS,
    OrderLine,
    Party,
    StockLevel,
    StockMoveState,
    TransferEvent,
    TransferState,
    distance_km,
    next_status,
)
from sync_protocol.tickets import validate_text

#: Most alternative stores a rejection names.
ALTERNATIVES = 3


@dataclass(frozen=True)
class StoreInfo:
    id: str
    code: str
    name: str
    region_id: str
    address: str = ""
    contact: str = ""
    phone: str = ""
    lat: float | None = None
    lon: float | None = None

    def party(self) -> Party:
        return Party(
            store_id=self.id,
            code=self.code,
            name=self.name,
            address=self.address,
            contact=self.contact,
            phone=self.phone,
        )


@dataclass(frozen=True)
class SkuInfo:
    code: str
    product_code: str
    name: str
    colour: str
    size: str
    #: The catalogue price (None: the catalogue has none).
    price_cents: int | None = None


@dataclass
class StockBatch:
    """Stock state loaded for one transaction, and what the transaction did to it in memory."""

    #: (store id, sku) -> level; a missing key is a level of zero.
    levels: dict[tuple[str, str], StockLevel]
    skus: dict[str, SkuInfo]
    stores: dict[str, StoreInfo]
    transfers: dict[str, TransferState]
    known_move_ids: set[str] = dataclasses.field(default_factory=set)
    #: New movements, in order.
    moves: list[StockMoveState] = dataclasses.field(default_factory=list)
    changed_levels: dict[tuple[str, str], None] = dataclasses.field(default_factory=dict)
    #: Levels whose on-hand quantity a movement of this batch changed.
    moved: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    #: Levels whose on-hand quantity went down in this batch (replenishment looks at these).
    lowered: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    changed_transfers: dict[str, None] = dataclasses.field(default_factory=dict)
    created_transfers: set[str] = dataclasses.field(default_factory=set)
    origins: dict[str, str] = dataclasses.field(default_factory=dict)
    _by_sku: dict[str, list[str]] | None = None
    #: Transfer numbers HQ holds among those the batch's requests carry (and those it gave out).
    numbers_in_use: set[str] = dataclasses.field(default_factory=set)
    #: Levels that have a row at HQ (updated, not inserted, at the flush).
    stored_levels: set[tuple[str, str]] = dataclasses.field(default_factory=set)

    def level(self, store_id: str, sku: str, now_ms: int) -> StockLevel:
        key = (store_id, sku)
        found = self.levels.get(key)
        if found is None:
            info = self.skus.get(sku)  # (a SKU dropped from the catalogue can still arrive by transfer)
            product = info.product_code if info is not None else ""
            if self._by_sku is not None:
                self._by_sku.setdefault(sku, []).append(store_id)
            found = self.levels[key] = StockLevel(
                store_id=store_id, sku=sku, product_code=product, on_hand=0, as_of=now_ms
            )
        return found

    def move(
        self,
        store_id: str,
        sku: str,
        qty: int,
        *,
        reason: str,
        at: int,
        hlc: str,
        move_id: str,
        ref: str = "",
        note: str = "",
        origin: str | None = None,
    ) -> None:
        """Count a movement: the level changes now, the movement row is written at the flush."""
        now_ms = wall_of(hlc)
        level = self.level(store_id, sku, now_ms)
        level.on_hand += qty
        level.as_of = max(level.as_of, now_ms)
        self.changed_levels[(store_id, sku)] = None
        self.moved.add((store_id, sku))
        if qty < 0:
            self.lowered.add((store_id, sku))
        self.moves.append(
            StockMoveState(
                id=move_id, store_id=store_id, sku=sku, qty=qty, reason=reason, at=at, ref=ref, note=note, hlc=hlc
            )
        )
        self.known_move_ids.add(move_id)
        if origin:
            self.origins[move_id] = origin

    def holders_of(self, sku: str) -> list[str]:
        """The stores with a level of ``sku`` (indexed once per batch, then kept up to date)."""
        if self._by_sku is None:
            self._by_sku = {}
            for store, code in self.levels:
                self._by_sku.setdefault(code, []).append(store)
        return self._by_sku.get(sku, [])

    def reserve(self, store_id: str, sku: str, qty: int, now_ms: int) -> None:
        level = self.level(store_id, sku, now_ms)
        level.reserved = max(0, level.reserved + qty)
        level.as_of = max(level.as_of, now_ms)
        self.changed_levels[(store_id, sku)] = None

    def available(self, store_id: str, sku: str) -> int:
        level = self.levels.get((store_id, sku))
        return 0 if level is None else level.on_hand - level.reserved


def apply_move(batch: StockBatch, p: StockMove, *, store_id: str, hlc: str, origin: str | None) -> Outcome:
    """``stock.move``: a sale, receipt, return or adjustment at the node's own store."""
    if p.move_id in batch.known_move_ids:
        return Outcome("merged", "duplicate")
    if p.reason not in STORE_MOVE_REASONS:
        return rejected("invalid_choice", "reason")
    if p.sku not in batch.skus:
        return rejected("unknown_sku", "sku", value=p.sku)
    if p.qty == 0 or (p.reason == "sale" and p.qty > 0) or (p.reason in ("receipt", "return") and p.qty < 0):
        return rejected("invalid_qty", "qty")  # the sign says which way stock moved
    try:
        note = validate_text("note", p.note)
    except InvalidField as exc:
        return rejected(exc.code, exc.field)
    batch.move(store_id, p.sku, p.qty, reason=p.reason, at=p.at, hlc=hlc, move_id=p.move_id, note=note, origin=origin)
    return Outcome("applied")


def request_transfer(batch: StockBatch, p: TransferRequest, *, store_id: str, hlc: str) -> Outcome:
    """``transfer.request``: reserve at the source, or say why not and who else has the units."""
    if p.transfer_id in batch.transfers:
        return Outcome("merged", "duplicate")
    if p.sku not in batch.skus:
        return rejected("unknown_sku", "sku", value=p.sku)
    requester = batch.stores.get(store_id)
    if requester is None:
        return rejected("wrong_store")
    try:
        note, actor = validate_text("note", p.note), validate_text("actor", p.actor)
        number = validate_text("number", p.number, required=True)
    except InvalidField as exc:
        return rejected(exc.code, exc.field)
    if number in batch.numbers_in_use:  # a replica re-created from an old copy reused it
        number = f"{number}-{p.transfer_id}"  # unique: the transfer id is
    batch.numbers_in_use.add(number)
    now_ms = wall_of(hlc)
    if p.source_store_id:
        source = batch.stores.get(p.source_store_id) or _by_code(batch, p.source_store_id)
        if source is None:
            return rejected("unknown_store", "source_store_id", value=p.source_store_id)
        if source.id == store_id:
            return rejected("transfer_to_self", "source_store_id")
        left = batch.available(source.id, p.sku)
        if left < p.qty:
            return _short(batch, p, requester, exclude=source, left=left)
    else:
        candidates = [s for s in nearest(batch, requester, p.sku) if batch.available(s.id, p.sku) >= p.qty]
        if not candidates:
            return _short(batch, p, requester, exclude=None, left=0)
        source = candidates[0]
    batch.reserve(source.id, p.sku, p.qty, now_ms)
    at = min(p.at, now_ms)
    transfer = TransferState(
        id=p.transfer_id,
        number=number,
        from_store_id=source.id,
        to_store_id=store_id,
        sku=p.sku,
        qty=p.qty,
        status="requested",
        requested_at=at,
        updated_at=now_ms,
        hlc=hlc,
        note=note,
        source=source.party(),
        requester=requester.party(),
        events=[TransferEvent(id=p.transfer_id, action="request", status="requested", at=at, actor=actor, note=note)],
        times={"request": at},
    )
    batch.transfers[transfer.id] = transfer
    batch.created_transfers.add(transfer.id)
    batch.changed_transfers[transfer.id] = None
    if number != p.number:
        return Outcome("applied", "renumbered")
    return Outcome("applied")


def _by_code(batch: StockBatch, code: str) -> StoreInfo | None:
    return next((store for store in batch.stores.values() if store.code == code), None)


def nearest(batch: StockBatch, origin: StoreInfo, sku: str) -> list[StoreInfo]:
    """Other stores holding ``sku`` (available > 0), nearest first; stores without coordinates last."""
    holders = [
        batch.stores[store]
        for store in batch.holders_of(sku)
        if store != origin.id and store in batch.stores and batch.available(store, sku) > 0
    ]

    def key(store: StoreInfo) -> tuple[int, float, str]:
        km = distance_km((origin.lat, origin.lon), (store.lat, store.lon))
        return (1, 0.0, store.code) if km is None else (0, km, store.code)

    return sorted(holders, key=key)


def _short(
    batch: StockBatch, p: TransferRequest, requester: StoreInfo, *, exclude: StoreInfo | None, left: int
) -> Outcome:
    others = [s for s in nearest(batch, requester, p.sku) if exclude is None or s.id != exclude.id]
    listed = [f"{s.name}({s.code}) {batch.available(s.id, p.sku)}" for s in others[:ALTERNATIVES]]
    if exclude is None:
        return rejected("no_store_has_stock", "qty", qty=p.qty, sku=p.sku)
    if not listed:
        return rejected("insufficient_stock", "qty", store=exclude.name, left=max(left, 0), sku=p.sku, others="-")
    return rejected(
        "insufficient_stock", "qty", store=exclude.name, left=max(left, 0), sku=p.sku, others=", ".join(listed)
    )


def step_transfer(batch: StockBatch, p: TransferStep, *, store_id: str, hlc: str, origin: str | None) -> Outcome:
    """``transfer.step`` of a node of ``store_id``: approve, reject, ship, receive or cancel."""
    transfer = batch.transfers.get(p.transfer_id)
    if transfer is None:
        return rejected("unknown_transfer")
    if any(event.id == p.event_id for event in transfer.events):
        return Outcome("merged", "duplicate")
    if p.move_id and p.move_id in batch.known_move_ids:  # another movement has it: never count it twice
        return rejected("malformed_op", "move_id", detail=f"move id {p.move_id} is already used")
    if p.action not in TRANSFER_ACTIONS:
        return rejected("invalid_choice", "action")
    side = ACTION_SIDE[p.action]
    owner = transfer.from_store_id if side == "source" else transfer.to_store_id
    if store_id != owner:
        return rejected("not_your_step", "action", action=p.action)
    target = next_status(transfer.status, p.action)
    if target is None:
        return rejected("invalid_transfer_step", "action", action=p.action, status=transfer.status)
    try:
        reason = validate_text("reason", p.reason, required=p.action == "reject")
        actor = validate_text("actor", p.actor)
    except InvalidField as exc:
        return rejected(exc.code, exc.field)
    now_ms = wall_of(hlc)
    at = min(p.at, now_ms)
    if transfer.status in RESERVING_STATUSES and target not in RESERVING_STATUSES:
        batch.reserve(transfer.from_store_id, transfer.sku, -transfer.qty, now_ms)
    move = ACTION_MOVES.get(p.action)
    if move is not None:
        why, sign, whose = move
        store = transfer.from_store_id if whose == "source" else transfer.to_store_id
        batch.move(
            store,
            transfer.sku,
            sign * transfer.qty,
            reason=why,
            at=at,
            hlc=hlc,
            move_id=p.move_id or new_id(),
            ref=transfer.id,
            origin=origin,
        )
    if p.action == "approve":
        _issue_order(batch, transfer)
    if p.action == "reject":
        transfer.code, transfer.reason = "rejected_by_source", reason
    transfer.status = target
    transfer.events.append(
        TransferEvent(id=p.event_id, action=p.action, status=target, at=at, actor=actor, note=reason)
    )
    transfer.times[p.action] = at
    transfer.updated_at = max(transfer.updated_at, now_ms)
    if hlc > transfer.hlc:
        transfer.hlc = hlc
    batch.changed_transfers[transfer.id] = None
    return Outcome("applied")


def _issue_order(batch: StockBatch, transfer: TransferState) -> None:
    """The transfer order: number, both parties with address and contact, and its lines."""
    sku = batch.skus.get(transfer.sku)
    source, requester = batch.stores.get(transfer.from_store_id), batch.stores.get(transfer.to_store_id)
    transfer.order_no = f"TO-{transfer.number}"
    if source is not None:
        transfer.source = source.party()
    if requester is not None:
        transfer.requester = requester.party()
    transfer.lines = [
        OrderLine(
            sku=transfer.sku,
            product_code=sku.product_code if sku else "",
            name=sku.name if sku else "",
            colour=sku.colour if sku else "",
            size=sku.size if sku else "",
            qty=transfer.qty,
        )
    ]
