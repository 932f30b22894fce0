"""Applying HQ's state to the replica: pulled change-log pages and the snapshots of push acks.

Local view = last HQ state + pending local ops: a field with a local edit HQ has not acknowledged
yet keeps its local value (its ack brings HQ's merged value later).
"""

from __future__ import annotations

import json
import logging
import operator
import sqlite3
from collections.abc import Sequence
from typing import Any

import msgspec

from store_node import outbox, return_records, stock_actions
from store_node.node import Node
from store_node.replica import in_chunks
from store_node.stock_actions import MoveRow, decode_transfer, encode_transfer
from sync_protocol.accounts import StoreAccount
from sync_protocol.entities import ENTITY_TYPES, decode_entity
from sync_protocol.messages import Change, OpResult, ReferenceItem
from sync_protocol.orders import FoundOrder, OrderLookup, OrderState
from sync_protocol.return_policy import ReturnPolicy
from sync_protocol.returns import ReturnState, return_number
from sync_protocol.stock import StockLevel, StockMoveState, TransferEvent, TransferState, transfer_number
from sync_protocol.tickets import CommentState, HistoryEntry, TicketState

TICKET_COLUMNS = (
    "id",
    "number",
    "store_id",
    "type",
    "title",
    "description",
    "category",
    "product_code",
    "customer_phone",
    "customer_name",
    "status",
    "department",
    "assignee",
    "priority",
    "first_response_due",
    "resolution_due",
    "created_at",
    "updated_at",
    "hlc",
    "channel",
    "routed_at",
    "first_responded_at",
    "sla_paused",
)
#: Positional parameters: sqlite3 binds ``?`` from a tuple much faster than ``:name`` from a dict.
_UPSERT_TICKET = (
    f"INSERT INTO tickets ({', '.join(TICKET_COLUMNS)}, extra, tags, origin, gen)"
    f" VALUES ({', '.join('?' for _ in TICKET_COLUMNS)}, ?, ?, 'hq', ?)"
    " ON CONFLICT(id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in TICKET_COLUMNS if c != "id")
    + ", extra = excluded.extra, tags = excluded.tags, gen = excluded.gen"
)
_ticket_values = operator.attrgetter(*TICKET_COLUMNS)
_TICKET_INDEX = {name: index for index, name in enumerate(TICKET_COLUMNS)}
_json = msgspec.json.Encoder()
_COMMENT_COLUMNS = ("id", "ticket_id", "body", "author", "source", "created_at", "hlc")
_comment_values = operator.attrgetter(*_COMMENT_COLUMNS)
_UPSERT_COMMENT = (
    f"INSERT INTO comments ({', '.join(_COMMENT_COLUMNS)}, gen) VALUES ({', '.join('?' * len(_COMMENT_COLUMNS))}, ?)"
    " ON CONFLICT(id) DO UPDATE SET body = excluded.body, hlc = excluded.hlc, gen = excluded.gen"
)
_HISTORY_COLUMNS = ("id", "ticket_id", "from_status", "to_status", "note", "actor", "at", "hlc")
_history_values = operator.attrgetter(*_HISTORY_COLUMNS)
_UPSERT_HISTORY = (
    f"INSERT INTO history ({', '.join(_HISTORY_COLUMNS)}, gen) VALUES ({', '.join('?' * len(_HISTORY_COLUMNS))}, ?)"
    " ON CONFLICT(id) DO UPDATE SET gen = excluded.gen"
)
_UPSERT_REFERENCE = (
    "INSERT INTO reference (entity, id, code, name_zh, name_en, attrs) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT(entity, id) DO UPDATE SET code = excluded.code, name_zh = excluded.name_zh,"
    " name_en = excluded.name_en, attrs = excluded.attrs"
)

log = logging.getLogger("storedesk.store.apply")


