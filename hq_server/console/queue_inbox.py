"""The queue screens' per-user things: saved views (filters saved under a name, per user) and the
caller's notifications (their departments', or everyone's for those who see every ticket)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server.escalation_sweep import LEAD
from hq_server.principals import Principal
from hq_server.schema import notifications, saved_views, tickets
from sync_protocol.i18n import render
from sync_protocol.ops import new_id

MAX_VIEWS = 50


# -- saved views --------------------------------------------------------------------------------


def list_views(conn: Connection, user_id: str) -> list[dict[str, Any]]:
    v = saved_views.c
    query = sa.select(v.id, v.name, v.query).where(v.user_id == user_id).order_by(v.name)
    return [dict(row) for row in conn.execute(query).mappings()]


def save_view(conn: Connection, user_id: str, name: str, query: str, now_ms: int) -> str:
    """Save ``query`` as ``name`` for ``user_id`` (the same name again replaces it)."""
    v = saved_views.c
    done = conn.execute(saved_views.update().where(v.user_id == user_id, v.name == name).values(query=query))
    if done.rowcount:
        return str(conn.execute(sa.select(v.id).where(v.user_id == user_id, v.name == name)).scalar_one())
    view_id = new_id()
    conn.execute(saved_views.insert().values(id=view_id, user_id=user_id, name=name, query=query, created_at=now_ms))
    return view_id


def count_views(conn: Connection, user_id: str) -> int:
    v = saved_views.c
    return int(conn.execute(sa.select(sa.func.count()).where(v.user_id == user_id)).scalar_one())


def delete_view(conn: Connection, user_id: str, view_id: str) -> bool:
    v = saved_views.c
    return bool(conn.execute(saved_views.delete().where(v.user_id == user_id, v.id == view_id)).rowcount)


# -- notifications ------------------------------------------------------------------------------


def notice_condition(principal: Principal) -> sa.ColumnElement[bool]:
    """The notifications the caller reads: everyone's for those who see every ticket, their
    departments' for an agent or lead, none for a regional manager."""
    n = notifications.c
    if principal.sees_every_ticket:
        return sa.true()
    if principal.is_departmental:
        mine = n.department.in_(sorted(principal.departments))
        return mine if principal.role != "agent" else sa.and_(mine, n.role != LEAD)  # leads' own notices
    return sa.false()


def unread_count(conn: Connection, principal: Principal) -> int:
    n = notifications.c
    query = (
        sa.select(sa.func.count()).select_from(notifications).where(notice_condition(principal), n.read_at.is_(None))
    )
    return int(conn.execute(query).scalar_one())


def mark_read(conn: Connection, principal: Principal, notification_id: str | None, now_ms: int) -> int:
    """Mark one notification (None: all of the caller's) read; how many were."""
    n = notifications.c
    where = [notice_condition(principal), n.read_at.is_(None)]
    if notification_id is not None:
        where.append(n.id == notification_id)
    return int(conn.execute(notifications.update().where(*where).values(read_at=now_ms)).rowcount)


def notice_list(conn: Connection, principal: Principal, lang: str, limit: int = 20) -> list[dict[str, Any]]:
    """The caller's latest notifications, with the ticket's number and the message in ``lang``."""
    n = notifications.c
    query = (
        sa.select(notifications, tickets.c.number)
        .select_from(notifications.outerjoin(tickets, tickets.c.id == n.ticket_id))
        .where(notice_condition(principal))
        .order_by(n.created_at.desc(), n.id.desc())
        .limit(limit)
    )
    found = []
    for row in conn.execute(query).mappings():
        number = str(row["number"] or "")
        params = {k: v for k, v in dict(row["params"] or {}).items() if k != "number"}
        found.append(
            {
                "id": row["id"],
                "number": number,
                "ticket_id": row["ticket_id"],
                "message": render(f"notice_{row['kind']}", lang, number=number, **params),
                "created_at": row["created_at"],
                "read": row["read_at"] is not None,
            }
        )
    return found
