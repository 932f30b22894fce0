"""Read models of returns and the return policy for the clerk UI (JSON).

A return shows its number, status (``pending`` until HQ decides, then ``accepted`` or
``rejected`` with HQ's reason), the order it belongs to and where that was sold, each line with
the policy's sentence, the items an exchange handed out, and the amounts: refunded to the customer
(``refund``) or paid by the customer at the till (``payable``). Amounts are yuan with two decimals
(``"298.00"``); times are ISO 8601 UTC, with the ms beside them (``at_ms``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import msgspec

from store_node.errors import InvalidInput
from store_node.node import Node
from store_node.replica import in_chunks
from store_node.return_actions import decision_json
from store_node.return_records import decode_return, find_return, local_policy
from store_node.views import iso
from sync_protocol.orders import CHANNEL_LABELS, yuan
from sync_protocol.return_policy import summary
from sync_protocol.returns import (
    RETURN_STATUS_LABELS,
    ReturnState,
    amounts_json,
    label,
    summary_json,
)

#: Most returns one list answers with (newest first).
MAX_RETURNS = 100


def voucher_url(number: str) -> str:
    """The voucher page of a return (its number quoted: a moved-aside ``NUMBER#id`` has a ``#``)."""
    return f"/returns/{quote(number, safe='')}/voucher"


def return_json(
    state: ReturnState,
    lang: str = "zh",
    *,
    selling_store_name: str = "",
    names_en: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One return for the clerk; ``names_en`` maps product codes to English names (for ``en``)."""
    names = names_en or {}
    return {
        **summary_json(state, lang),
        "order": {
            "id": state.order_id,
            "number": state.order_number,
            "channel": state.order_channel,
            "channel_label": label(CHANNEL_LABELS, state.order_channel, lang),
            "paid_at": iso(state.paid_at) if state.paid_at else None,
        },
        "selling_store": {"id": state.selling_store_id, "name": selling_store_name} if state.selling_store_id else None,
        "at": iso(state.at),
        "at_ms": state.at,
        "decided_at": iso(state.decided_at) if state.decided_at else None,
        "lines": [
            {
                "line_no": x.line_no,
                "sku": x.sku,
                "product_code": x.product_code,
                "name": names.get(x.product_code, x.name),
                "colour": x.colour,
                "size": x.size,
                "qty": x.qty,
                "unit_price": yuan(x.unit_price_cents),
                "amount": yuan(x.amount_cents),
                "unworn": x.unworn,
                "decision": decision_json(x.decision, lang),
            }
            for x in state.lines
        ],
        "exchange": [
            {
                "sku": i.sku,
                "product_code": i.product_code,
                "name": names.get(i.product_code, i.name),
                "colour": i.colour,
                "size": i.size,
                "qty": i.qty,
                "unit_price": yuan(i.unit_price_cents),
                "amount": yuan(i.amount_cents),
            }
            for i in state.exchange
        ],
        **amounts_json(state),
        "code": state.code,
        "refusal": state.refusal(lang),
        "refund_ticket": state.refund_ticket,
        "exception_ticket": state.exception_ticket,
        "exchange_order": state.exchange_order,
        "photos": list(state.photos),
        "note": state.note,
        "actor": state.actor,
        "voucher_url": voucher_url(state.number),
    }


def store_names(node: Node, ids: Iterable[str]) -> dict[str, str]:
    """Store id -> Chinese name from the synced reference rows."""
    found: dict[str, str] = {}
    for chunk, marks in in_chunks([i for i in dict.fromkeys(ids) if i]):
        for r in node.replica.query(
            f"SELECT id, name_zh FROM reference WHERE entity = 'store' AND id IN ({marks})", tuple(chunk)
        ):
            found[r["id"]] = r["name_zh"]
    return found


def seller_names(node: Node, states: list[ReturnState]) -> dict[str, str]:
    """Selling store id -> name: the synced store rows, else the name the order copy came with (a
    store that never synced the other stores still knows where a looked-up order was sold)."""
    found = store_names(node, (s.selling_store_id for s in states))
    missing = [s.order_id for s in states if s.selling_store_id and s.selling_store_id not in found]
    for chunk, marks in in_chunks(list(dict.fromkeys(missing))):
        for r in node.replica.query(
            f"SELECT store_id, store_name FROM orders WHERE id IN ({marks}) AND store_name != ''", tuple(chunk)
        ):
            found.setdefault(r["store_id"], r["store_name"])
    return found


def _names_en(node: Node, states: list[ReturnState], lang: str) -> dict[str, str]:
    if lang != "en":
        return {}
    codes = sorted(
        {x.product_code for s in states for x in s.lines if x.product_code}
        | {i.product_code for s in states for i in s.exchange if i.product_code}
    )
    names: dict[str, str] = {}
    for chunk, marks in in_chunks(codes):
        for r in node.replica.query(
            f"SELECT code, name_en FROM reference WHERE entity = 'product' AND code IN ({marks})", tuple(chunk)
        ):
            if r["name_en"]:
                names[r["code"]] = r["name_en"]
    return names


def _render(node: Node, states: list[ReturnState], lang: str) -> list[dict[str, Any]]:
    sellers = seller_names(node, states)
    names = _names_en(node, states, lang)
    return [
        return_json(s, lang, selling_store_name=sellers.get(s.selling_store_id, ""), names_en=names) for s in states
    ]


def list_returns(
    node: Node, *, status: str | None = None, order: str | None = None, lang: str = "zh"
) -> dict[str, Any]:
    """This store's returns, newest first (at most :data:`MAX_RETURNS`), of one ``status`` and one
    ``order`` (number or id) when given."""
    where, params = ["1 = 1"], []
    if status:
        if status not in RETURN_STATUS_LABELS:
            choices = ", ".join(RETURN_STATUS_LABELS)
            raise InvalidInput(f"status must be one of {choices}", code="invalid_choice", field="status")
        where.append("status = ?")
        params.append(status)
    if order:
        where.append("(order_number = ? OR order_id = ?)")
        params += [order, order]
    rows = node.replica.query(
        f"SELECT * FROM returns WHERE {' AND '.join(where)} ORDER BY at DESC, number DESC LIMIT ?",
        (*params, MAX_RETURNS),
    )
    return {"items": _render(node, [decode_return(r) for r in rows], lang)}


def get_return(node: Node, key: str, lang: str = "zh") -> dict[str, Any]:
    """One return by id or number (404 ``return_not_found``)."""
    return _render(node, [find_return(node, key)], lang)[0]


def policy_json(node: Node, lang: str = "zh") -> dict[str, Any]:
    """The policy the store checks returns against, where it comes from, and its summary."""
    policy, source = local_policy(node)
    body: dict[str, Any] = msgspec.to_builtins(policy)
    return {**body, "source": source, "summary": summary(policy, lang)}


def own_store(node: Node) -> dict[str, str]:
    """This store's code, name, address and phone (for the voucher), from the synced store row."""
    ident = node.identity
    row = node.replica.one(
        "SELECT code, name_zh, attrs FROM reference WHERE entity = 'store' AND id = ?", (ident.store_id,)
    )
    attrs = json.loads(row["attrs"] or "{}") if row is not None else {}
    return {
        "store_code": str(row["code"]) if row is not None else ident.store_code,
        "store_name": str(row["name_zh"]) if row is not None else ident.store_name,
        "store_address": str(attrs.get("address") or ""),
        "store_phone": str(attrs.get("phone") or ""),
    }
