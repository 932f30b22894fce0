"""Stock at the store: movements, on hand, and the cross-store lookup (store_node.stock_actions,
.stock_views, .apply, the stock routes of .api), against an in-process HQ."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from hq_server.schema import stock_moves as hq_stock_moves
from store_node import apply, migrations, outbox, stock_actions, stock_views, views
from store_node.app import create_app
from store_node.errors import InvalidInput, NotFound, PermanentSyncError
from store_node.node import Node
from store_node.replica import Replica
from sync_protocol.entities import encode_entity
from sync_protocol.hlc import Hlc, system_wall_ms
from sync_protocol.messages import Change, ReferenceItem
from tests.hq.helpers import Hq
from tests.store.conftest import StoreFactory
from tests.store.helpers import (
    SKU_BLACK,
    SKU_L,
    SKU_M,
    Store,
    error_of,
    fake_hello,
    hq_levels,
    import_catalogue,
    on_hand_matches_moves,
    outbox_rows,
    place_store,
    scalar,
    sync_recorded,
)
from tests.store.test_sync_client import copy_database, hq_on

EN = {"Accept-Language": "en"}


def on_hand(node: Node, sku: str) -> int:
    return stock_actions.on_hand(node, [sku])[sku]


def move(node: Node, sku: str, qty: int, reason: str = "sale", **extra: Any) -> str:
    return stock_actions.record_move(node, {"sku": sku, "qty": qty, "reason": reason, **extra})


def hq_move_count(hq: Hq) -> int:
    with hq.ctx.db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(hq_stock_moves)).scalar_one())


def ready(hq: Hq, make_store: StoreFactory, *codes: str) -> list[Store]:
    """The catalogue at HQ, each store placed and synced once (it has the catalogue)."""
    import_catalogue(hq)
    made = []
    for code in codes:
        store = make_store(code)
        store.enroll_only()
        place_store(hq, code)
        made.append(store)
    for store in made:
        store.sync()
    return made


# -- on hand = the sum of the movements --------------------------------------------------------------


def test_a_sale_a_receipt_a_return_and_an_adjustment_move_on_hand_by_their_signed_quantity(
    hq: Hq, make_store: StoreFactory
) -> None:
    [store] = ready(hq, make_store, "SH001")
    node = store.node
    move(node, SKU_M, 10, "receipt")
    move(node, SKU_M, 3, "sale")
    move(node, SKU_M, 1, "return")
    move(node, SKU_M, -2, "adjustment", note="盘点少两条")
    assert on_hand(node, SKU_M) == 6
    moves = node.replica.query("SELECT qty, reason, origin FROM stock_moves ORDER BY at, rowid")
    assert [(m["qty"], m["reason"], m["origin"]) for m in moves] == [
        (10, "receipt", "store"),
        (-3, "sale", "store"),
        (1, "return", "store"),
        (-2, "adjustment", "store"),
    ]
    assert [op["kind"] for op in outbox_rows(node)] == ["stock.move"] * 4
    assert {op["entity_id"] for op in outbox_rows(node)} == {SKU_M}
    store.sync()
    assert outbox.count(node) == 0
    assert hq_levels(hq)[("SH001", SKU_M)] == (6, 0)
    assert on_hand(node, SKU_M) == 6  # HQ's movements came back with the same ids: not counted twice
    assert scalar(node.replica, "SELECT count(*) FROM stock_moves") == 4


def test_on_hand_stays_the_sum_of_the_movements_through_local_pulled_and_refused_moves(
    hq: Hq, make_store: StoreFactory
) -> None:
    import_catalogue(hq)
    first, second = make_store("SH001"), make_store("SH001")  # two PCs of one store
    first.enroll_only()  # no catalogue yet: an unknown SKU is taken on trust, and HQ refuses it
    move(first.node, SKU_M, 8, "receipt")
    move(first.node, "NO-SUCH-SKU", 2, "receipt")
    move(first.node, SKU_L, 4, "receipt")
    assert on_hand_matches_moves(first.node)
    assert on_hand(first.node, "NO-SUCH-SKU") == 2
    first.sync()
    assert on_hand_matches_moves(first.node)
    assert on_hand(first.node, "NO-SUCH-SKU") == 0
    second.sync()
    move(second.node, SKU_M, 3, "sale")
    stock_actions.record_moves(
        second.node,
        [{"sku": SKU_L, "qty": 1, "reason": "sale"}, {"barcode": "6901234567890", "qty": 1, "reason": "sale"}],
    )
    second.sync()
    first.sync()  # pulls the other PC's movements
    for store in (first, second):
        assert on_hand_matches_moves(store.node)
        assert (on_hand(store.node, SKU_M), on_hand(store.node, SKU_L)) == (4, 3)
    assert hq_levels(hq)[("SH001", SKU_M)] == (4, 0)
    origins = first.node.replica.query("SELECT origin, count(*) FROM stock_moves GROUP BY origin ORDER BY origin")
    assert [(r[0], r[1]) for r in origins] == [("hq", 3), ("store", 2)]


def test_refused_move_is_dropped_and_on_hand_restored(hq: Hq, make_store: StoreFactory) -> None:
    import_catalogue(hq)
    store = make_store("SH001")
    store.enroll_only()
    move(store.node, SKU_M, 5, "receipt")
    refused = move(store.node, "JN-9999-XX", 3, "receipt")  # HQ has no such SKU
    move(store.node, SKU_M, 1, "sale")
    assert on_hand(store.node, "JN-9999-XX") == 3
    store.sync()
    assert [(op["kind"], op["state"], op["code"]) for op in outbox_rows(store.node)] == [
        ("stock.move", "acked", ""),
        ("stock.move", "rejected", "unknown_sku"),
        ("stock.move", "acked", ""),
    ]
    assert store.node.replica.one("SELECT 1 FROM stock_moves WHERE id = ?", (refused,)) is None
    assert on_hand(store.node, "JN-9999-XX") == 0
    assert on_hand(store.node, SKU_M) == 4
    assert on_hand_matches_moves(store.node)
    [rejection] = views.sync_status(store.node)["rejected_ops"]
    assert rejection["code"] == "unknown_sku" and "JN-9999-XX" in rejection["reason"]


# -- convergence ---------------------------------------------------------------------------------------


def test_stock_converges_after_both_sides_sell_offline(hq: Hq, make_store: StoreFactory) -> None:
    first, other_store = ready(hq, make_store, "SH001", "SH002")
    second = make_store("SH001")  # a second till of SH001
    second.sync()
    move(first.node, SKU_M, 10, "receipt")
    move(other_store.node, SKU_M, 6, "receipt")
    for store in (first, other_store, second, first):
        store.sync()
    assert on_hand(second.node, SKU_M) == 10

    for store in (first, second, other_store):
        store.line.up = False
    move(first.node, SKU_M, 2, "sale")
    move(second.node, SKU_M, 3, "sale")
    move(second.node, SKU_M, 1, "return")
    move(other_store.node, SKU_M, 4, "sale")
    move(other_store.node, SKU_BLACK, 2, "receipt")
    assert (on_hand(first.node, SKU_M), on_hand(second.node, SKU_M)) == (8, 8)  # each till sees its own sales
    with pytest.raises(Exception, match="unreachable"):
        first.sync()

    for store in (first, second, other_store):
        store.line.up = True
    for store in (first, second, other_store, first):
        store.sync()

    assert hq_levels(hq)[("SH001", SKU_M)] == (6, 0)
    assert hq_levels(hq)[("SH002", SKU_M)] == (2, 0)
    assert hq_levels(hq)[("SH002", SKU_BLACK)] == (2, 0)
    for store in (first, second):
        assert on_hand(store.node, SKU_M) == 6
        assert on_hand_matches_moves(store.node)
        assert scalar(store.node.replica, "SELECT count(*) FROM stock_moves") == 4
    assert on_hand(other_store.node, SKU_M) == 2
    # Each store's snapshot of the other agrees with HQ.
    snapshot = stock_views.lookup_snapshot(first.node, "JN-2041")
    other = next(s for s in snapshot["stores"] if s["code"] == "SH002")
    assert {s["sku"]: s["on_hand"] for s in other["skus"]} == {SKU_M: 2, SKU_BLACK: 2}


def test_duplicate_push_counts_each_move_once(hq: Hq, make_store: StoreFactory) -> None:
    [store] = ready(hq, make_store, "SH001")
    move(store.node, SKU_M, 10, "receipt")
    move(store.node, SKU_M, 4, "sale")
    stock_actions.record_moves(store.node, [{"sku": SKU_L, "qty": 5, "reason": "receipt"}] * 3)

    # HQ applies the push, but its answer is lost on the way back: the ops stay pending.
    real = store.line.hq.handle_async_request
    lost: list[str] = []

    async def lose_push_answers(request: httpx.Request) -> httpx.Response:
        response = await real(request)
        if request.url.path == "/sync/v1/push" and not lost:
            await response.aread()
            lost.append(request.url.path)
            raise httpx.ReadError("connection reset", request=request)
        return response

    store.line.hq.handle_async_request = lose_push_answers  # type: ignore[method-assign]
    with pytest.raises(Exception, match="unreachable"):
        store.sync()
    assert lost and store.pending() == 5
    assert hq_levels(hq)[("SH001", SKU_M)] == (6, 0)

    store.sync()  # the same ops again: HQ answers them as duplicates
    assert store.pending() == 0
    assert hq_levels(hq)[("SH001", SKU_M)] == (6, 0)
    assert hq_levels(hq)[("SH001", SKU_L)] == (15, 0)
    assert (on_hand(store.node, SKU_M), on_hand(store.node, SKU_L)) == (6, 15)

    # Sent once more under new seqs (as from a replica restored from a copy): HQ takes them as new
    # ops, and still counts each move id once.
    high_water = store.seen_by_hq().high_water
    with store.node.replica.tx() as conn:
        outbox.rewind(conn, 0)
        store.node.replica.set(next_seq=outbox.renumber_pending(conn, high_water + 1))
    store.sync()
    assert store.pending() == 0 and store.seen_by_hq().high_water == high_water + 5
    assert hq_move_count(hq) == 5
    assert hq_levels(hq)[("SH001", SKU_M)] == (6, 0)
    assert hq_levels(hq)[("SH001", SKU_L)] == (15, 0)
    assert on_hand_matches_moves(store.node)


# -- the lookup ----------------------------------------------------------------------------------------


def test_offline_lookup_shows_the_snapshot_and_its_age(hq: Hq, make_store: StoreFactory, tmp_path: Path) -> None:
    now = [system_wall_ms()]
    import_catalogue(hq)
    here = make_store("SH001", wall_ms=lambda: now[0])
    near, far, empty = make_store("SH002"), make_store("SH003"), make_store("SH004")
    for store in (here, near, far, empty):
        store.enroll_only()
    for code in ("SH001", "SH002", "SH003"):
        place_store(hq, code)
    move(near.node, SKU_M, 4, "receipt")
    move(near.node, SKU_L, 2, "receipt")
    move(far.node, SKU_M, 9, "receipt")
    move(empty.node, SKU_M, 1, "receipt")
    move(empty.node, SKU_M, 1, "sale")  # has a level row, all zero
    for store in (near, far, empty):
        store.sync()
    move(here.node, SKU_BLACK, 3, "receipt")
    sync_recorded(here)
    synced_at = now[0]

    here.line.up = False
    now[0] += 90_000  # a minute and a half later, still offline
    move(here.node, SKU_BLACK, 1, "sale")  # own figures are live, not the snapshot's
    answer = stock_views.lookup_snapshot(here.node, "JN-2041", "en")
    assert answer["source"] == "snapshot" and answer["name"] == "Slim jeans"
    assert answer["snapshot_at"] == synced_at and answer["snapshot_age_s"] == 90.0
    assert [s["code"] for s in answer["stores"]] == ["SH001", "SH002", "SH003"]  # own first, then nearest
    own, second, third = answer["stores"]
    assert own["own"] and own["distance_km"] == 0.0 and own["age_s"] == 0.0
    assert {s["sku"]: s["on_hand"] for s in own["skus"]} == {SKU_M: 0, SKU_L: 0, SKU_BLACK: 2}
    assert 2 < second["distance_km"] < 4 and 30 < third["distance_km"] < 50
    assert [(s["sku"], s["colour"], s["size"], s["on_hand"], s["available"]) for s in second["skus"]] == [
        (SKU_M, "蓝", "M", 4, 4),
        (SKU_L, "蓝", "L", 2, 2),
    ]
    assert second["as_of"] is not None and 80.0 < second["age_s"] <= 90.0
    assert third["on_hand"] == 9

    with pytest.raises(NotFound) as missing:
        stock_views.lookup_snapshot(here.node, "NO-SUCH")
    assert missing.value.code == "product_not_found"


def test_live_lookup_asks_hq_and_falls_back_to_the_snapshot(hq: Hq, make_store: StoreFactory) -> None:
    here, near = ready(hq, make_store, "SH001", "SH002")
    move(near.node, SKU_M, 4, "receipt")
    near.sync()
    sync_recorded(here)
    move(near.node, SKU_M, 1, "sale")
    near.sync()  # HQ knows 3 now; the snapshot at SH001 still says 4

    found = here.call(lambda client: client.lookup_stock("JN-2041"))
    live = stock_views.lookup_live(here.node, found, "zh")
    assert live["source"] == "hq" and live["name"] == "修身牛仔裤"
    [other] = live["stores"]
    assert other["code"] == "SH002" and other["on_hand"] == 3 and 2 < other["distance_km"] < 4
    assert other["as_of"] is not None and other["age_s"] is not None

    with pytest.raises(PermanentSyncError) as unknown:
        here.call(lambda client: client.lookup_stock("NO-SUCH"))
    assert unknown.value.code == "product_not_found"

    with store_api(here) as api:
        online = api.get("/api/v1/stock/lookup", params={"product": "JN-2041"})
        assert online.status_code == 200, online.text
        assert online.json()["source"] == "hq" and online.json()["stores"][0]["on_hand"] == 3
        gone = api.get("/api/v1/stock/lookup", params={"product": "NO-SUCH"})
        assert (gone.status_code, gone.json()["error"]["code"]) == (404, "product_not_found")
        here.line.broken.add("/sync/v1/stock")  # a proxy answers 502
        broken = api.get("/api/v1/stock/lookup", params={"product": "JN-2041"})
        assert broken.json()["source"] == "snapshot" and broken.json()["stores"][0]["on_hand"] == 4
        here.line.up = False
        offline = api.get("/api/v1/stock/lookup", params={"product": "JN-2041"})
        assert offline.status_code == 200 and offline.json()["source"] == "snapshot"
        assert offline.json()["snapshot_age_s"] is not None
        unknown_offline = api.get("/api/v1/stock/lookup", params={"product": "NO-SUCH"})
        assert (unknown_offline.status_code, unknown_offline.json()["error"]["code"]) == (404, "product_not_found")


@contextlib.contextmanager
def store_api(store: Store) -> Iterator[TestClient]:
    """The local API over a :class:`Store`'s node, its lookup going through the store's line."""
    app = create_app(store.data_dir, "http://hq.test", store.token, start_sync=False)
    with TestClient(app) as client:
        app.state.node = store.node
        app.state.sync = store.client()
        try:
            yield client
        finally:
            assert client.portal is not None
            client.portal.call(app.state.sync.close)


# -- the local API: bad input is refused naming the field ------------------------------------------------


def _product_change(code: str, skus: list[dict[str, str]]) -> Change:
    item = ReferenceItem(id=code, code=code, name_zh="修身牛仔裤", name_en="Slim jeans", attrs={"skus": skus})
    hlc = Hlc(system_wall_ms(), 0, "hq").encode()
    return Change(pos=0, entity="product", entity_id=code, hlc=hlc, data=msgspec.Raw(encode_entity(item)))


def give_catalogue(node: Node) -> None:
    skus = [
        {"code": SKU_M, "colour": "蓝", "size": "M", "barcode": "6901234567890"},
        {"code": SKU_L, "colour": "蓝", "size": "L", "barcode": "6901234567891"},
    ]
    with node.replica.tx() as conn:
        apply.apply_changes(node, conn, [_product_change("JN-2041", skus)])


@pytest.fixture
def api(data_dir: Path) -> Iterator[TestClient]:
    """The local API of an enrolled node with a synced catalogue; HQ cannot be reached."""
    app = create_app(data_dir, "http://127.0.0.1:9", "token", start_sync=False)
    app.state.node.adopt(fake_hello())
    give_catalogue(app.state.node)
    with TestClient(app) as client:
        yield client


def test_a_move_through_the_api_answers_the_new_on_hand(api: TestClient) -> None:
    received = api.post("/api/v1/stock/moves", json={"sku": SKU_M, "qty": 5, "reason": "receipt"})
    assert received.status_code == 201, received.text
    assert received.json()["on_hand"] == 5
    assert received.json()["move"]["qty"] == 5 and received.json()["move"]["reason_label"] == "入库"
    scanned = api.post("/api/v1/stock/moves", json={"barcode": "6901234567890", "qty": 2, "reason": "sale"})
    assert scanned.status_code == 201 and scanned.json()["move"]["sku"] == SKU_M
    assert scanned.json()["on_hand"] == 3
    batch = api.post(
        "/api/v1/stock/moves",
        json={"moves": [{"sku": SKU_L, "qty": 4, "reason": "receipt"}, {"sku": SKU_L, "qty": 1, "reason": "sale"}]},
    )
    assert batch.status_code == 201, batch.text
    assert [m["qty"] for m in batch.json()["moves"]] == [4, -1]
    assert batch.json()["on_hand"] == {SKU_L: 3}
    own = api.get("/api/v1/stock", params={"product": "JN-2041"}, headers=EN)
    assert own.status_code == 200
    assert own.json()["name"] == "Slim jeans"
    assert [(s["sku"], s["size"], s["on_hand"]) for s in own.json()["skus"]] == [(SKU_M, "M", 3), (SKU_L, "L", 3)]
    offline = api.get("/api/v1/stock/lookup", params={"product": "JN-2041"})
    assert offline.status_code == 200 and offline.json()["source"] == "snapshot"
    assert offline.json()["snapshot_at"] is None  # never synced
    assert [s["on_hand"] for s in offline.json()["stores"]] == [6]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"sku": SKU_M, "qty": 1, "reason": "theft"}, "reason", "invalid_choice"),
        ({"sku": SKU_M, "qty": 1}, "reason", "required"),
        ({"sku": SKU_M, "qty": 0, "reason": "sale"}, "qty", "invalid_qty"),
        ({"sku": SKU_M, "qty": -2, "reason": "sale"}, "qty", "invalid_qty"),
        ({"sku": SKU_M, "qty": 0, "reason": "adjustment"}, "qty", "invalid_qty"),
        ({"sku": SKU_M, "qty": 1.5, "reason": "sale"}, "qty", "invalid_type"),
        ({"sku": SKU_M, "qty": "2", "reason": "sale"}, "qty", "invalid_type"),
        ({"sku": SKU_M, "qty": 100_001, "reason": "receipt"}, "qty", "invalid_qty"),
        ({"sku": "JN-2041-RED-XL", "qty": 1, "reason": "sale"}, "sku", "unknown_sku"),
        ({"barcode": "000", "qty": 1, "reason": "sale"}, "barcode", "unknown_sku"),
        ({"qty": 1, "reason": "sale"}, "sku", "required"),
        ({"sku": SKU_M, "qty": 1, "reason": "sale", "price": 3}, "price", "unknown_field"),
        (
            {"moves": [{"sku": SKU_M, "qty": 1, "reason": "sale"}, {"sku": SKU_M, "qty": 0, "reason": "sale"}]},
            "moves[1].qty",
            "invalid_qty",
        ),
        ({"moves": []}, "moves", "required"),
    ],
)
def test_bad_moves_are_refused_naming_the_field(api: TestClient, body: dict[str, Any], field: str, code: str) -> None:
    error = error_of(api.post("/api/v1/stock/moves", json=body), 400)
    assert (error["field"], error["code"]) == (field, code)
    node: Node = api.app.state.node  # type: ignore[attr-defined]
    assert scalar(node.replica, "SELECT count(*) FROM stock_moves") == 0  # nothing of a bad batch is written
    assert outbox.count(node) == 0


def test_bad_move_messages_are_in_the_clerks_language(api: TestClient) -> None:
    zh = error_of(api.post("/api/v1/stock/moves", json={"sku": SKU_M, "qty": 0, "reason": "sale"}), 400)
    assert "100000" in zh["message"] and "整数" in zh["message"]
    en = error_of(api.post("/api/v1/stock/moves", json={"sku": "X-1", "qty": 1, "reason": "sale"}, headers=EN), 400)
    assert en["message"] == "unknown SKU X-1"


def test_stock_queries_need_a_known_product(api: TestClient) -> None:
    assert error_of(api.get("/api/v1/stock"), 400)["field"] == "product"
    assert error_of(api.get("/api/v1/stock", params={"product": "NO-SUCH"}), 404)["code"] == "product_not_found"
    assert error_of(api.get("/api/v1/stock/lookup"), 400)["field"] == "product"


def test_an_unknown_sku_is_taken_on_trust_until_a_catalogue_is_synced(node: Node) -> None:
    move_id = move(node, "ANY-SKU", 2, "receipt")
    assert stock_actions.moves_of(node, [move_id])[0]["qty"] == 2
    give_catalogue(node)
    with pytest.raises(InvalidInput) as refused:
        move(node, "ANY-SKU", 2, "receipt")
    assert (refused.value.code, refused.value.field) == ("unknown_sku", "sku")


def test_catalogue_skus_follow_the_products_pulled(node: Node) -> None:
    give_catalogue(node)
    with node.replica.tx() as conn:  # a new version of the product: the L is gone, an XL came
        skus = [
            {"code": SKU_M, "colour": "蓝", "size": "M", "barcode": "1"},
            {"code": "JN-XL", "colour": "蓝", "size": "XL"},
        ]
        apply.apply_changes(node, conn, [_product_change("JN-2041", skus)])
    found = stock_views.product(node, "JN-2041")
    assert found is not None
    assert [(s.sku, s.size, s.barcode) for s in found.skus] == [(SKU_M, "M", "1"), ("JN-XL", "XL", "")]


# -- a restored HQ, an upgraded replica ------------------------------------------------------------


def test_movements_a_restored_hq_lost_are_sent_again_or_dropped_until_their_till_resends_them(
    tmp_path: Path,
) -> None:
    db, backup = tmp_path / "hq.db", tmp_path / "hq-backup.db"
    with hq_on(db) as hq:
        import_catalogue(hq)
        till, other_till = (Store(hq, tmp_path / f"till-{n}", hq.enroll("SH001").enrollment) for n in (1, 2))
        till.sync()
        other_till.sync()
        move(till.node, SKU_M, 10, "receipt")
        till.sync()
        copy_database(db, backup)

        move(till.node, SKU_M, 2, "sale")  # acked, then lost in the restore: this till sends it again
        till.sync()
        move(other_till.node, SKU_M, 1, "sale")  # lost too; only the other till can send it again
        other_till.sync()
        till.sync()
        assert on_hand(till.node, SKU_M) == 7

    copy_database(backup, db)  # HQ is restored from last night's copy
    try:
        with hq_on(db) as restored:
            till.connect(restored)
            till.sync()  # re-queues its lost sale, re-pulls its scope
            till.sync()
            assert on_hand(till.node, SKU_M) == 8  # the other till's sale is not at HQ any more
            assert on_hand_matches_moves(till.node)
            assert hq_levels(restored)[("SH001", SKU_M)] == (8, 0)
            other_till.connect(restored)
            other_till.sync()
            other_till.sync()
            till.sync()
            for store in (till, other_till):
                assert on_hand(store.node, SKU_M) == 7
                assert on_hand_matches_moves(store.node)
            assert hq_levels(restored)[("SH001", SKU_M)] == (7, 0)
    finally:
        till.node.close()
        other_till.node.close()


def test_upgrading_a_replica_indexes_the_skus_of_the_products_it_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    skus = [{"code": SKU_M, "colour": "蓝", "size": "M", "barcode": "6901234567890"}, {"code": SKU_L}]
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", [m for m in migrations.MIGRATIONS if m[0] < 4])
        old = Replica(tmp_path)
        with old.tx() as conn:
            conn.execute(
                "INSERT INTO reference (entity, id, code, name_zh, attrs) VALUES ('product', 'JN-2041', 'JN-2041',"
                " '修身牛仔裤', ?)",
                (json.dumps({"skus": skus}),),
            )
        old.close()
    upgraded = Replica(tmp_path)
    try:
        rows = upgraded.query("SELECT sku, product_code, colour, size, barcode, sort FROM catalogue_skus ORDER BY sort")
        assert [tuple(r) for r in rows] == [
            (SKU_M, "JN-2041", "蓝", "M", "6901234567890", 0),
            (SKU_L, "JN-2041", "", "", "", 1),
        ]
    finally:
        upgraded.close()
