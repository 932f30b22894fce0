"""What the ticket page shows beyond the ticket's JSON (:func:`store_node.views.get_ticket`): its
type's name and form labels, its photos, its SLA state, one timeline of status changes and
comments, and the status changes a store may make."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from store_node import views
from store_node.node import Node
from store_node.ui import photos
from sync_protocol import forms
from sync_protocol.tickets import (
    DEFAULT_TICKET_TYPES,
    OPEN_STATUSES,
    RETURN_TICKET_TYPES,
    STATUS_LABELS,
    STATUSES,
    STOCK_TICKET_TYPES,
    TRANSITIONS,
)

#: Statuses only HQ's routing sets (a department's queue, an agent); a store does not pick them.
HQ_SET_STATUSES = frozenset({"new", "assigned"})


def ms(value: str | None) -> int | None:
    """Milliseconds of an ISO time as :func:`store_node.views.iso` writes it."""
    if not value:
        return None
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def status_label(status: str, lang: str) -> str:
    labels = STATUS_LABELS.get(status, (status, status))
    return labels[1] if lang == "en" else labels[0]


def type_name(node: Node, code: str, lang: str) -> str:
    """A type's name: as HQ published it, else a built-in type's, else its code."""
    row = node.replica.one("SELECT name_zh, name_en FROM reference WHERE entity = 'ticket_type' AND code = ?", (code,))
    if row is not None:
        return str(row["name_en"] or row["name_zh"]) if lang == "en" else str(row["name_zh"])
    names = {**DEFAULT_TICKET_TYPES, **STOCK_TICKET_TYPES, **RETURN_TICKET_TYPES}.get(code)
    if names is None:
        return code
    return names[1] if lang == "en" else names[0]


def _form_of(node: Node, code: str) -> forms.Form:
    row = node.replica.one("SELECT attrs FROM reference WHERE entity = 'ticket_type' AND code = ?", (code,))
    return forms.form_of(json.loads(row["attrs"] or "{}")) if row is not None else forms.Form()


def extra_rows(node: Node, ticket: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """The type's form fields with the ticket's values (photos as stored names), then any other
    values the ticket carries (from HQ or an older form)."""
    extra: dict[str, Any] = ticket["extra"]
    rows = []
    seen = set()
    for field in _form_of(node, ticket["type"]).fields:
        if field.kind == "product_code":
            continue
        seen.add(field.name)
        rows.append(_row(forms.label(field, lang), extra.get(field.name)))
    rows.extend(_row(name, value) for name, value in extra.items() if name not in seen)
    return rows


def _row(label: str, value: Any) -> dict[str, Any]:
    values = value if isinstance(value, list) else [] if value in (None, "") else [value]
    names = [name for name in (photos.name_of(v) for v in values) if name]
    others = [str(v) for v in values if not photos.name_of(v)]
    return {"label": label, "text": "、".join(others), "photos": names}


def sla_rows(ticket: dict[str, Any], now_ms: int) -> list[dict[str, Any]]:
    """First response and resolution: each due time with its state (``done``, ``paused``,
    ``overdue`` or ``due``)."""
    sla = ticket["sla"]
    is_open = ticket["status"] in OPEN_STATUSES
    found = []
    for key, due, done in (
        ("tk_sla_first_response", sla["first_response_due"], sla["first_responded_at"] is not None or not is_open),
        ("tk_sla_resolution", sla["resolution_due"], not is_open),
    ):
        due_ms = ms(due)
        if due_ms is None:
            continue
        if done:
            state = "done"
        elif sla["paused"]:
            state = "paused"
        else:
            state = "overdue" if now_ms > due_ms else "due"
        found.append({"label": key, "due": due, "state": state})
    return found


def timeline(ticket: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """The ticket's making, its status changes and its comments, oldest first."""
    entries: list[dict[str, Any]] = [{"kind": "created", "at": ticket["created_at"], "who": "", "pending": False}]
    for h in ticket["history"]:
        entries.append(
            {
                "kind": "status",
                "at": h["at"],
                "who": h["actor"],
                "from_label": status_label(h["from_status"], lang),
                "to_label": status_label(h["to_status"], lang),
                "note": h["note"],
                "pending": h["pending"],
            }
        )
    for c in ticket["comments"]:
        entries.append(
            {
                "kind": "comment",
                "at": c["created_at"],
                "who": c["author"],
                "body": c["body"],
                "source": c["source"],
                "pending": c["pending"],
            }
        )
    entries.sort(key=lambda entry: ms(entry["at"]) or 0)
    return entries


def store_transitions(status: str, lang: str) -> list[tuple[str, str]]:
    """``(status, label)`` of each status a clerk may move the ticket to from ``status``."""
    allowed = TRANSITIONS.get(status, frozenset()) - HQ_SET_STATUSES
    return [(s, status_label(s, lang)) for s in STATUSES if s in allowed]


def product_name(node: Node, code: str, lang: str) -> str:
    if not code:
        return ""
    return next((str(p["name"]) for p in views.products(node, code, 5, lang) if p["code"] == code), "")
