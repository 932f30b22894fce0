"""The console's reports screen: ``GET /console/dashboard?from=&to=&region=``.

Every report of ``GET /api/v1/reports/{name}`` as a section of one page: per table a chart (drawn
in the browser by ``/console/static/charts.js`` from a JSON island, see
:mod:`hq_server.console.dashboard_charts`), the table itself (the source of truth) and a link to
the API's CSV of the same table, range and region (the session cookie authenticates a GET without
a CSRF token). The figures come from the API's own functions: :func:`~hq_server.reports_api.
parse_range`, :func:`~hq_server.reports_api.find_region`, :func:`~hq_server.reports_api.scope_for`
and :func:`hq_server.report_tables.build`, so page, JSON and CSV always agree.

Who sees what is the API's: roles without reports get the 403 page; a regional manager sees the
stores of their regions, and the 403 page for another region (the API's ``report_out_of_scope``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hq_server import report_tables
from hq_server.console.dashboard_charts import chart
from hq_server.console.render import console_caller, forbidden, lang_of, page, when
from hq_server.console.texts import t
from hq_server.context import context_of
from hq_server.errors import Forbidden, InvalidInput
from hq_server.principals import Principal
from hq_server.report_labels import REPORT_NAMES, REPORT_TITLES, Table, pick
from hq_server.reports_api import ReportParams, find_region, parse_range, scope_for
from hq_server.schema import departments, regions
from sync_protocol.i18n import render

PATH = "/console/dashboard"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def shown(value: object) -> str:
    """A figure as the table shows it: the text the CSV export writes (without its guard against
    spreadsheet formulas), so a cell read on screen equals the exported one."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return " ".join(shown(item) for item in value)
    return str(value)


@dataclass
class Dashboard:
    """What the page shows."""

    region_choices: list[dict[str, str]]
    own_regions: list[str] = field(default_factory=list)
    own_departments: list[str] = field(default_factory=list)
    error: str = ""
    start: int = 0
    end: int = 0
    region: dict[str, Any] | None = None
    reports: list[dict[str, Any]] = field(default_factory=list)


def region_choices(conn: Connection, principal: Principal) -> list[dict[str, str]]:
    """The regions the filter offers: a regional manager's own, everyone else's all of them."""
    r = regions.c
    query = sa.select(r.id, r.code, r.name).order_by(r.code)
    if not principal.sees_every_store:
        query = query.where(r.id.in_(sorted(principal.regions)))
    return [{"id": str(i), "code": str(code), "name": str(name)} for i, code, name in conn.execute(query)]


def region_label(region: dict[str, Any]) -> str:
    return region["name"] if region["name"] == region["code"] else f"{region['name']} ({region['code']})"


def csv_href(report: str, table: str, start: int, end: int, region: dict[str, Any] | None, lang: str) -> str:
    """The API's CSV of one table over exactly the page's range (in ms) and region, in the page's
    language."""
    query = {"format": "csv", "table": table, "from": str(start), "to": str(end), "lang": lang}
    if region is not None:
        query["region"] = region["code"]
    return f"/api/v1/reports/{report}?{urlencode(query)}"


def section(report: str, tables: list[Table], view: Dashboard, lang: str) -> dict[str, Any]:
    text = functools.partial(t, lang=lang)
    return {
        "name": report,
        "title": pick(REPORT_TITLES[report], lang),
        "tables": [
            {
                "name": table.name,
                "title": table.title,
                "chart_id": f"chart-{report}-{table.name}",
                "chart": chart(report, table, lang, text),
                "columns": table.columns,
                "numeric": [
                    bool(table.rows) and all(isinstance(row.get(c.key), int | float | None) for row in table.rows)
                    for c in table.columns
                ],
                "rows": [[shown(value) for value in cells] for cells in table.cells()],
                "csv": csv_href(report, table.name, view.start, view.end, view.region, lang),
            }
            for table in tables
        ],
    }


def build_view(conn: Connection, principal: Principal, params: QueryParams, lang: str, now: int) -> Dashboard:
    """The page's figures; 403 (:class:`Forbidden`) as the API answers it."""
    view = Dashboard(region_choices(conn, principal))
    if not principal.sees_every_store:
        view.own_regions = [region_label(r) for r in view.region_choices]
    if principal.role == "group_lead":
        d = departments.c
        query = sa.select(d.code, d.name_en if lang == "en" else d.name_zh)
        names = {str(code): str(name) for code, name in conn.execute(query)}
        view.own_departments = [names.get(code, code) for code in sorted(principal.departments)]
    try:
        view.start, view.end = parse_range(params, now)
        key = params.get("region", "").strip()
        view.region = find_region(conn, key) if key else None
    except InvalidInput as exc:
        view.error = render(exc.code, lang, field=exc.field, **exc.params)
        return view
    scope = scope_for(principal, ReportParams(view.start, view.end, view.region["id"] if view.region else None), conn)
    for name in REPORT_NAMES:
        tables = report_tables.build(conn, name, scope, lang=lang, now_ms=now)
        view.reports.append(section(name, tables, view, lang))
    return view


async def dashboard(request: Request) -> Response:
    """The dashboard page (HTML): every report's tables, charts and CSV links for ``?from=&to=&region=``.

    Roles without reports and a regional manager asking for another region get the 403 page; a bad
    ``from``/``to``/``region`` the page with the filter and its error (422)."""
    caller = await console_caller(request)
    if isinstance(caller, Response):
        return caller
    principal = caller.principal
    if not principal.sees_reports:
        return forbidden(request, caller)
    hq = context_of(request)
    lang = lang_of(request)
    now = hq.clock.wall()

    def run() -> Dashboard:
        with hq.db.read() as conn:
            return build_view(conn, principal, request.query_params, lang, now)

    try:
        view = await run_in_threadpool(run)
    except Forbidden:
        return forbidden(request, caller)
    params = request.query_params
    return page(
        request,
        caller,
        "console_dashboard.html",
        status_code=422 if view.error else 200,
        view=view,
        range_start=when(view.start, lang),
        range_end=when(view.end, lang),
        form_from=_date_value(params.get("from", "")),
        form_to=_date_value(params.get("to", "")),
        region_key=view.region["code"] if view.region else "",
        region_shown=region_label(view.region) if view.region else "",
    )


def _date_value(raw: str) -> str:
    """A ``from``/``to`` of the query as a date input's value (only a plain date fits one)."""
    raw = raw.strip()
    return raw if _DATE.match(raw) else ""


routes: list[BaseRoute] = [Route(PATH, dashboard, methods=["GET"])]
