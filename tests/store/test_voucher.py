"""The printable return voucher: what it says, its QR code, and that it prints on one page."""

from __future__ import annotations

import html
import re
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest
import segno

from store_node.voucher import QR_ERROR, render_voucher
from sync_protocol.return_policy import ReturnCase, ReturnPolicy, decide, explain
from sync_protocol.returns import ExchangeItem, ReturnedLine, ReturnState, amounts
from tests.browser import (
    Chromium,
    chromium_fixture,  # noqa: F401  (the ``chromium`` fixture)
    dark_fraction,
    file_url,
    pdf_page_count,
    read_png,
    require_tool,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NUMBER = "SH012-T000045"
EVIL = "<script>alert('x')</script>"
STORE = {
    "store_name": "上海南京东路店",
    "store_code": "SH012",
    "store_address": "上海市黄浦区南京东路 300 号",
    "store_phone": "021-6322 8899",
    "selling_store_name": "上海徐家汇店",
}


def _ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=SHANGHAI).timestamp() * 1000)


PAID = _ms(2026, 12, 1, 10, 30)
AT = _ms(2026, 12, 6, 14, 5)
DECISION = decide(
    ReturnPolicy(),
    ReturnCase(paid_at=PAID, category="tops", reason="size", unworn=True, kind="refund", returned_at=AT),
)


def _state(**changes: object) -> ReturnState:
    """A refund of two lines (the first with the policy's decision) at SH012, pending at HQ."""
    lines = [
        ReturnedLine(
            line_no=1,
            sku="TS-2301-WHT-M",
            name=f"纯棉圆领T恤 {EVIL}",
            colour="白色",
            size="M",
            qty=2,
            unit_price_cents=14900,
            move_id="m1",
            decision=DECISION,
        ),
        ReturnedLine(
            line_no=2,
            sku="JN-8812-BLU-30",
            name="修身牛仔裤",
            colour="深蓝",
            size="30",
            qty=1,
            unit_price_cents=29800,
            unworn=False,
            move_id="m2",
        ),
    ]
    returned, handed, refund, payable = amounts("refund", lines, [])
    state = ReturnState(
        id="r1",
        number=NUMBER,
        order_id="o1",
        order_number="SO-SH001-20261201-0007",
        order_channel="store",
        selling_store_id="s-xjh",
        paid_at=PAID,
        customer_phone="13800138000",
        store_id="s-sh012",
        kind="refund",
        reason="size",
        note=f"顾客备注 {EVIL}",
        photos=["photo-1", "photo-2", "photo-3"],
        method="wechat",
        lines=lines,
        returned_cents=returned,
        exchange_cents=handed,
        refund_cents=refund,
        payable_cents=payable,
        actor="张三",
        at=AT,
    )
    return msgspec.structs.replace(state, **changes) if changes else state


def _exchange(**changes: object) -> ReturnState:
    """The same lines exchanged for two items worth more: the customer pays the difference."""
    state = _state()
    items = [
        ExchangeItem(
            sku="JN-8812-BLU-31",
            name="修身牛仔裤",
            colour="深蓝",
            size="31",
            qty=1,
            unit_price_cents=29800,
            move_id="m3",
        ),
        ExchangeItem(
            sku="CT-5501-BLK-L", name="羊毛大衣", colour="黑色", size="L", qty=1, unit_price_cents=89900, move_id="m4"
        ),
    ]
    returned, handed, refund, payable = amounts("exchange", state.lines, items)
    return msgspec.structs.replace(
        state,
        kind="exchange",
        exchange=items,
        returned_cents=returned,
        exchange_cents=handed,
        refund_cents=refund,
        payable_cents=payable,
        **changes,
    )


