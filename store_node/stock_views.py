"""Read models of stock and transfers for the clerk UI (JSON).

- Own stock of a product: per SKU, on hand from ``stock_on_hand`` (this PC's count, pending
  movements included) and reserved from HQ's last snapshot of the store.
- Cross-store lookup: HQ's live answer when HQ can be reached (:func:`lookup_live`), else the
  snapshot of the region HQ last published (:func:`lookup_snapshot`), each store with how old its
  figures are. Times in these answers are epoch ms; ages are seconds.
- Transfers: ``outgoing`` (this store is the source: approve, ship) and ``incoming`` (this store
  asked: receive, cancel), each with the actions this store may take now.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from store_node.errors import NotFound
from store_node.node import Node
from store_node.replica import in_chunks
from store_node.stock_actions import decode_transfer, next_actions, on_hand, resolve_transfer
from store_node.views import iso, sync_marks
from sync_protocol import i18n
from sync_protocol.stock import (
    ACTION_LABELS,
    MOVE_REASON_LABELS,
    RESERVING_STATUSES,
    TRANSFER_STATUS_LABELS,
    StockLookup,
    TransferState,
    distance_km,
)

#: Most transfers one list answers with (newest first).
MAX_TRANSFERS = 500
ROLES = ("outgoing", "incoming")


def _label(labels: dict[str, tuple[str, str]], key: str, lang: str) -> str:
    pair = labels.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


def _age_s(now_ms: int, at: int | None) -> float | None:
    return None if at is None else round(max(0, now_ms - at) / 1000, 1)


# -- the catalogue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkuInfo:
    sku: str
    product_code: str
    colour: str
    size: str
    barcode: str


@dataclass(frozen=True)
class Product:
    code: str
    name_zh: str
    name_en: str
    skus: list[SkuInfo]

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" and self.name_en else self.name_zh


def product(node: Node, code: str) -> Product | None:
    """A product of the synced catalogue with its SKUs in catalogue order; None when unknown."""
    row = node.replica.one(
        "SELECT code, name_zh, name_en FROM reference WHERE entity = 'product' AND code = ? LIMIT 1", (code,)
    )
    if row is None:
        return None
    skus = [
        SkuInfo(r["sku"], r["product_code"], r["colour"], r["size"], r["barcode"])
        for r in node.replica.query(
            "SELECT sku, product_code, colour, size, barcode FROM catalogue_skus WHERE product_code = ? ORDER BY sort",
            (code,),
        )
    ]
    return Product(str(row["code"]), str(row["name_zh"]), str(row["name_en"]), skus)


def _product_or_404(node: Node, code: str) -> Product:
    found = product(node, code)
    if found is None:
        raise NotFound(f"no product {code}", code="product_not_found", value=code)
    return found


def _sku_infos(node: Node, skus: list[str]) -> dict[str, SkuInfo]:
    found: dict[str, SkuInfo] = {}
    for chunk, marks in in_chunks(list(dict.fromkeys(skus))):
        for r in node.replica.query(
            f"SELECT sku, product_code, colour, size, barcode FROM catalogue_skus WHERE sku IN ({marks})", tuple(chunk)
        ):
            found[r["sku"]] = SkuInfo(r["sku"], r["product_code"], r["colour"], r["size"], r["barcode"])
    return found


# -- own stock ----------------------------------------------------------------------------------


def own_levels(node: Node, skus: list[str]) -> dict[str, tuple[int, int]]:
    """(on hand, reserved) of each SKU at this store, both as this store sees them now: on hand
    counted here, reserved the units of this store's transfers out that are still requested or
    approved (their local status includes steps HQ has not answered yet, so an offline ship,
    reject or cancel frees them at once)."""
    counted = on_hand(node, skus)
    reserved = dict.fromkeys(skus, 0)
    store_id = node.replica.get("store_id")
    statuses = sorted(RESERVING_STATUSES)
    for chunk, marks in in_chunks(skus):
        for r in node.replica.query(
            f"SELECT sku, coalesce(sum(qty), 0) AS qty FROM transfers WHERE from_store_id = ? AND sku IN ({marks})"
            f" AND status IN ({', '.join('?' for _ in statuses)}) GROUP BY sku",
            (store_id, *chunk, *statuses),
        ):
            reserved[r["sku"]] = int(r["qty"])
    return {sku: (counted[sku], reserved[sku]) for sku in skus}


def _sku_json(info: SkuInfo | None, sku: str, on_hand_qty: int, reserved: int) -> dict[str, Any]:
    return {
        "sku": sku,
        "colour": info.colour if info else "",
        "size": info.size if info else "",
        "on_hand": on_hand_qty,
        "reserved": reserved,
        "available": on_hand_qty - reserved,
    }


def own_stock(node: Node, product_code: str, lang: str = "zh") -> dict[str, Any]:
    """This store's stock of a product, per SKU (size and colour) in catalogue order."""
    found = _product_or_404(node, product_code)
    levels = own_levels(node, [s.sku for s in found.skus])
    skus = []
    for info in found.skus:
        row = _sku_json(info, info.sku, *levels[info.sku])
        row["barcode"] = info.barcode
        skus.append(row)
    return {
        "product_code": found.code,
        "name": found.name(lang),
        "skus": skus,
        "on_hand": sum(s["on_hand"] for s in skus),
        "available": sum(s["available"] for s in skus),
    }


