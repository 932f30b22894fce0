"""Stock movements at HQ: levels as the sum of movements, who sees them, the lookup and thresholds
(hq_server.stock_rules, stock_store, stock_lookup, stock_api)."""

from __future__ import annotations

import msgspec
import sqlalchemy as sa

from hq_server.schema import stock_thresholds
from sync_protocol.messages import PushResponse
from sync_protocol.stock import StockLookup
from tests.hq.helpers import (
    Hq,
    WireNode,
    entities_in,
    import_catalogue,
    put_store,
    put_thresholds,
    stock_level,
)

CSV = """product_code,name_zh,name_en,colour,size
JN-2041,修身牛仔裤,Slim jeans,蓝,M
JN-2041,修身牛仔裤,Slim jeans,蓝,L
KN-1180,针织衫,Knit sweater,灰,L
"""
M, L = "JN-2041-蓝-M", "JN-2041-蓝-L"
KNIT = "KN-1180-灰-L"

#: Shanghai stores by distance from People's Square (SH001), and one in Hangzhou.
COORDS = {
    "SH001": (31.2304, 121.4737),  # People's Square
    "SH002": (31.2286, 121.4484),  # Jing'an, about 2.4 km
    "SH003": (31.1880, 121.4365),  # Xujiahui, about 5.9 km
    "SH004": (31.1979, 121.3364),  # Hongqiao, about 13.5 km
    "HZ001": (30.2741, 120.1551),  # Hangzhou, about 165 km
}


def statuses(answer: PushResponse) -> list[tuple[str, str]]:
    return [(r.status, r.code) for r in answer.results]


def test_moves_sum_to_the_level_and_duplicates_count_once(hq: Hq) -> None:
    import_catalogue(hq, CSV)
    node = hq.enroll("SH001")
    batch = [
        node.stock_op(node.move(M, 10, "receipt")),
        node.stock_op(node.move(M, -3, "sale")),
        node.stock_op(node.move(M, 1, "return")),
        node.stock_op(node.move(M, -2, "adjustment", note="盘点少两条")),
        node.stock_op(node.move(L, 4, "receipt")),
    ]
    first = node.push(batch)
    assert statuses(first) == [("applied", "")] * 5
    assert stock_level(hq, node.store_id, M) == (6, 0)
    assert stock_level(hq, node.store_id, L) == (4, 0)

    # The same batch again (its ack was lost): the results stored the first time, nothing counted.
    again = node.push(batch)
    assert [(r.seq, r.op_id, r.status) for r in again.results] == [(r.seq, r.op_id, r.status) for r in first.results]
    assert again.high_water == 5
    assert stock_level(hq, node.store_id, M) == (6, 0)

    # The same movement re-recorded under a new seq (a replica that lost its outbox state): merged.
    receipt = msgspec.msgpack.decode(batch[0].payload)
    resent = node.push([node.stock_op(node.move(M, 10, "receipt", move_id=receipt["move_id"]))])
    assert statuses(resent) == [("merged", "duplicate")]
    assert resent.high_water == 6
    assert stock_level(hq, node.store_id, M) == (6, 0)

    # Within one batch, the second copy of a movement is the duplicate.
    sale = node.move(M, -1, "sale")
    twice = node.send(sale, sale)
    assert statuses(twice) == [("applied", ""), ("merged", "duplicate")]
    assert stock_level(hq, node.store_id, M) == (5, 0)

    # The store sees each movement it made once.
    moves = entities_in(node.pull_all()[0], "stock_move")
    assert sorted(m.qty for m in moves.values() if m.sku == M) == [-3, -2, -1, 1, 10]
    assert sum(m.qty for m in moves.values() if m.sku == M) == 5


