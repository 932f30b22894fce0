"""The tickets a decided return opens for finance at HQ.

- **Refund 退款** (type ``refund``): an accepted return with money to pay back (a refund, or an
  exchange for cheaper items) opens one task with the amount and the method. A return is decided
  once (a resent op is a duplicate), so its task is opened exactly once.
- **Return exception 退货异常** (type ``return_exception``): a return HQ refused after the store
  took the goods back (:func:`~hq_server.return_rules.opens_exception`) opens one ticket, so finance
  and the store settle it with the customer.

Both belong to the returning store (it sees them) and go through routing like any ticket.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from hq_server import hq_tickets
from hq_server.return_rules import ReturnBatch, opens_exception
from hq_server.ticket_rules import TicketBatch
from sync_protocol.hlc import HybridClock
from sync_protocol.orders import yuan
from sync_protocol.return_policy import REASON_LABELS
from sync_protocol.returns import REFUND_METHOD_LABELS, RETURN_KIND_LABELS, ReturnState, label

_SHANGHAI = ZoneInfo("Asia/Shanghai")


def open_tickets(conn: Connection, clock: HybridClock, tickets: TicketBatch, batch: ReturnBatch, now_ms: int) -> None:
    """Open the refund and exception tickets of the batch's decided returns (their numbers go
    on the returns before they are written)."""
    for state in batch.decided:
        store = batch.store_names.get(state.store_id, state.store_id)
        if state.status == "accepted" and state.refund_cents > 0:
            ticket = hq_tickets.open_ticket(
                conn,
                clock,
                tickets,
                store_id=state.store_id,
                type="refund",
                title=f"退款：退货单 {state.number}（订单 {state.order_number}）¥{yuan(state.refund_cents)}",
                description=_refund_text(state, store),
                now_ms=now_ms,
                customer_phone=state.customer_phone,
                extra=_extra(state),
            )
            state.refund_ticket = ticket.number if ticket is not None else ""
        elif opens_exception(state):
            ticket = hq_tickets.open_ticket(
                conn,
                clock,
                tickets,
                store_id=state.store_id,
                type="return_exception",
                title=f"退货异常：退货单 {state.number}（订单 {state.order_number}）被总部拒绝",
                description=_exception_text(state, store),
                now_ms=now_ms,
                customer_phone=state.customer_phone,
                extra={**_extra(state), "code": state.code},
            )
            state.exception_ticket = ticket.number if ticket is not None else ""


def _extra(state: ReturnState) -> dict[str, object]:
    return {
        "return_id": state.id,
        "return_number": state.number,
        "order_number": state.order_number,
        "kind": state.kind,
        "reason": state.reason,
        "method": state.method,
        "refund_cents": state.refund_cents,
        "refund": yuan(state.refund_cents),
        "price_checks": [
            {"sku": sku, "price": yuan(sent), "expected": yuan(exp)} for sku, sent, exp in state.price_checks
        ],
    }


def _goods(state: ReturnState) -> str:
    return "；".join(f"{line.name or line.sku} {line.colour}/{line.size} × {line.qty}" for line in state.lines)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, _SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _refund_text(state: ReturnState, store: str) -> str:
    kind = label(RETURN_KIND_LABELS, state.kind, "zh")
    reason = label(REASON_LABELS, state.reason, "zh")
    method = label(REFUND_METHOD_LABELS, state.method, "zh")
    text = (
        f"{store} 于 {_when(state.at)} 受理订单 {state.order_number} 的{kind}（原因：{reason}），"
        f"请按「{method}」退款 ¥{yuan(state.refund_cents)}。\n退回商品：{_goods(state)}"
    )
    for sku, sent, expected in state.price_checks:
        text += f"\n请核对：换出商品 {sku} 按 ¥{yuan(sent)} 计价，低于应有价格 ¥{yuan(expected)}。"
    return text


def _exception_text(state: ReturnState, store: str) -> str:
    return (
        f"{store} 于 {_when(state.at)} 收回了订单 {state.order_number} 的商品（{_goods(state)}），"
        f"总部拒绝了这笔退货：{state.refusal_zh.rstrip('。')}。\n"
        "未退款，商品也未计入该店库存。请联系顾客，并与门店核实后处理（退回商品给顾客，或按例外办理）。"
    )