def _text(page: str) -> str:
    """The page's text, tags dropped and entities decoded (what a reader sees, roughly)."""
    body = page.split("<body>", 1)[1]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def test_voucher_html_names_the_number_lines_and_refund() -> None:
    page = render_voucher(_state(), **STORE)
    assert page.startswith("<!doctype html>")
    assert '<html lang="zh-CN">' in page
    text = _text(page)
    assert "退货凭证" in text
    assert NUMBER in text
    assert "上海南京东路店" in text and "SH012" in text and "南京东路 300 号" in text and "021-6322 8899" in text
    assert "2026-12-06 14:05" in text  # Shanghai time
    assert "SO-SH001-20261201-0007" in text and "门店" in text and "上海徐家汇店" in text and "2026-12-01" in text
    assert "138****8000" in text and "13800138000" not in text
    # the lines: names, colour / size, SKU, qty, unit price and amount
    assert "纯棉圆领T恤" in text and "修身牛仔裤" in text
    assert "白色 / M" in text and "TS-2301-WHT-M" in text and "JN-8812-BLU-30" in text
    assert "¥149.00" in text and "¥298.00" in text
    assert explain(DECISION, "zh") in text
    # totals: returned, refund and how it is paid; pending: refunded after HQ confirms
    assert re.search(r"退货金额 ¥596\.00 .*应退金额 ¥596\.00 退款方式 微信", text)
    assert "总部确认后退款" in text
    assert "尺码不合适" in text and "照片 3 张" in text and "photo-1" not in page
    assert "顾客签字" in text and "店员签字" in text and "张三" in text
    # escaped: the note and the name show as text, never as a tag
    assert "<script>alert" not in page
    assert html.escape(EVIL, quote=True) in page or "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert f"顾客备注 {EVIL}" in text and f"纯棉圆领T恤 {EVIL}" in text
    # the print button, hidden in print
    assert 'onclick="window.print()"' in page and "打印 / Print" in text
    assert re.search(r"@media print \{.*?\.toolbar \{ display: none", page, re.DOTALL)


def test_voucher_in_english_says_the_same() -> None:
    text = _text(render_voucher(_state(), **STORE, lang="en"))
    assert "Return voucher" in text and NUMBER in text
    assert explain(DECISION, "en") in text
    assert "Refund after HQ confirms" in text and "WeChat Pay" in text and "wrong size" in text
    assert "¥596.00" in text and "退货凭证" not in text


def test_voucher_of_an_exchange_lists_the_items_and_what_the_customer_pays() -> None:
    state = _exchange()
    assert state.payable_cents == 119700 - 59600
    text = _text(render_voucher(state, **STORE))
    assert "换货凭证" in text and "换出商品" in text
    assert "羊毛大衣" in text and "CT-5501-BLK-L" in text and "¥899.00" in text
    assert re.search(r"换货金额 ¥1197\.00 顾客补差价 ¥601\.00", text)
    assert "应退金额" not in text and "总部确认后退款" not in text


def test_voucher_says_accepted_or_shows_hqs_refusal() -> None:
    accepted = _text(render_voucher(_state(status="accepted", refund_ticket="T-000123"), **STORE))
    assert "已受理" in accepted and "T-000123" in accepted and "总部确认后退款" not in accepted
    refused = render_voucher(
        _state(status="rejected", refusal_zh="超过 7 天无理由退货期", refusal_en="past the 7-day window"), **STORE
    )
    assert re.search(
        r'<div class="status rejected">\s*<div class="state">总部已拒绝</div>\s*<p class="refusal">超过 7 天', refused
    )
    assert "past the 7-day window" in _text(
        render_voucher(
            _state(status="rejected", refusal_en="past the 7-day window", refusal_zh="超期"), **STORE, lang="en"
        )
    )


def test_voucher_of_an_online_order_names_the_channel_as_the_seller() -> None:
    state = _state(order_channel="tmall", selling_store_id="")
    text = _text(render_voucher(state, **{**STORE, "selling_store_name": ""}))
    assert "购买渠道 天猫" in text and "购买门店 天猫（线上）" in text


# --- the QR code -------------------------------------------------------------------------------

_SVG = re.compile(r'<svg viewBox="0 0 (\d+) (\d+)" class="qr"><path stroke="#000" d="([^"]+)"/></svg>')
_STEP = re.compile(r"([MmHh])\s*(-?\d+(?:\.\d+)?)(?:[ ,](-?\d+(?:\.\d+)?))?")


