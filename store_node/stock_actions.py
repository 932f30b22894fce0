"""Clerk and POS actions on stock and transfers. Each writes its rows and its op in one transaction.

Own stock of a SKU is the sum of the store's movements (``stock_moves``); ``stock_on_hand`` keeps
that sum per SKU, changed only by :func:`insert_moves` and :func:`delete_moves` in the transaction
that adds or removes a movement, so reading it is one row and it never drifts from the sum.

A transfer step taken here is checked against the local copy (status, which side this store is),
applied to it at once and queued; HQ decides. A ship or receive step also makes the store's own
movement at once (provisional until HQ answers; a refused step drops it again).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from store_node import outbox
from store_node.errors import InvalidInput, NotFound
from store_node.node import Node
from store_node.replica import in_chunks
from sync_protocol.errors import InvalidField
from sync_protocol.ops import StockMove, TransferRequest, TransferStep, new_id
from sync_protocol.stock import (
    ACTION_MOVES,
    ACTION_SIDE,
    STORE_MOVE_REASONS,
    TRANSFER_ACTIONS,
    Party,
    TransferEvent,
    TransferState,
    next_status,
    signed_qty,
    transfer_number,
    validate_qty,
)
from sync_protocol.tickets import validate_text

#: Most movements one POS batch may carry.
MAX_BATCH_MOVES = 1000
_MOVE_FIELDS = frozenset({"sku", "barcode", "qty", "reason", "note"})
_REQUEST_FIELDS = frozenset({"sku", "barcode", "qty", "source_store", "note", "actor"})
_transfer_decoder = msgspec.json.Decoder(TransferState)


@dataclass(frozen=True)
class MoveRow:
    """One movement of the store's own stock, as written to ``stock_moves``."""

    id: str
    sku: str
    qty: int
    reason: str
    at: int
    ref: str = ""
    note: str = ""
    origin: str = "store"
    hlc: str = ""
    gen: int = 0


# -- the ledger: every insert and delete of a movement goes through here ------------------------


def insert_moves(conn: sqlite3.Connection, moves: Sequence[MoveRow]) -> int:
    """Add movements whose id is not there yet, and their quantities to ``stock_on_hand``
    (inside the caller's transaction). Returns how many were new."""
    added = 0
    for move in moves:
        cursor = conn.execute(
            "INSERT INTO stock_moves (id, sku, qty, reason, at, ref, note, origin, hlc, gen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
            (move.id, move.sku, move.qty, move.reason, move.at, move.ref, move.note, move.origin, move.hlc, move.gen),
        )
        if cursor.rowcount:
            _add_on_hand(conn, move.sku, move.qty)
            added += 1
    return added


def delete_moves(conn: sqlite3.Connection, move_ids: Iterable[str]) -> int:
    """Remove movements (those present) and take their quantities back out of ``stock_on_hand``."""
    removed = 0
    for chunk, marks in in_chunks(list(dict.fromkeys(move_ids))):
        rows = conn.execute(f"SELECT sku, qty FROM stock_moves WHERE id IN ({marks})", chunk).fetchall()
        if not rows:
            continue
        conn.execute(f"DELETE FROM stock_moves WHERE id IN ({marks})", chunk)
        for sku, qty in rows:
            _add_on_hand(conn, sku, -qty)
        removed += len(rows)
    return removed


def _add_on_hand(conn: sqlite3.Connection, sku: str, qty: int) -> None:
    conn.execute(
        "INSERT INTO stock_on_hand (sku, qty) VALUES (?, ?) ON CONFLICT(sku) DO UPDATE SET qty = qty + excluded.qty",
        (sku, qty),
    )


def on_hand(node: Node, skus: Iterable[str]) -> dict[str, int]:
    """Own on-hand quantity of each SKU (0 for a SKU that never moved)."""
    wanted = list(dict.fromkeys(skus))
    found = dict.fromkeys(wanted, 0)
    for chunk, marks in in_chunks(wanted):
        for sku, qty in node.replica.query(f"SELECT sku, qty FROM stock_on_hand WHERE sku IN ({marks})", tuple(chunk)):
            found[sku] = int(qty)
    return found


# -- the catalogue -------------------------------------------------------------------------------


def _invalid(exc: InvalidField, prefix: str = "") -> InvalidInput:
    return InvalidInput(exc.message, code=exc.code, field=f"{prefix}{exc.field}", **exc.params)


def catalogue_synced(node: Node) -> bool:
    """Whether any product has been synced (until then SKUs are taken on trust; HQ checks them)."""
    return node.replica.one("SELECT 1 FROM reference WHERE entity = 'product' LIMIT 1") is not None


