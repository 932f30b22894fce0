"""Cross-store stock lookup: every store's stock of a product by size and colour, nearest first.

One indexed read of ``stock_levels`` by product, one of the stores, one of the nodes' last
contact; the distance is worked out here from the stores' coordinates. A store with no row for a
SKU has none of it and is left out; a store that has the product in no size is left out too.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server.schema import nodes, products, skus, stock_levels
from hq_server.stock_store import load_stores
from sync_protocol.stock import LookupSku, LookupStore, StockLookup, distance_km


def lookup(conn: Connection, product_code: str, *, near_store: str | None, now_ms: int) -> StockLookup | None:
    """The lookup of ``product_code`` as seen from ``near_store`` (a store id; None: sorted by
    code); None when HQ has no such product."""
    product = conn.execute(
        sa.select(products.c.name_zh, products.c.name_en).where(products.c.code == product_code)
    ).first()
    if product is None:
        return None
    variants = {
        str(code): (str(colour), str(size), int(sort))
        for code, colour, size, sort in conn.execute(
            sa.select(skus.c.code, skus.c.colour, skus.c.size, skus.c.sort).where(skus.c.product_code == product_code)
        )
    }
    c = stock_levels.c
    rows = conn.execute(
        sa.select(c.store_id, c.sku, c.on_hand, c.reserved, c.updated_at).where(c.product_code == product_code)
    ).all()
    by_store: dict[str, list[tuple[str, int, int, int]]] = {}
    for store_id, sku, on_hand, reserved, updated_at in rows:
        by_store.setdefault(str(store_id), []).append((str(sku), int(on_hand), int(reserved), int(updated_at)))
    stores = load_stores(conn, [*by_store, *([near_store] if near_store else [])])
    origin = stores.get(near_store) if near_store else None
    seen = _last_contact(conn, list(by_store))
    found: list[LookupStore] = []
    for store_id, levels in by_store.items():
        store = stores.get(store_id)
        if store is None or not any(on_hand for _, on_hand, _, _ in levels):
            continue
        levels.sort(key=lambda level: variants.get(level[0], ("", "", 0))[2])
        figure_at = max([seen.get(store_id) or 0, *(at for *_, at in levels)])
        found.append(
            LookupStore(
                store_id=store_id,
                code=store.code,
                name=store.name,
                region_id=store.region_id,
                distance_km=None
                if origin is None
                else _rounded(distance_km((origin.lat, origin.lon), (store.lat, store.lon))),
                as_of=figure_at or None,
                skus=[
                    LookupSku(
                        sku=sku,
                        colour=variants.get(sku, ("", "", 0))[0],
                        size=variants.get(sku, ("", "", 0))[1],
                        on_hand=on_hand,
                        reserved=reserved,
                    )
                    for sku, on_hand, reserved, _ in levels
                ],
            )
        )
    found.sort(key=lambda s: (s.distance_km is None, s.distance_km or 0.0, s.code))
    if origin is not None:  # the asking store first: "here" beats any distance
        found.sort(key=lambda s: s.store_id != origin.id)
    return StockLookup(
        product_code=product_code, name_zh=str(product[0]), name_en=str(product[1]), stores=found, server_time=now_ms
    )


def _rounded(km: float | None) -> float | None:
    return None if km is None else round(km, 2)


def _last_contact(conn: Connection, store_ids: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(store_ids), 500):
        chunk = store_ids[start : start + 500]
        query = (
            sa.select(nodes.c.store_id, sa.func.max(nodes.c.last_seen_at))
            .where(nodes.c.store_id.in_(chunk))
            .group_by(nodes.c.store_id)
        )
        found.update({str(store): int(at) for store, at in conn.execute(query) if at is not None})
    return found
