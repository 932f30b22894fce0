"""The clerk's returns screens (store_node.ui.returns): the lookup by phone or order number, the
check that records nothing, taking goods back, refusals with the policy's sentence and the form
kept, photos for a quality problem, and a return with HQ's decision."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.testclient import TestClient

from store_node import return_actions, return_records
from store_node.app import create_app
from store_node.ui.photos import photos_dir
from store_node.ui.returns import lookup_keys
from sync_protocol.errors import InvalidField
from sync_protocol.messages import OpResult
from sync_protocol.return_policy import ReturnPolicy
from tests.hq.helpers import Hq
from tests.hq.test_orders import KNIT
from tests.store import conftest as store_fixtures
from tests.store.conftest import StoreFactory
from tests.store.helpers import Store, outbox_rows
from tests.store.test_orders_store import chain
from tests.store.test_returns_store import (
    JEANS_L,
    ORDER,
    _ack,
    _change,
    _decided,
    nothing_recorded,
    pull,
    seed,
)
from tests.ui.conftest import node_of
from tests.ui.test_shell import UNTRANSLATED

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
#: The in-process HQ and the stores enrolled at it (the fixtures of tests/store).
hq, make_store = store_fixtures.hq, store_fixtures.make_store
NO_FILE = [("photos", ("", b"", "application/octet-stream"))]


def form(*lines: tuple[int, int], reason: str = "size", **fields: str) -> dict[str, str]:
    """The returns form as a clerk fills it in: ``lines`` are (line_no, qty), each unworn."""
    data = {"order": ORDER, "reason": reason, "kind": "refund", "method": "original", "note": ""}
    for no, qty in lines:
        data[f"qty_{no}"] = str(qty)
        data[f"unworn_{no}"] = "1"
    data.update(fields)
    return data


def text_of(page: str) -> str:
    """The page's visible text, whitespace collapsed (to find sentences across tags)."""
    body = re.sub(r"<script.*?</script>|<style.*?</style>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def order_rows(page: str, number: str) -> list[list[str]]:
    """The cells of each line of order ``number`` on the lookup page."""
    start = page.index(f'id="order-{number}"')
    block = page[start : page.index("</article>", start)]
    rows = re.findall(r'<tr data-line="\d+">(.*?)</tr>', block, flags=re.S)
    return [[text_of(cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)] for row in rows]


def line_note(page: str, line_no: int) -> str:
    """The text under line ``line_no`` of the form (its decision and error)."""
    match = re.search(rf'<tr class="rt-line-note" data-line-note="{line_no}">(.*?)</tr>', page, flags=re.S)
    assert match, f"no note under line {line_no}"
    return text_of(match[1])


@contextmanager
def clerk_at(store: Store) -> Iterator[TestClient]:
    """The UI over a store enrolled at the in-process HQ (its lookups go live), a clerk signed in."""
    app = create_app(store.data_dir, "http://hq.test", store.token, start_sync=False)
    with TestClient(app) as client:
        app.state.node = store.node
        app.state.sync = store.client()
        try:
            assert client.post("/signin", data={"name": "李娜", "staff_no": "0031"}).status_code == 200
            yield client
        finally:
            assert client.portal is not None
            client.portal.call(app.state.sync.close)


# -- 1. the lookup -------------------------------------------------------------------------------------


def test_lookup_by_phone_lists_orders_of_several_stores_with_returnable_units(hq: Hq, make_store: StoreFactory) -> None:
    _, _, sh3 = chain(hq, make_store)
    with clerk_at(sh3) as ui:
        page = ui.get("/returns", params={"q": "+86 138-0013-8000"})
        assert page.status_code == 200, page.text
        assert 'data-source="hq"' in page.text and "以下为总部实时数据" in page.text
        numbers = re.findall(r'<article class="rt-order" id="order-([^"]+)"', page.text)
        assert numbers == ["SH002-S-0001", "JD-7781", "SH001-S-0001"]  # two stores and online, newest first
        shown = text_of(page.text)
        assert "SH001 门店" in shown and "SH002 门店" in shown and "线上订单 · 京东" in shown
        assert "¥498.00" in shown and "138****8000" in shown
        assert 'href="/returns/new?order=SH001-S-0001"' in page.text

        # One sweater of SH001's order taken back here: one left to return, one awaiting HQ.
        body = {"order": "SH001-S-0001", "kind": "refund", "reason": "size", "lines": [{"line_no": 2, "qty": 1}]}
        return_actions.create_return(sh3.node, body, lang="zh")
        page = ui.get("/returns", params={"q": "13800138000"})
        rows = order_rows(page.text, "SH001-S-0001")
        # item, sku, colour/size, price, bought, returned, awaiting HQ, returnable
        assert [row[1:] for row in rows] == [
            ["JN-2041-蓝-M", "蓝 / M", "¥299.00", "1", "0", "0", "1"],
            [KNIT, "灰 / L", "¥99.50", "2", "0", "1", "1"],
        ]
        assert "SH003-T000001" in page.text and "待总部确认" in text_of(page.text)  # this store's recent returns

        by_number = ui.get("/returns", params={"q": "JD-7781"})
        assert re.findall(r'id="order-([^"]+)"', by_number.text) == ["JD-7781"]

        # Offline: the copies this store keeps, saying so and how old they are.
        sh3.line.up = False
        offline = ui.get("/returns", params={"q": "138 0013 8000"})
        assert offline.status_code == 200
        assert 'data-source="local"' in offline.text and "本店保存的订单副本" in offline.text
        assert re.findall(r'id="order-([^"]+)"', offline.text) == ["SH002-S-0001", "JD-7781", "SH001-S-0001"]
        assert "本店副本更新于" in offline.text
        english = ui.get("/returns", params={"q": "13800138000", "lang": "en"})
        assert "HQ cannot be reached" in english.text and "copy received" in english.text


def test_lookup_decides_phone_or_order_number_by_its_shape(clerk: TestClient) -> None:
    assert lookup_keys("+86 138-0013-8000") == ("13800138000", None)
    assert lookup_keys("138 0013 8000") == ("13800138000", None)
    assert lookup_keys(" SH012-S-0001 ") == (None, "SH012-S-0001")
    assert lookup_keys("4021887766123") == (None, "4021887766123")  # a long online order number
    assert lookup_keys("021 6123 4567") == ("02161234567", None)  # a landline, spaced
    with pytest.raises(InvalidField):
        lookup_keys("王女士")
    seed(node_of(clerk))
    bad = clerk.get("/returns", params={"q": "王女士"})
    assert bad.status_code == 422 and 'value="王女士"' in bad.text and "请输入手机号或订单号" in bad.text
    found = clerk.get("/returns", params={"q": ORDER})
    assert re.findall(r'id="order-([^"]+)"', found.text) == [ORDER]
    missing = clerk.get("/returns/new", params={"order": "NOPE-1"})
    assert missing.status_code == 404 and "找不到订单 NOPE-1" in missing.text


def test_return_pages_need_a_signed_in_clerk(ui: TestClient) -> None:
    for path in ("/returns", "/returns/new?order=X", "/returns/SH012-T000001"):
        response = ui.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/signin?next="), path
    posted = ui.post("/returns/new", data=form((1, 1)), follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"].startswith("/signin")
    assert ui.post("/returns/check", data=form((1, 1)), follow_redirects=False).status_code == 303


# -- 2. checking and taking goods back --------------------------------------------------------------------


def test_check_shows_each_lines_decision_in_words_without_recording(clerk: TestClient) -> None:
    node = node_of(clerk)
    seed(node, days_ago=3)
    pull(node, _change("return_policy", "chain", ReturnPolicy(excluded_categories=["tops"])))
    blank = clerk.get("/returns/new", params={"order": ORDER})
    assert blank.status_code == 200
    assert "购买后 7 天内，未穿着的商品可无理由退换" in blank.text and "tops" in blank.text  # the chain's summary
    assert 'name="qty_1"' in blank.text and 'max="2"' in blank.text and 'name="unworn_1"' in blank.text

    page = clerk.post("/returns/check", data=form((1, 1), (2, 1), note="偏小"), files=NO_FILE)
    assert page.status_code == 200, page.text
    first, second = line_note(page.text, 1), line_note(page.text, 2)
    assert "✓" in first and "购买后第 3 天，在 7 天无理由退换期内，可以办理退货。" in first
    assert "✗" in second and "如有质量问题可办理" in second  # excluded category: the alternative
    assert "有商品不能按所选方式办理" in page.text and "¥358.00" in page.text
    assert re.search(r'name="qty_2"[^>]*max="1"[^>]*value="1"', page.text) and ">偏小</textarea>" in page.text
    assert nothing_recorded(node)

    english = clerk.post("/returns/check", data=form((1, 1)), params={"lang": "en"}, files=NO_FILE)
    assert "Day 3 after purchase, within the 7-day no-reason window: a refund can be made." in line_note(
        english.text, 1
    )
    assert nothing_recorded(node)


def test_taking_back_a_line_records_the_return_and_shows_the_voucher_link(clerk: TestClient) -> None:
    node = node_of(clerk)
    seed(node, days_ago=3)
    done = clerk.post(
        "/returns/new", data=form((1, 1), method="wechat", note="尺码偏小"), files=NO_FILE, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/returns/SH012-T000001"
    state = return_records.find_return(node, "SH012-T000001")
    assert (state.actor, state.method, state.note, state.status) == ("王芳 (0012)", "wechat", "尺码偏小", "pending")
    assert [(x.line_no, x.qty, x.unworn) for x in state.lines] == [(1, 1, True)]
    assert [op["kind"] for op in outbox_rows(node)] == ["return.create"]

    page = clerk.get(done.headers["location"])
    assert page.status_code == 200
    shown = text_of(page.text)
    assert "退换货单 SH012-T000001" in shown and "商品已收回，等待总部确认" in shown
    assert "购买后第 3 天，在 7 天无理由退换期内，可以办理退货。" in shown and "¥299.00" in shown and "微信" in shown
    assert 'href="/returns/SH012-T000001/voucher"' in page.text
    assert clerk.get("/returns/SH012-T000001/voucher").status_code == 200
    # The units are no longer returnable; the return heads this store's list.
    again = clerk.get("/returns/new", params={"order": ORDER})
    assert 'name="qty_1" id="qty_1" min="0" max="1"' in again.text
    listed = clerk.get("/returns")
    assert 'href="/returns/SH012-T000001"' in listed.text and "待总部确认" in listed.text


def test_an_exchange_hands_out_items_at_the_returned_lines_price(clerk: TestClient) -> None:
    node = node_of(clerk)
    seed(node, days_ago=2)
    fields = {"kind": "exchange", "ex_sku_0": JEANS_L, "ex_qty_0": "", "ex_price_0": ""}
    done = clerk.post("/returns/new", data=form((1, 1), **fields), files=NO_FILE, follow_redirects=False)
    assert done.status_code == 303, done.text
    state = return_records.find_return(node, "SH012-T000001")
    assert [(i.sku, i.qty, i.unit_price_cents) for i in state.exchange] == [(JEANS_L, 1, 29900)]
    assert (state.refund_cents, state.payable_cents) == (0, 0)
    shown = text_of(clerk.get("/returns/SH012-T000001").text)
    assert "换货" in shown and JEANS_L in shown and "应退顾客： ¥0.00" in shown


def test_day_8_no_reason_return_is_refused_with_the_sentence_and_the_form_kept(clerk: TestClient) -> None:
    node = node_of(clerk)
    seed(node, days_ago=8)
    page = clerk.post(
        "/returns/new", data=form((1, 1), method="alipay", note="顾客说偏小"), files=NO_FILE, follow_redirects=False
    )
    assert page.status_code == 422, page.text
    sentence = "已超过 7 天无理由退换期（今天是购买后第 8 天），不能无理由退货"
    assert sentence in line_note(page.text, 1) and "✗" in line_note(page.text, 1)
    assert sentence in text_of(page.text.split('id="form-message"')[1].split("</div>")[0])
    # Nothing the clerk typed is lost.
    assert re.search(r'name="qty_1"[^>]*value="1"', page.text, flags=re.S)
    assert re.search(r'name="unworn_1"[^>]*checked', page.text, flags=re.S)
    assert '<option value="size" selected>' in page.text and '<option value="alipay" selected>' in page.text
    assert ">顾客说偏小</textarea>" in page.text
    assert nothing_recorded(node)


def test_more_units_than_are_left_are_refused_at_their_line(clerk: TestClient) -> None:
    node = node_of(clerk)
    seed(node)
    page = clerk.post("/returns/new", data=form((1, 3)), files=NO_FILE)
    assert page.status_code == 422
    assert "共购买 2 件" in line_note(page.text, 1) and "本次退 3 件超出可退数量" in line_note(page.text, 1)
    typo = clerk.post("/returns/check", data=form((1, 1), qty_2="x"), files=NO_FILE)
    assert typo.status_code == 422 and "数量须为 1 到" in line_note(typo.text, 2)
    none = clerk.post("/returns/new", data=form(), files=NO_FILE)
    assert none.status_code == 422 and 'id="err-lines"' in none.text
    assert nothing_recorded(node)


def test_quality_return_needs_a_photo_and_accepts_an_uploaded_image(clerk: TestClient) -> None:
    node = node_of(clerk)
    seed(node, days_ago=30)
    without = clerk.post("/returns/new", data=form((1, 1), reason="quality"), files=NO_FILE)
    assert without.status_code == 422 and "质量问题退换须拍照上传" in without.text and 'id="err-photos"' in without.text

    not_image = [("photos", ("receipt.txt", b"just text", "image/png"))]
    refused = clerk.post("/returns/new", data=form((1, 1), reason="quality"), files=not_image)
    assert refused.status_code == 422 and "receipt.txt 不是图片" in refused.text
    assert nothing_recorded(node)

    # Checked first: the photo is kept with the form, so taking back does not need it again.
    checked = clerk.post(
        "/returns/check", data=form((1, 1), reason="quality"), files=[("photos", ("a.png", PNG, "image/png"))]
    )
    assert checked.status_code == 200, checked.text
    [ref] = re.findall(r'name="photo_ref" value="(photo:[0-9a-f]{32}\.png)"', checked.text)
    assert "✓" in line_note(checked.text, 1) and "已上传 1 张照片" in checked.text
    done = clerk.post(
        "/returns/new", data={**form((1, 1), reason="quality"), "photo_ref": ref}, files=NO_FILE, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    state = return_records.find_return(node, done.headers["location"].rsplit("/", 1)[1])
    assert state.photos == [ref] and state.reason == "quality"
    assert (photos_dir(node) / ref.removeprefix("photo:")).read_bytes() == PNG
    # A reference the node never stored is not taken from a form.
    forged = clerk.post(
        "/returns/check", data={**form((2, 1), reason="quality"), "photo_ref": "photo:../../etc/passwd"}, files=NO_FILE
    )
    assert forged.status_code == 422 and "质量问题退换须拍照上传" in forged.text


# -- 3. one return -------------------------------------------------------------------------------------


def test_return_detail_shows_hq_refusal(clerk: TestClient) -> None:
    node = node_of(clerk)
    seed(node)
    refused_id = return_actions.create_return(node, form_body((1, 1)), lang="zh")
    accepted_id = return_actions.create_return(node, form_body((2, 1)), lang="zh")
    first, second = outbox_rows(node)
    reason_zh = "订单 SH012-S-0001 第 1 行已全部退回"
    snapshot = _decided(
        node,
        refused_id,
        "rejected",
        code="over_return",
        refusal_zh=reason_zh,
        refusal_en="line 1 of order SH012-S-0001 was returned already",
        exception_ticket="SH012-000031",
    )
    _ack(
        node,
        OpResult(seq=first["seq"], op_id=first["op_id"], status="rejected", code="over_return", reason=reason_zh),
        _change("return", refused_id, snapshot),
    )
    done = _decided(node, accepted_id, "accepted", refund_ticket="SH012-000032")
    _ack(
        node, OpResult(seq=second["seq"], op_id=second["op_id"], status="applied"), _change("return", accepted_id, done)
    )

    page = clerk.get(f"/returns/{snapshot.number}")
    shown = text_of(page.text)
    assert page.status_code == 200
    assert "总部已拒绝" in shown and f"总部拒绝了这笔退换：{reason_zh}" in shown
    assert "异常工单 SH012-000031" in shown
    english = text_of(clerk.get(f"/returns/{refused_id}", params={"lang": "en"}).text)
    assert "HQ refused this return: line 1 of order SH012-S-0001 was returned already" in english
    assert "Exception ticket SH012-000031" in english

    ok = text_of(clerk.get(f"/returns/{done.number}").text)
    assert "已受理" in ok and "退款任务 SH012-000032" in ok
    listed = text_of(clerk.get("/returns").text)
    assert reason_zh in listed and "已受理" in listed
    missing = clerk.get("/returns/SH012-T999999")
    assert missing.status_code == 404 and "找不到退货单 SH012-T999999" in missing.text


def form_body(*lines: tuple[int, int]) -> dict[str, Any]:
    return {
        "order": ORDER,
        "kind": "refund",
        "reason": "size",
        "lines": [{"line_no": no, "qty": qty} for no, qty in lines],
    }


def test_return_pages_answer_200_in_both_languages_with_no_untranslated_key(clerk: TestClient) -> None:
    node = node_of(clerk)
    seed(node)
    return_id = return_actions.create_return(node, form_body((1, 1)), lang="zh")
    number = return_records.find_return(node, return_id).number
    for lang, marker in (("zh", "退换货"), ("en", "Returns")):
        pages = [
            clerk.get("/returns", params={"lang": lang}),
            clerk.get("/returns", params={"q": "13800138000", "lang": lang}),
            clerk.get("/returns/new", params={"order": ORDER, "lang": lang}),
            clerk.post("/returns/check", params={"lang": lang}, data=form((1, 1), (2, 1)), files=NO_FILE),
            clerk.get(f"/returns/{number}", params={"lang": lang}),
        ]
        for page in pages:
            assert page.status_code == 200, (page.url, page.text)
            assert not UNTRANSLATED.findall(page.text), (page.url, UNTRANSLATED.findall(page.text))
            assert marker in page.text, page.url
    english = clerk.get(f"/returns/{number}", params={"lang": "en"}).text
    assert "awaiting HQ" in english and "Print the voucher" in english
