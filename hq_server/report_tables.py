"""Reports as tables for people: columns with labels in the caller's language and rows of raw
figures next to the names of what they count. The JSON of ``GET /api/v1/reports/{name}`` and its
CSV export are made from the same :class:`Table`, so both always carry the same figures.

Column keys name a code (``store_code``, ``department``, ``type``...) or its people-facing name
(``store_name``, ``department_name``...), or a figure. Times are minutes (ticket reports) or hours
(transfers), rounded half up to one and two decimals; rows also carry the exact milliseconds
(``*_ms`` keys, JSON only). Money is yuan with two decimals (``refund``; ``refund_cents`` too).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import reports
from hq_server.report_labels import TITLES, Column, Names, Table, pick, span_cells
from hq_server.schema import products
from sync_protocol.orders import yuan

Builder = Callable[[Connection, reports.ReportScope, Names, int], list[Table]]


def _table(report: str, name: str, names: Names, columns: list[Column], rows: list[dict[str, Any]]) -> Table:
    return Table(name, pick(TITLES[report][name], names.lang), columns, rows)


def volume(conn: Connection, scope: reports.ReportScope, names: Names, now_ms: int) -> list[Table]:
    found = reports.ticket_volume(conn, scope)
    type_columns = [Column(f"type:{code}", names.type(code)) for code in found.types]

    def mix(row: reports.VolumeRow) -> dict[str, Any]:
        return {f"type:{code}": row.by_type.get(code, 0) for code in found.types}

    def region(row: reports.VolumeRow) -> dict[str, Any]:
        return {"region_id": row.region_id, "region_code": row.region_code, "region_name": names.region(row.region_id)}

    store_rows = [
        {
            **region(r),
            "store_id": r.store_id,
            "store_code": r.store_code,
            "store_name": names.store(r.store_id),
            "tickets": r.tickets,
            **mix(r),
        }
        for r in found.stores
    ]
    region_rows = [{**region(r), "tickets": r.tickets, **mix(r)} for r in found.regions]
    store_columns = names.columns("region_code", "region_name", "store_code", "store_name", "tickets")
    region_columns = names.columns("region_code", "region_name", "tickets")
    return [
        _table("volume", "stores", names, store_columns + type_columns, store_rows),
        _table("volume", "regions", names, region_columns + type_columns, region_rows),
    ]


def problems(conn: Connection, scope: reports.ReportScope, names: Names, now_ms: int) -> list[Table]:
    found = reports.top_problems(conn, scope)
    p = products.c
    codes = sorted({r.product_code for r in found})
    product_names = {
        str(code): (str(zh), str(en))
        for code, zh, en in conn.execute(sa.select(p.code, p.name_zh, p.name_en).where(p.code.in_(codes)))
    }
    rows = [
        {
            "rank": rank,
            "type": r.type,
            "type_name": names.type(r.type),
            "product_code": r.product_code,
            "product_name": pick(product_names[r.product_code], names.lang) if r.product_code in product_names else "",
            "tickets": r.tickets,
        }
        for rank, r in enumerate(found, start=1)
    ]
    columns = names.columns("rank", "type", "type_name", "product_code", "product_name", "tickets")
    return [_table("problems", "problems", names, columns, rows)]


def response_times(conn: Connection, scope: reports.ReportScope, names: Names, now_ms: int) -> list[Table]:
    rows = [
        {
            "department": r.department,
            "department_name": names.department(r.department),
            "tickets": r.tickets,
            **span_cells("first_response", r.first_response, "min"),
            **span_cells("resolution", r.resolution, "min"),
        }
        for r in reports.response_times(conn, scope)
    ]
    columns = [
        *names.columns("department", "department_name", "tickets"),
        *names.span_columns("first_response", "min"),
        *names.span_columns("resolution", "min"),
    ]
    return [_table("response-times", "departments", names, columns, rows)]


def sla_breaches(conn: Connection, scope: reports.ReportScope, names: Names, now_ms: int) -> list[Table]:
    rows = [
        {
            "department": r.department,
            "department_name": names.department(r.department),
            "store_id": r.store_id,
            "store_code": r.store_code,
            "store_name": names.store(r.store_id),
            "tickets": r.tickets,
            "first_response_breaches": r.first_response_breaches,
            "resolution_breaches": r.resolution_breaches,
            "breached": r.breached,
        }
        for r in reports.sla_breaches(conn, scope, now_ms)
    ]
    keys = ("department", "department_name", "store_code", "store_name", "tickets")
    columns = names.columns(*keys, "first_response_breaches", "resolution_breaches", "breached")
    return [_table("sla-breaches", "breaches", names, columns, rows)]


def _satisfaction_cells(r: reports.SatisfactionRow) -> dict[str, Any]:
    return {
        "sent": r.sent,
        "answered": r.answered,
        "mean_score": r.mean,
        "satisfied": r.satisfied,
        "satisfied_share": r.satisfied_share,
    }


def satisfaction(conn: Connection, scope: reports.ReportScope, names: Names, now_ms: int) -> list[Table]:
    found = reports.satisfaction(conn, scope)
    figures = ("sent", "answered", "mean_score", "satisfied", "satisfied_share")
    by_department = [
        {"department": r.key, "department_name": names.department(r.key), **_satisfaction_cells(r)}
        for r in found.departments
    ]
    by_agent = [{"agent": r.key, "agent_name": names.agent(r.key), **_satisfaction_cells(r)} for r in found.agents]
    return [
        _table(
            "satisfaction",
            "departments",
            names,
            names.columns("department", "department_name", *figures),
            by_department,
        ),
        _table("satisfaction", "agents", names, names.columns("agent", "agent_name", *figures), by_agent),
    ]


def return_reasons(conn: Connection, scope: reports.ReportScope, names: Names, now_ms: int) -> list[Table]:
    found = reports.return_reasons(conn, scope)
    reasons = [
        {
            "reason": r.reason,
            "reason_name": names.reason(r.reason),
            "returns": r.returns,
            "units": r.units,
            "refund": yuan(r.refund_cents),
            "refund_cents": r.refund_cents,
        }
        for r in found
    ]
    categories = [
        {
            "reason": c.reason,
            "reason_name": names.reason(c.reason),
            "category": c.category,
            "units": c.units,
            "amount": yuan(c.amount_cents),
            "amount_cents": c.amount_cents,
        }
        for r in found
        for c in r.categories
    ]
    return [
        _table(
            "return-reasons",
            "reasons",
            names,
            names.columns("reason", "reason_name", "returns", "units", "refund"),
            reasons,
        ),
        _table(
            "return-reasons",
            "categories",
            names,
            names.columns("reason", "reason_name", "category", "units", "amount"),
            categories,
        ),
    ]


def transfer_lead_times(conn: Connection, scope: reports.ReportScope, names: Names, now_ms: int) -> list[Table]:
    found = reports.transfer_lead_times(conn, scope)

    def steps(row: reports.LeadTimeRow) -> dict[str, Any]:
        cells: dict[str, Any] = {"transfers": row.transfers}
        for step, _, _ in reports.STEPS:
            cells |= span_cells(step, row.steps[step], "h")
        return cells

    step_columns = [column for step, _, _ in reports.STEPS for column in names.span_columns(step, "h")]
    routes = [
        {
            "from_store_id": r.from_store_id,
            "from_store_code": r.from_store_code,
            "from_store_name": names.store(r.from_store_id),
            "to_store_id": r.to_store_id,
            "to_store_code": r.to_store_code,
            "to_store_name": names.store(r.to_store_id),
            **steps(r),
        }
        for r in found.routes
    ]
    route_columns = names.columns("from_store_code", "from_store_name", "to_store_code", "to_store_name", "transfers")
    return [
        _table(
            "transfer-lead-times", "overall", names, [names.column("transfers"), *step_columns], [steps(found.overall)]
        ),
        _table("transfer-lead-times", "routes", names, route_columns + step_columns, routes),
    ]


BUILDERS: dict[str, Builder] = {
    "volume": volume,
    "problems": problems,
    "response-times": response_times,
    "sla-breaches": sla_breaches,
    "satisfaction": satisfaction,
    "return-reasons": return_reasons,
    "transfer-lead-times": transfer_lead_times,
}


def build(conn: Connection, report: str, scope: reports.ReportScope, *, lang: str, now_ms: int) -> list[Table]:
    """The tables of ``report`` (one of :data:`REPORT_NAMES`) for ``scope`` in ``lang``."""
    return BUILDERS[report](conn, scope, Names(conn, lang), now_ms)