def resolve_sku(node: Node, data: Mapping[str, Any], *, prefix: str = "") -> str:
    """The SKU code ``data`` names by ``sku`` or by ``barcode``; refuses one the synced catalogue
    does not have (once any product has been synced)."""
    sku, barcode = data.get("sku"), data.get("barcode")
    if sku in (None, "") and barcode not in (None, ""):
        try:
            code = validate_text("barcode", barcode, required=True)
        except InvalidField as exc:
            raise _invalid(exc, prefix) from exc
        row = node.replica.one("SELECT sku FROM catalogue_skus WHERE barcode = ? LIMIT 1", (code,))
        if row is None:
            raise InvalidInput(f"unknown barcode {code}", code="unknown_sku", field=f"{prefix}barcode", value=code)
        return str(row[0])
    try:
        code = validate_text("sku", sku if sku is not None else "", required=True)
    except InvalidField as exc:
        raise _invalid(exc, prefix) from exc
    if len(code) > 64:
        raise InvalidInput("sku is too long", code="too_long", field=f"{prefix}sku")
    if node.replica.one("SELECT 1 FROM catalogue_skus WHERE sku = ?", (code,)) is not None:
        return code
    row = node.replica.one("SELECT sku FROM catalogue_skus WHERE barcode = ? LIMIT 1", (code,))
    if row is not None:  # a scanner typed the barcode into the SKU field
        return str(row[0])
    if catalogue_synced(node):
        raise InvalidInput(f"unknown SKU {code}", code="unknown_sku", field=f"{prefix}sku", value=code)
    return code


# -- movements -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Move:
    sku: str
    qty: int
    reason: str
    note: str


def _check_move(node: Node, data: object, prefix: str = "") -> _Move:
    if not isinstance(data, Mapping):
        raise InvalidInput("a movement must be an object", code="invalid_type", field=prefix.rstrip(".") or "body")
    unknown = sorted(set(data) - _MOVE_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]}", code="unknown_field", field=f"{prefix}{unknown[0]}")
    reason = data.get("reason")
    if reason in (None, ""):
        raise InvalidInput("reason is required", code="required", field=f"{prefix}reason")
    if reason not in STORE_MOVE_REASONS:
        raise InvalidInput(
            f"reason must be one of {', '.join(STORE_MOVE_REASONS)}",
            code="invalid_choice",
            field=f"{prefix}reason",
            value=reason,
        )
    try:
        qty = validate_qty(data.get("qty"), field="qty", signed=reason == "adjustment")
        note = validate_text("note", data.get("note") or "")
    except InvalidField as exc:
        raise _invalid(exc, prefix) from exc
    sku = resolve_sku(node, data, prefix=prefix)
    return _Move(sku=sku, qty=signed_qty(str(reason), qty), reason=str(reason), note=note)


def _write_moves(node: Node, moves: Sequence[_Move]) -> list[str]:
    ids: list[str] = []
    now = node.wall_ms()
    with node.replica.tx() as conn:
        gen = node.replica.get_int("gen")
        for move in moves:
            move_id = new_id()
            payload = StockMove(move_id=move_id, sku=move.sku, qty=move.qty, reason=move.reason, at=now, note=move.note)
            outbox.append(node, conn, payload, entity_id=move.sku, record_id=move_id)
            row = MoveRow(
                id=move_id,
                sku=move.sku,
                qty=move.qty,
                reason=move.reason,
                at=now,
                note=move.note,
                hlc=node.replica.get("hlc"),
                gen=gen,
            )
            insert_moves(conn, [row])
            ids.append(move_id)
    node.notify_local_write()
    return ids


def record_move(node: Node, data: Mapping[str, Any]) -> str:
    """A sale, receipt, return (a positive count) or adjustment (signed, non-zero) of one SKU,
    given by ``sku`` or ``barcode``. Returns the movement's id."""
    node.identity  # noqa: B018 - raises NotEnrolled before anything is written
    return _write_moves(node, [_check_move(node, data)])[0]


def record_moves(node: Node, items: object) -> list[str]:
    """A POS batch: every movement is checked first, then all are written in one transaction
    (none when any is bad). Returns their ids in order."""
    node.identity  # noqa: B018
    if not isinstance(items, list) or not items:
        raise InvalidInput("moves must be a non-empty list", code="required", field="moves")
    if len(items) > MAX_BATCH_MOVES:
        raise InvalidInput(
            f"at most {MAX_BATCH_MOVES} moves at once",
            code="out_of_range",
            field="moves",
            minimum=1,
            maximum=MAX_BATCH_MOVES,
        )
    checked = [_check_move(node, item, f"moves[{index}].") for index, item in enumerate(items)]
    return _write_moves(node, checked)


