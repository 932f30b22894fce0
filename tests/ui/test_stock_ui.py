"""The clerk's stock and transfer screens (store_node.ui.stock, .transfers) through the real app:
the stock page (own grid, every store nearest first, live or snapshot), requesting a transfer from
it, the transfers list, one transfer with exactly the steps this store may take."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest
from starlette.testclient import TestClient

from store_node import apply, outbox, stock_actions
from store_node.app import create_app
from store_node.node import Node
from sync_protocol.entities import encode_entity
from sync_protocol.hlc import Hlc, system_wall_ms
from sync_protocol.messages import Change, ReferenceItem
from sync_protocol.ops import TransferRequest, TransferStep, decode_payload
from sync_protocol.stock import Party, StockLevel, TransferEvent, TransferState
from tests.hq.helpers import Hq
from tests.store.conftest import StoreFactory, hq, make_store  # noqa: F401 - fixtures
from tests.store.helpers import PLACES, SKU_BLACK, SKU_L, SKU_M, import_catalogue, place_store, sync_recorded
from tests.ui.conftest import node_of
from tests.ui.test_shell import UNTRANSLATED

CLERK = "王芳 (0012)"
OWN = "store-SH012"
MINUTE_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000


# -- the node's world: a catalogue, the region's stores, HQ's snapshot, transfers ----------------------


def _change(entity: str, entity_id: str, state: msgspec.Struct) -> Change:
    hlc = Hlc(system_wall_ms(), 0, "hq").encode()
    return Change(pos=0, entity=entity, entity_id=entity_id, hlc=hlc, data=msgspec.Raw(encode_entity(state)))


def _store(code: str, place: str | None, **attrs: Any) -> Change:
    where = {"lat": PLACES[place][0], "lon": PLACES[place][1]} if place else {}
    item = ReferenceItem(
        id=f"store-{code}",
        code=code,
        name_zh=f"{code} 门店",
        attrs={"region_id": "region-east", **where, **attrs},
    )
    return _change("store", item.id, item)


def _level(store: str, sku: str, on_hand: int, reserved: int, age_ms: int) -> Change:
    level = StockLevel(
        store_id=f"store-{store}",
        sku=sku,
        product_code="JN-2041",
        on_hand=on_hand,
        reserved=reserved,
        as_of=system_wall_ms() - age_ms,
    )
    return _change("stock", f"store-{store}:{sku}", level)


def give_region(node: Node) -> None:
    """JN-2041 in blue M/L and black M; this store (SH012) at People's Square; SH013 about 3 km
    away, SH014 about 35 km, SH015 without coordinates; HQ's snapshot of their levels, taken
    5 minutes ago; this store has 5 blue M and 2 black M."""
    skus = [
        {"code": SKU_M, "colour": "蓝", "size": "M", "barcode": "6901234567890"},
        {"code": SKU_L, "colour": "蓝", "size": "L", "barcode": "6901234567891"},
        {"code": SKU_BLACK, "colour": "黑", "size": "M", "barcode": "6901234567892"},
    ]
    product = ReferenceItem(
        id="JN-2041", code="JN-2041", name_zh="修身牛仔裤", name_en="Slim jeans", attrs={"skus": skus}
    )
    changes = [
        _change("product", "JN-2041", product),
        _store("SH012", "SH001", address="南京东路 1 号", contact="王芳", phone="021-5550012"),
        _store("SH013", "SH002", address="静安寺路 8 号", contact="李强", phone="021-5550013"),
        _store("SH014", "SH003", address="浦东机场 T2", contact="赵敏", phone="021-5550014"),
        _store("SH015", None),
        _level("SH015", SKU_L, 2, 0, 3 * DAY_MS),
        _level("SH014", SKU_M, 9, 0, 2 * HOUR_MS),
        _level("SH013", SKU_M, 4, 1, 2 * MINUTE_MS),
        _level("SH013", SKU_BLACK, 0, 0, 2 * MINUTE_MS),
    ]
    with node.replica.tx() as conn:
        apply.apply_changes(node, conn, changes)
    node.replica.set(last_success_at=system_wall_ms() - 5 * MINUTE_MS)
    stock_actions.record_move(node, {"sku": SKU_M, "qty": 5, "reason": "receipt"})
    stock_actions.record_move(node, {"sku": SKU_BLACK, "qty": 2, "reason": "receipt"})


def hq_transfer(node: Node, number: str, source_code: str, requester_code: str, status: str, **extra: Any) -> str:
    """A transfer as HQ sends it to this node (its id is derived from its number)."""
    now = system_wall_ms() - 10 * MINUTE_MS
    transfer_id = f"0190aaaa-0000-7000-8000-{int(number[-6:]):012d}"
    events = [TransferEvent(id=transfer_id, action="request", status="requested", at=now, actor="店员甲")]
    state = TransferState(
        id=transfer_id,
        number=number,
        from_store_id=f"store-{source_code}",
        to_store_id=f"store-{requester_code}",
        sku=SKU_M,
        qty=2,
        status=status,
        requested_at=now,
        updated_at=now,
        hlc=Hlc(now, 0, "hq").encode(),
        events=events,
        **extra,
    )
    with node.replica.tx() as conn:
        apply.apply_changes(node, conn, [_change("transfer", transfer_id, state)])
    return transfer_id


def ops(node: Node, kind: str) -> list[Any]:
    rows = node.replica.query("SELECT kind, payload FROM outbox WHERE kind = ? ORDER BY seq", (kind,))
    return [decode_payload(r["kind"], r["payload"]) for r in rows]


def section(html: str, element_id: str) -> str:
    """The markup of the element with ``element_id`` up to the end of its section or table."""
    start = html.index(f'id="{element_id}"')
    ends = [i for i in (html.find("</section>", start), html.find("</table>", start)) if i != -1]
    return html[start : min(ends)]


def forms_of(html: str) -> list[str]:
    """The step actions the detail page offers (its step forms' ids)."""
    return re.findall(r'<form method="post" action="/transfers/[^"]+/(\w+)"', section(html, "actions"))


@pytest.fixture
def store(clerk: TestClient) -> TestClient:
    """The signed-in clerk's app, over a node with the region's stores and stock."""
    give_region(node_of(clerk))
    return clerk


# -- the stock page --------------------------------------------------------------------------------------


def test_stock_pages_need_a_signed_in_clerk(ui: TestClient) -> None:
    for path in ("/stock?product=JN-2041", "/transfers", "/transfers/new", "/transfers/X"):
        response = ui.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/signin?next="), path
    posted = ui.post("/transfers/new", data={"sku": SKU_M, "qty": "1"}, follow_redirects=False)
    assert posted.status_code == 303 and outbox.count(node_of(ui)) == 0


def test_stock_page_shows_own_grid_and_other_stores_nearest_first_with_ages(store: TestClient) -> None:
    page = store.get("/stock", params={"product": "JN-2041"})
    assert page.status_code == 200, page.text
    own = section(page.text, "own-stock")
    assert "本店库存：修身牛仔裤（JN-2041）" in own
    cells = dict(re.findall(r'data-sku="([^"]+)"[^>]*>\s*<strong>(-?\d+)</strong>', own))
    assert cells == {SKU_M: "5", SKU_L: "0", SKU_BLACK: "2"}
    assert re.findall(r'<th scope="row">([^<]*)</th>', own) == ["蓝", "黑"]  # colours down, sizes across
    assert re.findall(r'<th class="num">(\w+)</th>', own) == ["M", "L"]

    others = section(page.text, "other-stores")
    assert re.findall(r'data-store="(\w+)"', others) == ["SH013", "SH014", "SH015"]  # nearest first, unplaced last
    row = {code: others.split(f'data-store="{code}"')[1].split("</tr>")[0] for code in ("SH013", "SH014", "SH015")}
    assert "2.7 公里" in row["SH013"] and "2 分钟前" in row["SH013"]
    assert re.search(r"3\d\.\d 公里", row["SH014"]) and "2 小时前" in row["SH014"]
    assert "未知" in row["SH015"] and "3 天前" in row["SH015"]
    # SH013: 4 on hand, 1 reserved: 3 to ask for; its black M is empty: nothing to ask for.
    assert re.search(rf'data-sku="{SKU_M}">\s*<strong>3</strong>\s*<div class="muted">库存 4</div>', row["SH013"])
    assert f"sku={SKU_M}&amp;source=SH013" in row["SH013"]
    assert f"sku={SKU_BLACK}&amp;source=SH013" not in row["SH013"]
    assert f"sku={SKU_L}&amp;source=SH015" in row["SH015"]
    assert 'data-source="snapshot"' in others and "5 分钟前" in others


def test_stock_page_marks_an_offline_snapshot(store: TestClient) -> None:
    # The fixture's HQ cannot be reached: the page says so and how old the snapshot is.
    page = store.get("/stock", params={"product": "JN-2041", "lang": "en"})
    marker = re.search(r'<p class="notice warn st-source" data-source="snapshot">([^<]*)</p>', page.text)
    assert marker is not None and "Offline snapshot" in marker.group(1) and "5 min ago" in marker.group(1)
    assert 'data-source="hq"' not in page.text
    node_of(store).replica.set(last_success_at="")
    never = store.get("/stock", params={"product": "JN-2041"})
    assert "本机尚未取得过总部的库存快照" in never.text


def test_stock_page_finds_a_scanned_barcode_a_name_and_refuses_an_unknown_product(store: TestClient) -> None:
    scanned = store.get("/stock", params={"product": "6901234567891"})
    assert scanned.status_code == 200 and "已定位到 SKU JN-2041-BL-L" in scanned.text
    assert re.search(rf'class="num st-marked[^"]*" data-sku="{SKU_L}"', section(scanned.text, "own-stock"))
    by_name = store.get("/stock", params={"product": "牛仔"})
    assert by_name.status_code == 200 and "本店库存：修身牛仔裤" in by_name.text
    other = ReferenceItem(
        id="JN-2050", code="JN-2050", name_zh="直筒牛仔裤", attrs={"skus": [{"code": "JN-2050-BL-M"}]}
    )
    node = node_of(store)
    with node.replica.tx() as conn:
        apply.apply_changes(node, conn, [_change("product", "JN-2050", other)])
    several = store.get("/stock", params={"product": "牛仔"})
    assert several.status_code == 200 and 'id="own-stock"' not in several.text
    assert re.findall(r'<a href="/stock\?product=([\w-]+)">', several.text) == ["JN-2041", "JN-2050"]
    unknown = store.get("/stock", params={"product": "NO-SUCH"})
    assert unknown.status_code == 404 and "找不到商品 NO-SUCH" in unknown.text
    assert 'value="NO-SUCH"' in unknown.text  # the search field keeps what was typed


def test_stock_page_search_field_is_a_keyboard_type_ahead_over_the_products_api(store: TestClient) -> None:
    page = store.get("/stock").text
    field = re.search(r"<input id=\"product\"[^>]*>", page, re.S)
    assert field is not None
    for attribute in ('role="combobox"', 'aria-controls="product-options"', 'data-products="product-options"'):
        assert attribute in field.group(0)
    assert '<ul id="product-options" role="listbox" hidden>' in page
    js = store.get("/static/app.js").text  # the one product type-ahead of the UI, shared with the ticket form
    assert "[data-products]" in js and "/api/v1/products" in js and "ArrowDown" in js and "aria-activedescendant" in js
    found = store.get("/api/v1/products", params={"q": "JN"}).json()["items"]
    assert [p["code"] for p in found] == ["JN-2041"]


def test_stock_page_is_live_from_hq_when_hq_answers(hq: Hq, make_store: StoreFactory) -> None:  # noqa: F811
    import_catalogue(hq)
    here, near = make_store("SH001"), make_store("SH002")
    for made, code in ((here, "SH001"), (near, "SH002")):
        made.enroll_only()
        place_store(hq, code)
    stock_actions.record_move(near.node, {"sku": SKU_M, "qty": 4, "reason": "receipt"})
    near.sync()
    sync_recorded(here)
    stock_actions.record_move(near.node, {"sku": SKU_M, "qty": 1, "reason": "sale"})
    near.sync()  # HQ knows 3 now; SH001's snapshot still says 4
    app = create_app(here.data_dir, "http://hq.test", here.token, start_sync=False)
    with TestClient(app) as client:
        app.state.node, app.state.sync = here.node, here.client()
        try:
            client.post("/signin", data={"name": "王芳", "staff_no": "0012"})
            live = client.get("/stock", params={"product": "JN-2041"})
            assert 'data-source="hq"' in live.text and "实时数据" in live.text
            assert re.search(rf'data-sku="{SKU_M}">\s*<strong>3</strong>', section(live.text, "other-stores"))
            here.line.up = False
            offline = client.get("/stock", params={"product": "JN-2041"})
            assert 'data-source="snapshot"' in offline.text
            assert re.search(rf'data-sku="{SKU_M}">\s*<strong>4</strong>', section(offline.text, "other-stores"))
        finally:
            assert client.portal is not None
            client.portal.call(app.state.sync.close)


# -- requesting a transfer ---------------------------------------------------------------------------------


def test_requesting_a_transfer_from_the_stock_page_queues_the_op_with_the_clerk_as_actor(store: TestClient) -> None:
    node = node_of(store)
    page = store.get("/stock", params={"product": "JN-2041"}).text
    link = re.search(rf'href="(/transfers/new\?sku={SKU_M}&amp;source=SH013)"', page)
    assert link is not None
    form = store.get(link.group(1).replace("&amp;", "&"))
    assert form.status_code == 200
    assert f'name="sku" value="{SKU_M}"' in form.text and 'value="SH013"' in form.text
    assert "修身牛仔裤：蓝 M" in form.text
    assert '<option value="SH013">SH013 门店 · 2.7 公里</option>' in form.text
    assert 'option value="SH012"' not in form.text  # never this store itself

    sent = store.post(
        "/transfers/new",
        data={"sku": SKU_M, "qty": "2", "source_store": "SH013", "note": "顾客等货"},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    [request] = ops(node, "transfer.request")
    assert isinstance(request, TransferRequest)
    assert (request.sku, request.qty, request.source_store_id, request.actor, request.note) == (
        SKU_M,
        2,
        "store-SH013",
        CLERK,
        "顾客等货",
    )
    assert sent.headers["location"] == f"/transfers/{request.transfer_id}"
    shown = store.get(sent.headers["location"]).text
    assert "调货单 SH012-D000001" in shown and "待审批" in shown and "待同步" in shown
    assert f"经办：{CLERK}" in section(shown, "timeline")
    assert "静安寺路 8 号" in shown and "021-5550013" in shown  # the source's address and phone
    assert forms_of(shown) == ["cancel"]


def test_a_bad_transfer_request_is_shown_again_with_the_error_inline(store: TestClient) -> None:
    node = node_of(store)
    cases = [
        ({"sku": SKU_M, "qty": "0", "source_store": "SH013"}, "qty", "数量"),
        ({"sku": SKU_M, "qty": "", "source_store": "SH013"}, "qty", "数量为必填项"),
        ({"sku": "NO-SUCH-SKU", "qty": "1"}, "sku", "未知的商品 SKU NO-SUCH-SKU"),
        ({"sku": SKU_M, "qty": "1", "source_store": "SH999"}, "source_store", "未知的门店 SH999"),
        ({"sku": SKU_M, "qty": "1", "source_store": "SH012"}, "source_store", "不能向本店调货"),
    ]
    for data, field, message in cases:
        again = store.post("/transfers/new", data={**data, "note": "留言"})
        assert again.status_code == 422, data
        error = re.search(rf'<div class="err" id="{field}-error" role="alert">([^<]*)</div>', again.text)
        assert error is not None and message in error.group(1), (data, again.text)
        assert f'value="{data["sku"]}"' in again.text and ">留言</textarea>" in again.text  # the input is kept
    assert outbox.count(node) == 2  # only the two receipts of the fixture


# -- the transfers list and one transfer ------------------------------------------------------------------


def test_transfers_page_splits_mine_and_waiting_for_me(store: TestClient) -> None:
    node = node_of(store)
    mine = stock_actions.request_transfer(node, {"sku": SKU_M, "qty": 1, "source_store": "SH014"})
    hq_transfer(node, "SH013-D000001", "SH012", "SH013", "requested")  # asked of me: approve or reject
    hq_transfer(node, "SH014-D000002", "SH014", "SH012", "shipped")  # mine, on its way: receive
    hq_transfer(node, "SH015-D000003", "SH012", "SH015", "shipped")  # I shipped it: nothing to do
    page = store.get("/transfers")
    assert page.status_code == 200
    numbers = {
        name: re.findall(r'data-number="([\w-]+)"', section(page.text, name))
        for name in ("waiting", "mine", "outgoing")
    }
    assert sorted(numbers["waiting"]) == ["SH013-D000001", "SH014-D000002"]
    assert numbers["mine"] == ["SH012-D000001"]
    assert numbers["outgoing"] == ["SH015-D000003"]
    waiting = section(page.text, "waiting")
    asked = waiting.split('data-number="SH013-D000001"')[1].split("</tr>")[0]
    assert "调入：SH013 门店" in asked and "待审批" in asked and "10 分钟前" in asked
    assert re.findall(r'action="/transfers/[^"]+/(\w+)"', asked) == ["approve"]  # reject needs the detail page
    arriving = waiting.split('data-number="SH014-D000002"')[1].split("</tr>")[0]
    assert "调出：SH014 门店" in arriving and re.findall(r'action="/transfers/[^"]+/(\w+)"', arriving) == ["receive"]
    assert f'href="/transfers/{mine}"' in section(page.text, "mine")


def test_transfer_detail_offers_only_the_allowed_steps(store: TestClient) -> None:
    node = node_of(store)
    asked = hq_transfer(node, "SH013-D000001", "SH012", "SH013", "requested")
    detail = store.get(f"/transfers/{asked}").text
    assert forms_of(detail) == ["approve", "reject"]
    assert "南京东路 1 号" in detail and "静安寺路 8 号" in detail  # both parties with their addresses

    too_early = store.post(f"/transfers/{asked}/ship")
    assert too_early.status_code == 422 and "调货单当前为「待审批」，不能「发货」" in too_early.text
    not_mine = store.post(f"/transfers/{asked}/cancel")
    assert not_mine.status_code == 422 and forms_of(not_mine.text) == ["approve", "reject"]
    assert ops(node, "transfer.step") == []

    approved = store.post("/transfers/SH013-D000001/approve", follow_redirects=False)
    assert approved.status_code == 303 and approved.headers["location"] == f"/transfers/{asked}"
    [step] = ops(node, "transfer.step")
    assert isinstance(step, TransferStep) and (step.action, step.actor) == ("approve", CLERK)
    after = store.get(f"/transfers/{asked}").text
    assert forms_of(after) == ["ship"] and "已批准" in after
    assert re.findall(r'data-action="(\w+)"', section(after, "timeline")) == ["request", "approve"]

    shipped_to_me = hq_transfer(node, "SH014-D000002", "SH014", "SH012", "shipped", order_no="TO-SH014-D000002")
    arriving = store.get(f"/transfers/{shipped_to_me}").text
    assert forms_of(arriving) == ["receive"] and "调拨单号：TO-SH014-D000002" in arriving
    assert store.get("/transfers/SH099-D999999").status_code == 404


def test_rejecting_needs_a_reason_shown_inline(store: TestClient) -> None:
    node = node_of(store)
    asked = hq_transfer(node, "SH013-D000001", "SH012", "SH013", "requested")
    blank = store.post(f"/transfers/{asked}/reject", data={"reason": "   "})
    assert blank.status_code == 422
    error = re.search(r'<div class="err" id="reason-reject-error" role="alert">([^<]*)</div>', blank.text)
    assert error is not None and "原因为必填项" in error.group(1)
    assert 'aria-invalid="true"' in blank.text and forms_of(blank.text) == ["approve", "reject"]
    assert ops(node, "transfer.step") == []

    done = store.post(f"/transfers/{asked}/reject", data={"reason": "样品不外调"}, follow_redirects=False)
    assert done.status_code == 303
    [step] = ops(node, "transfer.step")
    assert (step.action, step.reason, step.actor) == ("reject", "样品不外调", CLERK)
    shown = store.get(f"/transfers/{asked}").text
    assert "拒绝原因：调出门店拒绝：样品不外调" in shown and forms_of(shown) == []
    assert "本店目前无需操作" in shown


def test_a_refused_request_shows_hqs_reason(store: TestClient) -> None:
    node = node_of(store)
    reason = "SH014 只剩 1 件可调；SH013 也有该商品"
    refused = hq_transfer(
        node,
        "SH012-D000009",
        "SH014",
        "SH012",
        "rejected",
        code="insufficient_stock",
        reason=reason,
        source=Party(store_id="store-SH014", code="SH014", name="SH014 门店", address="浦东机场 T2"),
    )
    shown = store.get(f"/transfers/{refused}", params={"lang": "en"}).text
    assert f"Why it was refused: {reason}" in shown and "rejected" in shown
    assert forms_of(shown) == []


def test_stock_and_transfer_pages_answer_200_in_both_languages_with_no_untranslated_key(store: TestClient) -> None:
    node = node_of(store)
    mine = stock_actions.request_transfer(node, {"sku": SKU_M, "qty": 1, "source_store": "SH013"})
    asked = hq_transfer(node, "SH013-D000001", "SH012", "SH013", "requested")
    pages: list[tuple[str, dict[str, str], int, tuple[str, str]]] = [
        ("/stock", {}, 200, ("库存查询", "Stock lookup")),
        ("/stock", {"product": "JN-2041"}, 200, ("各门店库存", "Every store")),
        ("/stock", {"product": "NO-SUCH"}, 404, ("找不到商品", "no product")),
        ("/transfers", {}, 200, ("待本店处理", "Waiting for this store")),
        ("/transfers/new", {"sku": SKU_M, "source": "SH013"}, 200, ("提交申请", "Send the request")),
        (f"/transfers/{mine}", {}, 200, ("调入门店", "requesting store")),
        (f"/transfers/{asked}", {}, 200, ("批准", "approve")),
        ("/transfers/NO-SUCH", {}, 404, ("找不到调货单", "There is no transfer")),
    ]
    for path, params, status, markers in pages:
        for lang, marker in zip(("zh", "en"), markers, strict=True):
            page = store.get(path, params={**params, "lang": lang})
            assert page.status_code == status, (path, lang, page.text[:300])
            assert not UNTRANSLATED.findall(page.text), (path, lang, UNTRANSLATED.findall(page.text))
            assert marker in page.text, (path, lang)
            assert ('<html lang="en"' in page.text) == (lang == "en")
    failed = store.post(f"/transfers/{asked}/reject", data={"reason": ""}, params={"lang": "en"})
    assert failed.status_code == 422 and "reason is required" in failed.text and not UNTRANSLATED.findall(failed.text)
