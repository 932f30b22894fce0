"""SLA policies (per ticket type × priority, ``*`` for any) in one editable table, and the
departments' business calendars, each with its own form. Policies go through
:func:`hq_server.sla.parse_policy` and calendars through :func:`hq_server.business_hours.parse_calendar`
as ``PUT /api/v1/sla-policies/...`` and ``PUT /api/v1/departments/{department}/calendar`` do; open
tickets are recalculated in the same transaction."""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hq_server import reference, service_levels
from hq_server.business_hours import WEEKDAYS, Calendar, InvalidCalendar, parse_calendar
from hq_server.console.admin_service_common import (
    admin_form,
    admin_page,
    field_error,
    lang,
    read,
    text_list,
    whole_number,
    write,
)
from hq_server.console.render import page
from hq_server.console.texts import t
from hq_server.context import HqContext
from hq_server.errors import InvalidInput, NotFound
from hq_server.sla import InvalidPolicy, SlaPolicy, parse_policy
from sync_protocol.i18n import status_label
from sync_protocol.tickets import OPEN_STATUSES, PRIORITIES, STATUSES

ANY = service_levels.ANY
_ROW = re.compile(r"p(\d+)_(ticket_type|priority|first_response_min|resolution_min|pausing)")
_INTERVAL = re.compile(r"\s*[-–~至]\s*")


def _row(ticket_type: str, priority: str, policy: SlaPolicy) -> dict[str, Any]:
    return {
        "ticket_type": ticket_type,
        "priority": priority,
        "first_response_min": "" if policy.first_response_min is None else str(policy.first_response_min),
        "resolution_min": "" if policy.resolution_min is None else str(policy.resolution_min),
        "pausing": sorted(policy.pausing_statuses),
    }


def weekly_text(calendar: Calendar, language: str) -> list[tuple[str, str]]:
    """(weekday, ``09:00–18:00, ...`` or closed) for each day of the week."""
    return [
        (
            t(f"as_day_{day}", language),
            ", ".join(f"{start}–{end}" for start, end in calendar.weekly.get(day, [])) or t("as_closed", language),
        )
        for day in WEEKDAYS
    ]


def _overview(conn: Any) -> dict[str, Any]:
    levels = service_levels.load(conn)
    departments = reference.list_departments(conn)
    return {
        "rows": [_row(tt, p, policy) for (tt, p), policy in sorted(levels.policies.items())],
        "types": reference.list_ticket_types(conn),
        "departments": departments,
        "calendars": [
            {"code": code, "own": code in levels.calendars, "calendar": levels.calendar_for(code)}
            for code in [ANY, *(d["code"] for d in departments)]
        ],
    }


def _page(request: Request, caller: Any, found: dict[str, Any], **context: Any) -> Response:
    language = lang(request)
    new = {"ticket_type": "", "priority": "", "first_response_min": "", "resolution_min": "", "pausing": []}
    return page(
        request,
        caller,
        "console_admin_service_sla.html",
        **{"new_row": {**new, "pausing": ["waiting_customer", "waiting_store"]}, **found},
        priorities=PRIORITIES,
        pausable=[s for s in STATUSES if s in OPEN_STATUSES],
        status_label=lambda code: status_label(code, language),
        weekly_text=lambda calendar: weekly_text(calendar, language),
        screen="sla",
        **context,
    )


async def sla_page(request: Request) -> Response:
    caller = await admin_page(request)
    if isinstance(caller, Response):
        return caller
    found = await read(request, _overview)
    return _page(request, caller, found, error=None, saved=request.query_params.get("saved") == "1")


