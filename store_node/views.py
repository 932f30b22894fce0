"""Read models of the replica for the clerk UI: tickets as JSON, and the sync status."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from store_node import outbox
from store_node.node import Node
from store_node.replica import in_chunks
from store_node.ticket_actions import resolve_id
from sync_protocol import forms
from sync_protocol.texts import text
from sync_protocol.tickets import OPEN_STATUSES, STATUS_LABELS


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat().replace("+00:00", "Z")


def sync_marks(node: Node, ticket_ids: list[str]) -> dict[str, tuple[str, list[dict[str, str]]]]:
    """Per entity (a ticket or a transfer, by the id its ops carry): ``pending`` while a local op
    waits for HQ's answer, else ``rejected`` with the rejections, else ``synced`` (absent here)."""
    marks: dict[str, tuple[str, list[dict[str, str]]]] = {}
    if not ticket_ids:
        return marks
    for chunk, places in in_chunks(ticket_ids):
        rows = node.replica.query(
            f"SELECT entity_id, state, code, reason FROM outbox WHERE state != 'acked'"
            f" AND entity_id IN ({places}) ORDER BY seq",
            tuple(chunk),
        )
        for row in rows:
            state, rejections = marks.get(row["entity_id"], ("synced", []))
            if row["state"] == "rejected":
                rejections.append({"code": row["code"], "reason": row["reason"]})
                state = "rejected" if state != "pending" else state
            else:
                state = "pending"
            marks[row["entity_id"]] = (state, rejections)
    return marks


def _names(node: Node, entity: str, lang: str) -> dict[str, str]:
    """Code -> name of the synced reference items of one kind (departments, agents)."""
    rows = node.replica.query("SELECT code, name_zh, name_en FROM reference WHERE entity = ?", (entity,))
    return {r["code"]: (r["name_en"] or r["name_zh"]) if lang == "en" else r["name_zh"] for r in rows}


class _Names:
    """The names a ticket's JSON shows for codes HQ gave it."""

    def __init__(self, node: Node, lang: str) -> None:
        self.departments = _names(node, "department", lang)
        self.agents = _names(node, "agent", lang)


def _routing_json(row: Any, names: _Names, lang: str) -> dict[str, Any]:
    """Where the ticket stands with HQ's routing: awaiting it (made here, HQ has not seen it yet)
    or routed to a department."""
    if row["routed_at"] is None:
        return {"state": "awaiting", "label": text("awaiting_routing", lang)}
    department = names.departments.get(row["department"], row["department"])
    return {
        "state": "routed",
        "label": text("routed_to", lang, department=department),
        "routed_at": iso(row["routed_at"]),
    }


def _ticket_json(row: Any, mark: tuple[str, list[dict[str, str]]], lang: str, names: _Names) -> dict[str, Any]:
    labels = STATUS_LABELS.get(row["status"], (row["status"], row["status"]))
    return {
        "id": row["id"],
        "number": row["number"],
        "store_id": row["store_id"],
        "type": row["type"],
        "title": row["title"],
        "description": row["description"],
        "category": row["category"],
        "product_code": row["product_code"],
        "customer_phone": row["customer_phone"],
        "customer_name": row["customer_name"],
        "status": row["status"],
        "status_label": labels[1] if lang == "en" else labels[0],
        "department": row["department"],
        "assignee": row["assignee"],
        "assignee_name": names.agents.get(row["assignee"], row["assignee"]),
        "department_name": names.departments.get(row["department"], row["department"]),
        "priority": row["priority"],
        "first_response_due": iso(row["first_response_due"]),
        "resolution_due": iso(row["resolution_due"]),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "extra": json.loads(row["extra"] or "{}"),
        "channel": row["channel"],
        "tags": json.loads(row["tags"] or "[]"),
        "routing": _routing_json(row, names, lang),
        "sla": {
            "first_response_due": iso(row["first_response_due"]),
            "resolution_due": iso(row["resolution_due"]),
            "first_responded_at": iso(row["first_responded_at"]),
            "paused": bool(row["sla_paused"]),
        },
        "sync": mark[0],
        "rejections": mark[1],
    }