def test_move_of_unknown_sku_is_rejected_with_reason(hq: Hq) -> None:
    import_catalogue(hq, CSV)
    node = hq.enroll("SH001")
    answer = node.send(node.move("NO-SUCH-SKU", 3, "receipt"), node.move(M, 2, "receipt"))
    assert statuses(answer) == [("rejected", "unknown_sku"), ("applied", "")]
    assert "NO-SUCH-SKU" in answer.results[0].reason
    assert answer.high_water == 2  # a rejected op is answered for good; the next one still applies
    assert stock_level(hq, node.store_id, "NO-SUCH-SKU") == (0, 0)
    assert stock_level(hq, node.store_id, M) == (2, 0)

    english = node.push_raw(
        node.body([node.stock_op(node.move("GHOST-1", 1, "receipt"))]), headers={"Accept-Language": "en"}
    )
    assert english.status_code == 200
    result = msgspec.msgpack.decode(english.content)["results"][0]
    assert (result["code"], result["reason"]) == ("unknown_sku", "unknown SKU GHOST-1")


def test_move_with_bad_reason_is_rejected(hq: Hq) -> None:
    import_catalogue(hq, CSV)
    node = hq.enroll("SH001")
    answer = node.send(
        node.move(M, 5, "stolen"),
        # Transfer movements come only from transfer steps; a store cannot enter one itself.
        node.move(M, 5, "transfer_in"),
        node.move(M, -5, "transfer_out"),
        node.move(M, 1, ""),
    )
    assert statuses(answer) == [("rejected", "invalid_choice")] * 4
    assert all(r.reason for r in answer.results)
    assert stock_level(hq, node.store_id, M) == (0, 0)
    assert entities_in(node.pull_all()[0], "stock_move") == {}


def test_move_whose_sign_contradicts_its_reason_is_rejected(hq: Hq) -> None:
    """``qty`` is the signed change: a sale takes units out, a receipt or a return brings them in
    (the store node signs them with ``signed_qty``). HQ must not let a sale add stock or a receipt
    remove it; only an adjustment may go either way."""
    import_catalogue(hq, CSV)
    node = hq.enroll("SH001")
    first = node.send(node.move(M, 10, "receipt"), node.move(M, -2, "adjustment"), node.move(M, 1, "adjustment"))
    assert statuses(first) == [("applied", "")] * 3
    answer = node.send(node.move(M, 3, "sale"), node.move(M, -3, "receipt"), node.move(M, -1, "return"))
    assert [r.status for r in answer.results] == ["rejected"] * 3, [(r.status, r.code) for r in answer.results]
    assert stock_level(hq, node.store_id, M) == (9, 0)


def test_levels_are_published_to_the_region_and_moves_to_the_store_only(hq: Hq) -> None:
    import_catalogue(hq, CSV)
    a = hq.enroll("SH001", region="east")
    b = hq.enroll("SH002", region="east")
    c = hq.enroll("BJ001", region="north")
    assert statuses(a.send(a.move(M, 7, "receipt"), a.move(M, -2, "sale"))) == [("applied", "")] * 2

    own = a.pull_all()[0]
    levels = [msgspec.msgpack.decode(ch.data) for ch in own if ch.entity == "stock"]
    assert levels and levels[-1]["store_id"] == a.store_id and levels[-1]["on_hand"] == 5
    assert sorted(m.qty for m in entities_in(own, "stock_move").values()) == [-2, 7]

    neighbour = b.pull_all()[0]
    seen = [msgspec.msgpack.decode(ch.data) for ch in neighbour if ch.entity == "stock"]
    assert seen, "a store of the same region sees the level (its offline lookup)"
    latest = seen[-1]
    assert (latest["store_id"], latest["sku"], latest["product_code"], latest["on_hand"]) == (
        a.store_id,
        M,
        "JN-2041",
        5,
    )
    assert [ch for ch in neighbour if ch.entity == "stock_move"] == []

    far = c.pull_all()[0]
    assert [ch.entity for ch in far if ch.entity in ("stock", "stock_move")] == []


