"""What the queue screens read: the queue's filters, the tickets in the caller's scope that match
them (the staff API's scope condition, never more) and SLA countdowns. Saved views and
notifications are in :mod:`hq_server.console.queue_inbox`."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.datastructures import QueryParams

from hq_server import changelog, reference, ticket_store
from hq_server.principals import Principal
from hq_server.schema import changes, stores, tickets
from sync_protocol.tickets import OPEN_STATUSES, PRIORITIES, STATUSES, TicketState

PAGE_SIZE = 50
SORTS = ("due", "created", "-created")
#: The board's columns, in order (a closed ticket leaves the board).
BOARD_STATUSES: tuple[str, ...] = ("new", "assigned", "in_progress", "waiting_customer", "waiting_store", "resolved")
BOARD_LIMIT = 50
_MINUTE_MS = 60_000


@dataclass(frozen=True)
class QueueFilter:
    """The queue's filters, as read from (and written back to) the page's query string."""

    status: str = ""
    department: str = ""
    store: str = ""
    type: str = ""
    priority: str = ""
    mine: bool = False
    overdue: bool = False
    q: str = ""
    sort: str = "-created"
    page: int = 1

    @classmethod
    def parse(cls, params: QueryParams | dict[str, str], principal: Principal) -> QueueFilter:
        """The filters of ``params``; values that cannot apply are dropped (an unknown status, a
        department that is not the caller's for an agent or lead)."""

        def get(name: str) -> str:
            return str(params.get(name) or "").strip()[:200]

        department = get("department")
        if principal.is_departmental and department not in principal.departments:
            department = ""
        status = get("status")
        priority = get("priority")
        sort = get("sort")
        try:
            page = max(1, min(int(get("page") or "1"), 10_000))
        except ValueError:
            page = 1
        return cls(
            status=status if status in STATUSES else "",
            department=department,
            store=get("store"),
            type=get("type"),
            priority=priority if priority in PRIORITIES else "",
            mine=get("mine") in ("1", "on", "true"),
            overdue=get("overdue") in ("1", "on", "true"),
            q=get("q"),
            sort=sort if sort in SORTS else "-created",
            page=page,
        )

    def params(self, *, page: bool = False) -> dict[str, str]:
        """The non-default filters as query parameters (the page number only when asked)."""
        default = QueueFilter()
        found: dict[str, str] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "page" and not page:
                continue
            if value != getattr(default, item.name):
                found[item.name] = "1" if value is True else str(value)
        return found

    def query(self, **changes: Any) -> str:
        """The query string of these filters with ``changes`` applied (for links)."""
        return urlencode(replace(self, **changes).params(page=True))


def _next_due() -> sa.ColumnElement[Any]:
    """The due time a ticket works to next: the first response until it came, else the resolution."""
    t = tickets.c
    return sa.case(
        (sa.and_(t.first_responded_at.is_(None), t.first_response_due.is_not(None)), t.first_response_due),
        else_=t.resolution_due,
    )


def _overdue(now_ms: int) -> sa.ColumnElement[bool]:
    t = tickets.c
    return sa.and_(
        t.status.in_(sorted(OPEN_STATUSES)),
        sa.or_(
            sa.and_(t.first_responded_at.is_(None), t.first_response_due < now_ms),
            sa.and_(t.sla_paused.is_(False), t.resolution_due < now_ms),
        ),
    )


def conditions(flt: QueueFilter, principal: Principal, now_ms: int) -> list[sa.ColumnElement[bool]]:
    """The SQL conditions of ``flt`` within ``principal``'s scope."""
    t = tickets.c
    found: list[sa.ColumnElement[bool]] = []
    scope = principal.ticket_condition()
    if scope is not None:
        found.append(scope)
    if flt.status:
        found.append(t.status == flt.status)
    if flt.department:
        from hq_server.collaboration import shared_with

        found.append(sa.or_(t.department == flt.department, shared_with(flt.department)))
    if flt.store:
        ids = sa.select(stores.c.id).where(sa.or_(stores.c.code == flt.store, stores.c.id == flt.store))
        found.append(t.store_id.in_(ids.scalar_subquery()))
    if flt.type:
        found.append(t.type == flt.type)
    if flt.priority:
        found.append(t.priority == flt.priority)
    if flt.mine:
        found.append(t.assignee.in_(sorted({principal.username, principal.user_id} - {""})))
    if flt.overdue:
        found.append(_overdue(now_ms))
    if flt.q:
        found.append(sa.or_(t.title.icontains(flt.q, autoescape=True), t.number.icontains(flt.q, autoescape=True)))
    return found


@dataclass
class Row:
    """A ticket as a queue row or board card."""

    ticket: TicketState
    store_code: str
    store_name: str
    sla: Countdown


def _rows(conn: Connection, query: sa.Select[Any], now_ms: int) -> list[Row]:
    found = [ticket_store.state_of(row) for row in conn.execute(query).mappings()]
    ids = sorted({t.store_id for t in found if t.store_id})
    names: dict[str, tuple[str, str]] = {}
    if ids:
        query_stores = sa.select(stores.c.id, stores.c.code, stores.c.name).where(stores.c.id.in_(ids))
        names = {str(i): (str(code), str(name)) for i, code, name in conn.execute(query_stores)}
    return [Row(t, *names.get(t.store_id, ("", "")), countdown(t, now_ms)) for t in found]


def _select(where: list[sa.ColumnElement[bool]]) -> sa.Select[Any]:
    return sa.select(*[tickets.c[name] for name in ticket_store.STATE_COLUMNS]).where(*where)


def queue_page(conn: Connection, flt: QueueFilter, principal: Principal, now_ms: int) -> tuple[list[Row], int]:
    """A page of the queue and how many tickets match in all."""
    where = conditions(flt, principal, now_ms)
    total = int(conn.execute(sa.select(sa.func.count()).select_from(tickets).where(*where)).scalar_one())
    t = tickets.c
    if flt.sort == "due":
        due = _next_due()
        order: list[Any] = [sa.case((due.is_(None), 1), else_=0), due, t.created_at.desc()]
    elif flt.sort == "created":
        order = [t.created_at]
    else:
        order = [t.created_at.desc()]
    query = _select(where).order_by(*order, t.id).limit(PAGE_SIZE).offset((flt.page - 1) * PAGE_SIZE)
    return _rows(conn, query, now_ms), total


def board(conn: Connection, flt: QueueFilter, principal: Principal, now_ms: int) -> dict[str, tuple[list[Row], int]]:
    """The board's columns: per status, the first cards (most urgent first) and the count."""
    columns: dict[str, tuple[list[Row], int]] = {}
    due = _next_due()
    for status in BOARD_STATUSES:
        if flt.status and flt.status != status:
            columns[status] = ([], 0)
            continue
        where = [*conditions(replace(flt, status=status), principal, now_ms)]
        total = int(conn.execute(sa.select(sa.func.count()).select_from(tickets).where(*where)).scalar_one())
        query = _select(where).order_by(sa.case((due.is_(None), 1), else_=0), due, tickets.c.created_at.desc())
        columns[status] = (_rows(conn, query.limit(BOARD_LIMIT), now_ms), total)
    return columns


def changed_since(conn: Connection, principal: Principal, since: int, now_ms: int) -> tuple[int, list[Row]]:
    """The change log's head and the tickets in scope changed after position ``since``."""
    head = changelog.head_pos(conn)
    if since >= head:
        return head, []
    c = changes.c
    ids = sa.select(c.entity_id).where(c.entity == "ticket", c.pos > since, c.pos <= head).distinct()
    where: list[sa.ColumnElement[bool]] = [tickets.c.id.in_(ids.scalar_subquery())]
    scope = principal.ticket_condition()
    if scope is not None:
        where.append(scope)
    return head, _rows(conn, _select(where).order_by(tickets.c.updated_at.desc()).limit(200), now_ms)


# -- SLA countdowns -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Countdown:
    """The time to a ticket's next due: ``due`` (ms), which one (``first_response``/``resolution``),
    and ``left_ms`` (negative: overdue). No due: an open ticket without target, or a closed one."""

    due: int | None = None
    kind: str = ""
    left_ms: int = 0
    paused: bool = False

    @property
    def overdue(self) -> bool:
        return self.due is not None and self.left_ms < 0

    @property
    def css(self) -> str:
        if self.due is None:
            return ""
        if self.left_ms < 0:
            return "overdue"
        return "soon" if self.left_ms < 60 * _MINUTE_MS else "ok"


def countdown(ticket: TicketState, now_ms: int) -> Countdown:
    if ticket.status not in OPEN_STATUSES:
        return Countdown()
    if ticket.first_responded_at is None and ticket.first_response_due is not None:
        return Countdown(ticket.first_response_due, "first_response", ticket.first_response_due - now_ms)
    if ticket.resolution_due is not None:
        if ticket.sla_paused:
            return Countdown(None, "resolution", 0, paused=True)
        return Countdown(ticket.resolution_due, "resolution", ticket.resolution_due - now_ms)
    return Countdown(paused=ticket.sla_paused)


def span(ms: int, lang: str) -> str:
    """A duration in its two largest units: ``2h 5m`` / ``2小时5分``; under a minute ``0m``."""
    minutes = abs(ms) // _MINUTE_MS
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    en = lang == "en"
    units = [(days, "d" if en else "天"), (hours, "h" if en else "小时"), (mins, "m" if en else "分")]
    parts = [f"{value}{unit}" for value, unit in units if value][:2] or [f"0{'m' if en else '分'}"]
    return (" " if en else "").join(parts)


def head_pos(conn: Connection) -> int:
    """The change log's position now (where the pages' live updates start from)."""
    return changelog.head_pos(conn)


def reference_lists(conn: Connection, principal: Principal) -> dict[str, list[dict[str, Any]]]:
    """The filters' choices: departments (an agent's or lead's own), stores in scope, types."""
    departments = [d for d in reference.list_departments(conn) if d["active"]]
    if principal.is_departmental:
        departments = [d for d in departments if d["code"] in principal.departments]
    store_rows = reference.list_stores(conn)
    if not principal.sees_every_store:
        store_rows = [s for s in store_rows if principal.may_see_store(store_region=s["region_id"])]
    return {
        "departments": departments,
        "all_departments": [d for d in reference.list_departments(conn) if d["active"]],
        "stores": store_rows,
        "types": reference.list_ticket_types(conn),
    }