def apply_changes(node: Node, conn: sqlite3.Connection, changes: list[Change]) -> None:
    """Upsert HQ snapshots (inside the caller's transaction), keeping pending local fields."""
    gen = node.replica.get_int("gen")
    tickets: dict[str, TicketState] = {}
    comments: list[tuple[Any, ...]] = []
    history: list[tuple[Any, ...]] = []
    references: list[tuple[str, str, str, str, str, str]] = []
    products: dict[str, ReferenceItem] = {}
    levels: dict[tuple[str, str], StockLevel] = {}
    moves: dict[str, StockMoveState] = {}
    transfers: dict[str, TransferState] = {}
    orders: dict[str, OrderState] = {}
    returns: dict[str, ReturnState] = {}
    policies: dict[str, tuple[ReturnPolicy, str]] = {}
    accounts: dict[str, StoreAccount] = {}
    if changes:
        node.observe(max(change.hlc for change in changes))
    for change in changes:
        try:
            state = decode_entity(change.entity, change.data)
        except KeyError:
            continue  # an entity kind this version does not know yet: ignore, HQ keeps it
        if isinstance(state, TicketState):
            tickets[state.id] = state  # a later version in the same page wins
        elif isinstance(state, CommentState):
            comments.append((*_comment_values(state), gen))
        elif isinstance(state, HistoryEntry):
            history.append((*_history_values(state), gen))
        elif isinstance(state, ReferenceItem):
            references.append(
                (change.entity, state.id, state.code, state.name_zh, state.name_en, json.dumps(state.attrs))
            )
            if change.entity == "product":
                products[state.code] = state
        elif isinstance(state, StockLevel):
            levels[(state.store_id, state.sku)] = state
        elif isinstance(state, StockMoveState):
            moves[state.id] = state
        elif isinstance(state, TransferState):
            transfers[state.id] = state
        elif isinstance(state, OrderState):
            orders[state.id] = state
        elif isinstance(state, ReturnState):
            returns[state.id] = state
        elif isinstance(state, ReturnPolicy):
            policies[change.entity_id] = (state, change.hlc)
        elif isinstance(state, StoreAccount):
            accounts[state.id] = state
    if tickets:
        _upsert_tickets(conn, list(tickets.values()), gen)
    if comments:
        conn.executemany(_UPSERT_COMMENT, comments)
    if history:
        conn.executemany(_UPSERT_HISTORY, history)
    if references:
        conn.executemany(_UPSERT_REFERENCE, references)
    if products:
        _index_skus(conn, list(products.values()))
    if levels:
        conn.executemany(
            _UPSERT_LEVEL,
            [(v.store_id, v.sku, v.product_code, v.on_hand, v.reserved, v.as_of, gen) for v in levels.values()],
        )
    if moves:
        _apply_moves(node, conn, list(moves.values()), gen)
    if transfers:
        _upsert_transfers(node, conn, list(transfers.values()), gen)
    if orders:  # after the references: a store in the same page names its orders
        _upsert_own_orders(node, conn, list(orders.values()), gen)
    if returns:
        _upsert_returns(node, conn, list(returns.values()), gen)
    if policies:
        conn.executemany(
            _UPSERT_POLICY, [(key, _json.encode(p).decode(), hlc, gen) for key, (p, hlc) in policies.items()]
        )
    if accounts:
        _upsert_accounts(conn, list(accounts.values()), gen)


# -- store accounts ----------------------------------------------------------------------------------

_ACCOUNT_COLUMNS = ("id", "username", "display_name", "role", "password_hash", "pin_hash", "active", "updated_at")
_account_values = operator.attrgetter(*_ACCOUNT_COLUMNS)
#: The newer version wins (an equal ``updated_at`` is a later entry of HQ's log: it wins too).
_UPSERT_ACCOUNT = (
    f"INSERT INTO accounts ({', '.join(_ACCOUNT_COLUMNS)}, gen) VALUES ({', '.join('?' * len(_ACCOUNT_COLUMNS))}, ?)"
    " ON CONFLICT(id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _ACCOUNT_COLUMNS if c != "id")
    + ", gen = excluded.gen WHERE excluded.updated_at >= accounts.updated_at"
)