def _stock_everywhere(hq: Hq) -> dict[str, WireNode]:
    """Stores around Shanghai (and Hangzhou, and one without coordinates) holding JN-2041."""
    import_catalogue(hq, CSV)
    nodes = {code: hq.enroll(code) for code in [*COORDS, "NOCO1", "SOLD1"]}
    for code, (lat, lon) in COORDS.items():
        put_store(hq, code, lat=lat, lon=lon, address=f"{code} 地址", contact="店长", phone="021-0000")
    stock = {"SH001": (1, 0), "SH002": (2, 1), "SH003": (0, 5), "SH004": (3, 3), "HZ001": (9, 9), "NOCO1": (4, 0)}
    for code, (medium, large) in stock.items():
        node = nodes[code]
        moves = [node.move(sku, qty, "receipt") for sku, qty in ((M, medium), (L, large)) if qty]
        assert statuses(node.send(*moves)) == [("applied", "")] * len(moves)
    # A store that had some and sold it all has none: left out of the lookup.
    sold = nodes["SOLD1"]
    sold.send(sold.move(M, 2, "receipt"), sold.move(M, -2, "sale"))
    return nodes


def test_staff_lookup_api_and_node_lookup_endpoint(hq: Hq) -> None:
    nodes = _stock_everywhere(hq)
    order = ["SH001", "SH002", "SH003", "SH004", "HZ001", "NOCO1"]

    response = hq.api("GET", "/api/v1/stock", params={"product": "JN-2041", "near": "SH001"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert (body["product_code"], body["name_zh"], body["name_en"]) == ("JN-2041", "修身牛仔裤", "Slim jeans")
    assert [s["code"] for s in body["stores"]] == order
    by_code = {s["code"]: s for s in body["stores"]}
    assert by_code["SH001"]["distance_km"] == 0
    assert 2 < by_code["SH002"]["distance_km"] < 3
    assert 150 < by_code["HZ001"]["distance_km"] < 180
    assert by_code["NOCO1"]["distance_km"] is None
    # By size (the catalogue's order), each with colour and size; a size the store has none of is absent.
    assert [(k["sku"], k["colour"], k["size"], k["on_hand"]) for k in by_code["SH002"]["skus"]] == [
        (M, "蓝", "M", 2),
        (L, "蓝", "L", 1),
    ]
    assert [k["sku"] for k in by_code["SH003"]["skus"]] == [L]
    assert by_code["SH001"]["as_of"] and by_code["SH001"]["as_of"] <= body["server_time"]

    # Without near: by code, no distances.
    plain = hq.api("GET", "/api/v1/stock", params={"product": "JN-2041"}).json()
    assert [s["code"] for s in plain["stores"]] == sorted(order)
    assert {s["distance_km"] for s in plain["stores"]} == {None}

    # A store node asks for itself: msgpack, nearest to it first, it first of all.
    node = nodes["SH003"]
    answer = node.client.get("/sync/v1/stock", params={"product": "JN-2041"}, headers=node.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/msgpack")
    lookup = msgspec.msgpack.decode(answer.content, type=StockLookup)
    assert [s.code for s in lookup.stores] == ["SH003", "SH002", "SH001", "SH004", "HZ001", "NOCO1"]
    distances = [s.distance_km for s in lookup.stores if s.distance_km is not None]
    assert distances == sorted(distances)

    # A product HQ does not know: 404; no product named: 422; an unknown `near` store: 422.
    unknown = node.client.get("/sync/v1/stock", params={"product": "NOPE-1"}, headers=node.headers)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "product_not_found"
    missing = node.client.get("/sync/v1/stock", headers=node.headers)
    assert missing.status_code == 422
    assert (missing.json()["error"]["code"], missing.json()["error"]["field"]) == ("required", "product")
    blank = node.client.get("/sync/v1/stock", params={"product": "  "}, headers=node.headers)
    assert blank.status_code == 422
    assert hq.api("GET", "/api/v1/stock", params={"product": "NOPE-1"}).status_code == 404
    assert hq.api("GET", "/api/v1/stock").status_code == 422
    far = hq.api("GET", "/api/v1/stock", params={"product": "JN-2041", "near": "XX999"})
    assert far.status_code == 422 and far.json()["error"]["field"] == "near"

    # Only an enrolled node may ask the node endpoint, only an admin the staff one.
    assert node.client.get("/sync/v1/stock", params={"product": "JN-2041"}).status_code == 401
    assert node.client.get("/api/v1/stock", params={"product": "JN-2041"}).status_code == 401


def test_thresholds_api_validates_input(hq: Hq) -> None:
    import_catalogue(hq, CSV)
    hq.enroll("SH001")

    def error(items: object) -> tuple[int, str, str]:
        response = put_thresholds(hq, items)  # type: ignore[arg-type]
        body = response.json()
        return response.status_code, body.get("error", {}).get("code", ""), body.get("error", {}).get("field", "")

    good = {"store": "SH001", "sku": M, "threshold": 5}
    assert error([{**good, "store": "XX999"}]) == (422, "unknown_store", "[0].store")
    assert error([good, {**good, "sku": "NO-SUCH-SKU"}]) == (422, "unknown_sku", "[1].sku")
    assert error([{**good, "threshold": -1}]) == (422, "invalid_qty", "[0].threshold")
    assert error([{**good, "threshold": "5"}]) == (422, "invalid_qty", "[0].threshold")
    assert error([{**good, "threshold": True}]) == (422, "invalid_qty", "[0].threshold")
    assert error([{**good, "threshold": 100_001}]) == (422, "invalid_qty", "[0].threshold")
    assert error({"store": "SH001"})[0] == 422
    assert error(["SH001"]) == (422, "invalid_type", "[0]")
    bad_json = hq.api("PUT", "/api/v1/stock/thresholds", content=b"{not json")
    assert bad_json.status_code == 422

    # Nothing of a refused list was kept (the good first item included).
    with hq.ctx.db.read() as conn:
        assert conn.execute(stock_thresholds.select()).all() == []

    ok = put_thresholds(hq, [good, {"store": "SH001", "sku": L, "threshold": 0}])
    assert ok.status_code == 200 and ok.json() == {"updated": 2}
    with hq.ctx.db.read() as conn:
        assert sorted((r.sku, r.threshold) for r in conn.execute(stock_thresholds.select())) == [(L, 0), (M, 5)]
    # null removes one.
    assert put_thresholds(hq, [{"store": "SH001", "sku": L, "threshold": None}]).status_code == 200
    with hq.ctx.db.read() as conn:
        assert [(r.sku, r.threshold) for r in conn.execute(stock_thresholds.select())] == [(M, 5)]
    # Staff only.
    anonymous = hq.client.put("/api/v1/stock/thresholds", json=[good])
    assert anonymous.status_code == 401


def test_thresholds_api_refuses_an_item_without_a_threshold(hq: Hq) -> None:
    """Only an explicit null removes a threshold; an item that names none (a typo in the key) is
    refused rather than silently removing the store's threshold."""
    import_catalogue(hq, CSV)
    hq.enroll("SH001")
    assert put_thresholds(hq, [{"store": "SH001", "sku": M, "threshold": 5}]).status_code == 200
    typo = put_thresholds(hq, [{"store": "SH001", "sku": M, "treshold": 8}])
    assert typo.status_code == 422, typo.text
    with hq.ctx.db.read() as conn:
        assert [(r.sku, r.threshold) for r in conn.execute(stock_thresholds.select())] == [(M, 5)]


def test_a_store_that_only_pulls_still_counts_as_fresh_in_the_lookup(hq: Hq) -> None:
    """A store's figure is as old as its last contact: a pull or wait records it (at most once a
    minute), not only a push."""
    import_catalogue(hq, CSV)
    idle = hq.enroll("SH002")
    idle.hello()
    assert statuses(idle.send(idle.move(M, 2, reason="receipt"))) == [("applied", "")]

    def as_of() -> int:
        body = hq.api("GET", "/api/v1/stock", params={"product": "JN-2041"}).json()
        return int({s["code"]: s for s in body["stores"]}["SH002"]["as_of"])

    first = as_of()
    with hq.ctx.db.write() as conn:  # its last contact was two minutes ago
        conn.execute(sa.text("UPDATE nodes SET last_seen_at = :at"), {"at": first - 120_000})
    with hq.ctx.db.write() as conn:  # and so was its last movement
        conn.execute(sa.text("UPDATE stock_levels SET updated_at = :at"), {"at": first - 120_000})
    assert as_of() == first - 120_000
    idle.pull()
    assert as_of() >= first
