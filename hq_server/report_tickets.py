"""Ticket reports: volume and type mix, recurring problems, response and resolution times, SLA
breaches. Each takes a connection and a :class:`~hq_server.report_scope.ReportScope` (tickets
*created* in its range) and returns plain rows; nothing here knows HTTP or languages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server.report_scope import Durations, ReportScope, durations, ticket_conditions
from hq_server.schema import regions, stores, ticket_history, tickets

#: How many (type, product) pairs the problems report lists.
TOP_PROBLEMS = 10
#: How many breached ticket numbers a breach row lists.
MAX_BREACHED_LISTED = 50


@dataclass(frozen=True)
class VolumeRow:
    """Tickets of one store (``store_id`` None: tickets without a store, such as online intake) or
    of one region (the region rows: ``store_id`` None; ``region_id`` None: stores without a
    region), with the count per ticket type."""

    store_id: str | None
    store_code: str | None
    region_id: str | None
    region_code: str | None
    tickets: int
    by_type: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Volume:
    stores: list[VolumeRow]
    regions: list[VolumeRow]
    #: Every ticket type counted, most tickets first (then by code): the type-mix columns.
    types: list[str]


def ticket_volume(conn: Connection, scope: ReportScope) -> Volume:
    """Tickets created in scope per store and per region, with the count per type. Stores and
    regions are sorted by code, the ones without a code (no store, no region) last."""
    t = tickets.c
    query = (
        sa.select(t.store_id, stores.c.code, stores.c.region_id, regions.c.code, t.type, sa.func.count())
        .select_from(
            tickets.outerjoin(stores, stores.c.id == t.store_id).outerjoin(regions, regions.c.id == stores.c.region_id)
        )
        .where(*ticket_conditions(scope))
        .group_by(t.store_id, stores.c.code, stores.c.region_id, regions.c.code, t.type)
    )
    per_store: dict[str | None, tuple[str | None, str | None, str | None, dict[str, int]]] = {}
    per_region: dict[str | None, tuple[str | None, dict[str, int]]] = {}
    per_type: dict[str, int] = {}
    for store_id, store_code, region_id, region_code, ticket_type, count in conn.execute(query):
        n = int(count)
        store = per_store.setdefault(store_id, (store_code, region_id, region_code, {}))
        store[3][ticket_type] = store[3].get(ticket_type, 0) + n
        region = per_region.setdefault(region_id, (region_code, {}))
        region[1][ticket_type] = region[1].get(ticket_type, 0) + n
        per_type[ticket_type] = per_type.get(ticket_type, 0) + n
    store_rows = [
        VolumeRow(store_id, code, region_id, region_code, sum(mix.values()), mix)
        for store_id, (code, region_id, region_code, mix) in per_store.items()
    ]
    region_rows = [
        VolumeRow(None, None, region_id, code, sum(mix.values()), mix) for region_id, (code, mix) in per_region.items()
    ]
    store_rows.sort(key=lambda r: (r.store_code is None, r.store_code or ""))
    region_rows.sort(key=lambda r: (r.region_code is None, r.region_code or ""))
    types = sorted(per_type, key=lambda code: (-per_type[code], code))
    return Volume(store_rows, region_rows, types)


@dataclass(frozen=True)
class ProblemRow:
    type: str
    product_code: str
    tickets: int


def top_problems(conn: Connection, scope: ReportScope, limit: int = TOP_PROBLEMS) -> list[ProblemRow]:
    """The recurring problems: (ticket type, product code) pairs with the most tickets created in
    scope, tickets without a product code left out; ties broken by type code, then product code
    (code point order, the same on both engines); at most ``limit``."""
    t = tickets.c
    conditions = [*ticket_conditions(scope), t.product_code != ""]
    count = sa.func.count()
    # The count of the limit-th pair: every pair with at least as many tickets may make the list
    # (ties are ordered here, not in SQL, whose string order depends on the collation).
    threshold = conn.execute(
        sa.select(count)
        .where(*conditions)
        .group_by(t.type, t.product_code)
        .order_by(count.desc())
        .limit(1)
        .offset(limit - 1)
    ).scalar()
    query = sa.select(t.type, t.product_code, count).where(*conditions).group_by(t.type, t.product_code)
    if threshold is not None:
        query = query.having(count >= threshold)
    rows = [ProblemRow(str(kind), str(product), int(n)) for kind, product, n in conn.execute(query)]
    rows.sort(key=lambda r: (-r.tickets, r.type, r.product_code))
    return rows[:limit]


@dataclass(frozen=True)
class ResponseTimeRow:
    """A department's tickets created in scope; ``first_response`` over those HQ has answered
    (``first_responded_at - created_at``), ``resolution`` over those resolved (the first history
    entry to ``resolved`` minus ``created_at``)."""

    department: str
    tickets: int
    first_response: Durations
    resolution: Durations


def _first_at(status: str | tuple[str, ...]) -> sa.Subquery:
    """Per ticket, the time of its first history entry to ``status`` (or to any of them)."""
    h = ticket_history.c
    wanted = (status,) if isinstance(status, str) else status
    return (
        sa.select(h.ticket_id, sa.func.min(h.at).label("at"))
        .where(h.to_status.in_(wanted))
        .group_by(h.ticket_id)
        .subquery()
    )


def response_times(conn: Connection, scope: ReportScope) -> list[ResponseTimeRow]:
    """First-response and resolution times per department (sorted by department code), each as
    count, median and p90 by the nearest-rank method (:func:`~hq_server.report_scope.nearest_rank`).
    A response or resolution before creation (a store clock behind) counts as 0."""
    t = tickets.c
    resolved = _first_at("resolved")
    query = (
        sa.select(t.department, t.created_at, t.first_responded_at, resolved.c.at)
        .select_from(tickets.outerjoin(resolved, resolved.c.ticket_id == t.id))
        .where(*ticket_conditions(scope))
    )
    counts: dict[str, int] = {}
    first: dict[str, list[int]] = {}
    resolution: dict[str, list[int]] = {}
    for department, created_at, responded_at, resolved_at in conn.execute(query):
        counts[department] = counts.get(department, 0) + 1
        if responded_at is not None:
            first.setdefault(department, []).append(int(responded_at) - int(created_at))
        if resolved_at is not None:
            resolution.setdefault(department, []).append(int(resolved_at) - int(created_at))
    return [
        ResponseTimeRow(d, counts[d], durations(first.get(d, [])), durations(resolution.get(d, [])))
        for d in sorted(counts)
    ]


@dataclass(frozen=True)
class BreachRow:
    """The SLA breaches of one department at one store (``store_id`` None: tickets without one):
    ``tickets`` created in scope, how many breached the first-response target and the resolution
    target, and the numbers of those that breached either (most overdue first, at most 50)."""

    department: str
    store_id: str | None
    store_code: str | None
    tickets: int
    first_response_breaches: int
    resolution_breaches: int
    breached: list[str]


def sla_breaches(conn: Connection, scope: ReportScope, now_ms: int) -> list[BreachRow]:
    """SLA breaches per department and store, as of ``now_ms`` (sorted by department code, then
    store code, tickets without a store last).

    First response: breached when ``first_response_due`` is set and the first response came after
    it, or has not come and ``now_ms`` is past it. Resolution: breached when ``resolution_due`` is
    set and the ticket stopped (its first history entry to ``resolved``, else to ``closed``, as
    the SLA clock stops at either) after it, or has not stopped and ``now_ms`` is past it. The due
    times are the ones HQ keeps on the ticket (:mod:`hq_server.sla`: the resolution due of a
    ticket resolved in time is cleared, of one resolved late it is the due it missed). A due
    exactly met is not a breach. ``breached`` lists a ticket once, ordered by how long after the
    due it was answered or stopped (or ``now_ms``, when still waiting), its larger overrun of the
    two, longest first, then by number.
    """
    t = tickets.c
    stopped = _first_at(("resolved", "closed"))
    query = (
        sa.select(
            t.department,
            t.store_id,
            stores.c.code,
            t.number,
            t.first_responded_at,
            t.first_response_due,
            stopped.c.at,
            t.resolution_due,
        )
        .select_from(
            tickets.outerjoin(stopped, stopped.c.ticket_id == t.id).outerjoin(stores, stores.c.id == t.store_id)
        )
        .where(*ticket_conditions(scope))
    )
    groups: dict[tuple[str, str | None], tuple[str | None, list[int], list[tuple[int, str]]]] = {}
    for department, store_id, store_code, number, responded, response_due, stopped_at, resolution_due in conn.execute(
        query
    ):
        _code, tally, late = groups.setdefault((department, store_id), (store_code, [0, 0, 0], []))
        tally[0] += 1
        overruns = []
        first = _overrun(response_due, responded, now_ms)
        if first is not None:
            tally[1] += 1
            overruns.append(first)
        resolution = _overrun(resolution_due, stopped_at, now_ms)
        if resolution is not None:
            tally[2] += 1
            overruns.append(resolution)
        if overruns:
            late.append((max(overruns), str(number)))
    rows = []
    for (department, store_id), (store_code, tally, late) in groups.items():
        late.sort(key=lambda item: (-item[0], item[1]))
        numbers = [number for _, number in late[:MAX_BREACHED_LISTED]]
        rows.append(BreachRow(department, store_id, store_code, tally[0], tally[1], tally[2], numbers))
    rows.sort(key=lambda r: (r.department, r.store_code is None, r.store_code or ""))
    return rows


def _overrun(due: int | None, done: int | None, now_ms: int) -> int | None:
    """How long after ``due`` the target was met (``done``; None: not yet, counted to ``now_ms``),
    or None when it was not breached."""
    if due is None:
        return None
    end = done if done is not None else now_ms
    return end - due if end > due else None
