"""Loading a :class:`~hq_server.stock_rules.StockBatch` and writing it back, with its log entries.

Who sees what (change-log scope): a store's stock level is seen by the store and by the other
stores of its region (their offline lookup); a movement by its store only; a transfer by both of
its stores (one entry for each).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import bulk, changelog
from hq_server.schema import products, skus, stock_levels, stock_moves, stores, transfers
from hq_server.stock_rules import SkuInfo, StockBatch, StoreInfo
from sync_protocol.entities import encode_entity
from sync_protocol.hlc import HybridClock
from sync_protocol.stock import StockLevel, TransferState

_transfer_decoder = msgspec.msgpack.Decoder(TransferState)


def load_batch(
    conn: Connection,
    *,
    stores_of: Iterable[str],
    skus_of: Iterable[str],
    sku_everywhere: Iterable[str] = (),
    transfer_ids: Iterable[str] = (),
    move_ids: Iterable[str] = (),
    transfer_numbers: Iterable[str] = (),
    store_keys: Iterable[str] = (),
) -> StockBatch:
    """The state a batch needs: levels of ``skus_of`` at ``stores_of`` and of ``sku_everywhere`` at
    every store, the named transfers (and their SKUs' levels at both ends), the stores involved
    (those of the levels, and ``store_keys``: stores named by id or code), and which of
    ``move_ids`` HQ already counted."""
    found_transfers = load_transfers(conn, transfer_ids)
    store_ids = set(stores_of)
    sku_codes = set(skus_of) | set(sku_everywhere)
    for t in found_transfers.values():
        store_ids.update((t.from_store_id, t.to_store_id))
        sku_codes.add(t.sku)
    levels: dict[tuple[str, str], StockLevel] = {}
    everywhere = list(dict.fromkeys(sku_everywhere))
    for chunk in bulk.id_chunks(everywhere):
        levels.update(_levels(conn, stock_levels.c.sku.in_(chunk)))
    if store_ids and sku_codes:
        for chunk in bulk.id_chunks(sku_codes):
            where = sa.and_(stock_levels.c.sku.in_(chunk), stock_levels.c.store_id.in_(sorted(store_ids)))
            levels.update(_levels(conn, where))
    keys = list(store_keys)
    known = load_stores(conn, [*store_ids, *(store for store, _ in levels), *keys])
    known.update(load_stores(conn, keys, by="code"))
    batch = StockBatch(
        levels=levels,
        skus=load_skus(conn, sku_codes),
        stores=known,
        transfers=found_transfers,
        known_move_ids=existing_moves(conn, move_ids),
    )
    batch.stored_levels = set(levels)
    for chunk in bulk.id_chunks(transfer_numbers):
        query = sa.select(transfers.c.number).where(transfers.c.number.in_(chunk))
        batch.numbers_in_use.update(str(n) for n in conn.execute(query).scalars())
    return batch


def _levels(conn: Connection, where: sa.ColumnElement[bool]) -> dict[tuple[str, str], StockLevel]:
    c = stock_levels.c
    query = sa.select(c.store_id, c.sku, c.product_code, c.on_hand, c.reserved, c.updated_at).where(where)
    return {
        (store, sku): StockLevel(
            store_id=store, sku=sku, product_code=product, on_hand=int(on_hand), reserved=int(reserved), as_of=int(at)
        )
        for store, sku, product, on_hand, reserved, at in conn.execute(query)
    }


def load_skus(conn: Connection, codes: Iterable[str]) -> dict[str, SkuInfo]:
    found: dict[str, SkuInfo] = {}
    for chunk in bulk.id_chunks(codes):
        query = (
            sa.select(
                skus.c.code, skus.c.product_code, products.c.name_zh, skus.c.colour, skus.c.size, products.c.price_cents
            )
            .select_from(skus.join(products, skus.c.product_code == products.c.code))
            .where(skus.c.code.in_(chunk))
        )
        for code, product, name, colour, size, price in conn.execute(query):
            found[code] = SkuInfo(code, product, name, colour, size, None if price is None else int(price))
    return found


def load_stores(conn: Connection, ids: Iterable[str] | None, *, by: str = "id") -> dict[str, StoreInfo]:
    """Active stores by id: those whose ``by`` column (``id`` or ``code``) is one of ``ids``, or
    all of them when ``ids`` is None."""
    c = stores.c
    query = sa.select(c.id, c.code, c.name, c.region_id, c.address, c.contact, c.phone, c.lat, c.lon).where(
        c.active.is_(True)
    )
    found: dict[str, StoreInfo] = {}
    chunks: Iterable[list[str] | None] = [None] if ids is None else bulk.id_chunks(ids)
    for chunk in chunks:
        for row in conn.execute(query if chunk is None else query.where(c[by].in_(chunk))):
            found[row.id] = StoreInfo(
                id=row.id,
                code=row.code,
                name=row.name,
                region_id=row.region_id or "",
                address=row.address,
                contact=row.contact,
                phone=row.phone,
                lat=row.lat,
                lon=row.lon,
            )
    return found


def load_transfers(conn: Connection, ids: Iterable[str]) -> dict[str, TransferState]:
    found: dict[str, TransferState] = {}
    for chunk in bulk.id_chunks(ids):
        for (data,) in conn.execute(sa.select(transfers.c.data).where(transfers.c.id.in_(chunk))):
            transfer = _transfer_decoder.decode(data)
            found[transfer.id] = transfer
    return found


def existing_moves(conn: Connection, ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for chunk in bulk.id_chunks(ids):
        found.update(
            str(i) for i in conn.execute(sa.select(stock_moves.c.id).where(stock_moves.c.id.in_(chunk))).scalars()
        )
    return found


def flush(conn: Connection, clock: HybridClock, batch: StockBatch) -> None:
    """Write the batch's movements, levels and transfers, then their change-log entries."""
    bulk.insert_many(
        conn,
        stock_moves,
        [
            {
                "id": m.id,
                "store_id": m.store_id,
                "sku": m.sku,
                "qty": m.qty,
                "reason": m.reason,
                "at": m.at,
                "ref": m.ref,
                "note": m.note,
                "hlc": m.hlc,
                "origin_node_id": batch.origins.get(m.id),
            }
            for m in batch.moves
        ],
    )
    inserts: list[dict[str, object]] = []
    updates: list[dict[str, object]] = []
    for key in batch.changed_levels:
        level = batch.levels[key]
        row = {
            "store_id": level.store_id,
            "sku": level.sku,
            "product_code": level.product_code,
            "on_hand": level.on_hand,
            "reserved": level.reserved,
            "updated_at": level.as_of,
        }
        (updates if key in batch.stored_levels else inserts).append(row)
    bulk.insert_many(conn, stock_levels, inserts)
    if updates:
        c = stock_levels.c
        statement = (
            stock_levels.update()
            .where(c.store_id == sa.bindparam("key_store"), c.sku == sa.bindparam("key_sku"))
            .values(on_hand=sa.bindparam("on_hand"), reserved=sa.bindparam("reserved"), updated_at=sa.bindparam("at"))
        )
        conn.execute(
            statement,
            [
                {
                    "key_store": r["store_id"],
                    "key_sku": r["sku"],
                    "on_hand": r["on_hand"],
                    "reserved": r["reserved"],
                    "at": r["updated_at"],
                }
                for r in updates
            ],
        )
    batch.stored_levels.update(batch.changed_levels)
    _write_transfers(conn, batch)
    changelog.append(conn, clock, entries(batch))


def _write_transfers(conn: Connection, batch: StockBatch) -> None:
    for transfer_id in batch.changed_transfers:
        t = batch.transfers[transfer_id]
        values = {
            "number": t.number,
            "from_store_id": t.from_store_id,
            "to_store_id": t.to_store_id,
            "sku": t.sku,
            "qty": t.qty,
            "status": t.status,
            "requested_at": t.requested_at,
            "approved_at": t.times.get("approve"),
            "shipped_at": t.times.get("ship"),
            "received_at": t.times.get("receive"),
            "closed_at": t.times.get("receive") or t.times.get("reject") or t.times.get("cancel"),
            "updated_at": t.updated_at,
            "hlc": t.hlc,
            "data": encode_entity(t),
        }
        if transfer_id in batch.created_transfers:
            conn.execute(transfers.insert().values(id=t.id, **values))
        else:
            conn.execute(transfers.update().where(transfers.c.id == t.id).values(**values))
    batch.created_transfers.clear()


def level_id(level: StockLevel) -> str:
    """A stable id of one store's level of one SKU (the change log's ``entity_id``, at most 64)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"storedesk:stock:{level.store_id}:{level.sku}"))


def entries(batch: StockBatch) -> Sequence[changelog.Entry]:
    found: list[changelog.Entry] = []
    for key in batch.changed_levels:
        level = batch.levels[key]
        store = batch.stores.get(level.store_id)
        region = store.region_id if store is not None and store.region_id else None
        found.append(changelog.Entry("stock", level_id(level), level.store_id, region, encode_entity(level)))
    for move in batch.moves:
        found.append(changelog.Entry("stock_move", move.id, move.store_id, None, encode_entity(move)))
    for transfer_id in batch.changed_transfers:
        t = batch.transfers[transfer_id]
        data = encode_entity(t)
        found.append(changelog.Entry("transfer", t.id, t.from_store_id, None, data))
        found.append(changelog.Entry("transfer", t.id, t.to_store_id, None, data))
    return found
