"""The printable return voucher (退货凭证 / 换货凭证) a clerk hands to the customer.

:func:`render_voucher` turns a :class:`~sync_protocol.returns.ReturnState` into one complete HTML
page (Simplified Chinese, or English with ``lang="en"``): the voucher number large and as a QR code
(inline SVG, made with ``segno``), the returning store, the order, the lines returned and the items
handed out with the policy's sentence per line, the totals and how the refund is paid, the status
(a pending return is refunded after HQ confirms; a refused one shows HQ's reason) and lines for the
customer's and the clerk's signatures. It prints on one A4 page, black on white; the print button
is not printed. Everything is escaped (jinja2 autoescape); photos are only counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import segno
from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from store_node.order_views import mask_phone
from sync_protocol.orders import CHANNEL_LABELS, yuan
from sync_protocol.return_policy import REASON_LABELS, explain
from sync_protocol.returns import (
    REFUND_METHOD_LABELS,
    RETURN_KIND_LABELS,
    RETURN_STATUS_LABELS,
    ExchangeItem,
    ReturnedLine,
    ReturnState,
    label,
)

#: Dates and times on the voucher are the chain's local time.
VOUCHER_TZ = ZoneInfo("Asia/Shanghai")
#: More goods rows than this print in a tighter layout, to keep the voucher on one A4 page.
DENSE_ROWS = 5
#: The QR code's error correction level (segno raises it when that costs no extra size).
QR_ERROR = "m"

# Its own environment (the same loader as the app's, autoescaping every template) so that the app
# and the returns API can import this module without importing each other.
_templates = Environment(loader=PackageLoader("store_node", "templates"), autoescape=True)

#: The voucher's own words: key -> (zh, en).
_WORDS: dict[str, tuple[str, str]] = {
    "title_refund": ("退货凭证", "Return voucher"),
    "title_exchange": ("换货凭证", "Exchange voucher"),
    "print": ("打印 / Print", "打印 / Print"),
    "number": ("凭证号", "Voucher no."),
    "scan": ("扫码查询", "Scan to look up"),
    "store": ("受理门店", "Returned at"),
    "store_code": ("门店编号", "Store code"),
    "address": ("地址", "Address"),
    "phone": ("电话", "Phone"),
    "at": ("受理时间", "Date"),
    "order": ("订单号", "Order no."),
    "channel": ("购买渠道", "Channel"),
    "selling_store": ("购买门店", "Bought at"),
    "online": ("线上", "online"),
    "paid": ("付款日期", "Paid on"),
    "customer": ("顾客手机", "Customer phone"),
    "kind": ("办理类型", "Type"),
    "reason": ("退换原因", "Reason"),
    "status": ("状态", "Status"),
    "returned_goods": ("退回商品", "Items returned"),
    "exchange_goods": ("换出商品", "Items handed out"),
    "col_name": ("商品", "Item"),
    "col_variant": ("颜色/尺码", "Colour / size"),
    "col_sku": ("SKU", "SKU"),
    "col_qty": ("数量", "Qty"),
    "col_price": ("单价", "Unit price"),
    "col_amount": ("金额", "Amount"),
    "worn": ("已穿着", "worn"),
    "policy_ok": ("✓", "✓"),
    "policy_no": ("✗", "✗"),
    "returned_total": ("退货金额", "Returned"),
    "exchange_total": ("换货金额", "Exchange items"),
    "refund": ("应退金额", "Refund"),
    "method": ("退款方式", "Refund method"),
    "payable": ("顾客补差价", "Customer pays the difference"),
    "nothing_due": ("无需退款或补差价", "Nothing to refund or pay"),
    "note": ("备注", "Note"),
    "photos": ("照片", "Photos"),
    "photos_count": ("{n} 张", "{n}"),
    "pending_refund": ("总部确认后退款", "Refund after HQ confirms"),
    "pending_detail": (
        "门店已收回商品；总部确认后按「{method}」退款 {amount}。",
        "The store has taken the goods back; once HQ confirms, {amount} is refunded ({method}).",
    ),
    "pending": ("待总部确认", "Awaiting HQ"),
    "accepted": ("已受理", "Accepted"),
    "accepted_detail": (
        "总部已确认；退款 {amount} 将按「{method}」退回。",
        "HQ has confirmed the return; {amount} will be refunded ({method}).",
    ),
    "rejected": ("总部已拒绝", "Refused by HQ"),
    "refund_ticket": ("退款单号", "Refund task"),
    "exchange_order": ("换货销售单", "Exchange sale"),
    "decided_at": ("总部处理时间", "Decided on"),
    "customer_sign": ("顾客签字", "Customer signature"),
    "clerk_sign": ("店员签字", "Clerk signature"),
    "customer_confirms": ("本人确认以上商品及金额无误。", "I confirm the items and amounts above."),
    "actor": ("经办人", "Handled by"),
    "colon": ("：", ": "),
    "date": ("日期", "Date"),
    "keep": (
        "请妥善保管本凭证；查询退款进度或办理售后时请出示凭证号。",
        "Please keep this voucher and quote its number when asking about your refund.",
    ),
}


@dataclass(frozen=True)
class _Row:
    """One line of a goods table, formatted."""

    name: str
    variant: str
    sku: str
    qty: int
    unit_price: str
    amount: str
    worn: bool = False
    policy: str = ""
    allowed: bool = True


def render_voucher(
    state: ReturnState,
    *,
    store_name: str,
    store_code: str,
    store_address: str,
    store_phone: str,
    selling_store_name: str,
    lang: str = "zh",
) -> str:
    """The voucher of ``state`` as a complete HTML page in ``lang`` (``zh`` or ``en``)."""
    lang = "en" if lang == "en" else "zh"
    words = {key: pair[1] if lang == "en" else pair[0] for key, pair in _WORDS.items()}
    channel = label(CHANNEL_LABELS, state.order_channel, lang) if state.order_channel else ""
    online = bool(state.order_channel) and state.order_channel != "store"
    if selling_store_name:
        selling = selling_store_name
    elif online:
        selling = f"{channel}（{words['online']}）" if lang == "zh" else f"{channel} ({words['online']})"
    else:
        selling = state.selling_store_id or "—"
    method = label(REFUND_METHOD_LABELS, state.method, lang)
    page = _templates.get_template("voucher.html").render(
        lang=lang,
        html_lang="en" if lang == "en" else "zh-CN",
        w=words,
        title=words["title_exchange"] if state.kind == "exchange" else words["title_refund"],
        state=state,
        qr=qr_svg(state.number),
        store={"name": store_name, "code": store_code, "address": store_address, "phone": store_phone},
        at=_local(state.at, "%Y-%m-%d %H:%M"),
        paid=_local(state.paid_at, "%Y-%m-%d"),
        decided=_local(state.decided_at, "%Y-%m-%d %H:%M"),
        channel=channel,
        selling=selling,
        customer=mask_phone(state.customer_phone) if state.customer_phone else "",
        kind=label(RETURN_KIND_LABELS, state.kind, lang),
        reason=label(REASON_LABELS, state.reason, lang),
        status=label(RETURN_STATUS_LABELS, state.status, lang),
        method=method,
        lines=[_line_row(line, lang) for line in state.lines],
        exchange=[_item_row(item) for item in state.exchange] if state.kind == "exchange" else [],
        money={
            "returned": _money(state.returned_cents),
            "exchange": _money(state.exchange_cents),
            "refund": _money(state.refund_cents),
            "payable": _money(state.payable_cents),
        },
        photos=words["photos_count"].format(n=len(state.photos)) if state.photos else "",
        refusal=state.refusal(lang) if state.status == "rejected" else "",
        dense=len(state.lines) + len(state.exchange) > DENSE_ROWS,
        pending_detail=words["pending_detail"].format(method=method, amount=_money(state.refund_cents)),
        accepted_detail=words["accepted_detail"].format(method=method, amount=_money(state.refund_cents)),
    )
    return page


def qr_svg(text: str) -> Markup:
    """``text`` as a QR code: an inline ``<svg>`` (no size: CSS sizes it; 4 modules of quiet zone)."""
    code = segno.make(text, error=QR_ERROR, micro=False)
    # segno writes only numbers and its own attributes into the SVG: nothing of ``text`` to escape.
    return Markup(code.svg_inline(scale=1, border=4, omitsize=True, svgclass="qr", lineclass=None, dark="#000"))


def _money(cents: int) -> str:
    return f"¥{yuan(cents)}"


def _local(ms: int, fmt: str) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, VOUCHER_TZ).strftime(fmt)


def _variant(colour: str, size: str) -> str:
    return " / ".join(part for part in (colour, size) if part)


def _line_row(line: ReturnedLine, lang: str) -> _Row:
    return _Row(
        name=line.name or line.product_code or line.sku,
        variant=_variant(line.colour, line.size),
        sku=line.sku,
        qty=line.qty,
        unit_price=_money(line.unit_price_cents),
        amount=_money(line.amount_cents),
        worn=not line.unworn,
        policy=explain(line.decision, lang) if line.decision is not None else "",
        allowed=line.decision.allowed if line.decision is not None else True,
    )


def _item_row(item: ExchangeItem) -> _Row:
    return _Row(
        name=item.name or item.product_code or item.sku,
        variant=_variant(item.colour, item.size),
        sku=item.sku,
        qty=item.qty,
        unit_price=_money(item.unit_price_cents),
        amount=_money(item.amount_cents),
    )