def moves_of(node: Node, move_ids: Sequence[str]) -> list[sqlite3.Row]:
    found: dict[str, sqlite3.Row] = {}
    for chunk, marks in in_chunks(list(move_ids)):
        for row in node.replica.query(f"SELECT * FROM stock_moves WHERE id IN ({marks})", tuple(chunk)):
            found[row["id"]] = row
    return [found[i] for i in move_ids if i in found]


# -- transfers -----------------------------------------------------------------------------------


def find_store(node: Node, key: str) -> sqlite3.Row | None:
    """A synced store (reference entity ``store``) by id or code."""
    return node.replica.one(
        "SELECT id, code, name_zh, name_en, attrs FROM reference WHERE entity = 'store' AND (id = ? OR code = ?)"
        " ORDER BY id = ? DESC LIMIT 1",
        (key, key, key),
    )


def party_of(node: Node, store_id: str) -> Party | None:
    """A store as one side of a transfer, from the synced reference data."""
    if not store_id:
        return None
    row = find_store(node, store_id)
    if row is None:
        return Party(store_id=store_id)
    attrs = json.loads(row["attrs"] or "{}")
    return Party(
        store_id=str(row["id"]),
        code=str(row["code"]),
        name=str(row["name_zh"]),
        address=str(attrs.get("address") or ""),
        contact=str(attrs.get("contact") or ""),
        phone=str(attrs.get("phone") or ""),
    )


def resolve_transfer(node: Node, key: str) -> str:
    """A transfer's id from its id or its number; :class:`NotFound` when the replica has neither."""
    row = node.replica.one("SELECT id FROM transfers WHERE id = ? OR number = ? LIMIT 1", (key, key))
    if row is None:
        raise NotFound(f"no transfer {key}", code="transfer_not_found", value=key)
    return str(row[0])


def load_transfer(conn: sqlite3.Connection, transfer_id: str) -> tuple[sqlite3.Row, TransferState]:
    """The replica's row of a transfer and the state in its ``data``."""
    row: sqlite3.Row | None = conn.execute("SELECT * FROM transfers WHERE id = ?", (transfer_id,)).fetchone()
    if row is None:
        raise NotFound(f"no transfer {transfer_id}", code="transfer_not_found", value=transfer_id)
    return row, decode_transfer(row)


def decode_transfer(row: sqlite3.Row) -> TransferState:
    """The state in a row's ``data``; the row's columns win (they are what the clerk saw last)."""
    try:
        state = _transfer_decoder.decode(row["data"])
    except (msgspec.DecodeError, msgspec.ValidationError):
        state = TransferState(
            id=row["id"],
            number=row["number"],
            from_store_id=row["from_store_id"],
            to_store_id=row["to_store_id"],
            sku=row["sku"],
            qty=row["qty"],
            status=row["status"],
            requested_at=row["updated_at"],
            updated_at=row["updated_at"],
            hlc="",
        )
    return msgspec.structs.replace(
        state, status=row["status"], code=row["code"], reason=row["reason"], from_store_id=row["from_store_id"]
    )


def encode_transfer(state: TransferState) -> str:
    return msgspec.json.encode(state).decode()


def request_transfer(node: Node, data: Mapping[str, Any]) -> str:
    """Ask for ``qty`` units of a SKU from ``source_store`` (a code or id; empty: HQ picks the
    nearest store that has them). Numbered at once; HQ reserves the units or says why not.
    Returns the transfer's id."""
    ident = node.identity
    unknown = sorted(set(data) - _REQUEST_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]}", code="unknown_field", field=unknown[0])
    try:
        qty = validate_qty(data.get("qty"), field="qty")
        note = validate_text("note", data.get("note") or "")
        actor = validate_text("actor", data.get("actor") or "")
        source_key = validate_text("source_store", data.get("source_store") or "")
    except InvalidField as exc:
        raise _invalid(exc) from exc
    sku = resolve_sku(node, data)
    source_id = ""
    if source_key:
        source = find_store(node, source_key)
        if source is not None:
            source_id = str(source["id"])
        elif source_key not in (ident.store_id, ident.store_code):
            raise InvalidInput(
                f"unknown store {source_key}", code="unknown_store", field="source_store", value=source_key
            )
    if source_key and (source_key in (ident.store_id, ident.store_code) or source_id == ident.store_id):
        raise InvalidInput(
            "a store cannot request a transfer from itself", code="transfer_to_self", field="source_store"
        )
    transfer_id = new_id()
    now = node.wall_ms()
    with node.replica.tx() as conn:
        counter = node.replica.get_int("transfer_counter") + 1
        number = transfer_number(ident.store_code, ident.node_no, counter)
        payload = TransferRequest(
            transfer_id=transfer_id,
            number=number,
            sku=sku,
            qty=qty,
            source_store_id=source_id,
            note=note,
            actor=actor,
            at=now,
            counter=counter,
        )
        outbox.append(node, conn, payload, entity_id=transfer_id, record_id=transfer_id)
        state = TransferState(
            id=transfer_id,
            number=number,
            from_store_id=source_id,
            to_store_id=ident.store_id,
            sku=sku,
            qty=qty,
            status="requested",
            requested_at=now,
            updated_at=now,
            hlc=node.replica.get("hlc"),
            note=note,
            source=party_of(node, source_id),
            requester=party_of(node, ident.store_id),
            events=[
                TransferEvent(id=transfer_id, action="request", status="requested", at=now, actor=actor, note=note)
            ],
            times={"request": now},
        )
        conn.execute(
            "INSERT INTO transfers (id, number, from_store_id, to_store_id, sku, qty, status, data, updated_at,"
            " origin, gen) VALUES (?, ?, ?, ?, ?, ?, 'requested', ?, ?, 'store', ?)",
            (
                transfer_id,
                number,
                source_id,
                ident.store_id,
                sku,
                qty,
                encode_transfer(state),
                now,
                node.replica.get_int("gen"),
            ),
        )
        node.replica.set(transfer_counter=counter)
    node.notify_local_write()
    return transfer_id