def _upsert_accounts(conn: sqlite3.Connection, accounts: list[StoreAccount], gen: int) -> None:
    """The store's accounts as HQ publishes them (hashes only). A username HQ now gives another
    account id frees it here first; an older version only marks the row as still published."""
    for account in accounts:
        conn.execute("DELETE FROM accounts WHERE username = ? AND id != ?", (account.username, account.id))
    conn.executemany(_UPSERT_ACCOUNT, [(*_account_values(a), gen) for a in accounts])
    conn.executemany("UPDATE accounts SET gen = ? WHERE id = ?", [(gen, a.id) for a in accounts])


# -- stock and transfers ---------------------------------------------------------------------------

_UPSERT_LEVEL = (
    "INSERT INTO stock_levels (store_id, sku, product_code, on_hand, reserved, as_of, gen)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(store_id, sku) DO UPDATE SET product_code = excluded.product_code,"
    " on_hand = excluded.on_hand, reserved = excluded.reserved, as_of = excluded.as_of, gen = excluded.gen"
)
_TRANSFER_COLUMNS = ("id", "number", "from_store_id", "to_store_id", "sku", "qty", "status", "code", "reason")
_UPSERT_TRANSFER = (
    f"INSERT INTO transfers ({', '.join(_TRANSFER_COLUMNS)}, data, updated_at, origin, gen)"
    f" VALUES ({', '.join('?' for _ in _TRANSFER_COLUMNS)}, ?, ?, 'hq', ?)"
    " ON CONFLICT(id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _TRANSFER_COLUMNS if c != "id")
    + ", data = excluded.data, updated_at = excluded.updated_at, gen = excluded.gen"
)