def move_json(row: sqlite3.Row, lang: str = "zh") -> dict[str, Any]:
    return {
        "id": row["id"],
        "sku": row["sku"],
        "qty": row["qty"],
        "reason": row["reason"],
        "reason_label": _label(MOVE_REASON_LABELS, row["reason"], lang),
        "note": row["note"],
        "ref": row["ref"],
        "at": iso(row["at"]),
    }


# -- cross-store lookup -------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreInfo:
    id: str
    code: str
    name: str
    region_id: str
    lat: float | None
    lon: float | None
    active: bool


def _coordinate(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def stores(node: Node, ids: Iterable[str] | None = None) -> dict[str, StoreInfo]:
    """The synced stores by id: all of them, or those of ``ids`` (a lookup needs only those in
    its answer; reading a thousand stores' rows was most of its time)."""
    if ids is None:
        rows = node.replica.query("SELECT id, code, name_zh, attrs FROM reference WHERE entity = 'store'")
    else:
        rows = []
        for chunk, marks in in_chunks(list(dict.fromkeys(ids))):
            rows.extend(
                node.replica.query(
                    f"SELECT id, code, name_zh, attrs FROM reference WHERE entity = 'store' AND id IN ({marks})",
                    tuple(chunk),
                )
            )
    found: dict[str, StoreInfo] = {}
    for r in rows:
        attrs = json.loads(r["attrs"] or "{}")
        found[r["id"]] = StoreInfo(
            id=r["id"],
            code=r["code"],
            name=r["name_zh"],
            region_id=str(attrs.get("region_id") or ""),
            lat=_coordinate(attrs.get("lat")),
            lon=_coordinate(attrs.get("lon")),
            active=attrs.get("active", True) is not False,
        )
    return found


def _own_store(node: Node, known: dict[str, StoreInfo]) -> StoreInfo:
    ident = node.identity
    return known.get(ident.store_id) or StoreInfo(
        ident.store_id, ident.store_code, ident.store_name, ident.region_id, None, None, True
    )


def _store_json(
    store: StoreInfo,
    own: StoreInfo,
    skus: list[dict[str, Any]],
    *,
    as_of: int | None,
    now_ms: int,
    km: float | None = None,
    measured: bool = False,
) -> dict[str, Any]:
    if not measured:
        km = distance_km((own.lat, own.lon), (store.lat, store.lon))
    return {
        "store_id": store.id,
        "code": store.code,
        "name": store.name,
        "region_id": store.region_id,
        "own": store.id == own.id,
        "distance_km": None if km is None else round(km, 2),
        "as_of": as_of,
        "age_s": _age_s(now_ms, as_of),
        "skus": skus,
        "on_hand": sum(s["on_hand"] for s in skus),
        "available": sum(s["available"] for s in skus),
    }


def _nearest_first(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Own store first, then by distance; stores without coordinates last."""
    return sorted(found, key=lambda s: (not s["own"], s["distance_km"] is None, s["distance_km"] or 0.0, s["code"]))


def _has_figures(skus: list[dict[str, Any]]) -> bool:
    return any(s["on_hand"] or s["reserved"] for s in skus)


def _own_entry(node: Node, own: StoreInfo, item: Product, now_ms: int) -> dict[str, Any] | None:
    """This store in a lookup: its live count (it is the one store whose figures are never old)."""
    levels = own_levels(node, [s.sku for s in item.skus])
    skus = [_sku_json(info, info.sku, *levels[info.sku]) for info in item.skus]
    if not _has_figures(skus):
        return None
    return _store_json(own, own, skus, as_of=now_ms, now_ms=now_ms)


def lookup_snapshot(node: Node, product_code: str, lang: str = "zh") -> dict[str, Any]:
    """Every store of the region holding the product, from HQ's last published levels (offline)."""
    item = _product_or_404(node, product_code)
    now_ms = node.wall_ms()
    infos = {s.sku: s for s in item.skus}
    by_store: dict[str, dict[str, sqlite3.Row]] = {}
    for r in node.replica.query(
        "SELECT store_id, sku, on_hand, reserved, as_of FROM stock_levels WHERE product_code = ?", (item.code,)
    ):
        by_store.setdefault(r["store_id"], {})[r["sku"]] = r
    known = stores(node, [*by_store, node.identity.store_id])
    own = _own_store(node, known)
    found: list[dict[str, Any]] = []
    mine = _own_entry(node, own, item, now_ms)
    if mine is not None:
        found.append(mine)
    for store_id, levels in by_store.items():
        store = known.get(store_id)
        if store_id == own.id or store is None or not store.active:
            continue
        order = [s for s in infos if s in levels] + sorted(s for s in levels if s not in infos)
        skus = [
            _sku_json(infos.get(sku), sku, int(levels[sku]["on_hand"]), int(levels[sku]["reserved"])) for sku in order
        ]
        if not _has_figures(skus):
            continue
        as_of = max(int(r["as_of"]) for r in levels.values())
        found.append(_store_json(store, own, skus, as_of=as_of, now_ms=now_ms))
    snapshot_at = node.replica.get_int("last_success_at") or None
    return {
        "product_code": item.code,
        "name": item.name(lang),
        "source": "snapshot",
        "snapshot_at": snapshot_at,
        "snapshot_age_s": _age_s(now_ms, snapshot_at),
        "stores": _nearest_first(found),
    }


def lookup_live(node: Node, answer: StockLookup, lang: str = "zh") -> dict[str, Any]:
    """HQ's live lookup as JSON. Ages are reckoned on HQ's clock (``server_time``); this store's
    own row shows its own live count (it includes sales HQ has not received yet)."""
    known = stores(node, [*(s.store_id for s in answer.stores), node.identity.store_id])
    own = _own_store(node, known)
    item = product(node, answer.product_code) or Product(answer.product_code, answer.name_zh, answer.name_en, [])
    found: list[dict[str, Any]] = []
    for store in answer.stores:
        info = StoreInfo(store.store_id, store.code, store.name, store.region_id, None, None, True)
        if store.store_id == own.id and item.skus:
            continue  # replaced by the live count below
        skus = [_sku_json(SkuInfo(s.sku, "", s.colour, s.size, ""), s.sku, s.on_hand, s.reserved) for s in store.skus]
        found.append(
            _store_json(
                info, own, skus, as_of=store.as_of, now_ms=answer.server_time, km=store.distance_km, measured=True
            )
        )
    if item.skus:
        mine = _own_entry(node, own, item, node.wall_ms())
        if mine is not None:
            mine["age_s"] = 0.0
            found.append(mine)
    return {
        "product_code": answer.product_code,
        "name": answer.name_en if lang == "en" and answer.name_en else answer.name_zh,
        "source": "hq",
        "server_time": answer.server_time,
        "stores": _nearest_first(found),
    }


# -- transfers ----------------------------------------------------------------------------------


def _party_json(store_id: str, known: dict[str, StoreInfo]) -> dict[str, Any]:
    store = known.get(store_id)
    return {"id": store_id, "code": store.code if store else "", "name": store.name if store else ""}


def _reason_text(state: TransferState, lang: str) -> str:
    """Why the transfer was rejected, for people: the source manager's reason with who gave it,
    or HQ's refusal as HQ worded it."""
    if state.code == "rejected_by_source":
        return i18n.render(state.code, lang, reason=state.reason)
    return state.reason


def _transfer_json(
    state: TransferState,
    own_store_id: str,
    known: dict[str, StoreInfo],
    skus: dict[str, SkuInfo],
    mark: tuple[str, list[dict[str, str]]],
    lang: str,
    *,
    detail: bool = False,
) -> dict[str, Any]:
    info = skus.get(state.sku)
    body: dict[str, Any] = {
        "id": state.id,
        "number": state.number,
        "role": "outgoing" if state.from_store_id == own_store_id else "incoming",
        "status": state.status,
        "status_label": _label(TRANSFER_STATUS_LABELS, state.status, lang),
        "code": state.code,
        "reason": state.reason,
        "reason_text": _reason_text(state, lang),
        "from_store": _party_json(state.from_store_id, known),
        "to_store": _party_json(state.to_store_id, known),
        "sku": state.sku,
        "product_code": info.product_code if info else "",
        "colour": info.colour if info else "",
        "size": info.size if info else "",
        "qty": state.qty,
        "note": state.note,
        "order_no": state.order_no,
        "requested_at": iso(state.requested_at),
        "updated_at": iso(state.updated_at),
        "actions": [
            {"action": action, "label": _label(ACTION_LABELS, action, lang)}
            for action in next_actions(state, own_store_id)
        ],
        "sync": mark[0],
        "rejections": mark[1],
    }
    if detail:
        body["source"] = msgspec.to_builtins(state.source)
        body["requester"] = msgspec.to_builtins(state.requester)
        body["lines"] = msgspec.to_builtins(state.lines)
        body["events"] = [
            {
                "action": e.action,
                "action_label": _label(ACTION_LABELS, e.action, lang),
                "status": e.status,
                "status_label": _label(TRANSFER_STATUS_LABELS, e.status, lang),
                "at": iso(e.at),
                "actor": e.actor,
                "note": e.note,
            }
            for e in state.events
        ]
    return body


def list_transfers(
    node: Node, *, role: str = "", status: str = "", limit: int = 200, lang: str = "zh"
) -> dict[str, list[dict[str, Any]]]:
    """``outgoing`` and ``incoming`` transfers, newest first (only the one ``role`` when given)."""
    own = node.identity.store_id
    wanted = [role] if role else list(ROLES)
    answer: dict[str, list[dict[str, Any]]] = {}
    for which in wanted:
        column = "from_store_id" if which == "outgoing" else "to_store_id"
        where, params = f"{column} = ?", [own]
        if status:
            where += " AND status = ?"
            params.append(status)
        rows = node.replica.query(
            f"SELECT * FROM transfers WHERE {where} ORDER BY updated_at DESC, number DESC LIMIT ?",
            (*params, min(limit, MAX_TRANSFERS)),
        )
        states = [decode_transfer(r) for r in rows]
        known = stores(node, [i for s in states for i in (s.from_store_id, s.to_store_id)])
        marks = sync_marks(node, [s.id for s in states])
        skus = _sku_infos(node, [s.sku for s in states])
        answer[which] = [_transfer_json(s, own, known, skus, marks.get(s.id, ("synced", [])), lang) for s in states]
    return answer


def get_transfer(node: Node, key: str, lang: str = "zh") -> dict[str, Any]:
    """One transfer with its order (parties, lines) and timeline."""
    transfer_id = resolve_transfer(node, key)
    row = node.replica.one("SELECT * FROM transfers WHERE id = ?", (transfer_id,))
    if row is None:
        raise NotFound(f"no transfer {key}", code="transfer_not_found", value=key)
    state = decode_transfer(row)
    mark = sync_marks(node, [transfer_id]).get(transfer_id, ("synced", []))
    return _transfer_json(
        state,
        node.identity.store_id,
        stores(node, [state.from_store_id, state.to_store_id]),
        _sku_infos(node, [state.sku]),
        mark,
        lang,
        detail=True,
    )