def list_tickets(
    node: Node, *, status: str = "", open_only: bool = False, limit: int = 200, offset: int = 0, lang: str = "zh"
) -> dict[str, Any]:
    """Tickets newest first: of one ``status``, or those still open (``open_only``), or all."""
    where, params = "", tuple[str, ...]()
    if status:
        where, params = "WHERE status = ?", (status,)
    elif open_only:
        open_statuses = sorted(OPEN_STATUSES)
        where, params = f"WHERE status IN ({', '.join('?' for _ in open_statuses)})", tuple(open_statuses)
    rows = node.replica.query(
        f"SELECT * FROM tickets {where} ORDER BY created_at DESC, number DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    total_row = node.replica.one(f"SELECT count(*) FROM tickets {where}", params)
    marks = sync_marks(node, [r["id"] for r in rows])
    names = _Names(node, lang)
    items = [_ticket_json(r, marks.get(r["id"], ("synced", [])), lang, names) for r in rows]
    return {"items": items, "total": int(total_row[0]) if total_row else 0}


def get_ticket(node: Node, key: str, *, lang: str = "zh") -> dict[str, Any]:
    ticket_id = resolve_id(node, key)
    row = node.replica.one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
    mark = sync_marks(node, [ticket_id]).get(ticket_id, ("synced", []))
    body = _ticket_json(row, mark, lang, _Names(node, lang))
    pending = outbox.pending_records_of(node, ticket_id)
    body["comments"] = [
        {
            "id": c["id"],
            "body": c["body"],
            "author": c["author"],
            "source": c["source"],
            "created_at": iso(c["created_at"]),
            "pending": c["id"] in pending,
        }
        for c in node.replica.query("SELECT * FROM comments WHERE ticket_id = ? ORDER BY created_at, hlc", (ticket_id,))
    ]
    body["history"] = [
        {
            "from_status": h["from_status"],
            "to_status": h["to_status"],
            "note": h["note"],
            "actor": h["actor"],
            "at": iso(h["at"]),
            "pending": h["id"] in pending,
        }
        for h in node.replica.query("SELECT * FROM history WHERE ticket_id = ? ORDER BY at, hlc", (ticket_id,))
    ]
    return body


def sync_status(node: Node) -> dict[str, Any]:
    replica = node.replica
    last_success = replica.get_int("last_success_at") or None
    return {
        "node_id": replica.get("node_id") or None,
        "store_code": replica.get("store_code") or None,
        "store_name": replica.get("store_name") or None,
        "enrolled": node.enrolled,
        "online": replica.get("online") == "1",
        "pending_ops": outbox.count(node),
        "drain": dict(zip(("sent", "total"), outbox.drain_progress(node), strict=True)),
        "rejected_ops": [
            {
                "seq": r["seq"],
                "kind": r["kind"],
                "entity_id": r["entity_id"],
                "code": r["code"],
                "reason": r["reason"],
                "at": iso(r["done_at"]),
            }
            for r in outbox.rejected(node)
        ],
        "last_success_at": iso(last_success),
        "last_sync_age_s": round((node.wall_ms() - last_success) / 1000, 1) if last_success else None,
        "last_error": replica.get("last_error") or None,
        "last_error_code": replica.get("last_error_code") or None,
        "last_error_at": iso(replica.get_int("last_error_at") or None),
        "cursor": replica.get("cursor", "0"),
        "acked_seq": replica.get_int("acked_seq"),
        "next_seq": replica.get_int("next_seq", 1),
    }


def ticket_types(node: Node, lang: str = "zh") -> list[dict[str, Any]]:
    """The synced ticket types with the form each asks for (labels in ``lang``), for the new-ticket
    screen; the same form is checked when the ticket is created."""
    rows = node.replica.query(
        "SELECT code, name_zh, name_en, attrs FROM reference WHERE entity = 'ticket_type' ORDER BY code"
    )
    found = []
    for r in rows:
        form = forms.form_of(json.loads(r["attrs"] or "{}"))
        fields = [
            {
                "name": f.name,
                "label": forms.label(f, lang),
                "kind": f.kind,
                "required": f.required,
                "choices": list(f.choices),
            }
            for f in form.fields
        ]
        name = r["name_en"] if lang == "en" and r["name_en"] else r["name_zh"]
        found.append({"code": r["code"], "name": name, "fields": fields})
    return found


def products(node: Node, q: str, limit: int, lang: str = "zh") -> list[dict[str, Any]]:
    """Products of the synced catalogue whose code starts with ``q`` or whose name contains it."""
    pattern = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = node.replica.query(
        "SELECT code, name_zh, name_en, attrs FROM reference WHERE entity = 'product'"
        " AND (code LIKE :prefix ESCAPE '\\' OR name_zh LIKE :part ESCAPE '\\' OR name_en LIKE :part ESCAPE '\\')"
        " ORDER BY code LIMIT :limit",
        {"prefix": f"{pattern}%", "part": f"%{pattern}%", "limit": limit},
    )
    found = []
    for r in rows:
        attrs = json.loads(r["attrs"])
        price = attrs.get("price_cents")
        found.append(
            {
                "code": r["code"],
                "name": r["name_en"] if lang == "en" and r["name_en"] else r["name_zh"],
                "category": attrs.get("category", ""),
                "price": None if price is None else f"{price / 100:.2f}",
                "skus": attrs.get("skus", []),
            }
        )
    return found
