"""What a report covers (:class:`ReportScope`) and the arithmetic every report shares.

A scope is a half-open time range ``[start_ms, end_ms)`` on the report's own time (a ticket's
``created_at``, a return's ``at``, a transfer's ``requested_at``), narrowed to some stores, some
departments and one region. The HTTP layer builds it from the caller's role and the query
(:func:`hq_server.reports_api.scope_for`); the query functions only apply it.

Percentiles are nearest-rank, computed in Python on the exact values so SQLite and PostgreSQL
answer the same (neither engine's percentile functions are used).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server.schema import stores, ticket_types, tickets

MINUTE_MS = 60_000
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class ReportScope:
    """What a report covers.

    ``start_ms``/``end_ms``: the half-open range ``[start_ms, end_ms)`` (ms since the epoch, UTC).
    ``store_ids``: only these stores (None: every store, and tickets without a store too).
    ``departments``: only these departments (None: every department). Figures that belong to no
    department (return reasons, transfer lead times) are shown to a scope with departments only
    when they include the department that works them (see :func:`department_allows`).
    ``region_id``: only the stores of this region (None: no region filter).
    """

    start_ms: int
    end_ms: int
    store_ids: frozenset[str] | None = None
    departments: frozenset[str] | None = None
    region_id: str | None = None


@dataclass(frozen=True)
class Durations:
    """How long something took over ``count`` items: nearest-rank median and p90 (ms); None when
    ``count`` is 0."""

    count: int
    median_ms: int | None
    p90_ms: int | None


def nearest_rank(sorted_values: list[int], percent: int) -> int | None:
    """The ``percent``-th percentile of ascending ``sorted_values`` by the nearest-rank method: the
    value at 1-based rank ``ceil(percent / 100 * n)`` (at least 1). With n = 5: the median (50) is
    the 3rd value, p90 the 5th; with n = 4: the median is the 2nd (the lower middle), p90 the
    4th; with n = 10: p90 is the 9th. None for no values. Integer arithmetic, no float rounding."""
    n = len(sorted_values)
    if n == 0:
        return None
    rank = max(1, -(-percent * n // 100))  # ceil(percent * n / 100)
    return sorted_values[rank - 1]


def durations(values_ms: Iterable[int]) -> Durations:
    """Count, median (nearest-rank p50) and p90 (nearest-rank) of ``values_ms``; a negative
    duration (a store clock behind HQ's) counts as 0."""
    ordered = sorted(max(0, v) for v in values_ms)
    return Durations(len(ordered), nearest_rank(ordered, 50), nearest_rank(ordered, 90))


def in_units(ms: int | None, unit_ms: int, places: int = 1) -> float | None:
    """``ms`` in minutes or hours (``unit_ms``), rounded half up to ``places`` decimals."""
    if ms is None:
        return None
    return half_up(Decimal(ms) / Decimal(unit_ms), places)


def half_up(value: Decimal, places: int) -> float:
    """``value`` rounded half up (not to even) to ``places`` decimals: 11/3 -> 3.67, 3.665 -> 3.67."""
    return float(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def ratio(part: int, whole: int, places: int = 4) -> float | None:
    """``part / whole`` rounded half up (None when ``whole`` is 0)."""
    if whole == 0:
        return None
    return half_up(Decimal(part) / Decimal(whole), places)


def mean(total: int, count: int, places: int = 2) -> float | None:
    """``total / count`` rounded half up (None when ``count`` is 0)."""
    return ratio(total, count, places)


def region_store_ids(region_id: str) -> sa.Select[tuple[str]]:
    """The ids of the stores of a region, as a subquery."""
    return sa.select(stores.c.id).where(stores.c.region_id == region_id)


def store_conditions(scope: ReportScope, *columns: sa.ColumnElement[str | None]) -> list[sa.ColumnElement[bool]]:
    """The store part of ``scope`` on a record with these store columns (a transfer has two: it is
    in scope when either end is)."""
    conditions: list[sa.ColumnElement[bool]] = []
    if scope.store_ids is not None:
        wanted = sorted(scope.store_ids)
        conditions.append(sa.or_(*(column.in_(wanted) for column in columns)))
    if scope.region_id is not None:
        conditions.append(sa.or_(*(column.in_(region_store_ids(scope.region_id)) for column in columns)))
    return conditions


def ticket_conditions(
    scope: ReportScope, department: sa.ColumnElement[str] | None = None
) -> list[sa.ColumnElement[bool]]:
    """``scope`` on ``tickets``: created in the range, at a store in scope, of a department in scope
    (``department``: the column that names it, ``tickets.department`` unless given)."""
    t = tickets.c
    conditions: list[sa.ColumnElement[bool]] = [t.created_at >= scope.start_ms, t.created_at < scope.end_ms]
    conditions += store_conditions(scope, t.store_id)
    if scope.departments is not None:
        column = t.department if department is None else department
        conditions.append(column.in_(sorted(scope.departments)))
    return conditions


def department_allows(conn: Connection, scope: ReportScope, ticket_type: str) -> bool:
    """Whether a scope limited to departments sees figures of no department: when one of them is
    the department tickets of ``ticket_type`` go to by default (``refund`` for returns, ``stock``
    for transfers). A scope of every department always does."""
    if scope.departments is None:
        return True
    owner = conn.execute(
        sa.select(ticket_types.c.default_department).where(ticket_types.c.code == ticket_type)
    ).scalar_one_or_none()
    return owner is not None and owner in scope.departments
