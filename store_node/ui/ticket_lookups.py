"""Lookups the new-ticket screen makes while the clerk types, over the replica's tickets of this
store: open tickets like the one being written (so a problem is not filed twice), and the
customer's earlier tickets by phone number."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from store_node.node import Node
from store_node.ui import session
from store_node.ui.render import node_of, signed_in, when
from sync_protocol.tickets import OPEN_STATUSES, STATUS_LABELS

#: Runs of Chinese characters (no spaces between words: matched on character pairs) and words.
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[0-9a-z]{2,}")
#: Pairs too common in tickets to say two of them are alike.
_COMMON = frozenset({"顾客", "客人", "门店", "本店", "问题", "一个", "没有", "需要", "工单", "商品"})
#: Open tickets looked through (the newest); a store has far fewer.
_SCAN = 1000


def terms(text: str) -> set[str]:
    """What two texts are compared on: each pair of adjacent Chinese characters (a single one
    when the run is one character long), and each Latin word or number of two or more."""
    lowered = text.lower()
    found: set[str] = set()
    for run in _HAN.findall(lowered):
        found.update({run} if len(run) == 1 else {run[i : i + 2] for i in range(len(run) - 1)})
    found.update(_WORD.findall(lowered))
    return found - _COMMON


def _item(row: Any, lang: str) -> dict[str, Any]:
    labels = STATUS_LABELS.get(row["status"], (row["status"], row["status"]))
    return {
        "id": row["id"],
        "number": row["number"],
        "title": row["title"],
        "status_label": labels[1] if lang == "en" else labels[0],
        "created": when(row["created_at"], lang),
        "href": f"/tickets/{row['id']}",
    }


def similar(node: Node, text: str, lang: str, *, limit: int = 5, exclude: str = "") -> list[dict[str, Any]]:
    """Open tickets of this store whose title or description shares the most terms with ``text``."""
    wanted = terms(text)
    if not wanted or not node.enrolled:
        return []
    need = 1 if len(wanted) < 4 else 2
    statuses = sorted(OPEN_STATUSES)
    rows = node.replica.query(
        f"SELECT id, number, title, description, status, created_at FROM tickets WHERE store_id = ?"
        f" AND status IN ({', '.join('?' * len(statuses))}) AND id != ? ORDER BY updated_at DESC LIMIT ?",
        (node.identity.store_id, *statuses, exclude, _SCAN),
    )
    scored = []
    for order, row in enumerate(rows):
        title, rest = str(row["title"]).lower(), str(row["description"]).lower()
        score = sum(2 if term in title else 1 for term in wanted if term in title or term in rest)
        if score >= need:
            scored.append((-score, order, row))
    scored.sort(key=lambda entry: entry[:2])
    return [_item(row, lang) for _, _, row in scored[:limit]]


def phone_digits(phone: str) -> str:
    """A phone number as its digits, without China's country code: ``+86 138-0013-8000`` -> ``13800138000``."""
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits


def by_phone(node: Node, phone: str, lang: str, *, limit: int = 10, exclude: str = "") -> dict[str, Any]:
    """The customer's tickets at this store, newest first, and the name they last gave."""
    digits = phone_digits(phone)
    if len(digits) < 7 or not node.enrolled:
        return {"items": [], "customer_name": ""}
    rows = node.replica.query(
        "SELECT id, number, title, status, created_at, customer_phone, customer_name FROM tickets"
        " WHERE store_id = ? AND customer_phone LIKE ? AND id != ? ORDER BY created_at DESC, number DESC",
        (node.identity.store_id, f"%{digits[-4:]}", exclude),
    )
    mine = [row for row in rows if phone_digits(str(row["customer_phone"])) == digits]
    name = next((str(row["customer_name"]) for row in mine if row["customer_name"]), "")
    return {"items": [_item(row, lang) for row in mine[:limit]], "customer_name": name}


async def similar_json(request: Request) -> Response:
    if isinstance(signed_in(request), Response):
        return JSONResponse({"items": []}, status_code=401)
    q = request.query_params.get("q", "")[:200]
    exclude = request.query_params.get("exclude", "")
    return JSONResponse({"items": similar(node_of(request), q, session.lang_of(request), exclude=exclude)})


async def by_phone_json(request: Request) -> Response:
    if isinstance(signed_in(request), Response):
        return JSONResponse({"items": [], "customer_name": ""}, status_code=401)
    phone = request.query_params.get("phone", "")[:32]
    exclude = request.query_params.get("exclude", "")
    return JSONResponse(by_phone(node_of(request), phone, session.lang_of(request), exclude=exclude))


routes = [
    Route("/ui/tickets/similar", similar_json, methods=["GET"]),
    Route("/ui/tickets/by-phone", by_phone_json, methods=["GET"]),
]
