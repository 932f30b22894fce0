"""Transfer lead times: how long the steps of a transfer (调货) took, overall and per route
(source store -> requesting store). Plain rows, like :mod:`hq_server.report_tickets`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server.report_scope import Durations, ReportScope, department_allows, durations, store_conditions
from hq_server.schema import stores, transfers

#: The ticket type whose department works transfers: a scope limited to departments sees lead
#: times only when it includes that department.
TRANSFERS_TICKET_TYPE = "stock"
#: The steps measured: (name, from column, to column).
STEPS: tuple[tuple[str, str, str], ...] = (
    ("request_to_approve", "requested_at", "approved_at"),
    ("approve_to_ship", "approved_at", "shipped_at"),
    ("ship_to_receive", "shipped_at", "received_at"),
    ("request_to_receive", "requested_at", "received_at"),
)


@dataclass(frozen=True)
class LeadTimeRow:
    """Transfers requested in scope on one route (the overall row: both stores None): how many, and
    per step of :data:`STEPS` the count of transfers that took both ends of it with the median and
    p90 (nearest-rank) of the time between them."""

    from_store_id: str | None
    from_store_code: str | None
    to_store_id: str | None
    to_store_code: str | None
    transfers: int
    steps: dict[str, Durations]


@dataclass(frozen=True)
class LeadTimes:
    overall: LeadTimeRow
    routes: list[LeadTimeRow]


def transfer_lead_times(conn: Connection, scope: ReportScope) -> LeadTimes:
    """Lead times of transfers requested (``requested_at``) in scope, in scope when their source or
    their requester is; routes sorted by source then requester code. A rejected or cancelled
    transfer counts in ``transfers`` and in the steps it took. Nothing (the overall row with 0)
    for a scope of departments without the one that works transfers."""
    x = transfers.c
    source, requester = stores.alias("source"), stores.alias("requester")
    query = (
        sa.select(
            x.from_store_id,
            source.c.code,
            x.to_store_id,
            requester.c.code,
            *(x[column] for column in ("requested_at", "approved_at", "shipped_at", "received_at")),
        )
        .select_from(
            transfers.join(source, source.c.id == x.from_store_id).join(requester, requester.c.id == x.to_store_id)
        )
        .where(x.requested_at >= scope.start_ms, x.requested_at < scope.end_ms)
        .where(*store_conditions(scope, x.from_store_id, x.to_store_id))
    )
    found = conn.execute(query).all() if department_allows(conn, scope, TRANSFERS_TICKET_TYPE) else []
    routes: dict[tuple[str, str], list[dict[str, int | None]]] = {}
    codes: dict[str, str] = {}
    everything: list[dict[str, int | None]] = []
    for from_id, from_code, to_id, to_code, *times in found:
        codes[from_id], codes[to_id] = from_code, to_code
        named = dict(zip(("requested_at", "approved_at", "shipped_at", "received_at"), times, strict=True))
        routes.setdefault((from_id, to_id), []).append(named)
        everything.append(named)
    rows = [_row(from_id, codes[from_id], to_id, codes[to_id], items) for (from_id, to_id), items in routes.items()]
    rows.sort(key=lambda r: (r.from_store_code or "", r.to_store_code or ""))
    return LeadTimes(_row(None, None, None, None, everything), rows)


def _row(
    from_id: str | None,
    from_code: str | None,
    to_id: str | None,
    to_code: str | None,
    items: list[dict[str, int | None]],
) -> LeadTimeRow:
    steps = {}
    for name, start, end in STEPS:
        steps[name] = durations(
            int(end_at) - int(start_at)
            for item in items
            if (start_at := item[start]) is not None and (end_at := item[end]) is not None
        )
    return LeadTimeRow(from_id, from_code, to_id, to_code, len(items), steps)