def _index_skus(conn: sqlite3.Connection, items: list[ReferenceItem]) -> None:
    """The SKUs of each product (from its ``skus`` attribute) in ``catalogue_skus``, which the
    stock actions look SKUs and barcodes up in: a product's list replaces what it had."""
    rows: list[tuple[str, str, str, str, str, int]] = []
    for item in items:
        conn.execute("DELETE FROM catalogue_skus WHERE product_code = ?", (item.code,))
        skus = item.attrs.get("skus")
        for index, sku in enumerate(skus if isinstance(skus, list) else []):
            if isinstance(sku, dict) and sku.get("code"):
                rows.append(
                    (
                        str(sku["code"]),
                        item.code,
                        str(sku.get("colour") or ""),
                        str(sku.get("size") or ""),
                        str(sku.get("barcode") or ""),
                        index,
                    )
                )
    conn.executemany(
        "INSERT OR REPLACE INTO catalogue_skus (sku, product_code, colour, size, barcode, sort)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )


def _apply_moves(node: Node, conn: sqlite3.Connection, states: list[StockMoveState], gen: int) -> None:
    """HQ's accepted movements of this store: a new id is counted (a sale made on another PC of the
    store, a step HQ staff took); one the replica has already counted keeps its quantity."""
    own = node.replica.get("store_id")
    states = [s for s in states if s.store_id == own]
    known: set[str] = set()
    for chunk, marks in in_chunks([s.id for s in states]):
        known.update(r[0] for r in conn.execute(f"SELECT id FROM stock_moves WHERE id IN ({marks})", chunk))
    conn.executemany(
        "UPDATE stock_moves SET gen = ?, hlc = ? WHERE id = ?", [(gen, s.hlc, s.id) for s in states if s.id in known]
    )
    stock_actions.insert_moves(
        conn,
        [
            MoveRow(
                id=s.id,
                sku=s.sku,
                qty=s.qty,
                reason=s.reason,
                at=s.at,
                ref=s.ref,
                note=s.note,
                origin="hq",
                hlc=s.hlc,
                gen=gen,
            )
            for s in states
            if s.id not in known
        ],
    )


def _upsert_transfers(node: Node, conn: sqlite3.Connection, states: list[TransferState], gen: int) -> None:
    """HQ's state of each transfer, except that one with a local step HQ has not answered yet keeps
    its local status and the local step in its timeline (local view = HQ's state + pending ops)."""
    _move_aside_numbers(conn, "transfers", states)
    held = _pending_entities(conn, [s.id for s in states])
    rows: list[tuple[Any, ...]] = []
    for state in states:
        if state.id in held:
            local = conn.execute("SELECT * FROM transfers WHERE id = ?", (state.id,)).fetchone()
            if local is not None:
                state = _with_local_steps(state, decode_transfer(local))
        rows.append(
            (
                state.id,
                state.number,
                state.from_store_id,
                state.to_store_id,
                state.sku,
                state.qty,
                state.status,
                state.code,
                state.reason,
                encode_transfer(state),
                state.updated_at,
                gen,
            )
        )
    conn.executemany(_UPSERT_TRANSFER, rows)
    _follow_transfer_counter(node, states)


def _with_local_steps(hq: TransferState, mine: TransferState) -> TransferState:
    """HQ's state with the local status and the local steps HQ has not seen yet."""
    seen = {event.id for event in hq.events}
    extra: list[TransferEvent] = [event for event in mine.events if event.id not in seen]
    return msgspec.structs.replace(
        hq,
        status=mine.status,
        code=mine.code,
        reason=mine.reason,
        events=[*hq.events, *extra],
        times={**hq.times, **{event.action: event.at for event in extra}},
        updated_at=max(hq.updated_at, mine.updated_at),
    )


def _pending_entities(conn: sqlite3.Connection, entity_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk, marks in in_chunks(entity_ids):
        found.update(
            row[0]
            for row in conn.execute(
                f"SELECT DISTINCT entity_id FROM outbox WHERE state = 'pending' AND entity_id IN ({marks})", chunk
            )
        )
    return found


def _follow_transfer_counter(node: Node, states: list[TransferState]) -> None:
    """Lift the node's transfer counter above the numbers HQ has from this node, so a replica
    re-created from scratch (or restored from an older copy) does not hand out a number again."""
    code, node_no = node.replica.get("store_code"), node.replica.get_int("node_no", 1)
    if not code:
        return
    prefix = transfer_number(code, node_no, 0).removesuffix("000000")
    own = node.replica.get("store_id")
    highest = 0
    for state in states:
        rest = state.number.removeprefix(prefix)
        if state.to_store_id == own and rest != state.number and rest.isdigit():
            highest = max(highest, int(rest))
    if highest > node.replica.get_int("transfer_counter"):
        node.replica.set(transfer_counter=highest)


def _refuse_request(conn: sqlite3.Connection, transfer_id: str, result: OpResult) -> int:
    """HQ refused a transfer request (nothing could cover it, say): the local copy shows it
    rejected with HQ's code and reason, so the clerk sees why."""
    row = conn.execute("SELECT * FROM transfers WHERE id = ?", (transfer_id,)).fetchone()
    if row is None:
        return 0
    state = decode_transfer(row)
    event = TransferEvent(id=result.op_id, action="reject", status="rejected", at=state.updated_at, note=result.reason)
    state = msgspec.structs.replace(
        state, status="rejected", code=result.code, reason=result.reason, events=[*state.events, event]
    )
    conn.execute(
        "UPDATE transfers SET status = 'rejected', code = ?, reason = ?, data = ? WHERE id = ?",
        (result.code, result.reason, encode_transfer(state), transfer_id),
    )
    return 1


# -- orders ------------------------------------------------------------------------------------------

#: Most orders kept from live lookups; beyond it the longest unseen go. The store's own orders
#: (published to it by HQ) are never dropped for room.
MAX_LOOKED_UP_ORDERS = 500
_ORDER_COLUMNS = (
    "id",
    "number",
    "channel",
    "store_id",
    "store_code",
    "store_name",
    "customer_phone",
    "customer_name",
    "paid_at",
    "total_cents",
    "data",
    "hlc",
)
#: HQ's later version wins (a pulled page fetched before a live lookup may be applied after it);
#: the selling store's code and name (known from wherever they came) are never blanked.
_NEWER = "excluded.hlc >= orders.hlc"
_ORDER_SETS = ", ".join(
    f"{c} = CASE WHEN excluded.{c} != '' AND ({_NEWER} OR orders.{c} = '') THEN excluded.{c} ELSE orders.{c} END"
    if c in ("store_code", "store_name")
    else f"{c} = CASE WHEN {_NEWER} THEN excluded.{c} ELSE orders.{c} END"
    for c in _ORDER_COLUMNS[1:]
)
_INSERT_ORDER = (
    f"INSERT INTO orders ({', '.join(_ORDER_COLUMNS)}, source, seen_at, gen)"
    f" VALUES ({', '.join('?' for _ in _ORDER_COLUMNS)}, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET {_ORDER_SETS},"
    " seen_at = excluded.seen_at"
)
#: A pulled order is the store's own (also one it had looked up before) and vouched for by this gen.
_UPSERT_OWN_ORDER = _INSERT_ORDER + ", source = 'own', gen = excluded.gen"
#: A looked-up order refreshes an own one without changing what it is (nor its gen: a lookup does
#: not say HQ still publishes it to this store).
_UPSERT_LOOKED_UP_ORDER = _INSERT_ORDER


def _order_row(found: FoundOrder, source: str, seen_at: int, gen: int) -> tuple[Any, ...]:
    o = found.order
    return (
        o.id,
        o.number,
        o.channel,
        o.store_id,
        found.store_code,
        found.store_name,
        o.customer_phone,
        o.customer_name,
        o.paid_at,
        o.total_cents,
        _json.encode(o).decode(),
        o.hlc,
        source,
        seen_at,
        gen,
    )


def _put_orders(conn: sqlite3.Connection, found: list[FoundOrder], source: str, seen_at: int, gen: int) -> None:
    """Upsert ``found``; HQ's number wins over a stale row of another id holding it."""
    conn.executemany("DELETE FROM orders WHERE number = ? AND id != ?", [(f.order.number, f.order.id) for f in found])
    sql = _UPSERT_OWN_ORDER if source == "own" else _UPSERT_LOOKED_UP_ORDER
    conn.executemany(sql, [_order_row(f, source, seen_at, gen) for f in found])


def _upsert_own_orders(node: Node, conn: sqlite3.Connection, states: list[OrderState], gen: int) -> None:
    """HQ's orders of this store (published to it), named with the synced store rows."""
    _put_orders(conn, _named(node, conn, states), "own", node.wall_ms(), gen)


def _named(node: Node, conn: sqlite3.Connection, states: list[OrderState]) -> list[FoundOrder]:
    """``states`` with their selling store's code and name, from the synced store rows."""
    ident = (node.replica.get("store_id"), node.replica.get("store_code"), node.replica.get("store_name"))
    names: dict[str, tuple[str, str]] = {ident[0]: (ident[1], ident[2])} if ident[0] else {}
    ids = sorted({s.store_id for s in states if s.store_id})
    for chunk, marks in in_chunks(ids):
        for r in conn.execute(
            f"SELECT id, code, name_zh FROM reference WHERE entity = 'store' AND id IN ({marks})", chunk
        ):
            names[r[0]] = (r[1], r[2])
    found = []
    for state in states:
        code, name = names.get(state.store_id, ("", ""))
        found.append(FoundOrder(order=state, store_code=code, store_name=name))
    return found


def keep_looked_up_orders(node: Node, answer: OrderLookup) -> None:
    """Keep the orders of HQ's live lookup for offline lookups (an own order stays own), then drop
    the longest unseen looked-up orders beyond :data:`MAX_LOOKED_UP_ORDERS`."""
    if not answer.orders:
        return
    with node.replica.tx() as conn:
        _put_orders(conn, answer.orders, "lookup", node.wall_ms(), node.replica.get_int("gen"))
        conn.execute(
            "DELETE FROM orders WHERE id IN (SELECT id FROM orders WHERE source = 'lookup'"
            " ORDER BY seen_at DESC, id DESC LIMIT -1 OFFSET ?)",
            (MAX_LOOKED_UP_ORDERS,),
        )


# -- returns -------------------------------------------------------------------------------------------

_RETURN_COLUMNS = (
    "id",
    "number",
    "order_id",
    "order_number",
    "kind",
    "reason",
    "status",
    "code",
    "refund_cents",
    "payable_cents",
    "at",
    "data",
    "hlc",
)
#: HQ's later version wins; the store's own row (``hlc`` empty until HQ's first answer) always loses.
_UPSERT_RETURN = (
    f"INSERT INTO returns ({', '.join(_RETURN_COLUMNS)}, origin, gen)"
    f" VALUES ({', '.join('?' for _ in _RETURN_COLUMNS)}, 'hq', ?) ON CONFLICT(id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _RETURN_COLUMNS[1:])
    + ", gen = excluded.gen WHERE excluded.hlc >= returns.hlc"
)
_UPSERT_POLICY = (
    "INSERT INTO return_policy (id, data, hlc, gen) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
    " data = excluded.data, hlc = excluded.hlc, gen = excluded.gen WHERE excluded.hlc >= return_policy.hlc"
)


def _upsert_returns(node: Node, conn: sqlite3.Connection, states: list[ReturnState], gen: int) -> None:
    """HQ's decision on this store's returns. A decided one brings the order as HQ holds it (after
    an accepted return, with its units returned), kept as the store's own order or as a looked-up
    one; the later version of the order wins, as for pulled and looked-up orders."""
    _move_aside_numbers(conn, "returns", states)
    refused = [s.id for s in states if s.status == "rejected"]
    for chunk, marks in in_chunks(refused):  # HQ counted none of a refused return's movements
        moves = [r[0] for r in conn.execute(f"SELECT id FROM stock_moves WHERE ref IN ({marks})", chunk)]
        stock_actions.delete_moves(conn, moves)
    conn.executemany(
        _UPSERT_RETURN,
        [
            (
                s.id,
                s.number,
                s.order_id,
                s.order_number,
                s.kind,
                s.reason,
                s.status,
                s.code,
                s.refund_cents,
                s.payable_cents,
                s.at,
                return_records.encode_return(s),
                s.hlc,
                gen,
            )
            for s in states
        ],
    )
    orders = {s.order.id: s.order for s in states if s.order is not None}
    if orders:
        own = node.replica.get("store_id")
        found = _named(node, conn, list(orders.values()))
        now = node.wall_ms()
        _put_orders(conn, [f for f in found if own and f.order.store_id == own], "own", now, gen)
        _put_orders(conn, [f for f in found if not own or f.order.store_id != own], "lookup", now, gen)
    _follow_return_counter(node, states)


def _follow_return_counter(node: Node, states: list[ReturnState]) -> None:
    """Lift the node's return counter above the numbers HQ has from this node (as for transfers)."""
    code, node_no = node.replica.get("store_code"), node.replica.get_int("node_no", 1)
    if not code:
        return
    prefix = return_number(code, node_no, 0).removesuffix("000000")
    own = node.replica.get("store_id")
    highest = 0
    for state in states:
        rest = state.number.removeprefix(prefix)
        if state.store_id == own and rest != state.number and rest.isdigit():
            highest = max(highest, int(rest))
    if highest > node.replica.get_int("return_counter"):
        node.replica.set(return_counter=highest)


def _refuse_return(conn: sqlite3.Connection, return_id: str, result: OpResult) -> int:
    """HQ refused a return: its movements leave the store's stock, and the local copy shows it
    rejected with HQ's code and reason until HQ's snapshot (both languages) comes in."""
    moves = [r[0] for r in conn.execute("SELECT id FROM stock_moves WHERE ref = ?", (return_id,))]
    changed = stock_actions.delete_moves(conn, moves)
    row = conn.execute("SELECT * FROM returns WHERE id = ?", (return_id,)).fetchone()
    if row is None:
        return changed
    state = msgspec.structs.replace(
        return_records.decode_return(row), status="rejected", code=result.code, refusal_zh=result.reason
    )
    conn.execute(
        "UPDATE returns SET status = 'rejected', code = ?, data = ? WHERE id = ?",
        (result.code, return_records.encode_return(state), return_id),
    )
    return changed + 1


def _upsert_tickets(conn: sqlite3.Connection, states: list[TicketState], gen: int) -> None:
    _move_aside_numbers(conn, "tickets", states)
    held = outbox.pending_fields(conn, (s.id for s in states))
    local = _local_rows(conn, list(held))
    rows: list[list[Any]] = []
    for state in states:
        row = list(_ticket_values(state))
        mine = local.get(state.id)
        if mine is not None:
            for field in held[state.id]:
                row[_TICKET_INDEX[field]] = mine[field]
        row.append(_json.encode(state.extra).decode())
        row.append(_json.encode(state.tags).decode())
        row.append(gen)
        rows.append(row)
    conn.executemany(_UPSERT_TICKET, rows)


def _move_aside_numbers(
    conn: sqlite3.Connection, table: str, states: Sequence[TicketState | TransferState | ReturnState]
) -> None:
    """HQ's number wins: a local ticket or transfer (``table``) holding the number of an incoming
    other one (made on a replica restored from an older copy, its op not yet answered) takes a
    provisional ``NUMBER#id`` until HQ's answer brings the number HQ kept or gave it (HQ suffixes
    a transfer's clashing number with its id; a ticket takes the node's next number)."""
    incoming = {state.number: state.id for state in states}
    numbers = list(incoming)
    for chunk, marks in in_chunks(numbers):
        rows = conn.execute(f"SELECT id, number FROM {table} WHERE number IN ({marks})", chunk).fetchall()
        for record_id, number in rows:
            if incoming[number] != record_id:
                conn.execute(f"UPDATE {table} SET number = ? WHERE id = ?", (f"{number}#{record_id[-8:]}", record_id))


#: The local row an op made, by kind, for the ops whose row HQ may refuse to keep.
_RECORD_TABLES = {"ticket.comment": "comments", "ticket.status": "history"}


def drop_refused_records(conn: sqlite3.Connection, results: list[OpResult]) -> int:
    """Remove the local rows of each op HQ did not keep.

    HQ keeps no row for an op it rejected for good, nor for a status change a later one overtook;
    the store's replica must not go on showing it. (The ack's snapshot restores the fields.)
    A refused movement, or the movement of a refused ship or receive step, leaves the store's
    stock (``stock_on_hand`` with it); a refused transfer request stays, shown rejected with
    HQ's code and reason. A refused return drops its movements (the goods it took back, the items
    an exchange handed out) and stays, shown rejected with HQ's code and reason. Returns how many
    rows went or changed.
    """
    refused = {
        r.seq: r
        for r in results
        if (r.status == "rejected" and not r.awaits_upgrade) or (r.status == "merged" and r.code == "superseded")
    }
    dropped = 0
    for chunk, marks in in_chunks(list(refused)):
        ops = conn.execute(
            f"SELECT seq, kind, entity_id, record_id FROM outbox WHERE seq IN ({marks})", chunk
        ).fetchall()
        for seq, kind, entity_id, record_id in ops:
            result = refused[seq]
            table = _RECORD_TABLES.get(kind)
            if table is not None:
                dropped += conn.execute(f"DELETE FROM {table} WHERE id = ?", (record_id,)).rowcount
            elif result.status != "rejected":
                continue
            elif kind in ("stock.move", "transfer.step"):
                dropped += stock_actions.delete_moves(conn, [record_id])
            elif kind == "transfer.request":
                dropped += _refuse_request(conn, entity_id, result)
            elif kind == "return.create":
                dropped += _refuse_return(conn, entity_id, result)
    return dropped


def _local_rows(conn: sqlite3.Connection, ticket_ids: list[str]) -> dict[str, sqlite3.Row]:
    """The replica's rows of ``ticket_ids``, in chunks of one ``SELECT ... IN`` each."""
    found: dict[str, sqlite3.Row] = {}
    for chunk, marks in in_chunks(ticket_ids):
        for row in conn.execute(f"SELECT * FROM tickets WHERE id IN ({marks})", chunk):
            found[row["id"]] = row
    return found


#: ``meta`` key: the entity kinds the replica's pulls were applied with (comma-separated).
ENTITY_KINDS_KEY = "entity_kinds"


def pull_again_for_new_kinds(node: Node) -> bool:
    """After an upgrade that taught this version entity kinds an earlier one skipped while pulling
    (:func:`apply_changes` ignores kinds it does not know), re-pull the store's scope so that
    nothing HQ published in the meantime stays missing. A replica that does not say which kinds it
    pulled with (made before this was recorded) and has pulled anything re-pulls once too.
    Returns whether a re-pull was started."""
    known = sorted(ENTITY_TYPES)
    recorded = node.replica.get(ENTITY_KINDS_KEY)
    pulled = node.replica.get("cursor", "0") != "0"
    missing = set(known) - set(recorded.split(",")) if recorded else set(known)
    started = pulled and bool(missing)
    if started:
        log.warning(
            "this version knows entity kinds the earlier pulls skipped (%s): re-pulling", ", ".join(sorted(missing))
        )
        begin_reset(node)
    node.replica.set(**{ENTITY_KINDS_KEY: ",".join(known)})
    return started


def begin_reset(node: Node) -> None:
    """HQ cannot continue from our cursor: start a new generation; the re-pull marks what HQ has."""
    node.replica.set(gen=node.replica.get_int("gen") + 1, resetting=1, cursor="0")


def finish_reset(node: Node, conn: sqlite3.Connection) -> int:
    """After a complete re-pull: drop records HQ no longer has, unless a pending op makes them."""
    gen = node.replica.get_int("gen")
    keep = outbox.pending_records(conn)
    removed = 0
    for table in ("comments", "history", "tickets", "transfers"):
        rows = conn.execute(f"SELECT id FROM {table} WHERE gen < ?", (gen,)).fetchall()
        doomed = [(r[0],) for r in rows if r[0] not in keep]
        if table in ("tickets", "transfers"):
            doomed = [d for d in doomed if not _has_pending(conn, d[0])]
        if table == "transfers":  # a request HQ refused was never HQ's: the clerk still sees why
            refused = {
                r[0] for r in conn.execute("SELECT id FROM transfers WHERE origin = 'store' AND status = 'rejected'")
            }
            doomed = [d for d in doomed if d[0] not in refused]
        conn.executemany(f"DELETE FROM {table} WHERE id = ?", doomed)
        removed += len(doomed)
    stale_moves = [
        r[0] for r in conn.execute("SELECT id, ref FROM stock_moves WHERE gen < ?", (gen,)) if keep.isdisjoint(r)
    ]
    removed += stock_actions.delete_moves(conn, stale_moves)
    removed += conn.execute("DELETE FROM stock_levels WHERE gen < ?", (gen,)).rowcount
    # Own orders HQ no longer publishes to this store go; looked-up ones were never in the pull
    # (they stay until the room for them runs out).
    removed += conn.execute("DELETE FROM orders WHERE source = 'own' AND gen < ?", (gen,)).rowcount
    # An account HQ no longer publishes to this store can no longer sign in here; its row stays,
    # so a store that had accounts never falls back to the name-only sign-in.
    conn.execute("UPDATE accounts SET active = 0, password_hash = '', pin_hash = '' WHERE gen < ?", (gen,))
    node.replica.set(resetting=0)
    return removed


def _has_pending(conn: sqlite3.Connection, ticket_id: str) -> bool:
    row = conn.execute("SELECT 1 FROM outbox WHERE entity_id = ? AND state = 'pending' LIMIT 1", (ticket_id,))
    return row.fetchone() is not None