def side_of(state: TransferState, store_id: str) -> set[str]:
    """Which sides of a transfer a store is: ``source``, ``requester`` (never both)."""
    sides: set[str] = set()
    if state.from_store_id and state.from_store_id == store_id:
        sides.add("source")
    if state.to_store_id == store_id:
        sides.add("requester")
    return sides


def next_actions(state: TransferState, store_id: str) -> list[str]:
    """The actions a store may take on a transfer now, in :data:`TRANSFER_ACTIONS` order."""
    sides = side_of(state, store_id)
    return [
        action
        for action in TRANSFER_ACTIONS
        if ACTION_SIDE[action] in sides and next_status(state.status, action) is not None
    ]


def step_transfer(node: Node, key: str, action: object, *, reason: object = "", actor: object = "") -> str:
    """Approve, reject (with a reason), ship, receive or cancel a transfer. Returns its id."""
    ident = node.identity
    transfer_id = resolve_transfer(node, key)
    if not isinstance(action, str) or action not in TRANSFER_ACTIONS:
        raise InvalidInput(
            f"action must be one of {', '.join(TRANSFER_ACTIONS)}", code="invalid_choice", field="action", value=action
        )
    try:
        why = validate_text("reason", reason or "", required=action == "reject")
        who = validate_text("actor", actor or "")
    except InvalidField as exc:
        raise _invalid(exc) from exc
    with node.replica.tx() as conn:
        row, state = load_transfer(conn, transfer_id)
        if ACTION_SIDE[action] not in side_of(state, ident.store_id):
            raise InvalidInput(
                f"this store cannot {action} this transfer", code="not_your_step", field="action", action=action
            )
        target = next_status(state.status, action)
        if target is None:
            raise InvalidInput(
                f"the transfer is {state.status}; it cannot be {action}",
                code="invalid_transfer_step",
                field="action",
                action=action,
                status=state.status,
            )
        now = node.wall_ms()
        event_id = new_id()
        move_id = ""
        if action in ACTION_MOVES:
            move_id = new_id()
        payload = TransferStep(
            transfer_id=transfer_id, event_id=event_id, action=action, reason=why, actor=who, move_id=move_id, at=now
        )
        outbox.append(node, conn, payload, entity_id=transfer_id, record_id=move_id or event_id)
        hlc = node.replica.get("hlc")
        if move_id:
            move_reason, sign, _ = ACTION_MOVES[action]
            insert_moves(
                conn,
                [
                    MoveRow(
                        id=move_id,
                        sku=state.sku,
                        qty=sign * state.qty,
                        reason=move_reason,
                        at=now,
                        ref=transfer_id,
                        hlc=hlc,
                        gen=node.replica.get_int("gen"),
                    )
                ],
            )
        code, rejection = (row["code"], row["reason"]) if action != "reject" else ("rejected_by_source", why)
        state = msgspec.structs.replace(
            state,
            status=target,
            code=code,
            reason=rejection,
            updated_at=max(state.updated_at, now),
            events=[
                *state.events,
                TransferEvent(id=event_id, action=action, status=target, at=now, actor=who, note=why),
            ],
            times={**state.times, action: now},
        )
        conn.execute(
            "UPDATE transfers SET status = ?, code = ?, reason = ?, data = ?, updated_at = ? WHERE id = ?",
            (target, code, rejection, encode_transfer(state), state.updated_at, transfer_id),
        )
    node.notify_local_write()
    return transfer_id
