"""Loading and writing returns: the one reader and writer of ``returns`` and ``return_lines``.

:func:`load_batch` reads what a push's return ops need (their orders with the units returned so
far, the earlier accepted returns of those orders, the policy); :func:`flush` writes what
:mod:`hq_server.return_rules` decided: the returns (accepted and rejected), the lines of accepted
ones for reports, the orders' returned units, the exchanges' sale orders, and a change-log entry
of each return for its returning store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import bulk, changelog, orders, return_settings
from hq_server.return_rules import EarlierReturn, ReturnBatch
from hq_server.schema import return_lines, returns, stores
from sync_protocol.entities import encode_entity
from sync_protocol.hlc import HybridClock
from sync_protocol.ops import ReturnCreate
from sync_protocol.return_policy import ReturnPolicy
from sync_protocol.returns import ReturnState


def _decode_state(data: Any) -> ReturnState:
    """A stored return (``data`` comes back from :class:`~hq_server.schema.JsonText` decoded)."""
    return msgspec.convert(data, ReturnState)


_encode_state = msgspec.json.Encoder().encode


def load_batch(conn: Connection, ops: Sequence[ReturnCreate], store_ids: Iterable[str]) -> ReturnBatch:
    """What deciding ``ops`` needs; ``store_ids``: the returning stores (their names go in texts)."""
    if not ops:
        return ReturnBatch(
            orders={}, store_names={}, earlier={}, known_ids=set(), numbers_in_use=set(), policy=ReturnPolicy()
        )
    found = orders.by_ids(conn, [p.order_id for p in ops])
    names = {item.order.store_id: item.store_name for item in found.values() if item.order.store_id}
    names.update(store_names(conn, store_ids))
    r = returns.c
    known: set[str] = set()
    numbers: set[str] = set()
    for chunk in bulk.id_chunks(p.return_id for p in ops):
        known.update(str(row[0]) for row in conn.execute(sa.select(r.id).where(r.id.in_(chunk))))
    for chunk in bulk.id_chunks(p.number for p in ops):
        numbers.update(str(row[0]) for row in conn.execute(sa.select(r.number).where(r.number.in_(chunk))))
    return ReturnBatch(
        orders={order_id: item.order for order_id, item in found.items()},
        store_names=names,
        earlier=_earlier(conn, list(found)),
        known_ids=known,
        numbers_in_use=numbers,
        policy=return_settings.get_policy(conn),
    )


def store_names(conn: Connection, ids: Iterable[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in bulk.id_chunks(ids):
        for store_id, name in conn.execute(sa.select(stores.c.id, stores.c.name).where(stores.c.id.in_(chunk))):
            found[str(store_id)] = str(name)
    return found


def _earlier(conn: Connection, order_ids: list[str]) -> dict[str, list[EarlierReturn]]:
    """The accepted returns of these orders, oldest first, with the returning store's name."""
    r = returns.c
    found: dict[str, list[EarlierReturn]] = {}
    for chunk in bulk.id_chunks(order_ids):
        query = (
            sa.select(r.order_id, r.data, stores.c.name)
            .select_from(returns.join(stores, stores.c.id == r.store_id))
            .where(r.order_id.in_(chunk), r.status == "accepted")
            .order_by(r.at, r.id)
        )
        for order_id, data, store_name in conn.execute(query):
            state = _decode_state(data)
            units = {line.line_no: line.qty for line in state.lines}
            found.setdefault(str(order_id), []).append(EarlierReturn(state.number, str(store_name), state.at, units))
    return found


def flush(conn: Connection, clock: HybridClock, batch: ReturnBatch) -> None:
    """Write what the batch decided (inside the push transaction, after the tickets it opened)."""
    if not batch.decided:
        return
    orders.insert_orders(conn, clock, batch.exchange_orders)
    orders.record_returned(conn, clock, [batch.orders[order_id] for order_id in batch.changed_orders])
    bulk.insert_many(conn, returns, [_row(state) for state in batch.decided])
    bulk.insert_many(
        conn,
        return_lines,
        [
            {
                "return_id": state.id,
                "line_no": line.line_no,
                "sku": line.sku,
                "product_code": line.product_code,
                "category": line.category,
                "qty": line.qty,
                "amount_cents": line.amount_cents,
            }
            for state in batch.decided
            if state.status == "accepted"
            for line in state.lines
        ],
    )
    changelog.append(conn, clock, [entry(state) for state in batch.decided])


def entry(state: ReturnState) -> changelog.Entry:
    """The change-log entry of a return: seen by its returning store."""
    return changelog.Entry("return", state.id, state.store_id, None, encode_entity(state))


def _row(state: ReturnState) -> dict[str, Any]:
    return {
        "id": state.id,
        "number": state.number,
        "order_id": state.order_id,
        "store_id": state.store_id,
        "selling_store_id": state.selling_store_id or None,
        "kind": state.kind,
        "reason": state.reason,
        "status": state.status,
        "code": state.code,
        "method": state.method,
        "returned_cents": state.returned_cents,
        "refund_cents": state.refund_cents,
        "payable_cents": state.payable_cents,
        "at": state.at,
        "decided_at": state.decided_at,
        "hlc": state.hlc,
        "data": _encode_state(msgspec.structs.replace(state, order=None)).decode(),
    }


def load_states(conn: Connection, where: sa.ColumnElement[bool], *, limit: int | None = None) -> list[ReturnState]:
    """Returns matching ``where``, newest first."""
    query = sa.select(returns.c.data).where(where).order_by(returns.c.at.desc(), returns.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [_decode_state(data) for (data,) in conn.execute(query)]


def get_state(conn: Connection, key: str, *, with_order: bool = False) -> ReturnState | None:
    """One return by id or number (``with_order``: with its order as HQ holds it now)."""
    found = load_states(conn, sa.or_(returns.c.id == key, returns.c.number == key), limit=2)
    state = next((s for s in found if s.id == key), found[0] if found else None)
    if state is not None and with_order:
        order = orders.by_ids(conn, [state.order_id]).get(state.order_id)
        state.order = order.order if order is not None else None
    return state
