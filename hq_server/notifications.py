"""In-app notifications at HQ, addressed to a role in a department (``lead`` of ``qc``) or
chain-wide (``cs_supervisor``, department ``""``), and the outbox of webhook events.

Both are written in the transaction of what caused them (an escalation, say), so a rolled-back
cause leaves no notification behind. Texts are rendered when read, in the reader's language.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server.schema import notifications, tickets, webhook_events
from hq_server.staff_views import iso
from sync_protocol.i18n import render
from sync_protocol.ops import new_id


def notify(
    conn: Connection,
    *,
    role: str,
    department: str,
    ticket_id: str | None,
    kind: str,
    params: dict[str, Any],
    now_ms: int,
) -> str:
    """Add a notification; returns its id."""
    notification_id = new_id()
    conn.execute(
        notifications.insert().values(
            id=notification_id,
            role=role,
            department=department,
            ticket_id=ticket_id,
            kind=kind,
            params=params,
            created_at=now_ms,
        )
    )
    return notification_id


def inbox(
    conn: Connection,
    *,
    role: str,
    department: str = "",
    unread: bool = False,
    limit: int = 100,
    chain_wide: bool = True,
) -> list[Any]:
    """A role's notifications (in ``department``, plus the chain-wide ones unless
    ``chain_wide=False``), newest first."""
    n = notifications.c
    departments = sorted({department, ""}) if chain_wide else [department]
    query = sa.select(notifications).where(n.role == role, n.department.in_(departments))
    if unread:
        query = query.where(n.read_at.is_(None))
    return list(conn.execute(query.order_by(n.created_at.desc(), n.id.desc()).limit(limit)).mappings())


def inbox_view(
    conn: Connection,
    *,
    role: str,
    department: str = "",
    unread: bool = False,
    lang: str = "zh",
    chain_wide: bool = True,
) -> list[dict[str, Any]]:
    """:func:`inbox` as JSON for people: with the ticket's number and the message in ``lang``."""
    rows = inbox(conn, role=role, department=department, unread=unread, chain_wide=chain_wide)
    ids = sorted({row["ticket_id"] for row in rows if row["ticket_id"]})
    numbers: dict[str, str] = {}
    if ids:
        query = sa.select(tickets.c.id, tickets.c.number).where(tickets.c.id.in_(ids))
        numbers = {str(row[0]): str(row[1]) for row in conn.execute(query)}
    return [
        {
            "id": row["id"],
            "kind": row["kind"],
            "role": row["role"],
            "department": row["department"],
            "ticket_id": row["ticket_id"],
            "ticket_number": numbers.get(row["ticket_id"] or ""),
            "message": render(
                f"notice_{row['kind']}", lang, number=numbers.get(row["ticket_id"] or "", ""), **row["params"]
            ),
            "params": row["params"],
            "created_at": iso(row["created_at"]),
            "read_at": iso(row["read_at"]),
        }
        for row in rows
    ]


def mark_read(conn: Connection, notification_id: str, now_ms: int) -> bool:
    n = notifications.c
    done = conn.execute(
        notifications.update().where(n.id == notification_id, n.read_at.is_(None)).values(read_at=now_ms)
    )
    return done.rowcount == 1


def enqueue_webhook(conn: Connection, event: str, payload: dict[str, Any], now_ms: int) -> str:
    """Queue an event for the webhooks (delivered by :mod:`hq_server.webhooks`)."""
    event_id = new_id()
    conn.execute(
        webhook_events.insert().values(
            id=event_id, event=event, payload=payload, created_at=now_ms, next_attempt_at=now_ms
        )
    )
    return event_id
