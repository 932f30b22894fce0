"""JSON shapes of the staff API: tickets, comments, history and reference data, and the parsing of
the times staff send (ISO 8601). Times inside HQ are ms since the epoch; on this API they are ISO
8601 in UTC (``2025-01-31T10:00:00.000Z``) or null."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hq_server.errors import InvalidInput
from hq_server.products import Product
from hq_server.validation import iso_ms
from sync_protocol.tickets import CommentState, HistoryEntry

if TYPE_CHECKING:  # queries -> collaboration -> notifications -> staff_views: no import cycle at run time
    from hq_server.queries import TicketView

TIME_FIELDS = ("first_response_due", "resolution_due")


def iso(ms: int | None) -> str | None:
    """ms since the epoch as ISO 8601 UTC with milliseconds, or None."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(field: str, value: object) -> int | None:
    """A due time sent by staff: ISO 8601 (a time without offset is taken as UTC), ms, or null."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        parsed = iso_ms(value, naive_as_utc=True)
        if parsed is None:
            raise InvalidInput("invalid_time", field=field)
        return parsed
    raise InvalidInput("invalid_time", field=field)


def parse_times(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with its due times as ms."""
    return {k: parse_time(k, v) if k in TIME_FIELDS else v for k, v in body.items()}


def comment_json(comment: CommentState) -> dict[str, Any]:
    return {
        "id": comment.id,
        "body": comment.body,
        "author": comment.author,
        "source": comment.source,
        "created_at": iso(comment.created_at),
    }


def history_json(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "from_status": entry.from_status,
        "to_status": entry.to_status,
        "note": entry.note,
        "actor": entry.actor,
        "at": iso(entry.at),
    }


def ticket_json(view: TicketView, *, detail: bool = True) -> dict[str, Any]:
    """A ticket for staff; ``detail`` adds comments and history."""
    t = view.ticket
    body: dict[str, Any] = {
        "id": t.id,
        "number": t.number,
        "store_id": t.store_id or None,
        "store_code": view.store_code or None,
        "type": t.type,
        "title": t.title,
        "description": t.description,
        "category": t.category,
        "product_code": t.product_code,
        "customer_phone": t.customer_phone,
        "customer_name": t.customer_name,
        "status": t.status,
        "department": t.department,
        "assignee": t.assignee,
        "priority": t.priority,
        "first_response_due": iso(t.first_response_due),
        "resolution_due": iso(t.resolution_due),
        "first_responded_at": iso(t.first_responded_at),
        "sla_paused": t.sla_paused,
        "channel": t.channel,
        "tags": list(t.tags),
        "extra": dict(t.extra),
        "routed_at": iso(t.routed_at),
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
    }
    if detail:
        body["comments"] = [comment_json(c) for c in view.comments]
        body["history"] = [history_json(h) for h in view.history]
        body["shares"] = [
            {
                "department": s["department"],
                "status": s["status"],
                "note": s["note"],
                "shared_at": iso(s["created_at"]),
                "updated_at": iso(s["updated_at"]),
            }
            for s in view.shares
        ]
        body["internal_notes"] = [
            {
                "id": n["id"],
                "department": n["department"],
                "author": n["author"],
                "body": n["body"],
                "created_at": iso(n["created_at"]),
            }
            for n in view.notes
        ]
        body["links"] = view.links
    return body


def store_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "code": row["code"],
        "name": row["name"],
        "region_id": row["region_id"],
        "region_code": row.get("region_code"),
        "address": row["address"],
        "lat": row["lat"],
        "lon": row["lon"],
        "active": bool(row["active"]),
    }


def ticket_type_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": row["code"],
        "name_zh": row["name_zh"],
        "name_en": row["name_en"],
        "default_department": row["default_department"],
        "active": bool(row["active"]),
    }


def department_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": row["code"],
        "name_zh": row["name_zh"],
        "name_en": row["name_en"],
        "active": bool(row["active"]),
    }


def product_json(product: Product) -> dict[str, Any]:
    """A product with its SKUs; ``price`` in yuan (two decimals) or null."""
    return {
        "code": product.code,
        "name_zh": product.name_zh,
        "name_en": product.name_en,
        "category": product.category,
        "price": None if product.price_cents is None else f"{product.price_cents / 100:.2f}",
        "min_stock": product.min_stock,
        "skus": [{"code": s.code, "colour": s.colour, "size": s.size, "barcode": s.barcode} for s in product.skus],
    }
