"""HTTP handlers of HQ's reports (staff; JSON or CSV).

    GET /api/v1/reports                       the reports and their tables
    GET /api/v1/reports/{name}?from=&to=&region=&format=&table=
        name: volume, problems, response-times, sla-breaches, satisfaction, return-reasons,
        transfer-lead-times

``from``/``to``: ISO 8601 (a time without offset is UTC; a date is its midnight UTC) or ms since
the epoch (more than 8 digits); the range is half open, ``[from, to)``; by default the 30 days up
to now. ``region``: a region code or id. ``format=csv``: one table (``table``, the report's
first by default) as CSV, UTF-8 with a BOM for Excel. Who sees what is :func:`scope_for`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hq_server import csv_export, report_tables
from hq_server.auth import staff_principal
from hq_server.errors import Forbidden, InvalidInput, NotFound
from hq_server.openapi import operation, query
from hq_server.principals import Principal
from hq_server.report_labels import REPORT_NAMES, REPORT_TITLES, TITLES, Table, pick
from hq_server.report_scope import ReportScope
from hq_server.responses import json_response, request_lang
from hq_server.schema import regions, stores
from hq_server.staff_views import iso
from hq_server.validation import iso_ms

DEFAULT_DAYS = 30
DAY_MS = 24 * 3600 * 1000
FORMATS = ("json", "csv")
#: Roles whose reports are narrowed to their departments (agents see no reports at all).
DEPARTMENT_SCOPED_ROLES = frozenset({"group_lead", "agent"})


@dataclass(frozen=True)
class ReportParams:
    """What the caller asked for: the range ``[start_ms, end_ms)`` and a region (None: any)."""

    start_ms: int
    end_ms: int
    region_id: str | None = None


def scope_for(principal: Principal, params: ReportParams, conn: Connection) -> ReportScope:
    """The scope of a report ``principal`` asked for with ``params``.

    A regional manager sees the stores of their regions only (``store_ids``; asking for another
    region is 403); a group lead the tickets of their departments only (``departments``); an
    administrator, the integration token and a CS supervisor everything. A role without reports
    (agents, store staff) is 403. ``conn`` reads the stores of the manager's regions.
    """
    if not principal.sees_reports:
        raise Forbidden("reports_not_allowed")
    store_ids: frozenset[str] | None = None
    if not principal.sees_every_store:
        if params.region_id is not None and params.region_id not in principal.regions:
            raise Forbidden("report_out_of_scope", field="region")
        in_regions = sa.select(stores.c.id).where(stores.c.region_id.in_(sorted(principal.regions)))
        store_ids = frozenset(str(i) for i in conn.execute(in_regions).scalars())
    departments = principal.departments if principal.role in DEPARTMENT_SCOPED_ROLES else None
    return ReportScope(params.start_ms, params.end_ms, store_ids, departments, params.region_id)


def parse_moment(field: str, raw: str) -> int:
    """A ``from``/``to`` value as ms: more than 8 digits are ms since the epoch, anything else
    ISO 8601 (without offset: UTC); 422 naming ``field`` otherwise."""
    text = raw.strip()
    if text.isascii() and text.isdigit() and len(text) > 8:
        return int(text)
    parsed = iso_ms(text, naive_as_utc=True) if text else None
    if parsed is None:
        raise InvalidInput("invalid_time", field=field)
    return parsed


def parse_range(params: QueryParams, now_ms: int) -> tuple[int, int]:
    """``[from, to)`` of the query: ``to`` defaults to now, ``from`` to 30 days before ``to``."""
    end = parse_moment("to", params["to"]) if params.get("to", "").strip() else now_ms
    start = parse_moment("from", params["from"]) if params.get("from", "").strip() else end - DEFAULT_DAYS * DAY_MS
    if start >= end:
        raise InvalidInput("invalid_range", field="to")
    return start, end


def find_region(conn: Connection, key: str) -> dict[str, Any]:
    """A region by code or id; 422 naming ``region`` when there is none."""
    r = regions.c
    row = conn.execute(sa.select(r.id, r.code, r.name).where(sa.or_(r.code == key, r.id == key))).mappings().first()
    if row is None:
        raise InvalidInput("unknown_region", field="region", value=key)
    return {"id": str(row["id"]), "code": str(row["code"]), "name": str(row["name"])}


def _lang(request: Request) -> str:
    """``?lang=`` (the console's CSV links carry the page's language), else ``Accept-Language``."""
    asked = request.query_params.get("lang", "")
    return asked if asked in ("zh", "en") else request_lang(request)


async def list_reports(request: Request) -> Response:
    """The reports and their tables.

    `{"reports": [{"name", "title", "tables": [{"name", "title"}]}]}`, titles in the caller's language.
    """
    _, principal = await staff_principal(request)
    if not principal.sees_reports:
        raise Forbidden("reports_not_allowed")
    lang = _lang(request)
    items = [
        {
            "name": name,
            "title": pick(REPORT_TITLES[name], lang),
            "tables": [{"name": table, "title": pick(title, lang)} for table, title in TITLES[name].items()],
        }
        for name in REPORT_NAMES
    ]
    return json_response({"reports": items})


@operation(
    parameters=[
        {
            "name": "name",
            "in": "path",
            "required": True,
            "description": ", ".join(REPORT_NAMES),
            "schema": {"type": "string", "enum": list(REPORT_NAMES)},
        },
        query("from", "start, included (ISO 8601 or ms); default: 30 days before `to`"),
        query("to", "end, excluded (ISO 8601 or ms); default: now"),
        query("region", "region code or id"),
        query("format", "json (default) or csv"),
        query("table", "with format=csv: the table to export (default: the report's first)"),
    ]
)
async def get_report(request: Request) -> Response:
    """One report over a date range, as JSON tables or one table as CSV.

    JSON: `{"report", "title", "from", "to", "as_of", "region", "tables": {name: {"title",
    "columns": [{"key", "label"}], "rows": [...]}}}`: rows carry the figures as numbers and the
    codes with their names in the caller's language. CSV (`format=csv`): the header row is the
    columns' labels, then one line per row, the same figures.
    """
    hq, principal = await staff_principal(request)
    name = request.path_params["name"]
    if name not in REPORT_NAMES:
        raise NotFound("unknown_report", value=name)
    params = request.query_params
    output = params.get("format", "").strip() or "json"
    if output not in FORMATS:
        raise InvalidInput("invalid_choice", field="format", value=output)
    table_name = params.get("table", "").strip() or next(iter(TITLES[name]))
    if table_name not in TITLES[name]:
        raise InvalidInput("invalid_choice", field="table", value=table_name)
    lang = _lang(request)
    now = hq.clock.wall()
    start, end = parse_range(params, now)
    region_key = params.get("region", "").strip()

    def run() -> tuple[dict[str, Any] | None, list[Table]]:
        with hq.db.read() as conn:
            region = find_region(conn, region_key) if region_key else None
            wanted = ReportParams(start, end, region["id"] if region else None)
            scope = scope_for(principal, wanted, conn)
            return region, report_tables.build(conn, name, scope, lang=lang, now_ms=now)

    region, tables = await run_in_threadpool(run)
    if output == "csv":
        table = next(t for t in tables if t.name == table_name)
        filename = f"{name}-{table.name}-{_day(start)}-{_day(end)}.csv"
        return Response(
            csv_export.to_csv_bytes(table.header(), table.cells()),
            media_type=csv_export.CONTENT_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return json_response(
        {
            "report": name,
            "title": pick(REPORT_TITLES[name], lang),
            "from": iso(start),
            "to": iso(end),
            "from_ms": start,
            "to_ms": end,
            "as_of": iso(now),
            "region": region,
            "tables": {t.name: t.json() for t in tables},
        }
    )


def _day(ms: int) -> str:
    return (iso(ms) or "")[:10]


routes = [
    Route("/api/v1/reports", list_reports, methods=["GET"]),
    Route("/api/v1/reports/{name}", get_report, methods=["GET"]),
]