def _svg_modules(page: str) -> list[list[bool]]:
    """The dark modules of the voucher's inline QR SVG: segno draws each row's runs of dark modules
    as horizontal strokes 1 unit wide (``M4 4.5h7m5 0h1...``), centred on the row (y + 0.5)."""
    found = _SVG.search(page)
    assert found, "no inline QR <svg> on the page"
    width, height = int(found[1]), int(found[2])
    grid = [[False] * width for _ in range(height)]
    x = y = 0.0
    for op, first, second in _STEP.findall(found[3]):
        if op == "M":
            x, y = float(first), float(second)
        elif op == "m":
            x, y = x + float(first), y + float(second)
        else:
            run = float(first) if op == "h" else float(first) - x
            row = int(y - 0.5)
            for col in range(int(x), int(x + run)):
                grid[row][col] = True
            x += run
    return grid


def _segno_modules(text: str) -> list[list[bool]]:
    return [[bool(bit) for bit in row] for row in segno.make(text, error=QR_ERROR, micro=False).matrix_iter(border=4)]


def test_voucher_qr_code_encodes_the_number() -> None:
    page = render_voucher(_state(), **STORE)
    drawn = _svg_modules(page)
    assert len(drawn) == len(drawn[0]) >= 21 + 8
    assert drawn == _segno_modules(NUMBER)
    # the comparison tells numbers apart: one digit more is another symbol
    assert drawn != _segno_modules("SH012-T000046")
    # the number is printed readably under the code
    assert re.search(rf'<figcaption class="mono">{NUMBER}</figcaption>', page)


def test_voucher_qr_code_scans_in_chromium(chromium: Chromium, tmp_path: Path) -> None:
    """Decoded for real: the page rendered by Chromium, the screenshot read by zbarimg."""
    zbarimg = require_tool("zbarimg", "zbar-tools")
    source = tmp_path / "voucher.html"
    source.write_text(render_voucher(_state(), **STORE), encoding="utf-8")
    shot = tmp_path / "voucher.png"
    chromium.screenshot(file_url(source), shot, width=900, height=1200, scale=2)
    done = subprocess.run([zbarimg, "--quiet", "--raw", str(shot)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"zbarimg found no code: {done.stderr}"
    assert done.stdout.split() == [NUMBER]


# --- printing ----------------------------------------------------------------------------------


def _busy() -> ReturnState:
    """The most a real voucher carries: six lines back, three items out, long names, a refusal."""
    base = _exchange()
    lines = [
        msgspec.structs.replace(
            base.lines[index % 2],
            line_no=index + 1,
            name=f"{base.lines[index % 2].name} 加长款式名称用于测试换行效果 第{index + 1}件",
            decision=DECISION,
        )
        for index in range(6)
    ]
    items = [*base.exchange, msgspec.structs.replace(base.exchange[1], sku="CT-5501-GRY-XL", size="XL")]
    returned, handed, refund, payable = amounts("exchange", lines, items)
    return msgspec.structs.replace(
        base,
        lines=lines,
        exchange=items,
        returned_cents=returned,
        exchange_cents=handed,
        refund_cents=refund,
        payable_cents=payable,
        status="rejected",
        refusal_zh="该订单中的商品已超过 7 天无理由退换期，且未注明质量问题；"
        "如有质量问题，可在 90 天内凭照片办理退货。",
    )


@pytest.mark.parametrize("case", ["typical", "busy"])
def test_voucher_prints_to_one_pdf_page_in_chromium(chromium: Chromium, tmp_path: Path, case: str) -> None:
    state = _state() if case == "typical" else _busy()
    source = tmp_path / "voucher.html"
    source.write_text(render_voucher(state, **STORE), encoding="utf-8")

    pdf = chromium.print_to_pdf(file_url(source), tmp_path / "voucher.pdf")
    assert pdf.startswith(b"%PDF-")
    assert pdf_page_count(pdf) == 1
    box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert box and (round(float(box[1])), round(float(box[2]))) == (595, 842), "not an A4 page (595 x 842 pt)"

    png = read_png(chromium.screenshot(file_url(source), tmp_path / "voucher.png", width=900, height=1300))
    assert (png.width, png.height) == (900, 1300)
    # text, rules and the QR code in black on white paper: some dark pixels, far from all
    assert 0.01 < dark_fraction(png) < 0.3