def posted_rows(data: FormData) -> list[dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for key, value in data.multi_items():
        match = _ROW.fullmatch(key)
        if match and isinstance(value, str):
            row = found.setdefault(int(match[1]), {"pausing": []})
            if match[2] == "pausing":
                row["pausing"].append(value)
            else:
                row[match[2]] = value.strip()
    return [row for _, row in sorted(found.items())]


def _policy(index: int, row: dict[str, Any], types: frozenset[str]) -> SlaPolicy:
    """A row as a checked policy, with the checks of ``PUT /api/v1/sla-policies/{type}/{priority}``."""
    at = f"policies[{index}]"
    if row.get("ticket_type", ANY) != ANY and row.get("ticket_type") not in types:
        raise InvalidInput("unknown_ticket_type", field=f"{at}.ticket_type", value=row.get("ticket_type"))
    if row.get("priority", ANY) != ANY and row.get("priority") not in PRIORITIES:
        raise InvalidInput("invalid_choice", field=f"{at}.priority")
    body = {
        "first_response_min": whole_number(row.get("first_response_min", "")),
        "resolution_min": whole_number(row.get("resolution_min", "")),
        "pausing_statuses": row.get("pausing", []),
    }
    try:
        return parse_policy(body)
    except InvalidPolicy as exc:
        raise InvalidInput("invalid_policy", field=f"{at}.{exc.field}") from exc


async def save_policies(request: Request) -> Response:
    """Every row of the table (the new one when it names a type and a priority), all or nothing."""
    posted = await admin_form(request)
    if isinstance(posted, Response):
        return posted
    caller, data = posted
    rows = [row for row in posted_rows(data) if row.get("ticket_type") and row.get("priority")]

    def work(hq: HqContext, conn: Any) -> None:
        types = reference.ticket_type_codes(conn)
        policies = [(row["ticket_type"], row["priority"], _policy(i, row, types)) for i, row in enumerate(rows)]
        stored = service_levels.load(conn).policies
        now = hq.clock.wall()
        changed = [(tt, p, policy) for tt, p, policy in policies if stored.get((tt, p)) != policy]
        for ticket_type, priority, policy in changed:
            service_levels.put_policy(conn, ticket_type, priority, policy, now)
        if changed:
            service_levels.recalculate_open(conn, hq.clock, now)

    try:
        await write(request, work)
    except InvalidInput as exc:
        found = await read(request, _overview)
        error = field_error(exc, lang(request))
        return _page(request, caller, {**found, "rows": rows}, error=error, saved=False, status_code=422)
    return RedirectResponse("/console/admin/sla?saved=1", status_code=303)


# --- Calendars ------------------------------------------------------------------------------


def calendar_inputs(calendar: Calendar) -> dict[str, Any]:
    return {
        "tz": calendar.tz,
        **{f"w_{day}": ", ".join(f"{a}-{b}" for a, b in calendar.weekly.get(day, [])) for day in WEEKDAYS},
        "holidays": "\n".join(calendar.holidays),
        "workdays": "\n".join(calendar.workdays),
        "workday_hours": calendar.workday_hours,
        "always_open": calendar.always_open,
    }


def calendar_body(inputs: dict[str, Any]) -> dict[str, Any]:
    """The API's body from the form: ``09:00-12:00, 13:00-18:00`` a day, dates one a line."""
    weekly: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        intervals = [_INTERVAL.split(part) for part in text_list(str(inputs.get(f"w_{day}", "")))]
        if intervals:
            weekly[day] = intervals
    return {
        "tz": str(inputs.get("tz", "")).strip(),
        "weekly": weekly,
        "holidays": text_list(str(inputs.get("holidays", ""))),
        "workdays": text_list(str(inputs.get("workdays", ""))),
        "workday_hours": str(inputs.get("workday_hours", "mon")),
        "always_open": bool(inputs.get("always_open")),
    }


def _department(conn: Any, code: str) -> tuple[dict[str, Any], bool, Calendar]:
    levels = service_levels.load(conn)
    if code == ANY:
        row: dict[str, Any] = {"code": ANY, "name_zh": "", "name_en": ""}
    else:
        found = [d for d in reference.list_departments(conn) if d["code"] == code]
        if not found:
            raise NotFound("unknown_department", value=code)
        row = found[0]
    return row, code in levels.calendars, levels.calendar_for(code)


def _calendar_page(
    request: Request, caller: Any, found: tuple[dict[str, Any], bool, Calendar], **context: Any
) -> Response:
    department, own, calendar = found
    context.setdefault("inputs", calendar_inputs(calendar))
    return page(
        request,
        caller,
        "console_admin_service_calendar.html",
        department=department,
        own=own,
        weekdays=WEEKDAYS,
        screen="sla",
        **context,
    )


async def calendar_page(request: Request) -> Response:
    caller = await admin_page(request)
    if isinstance(caller, Response):
        return caller
    code = request.path_params["department"]
    try:
        found = await read(request, lambda conn: _department(conn, code))
    except NotFound:
        return page(request, caller, "console_message.html", status_code=404, message_key="c_not_found")
    return _calendar_page(request, caller, found, error=None, saved=request.query_params.get("saved") == "1")


async def save_calendar(request: Request) -> Response:
    posted = await admin_form(request)
    if isinstance(posted, Response):
        return posted
    caller, data = posted
    code = request.path_params["department"]
    inputs: dict[str, Any] = {key: value for key, value in data.items() if isinstance(value, str)}

    def work(hq: HqContext, conn: Any) -> None:
        _department(conn, code)
        calendar = parse_calendar(calendar_body(inputs))
        now = hq.clock.wall()
        service_levels.put_calendar(conn, code, calendar, now)
        service_levels.recalculate_open(conn, hq.clock, now)

    try:
        await write(request, work)
    except NotFound:
        return page(request, caller, "console_message.html", status_code=404, message_key="c_not_found")
    except InvalidCalendar as exc:
        error = field_error(InvalidInput("invalid_calendar", field=exc.field, reason=exc.reason), lang(request))
        found = await read(request, lambda conn: _department(conn, code))
        return _calendar_page(request, caller, found, error=error, saved=False, inputs=inputs, status_code=422)
    return RedirectResponse(f"/console/admin/sla/calendars/{code}?saved=1", status_code=303)


routes: list[BaseRoute] = [
    Route("/console/admin/sla", sla_page, methods=["GET"]),
    Route("/console/admin/sla/policies", save_policies, methods=["POST"]),
    Route("/console/admin/sla/calendars/{department}", calendar_page, methods=["GET"]),
    Route("/console/admin/sla/calendars/{department}", save_calendar, methods=["POST"]),
]
