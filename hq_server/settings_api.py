"""HTTP handlers of HQ's service settings (``/api/v1``): routing rules, SLA policies, departments'
business hours and assignment, the escalation ladder, ticket forms and agents, for an administrator
or the integration token only (:func:`hq_server.auth.admin_principal`: 403 ``admin_only``), reads
included; and the in-app notifications, for any HQ role that works tickets, within their
departments.

Each PUT validates the whole document first and answers 422 naming the field at fault, changing
nothing; once stored, open tickets' SLA fields are recalculated in the same transaction, so a
calendar or policy change shows on every open ticket at once.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hq_server import assignment, escalation_sweep, notifications, reference, routing, service_levels
from hq_server.auth import admin_principal, staff_principal
from hq_server.business_hours import InvalidCalendar, parse_calendar
from hq_server.context import HqContext
from hq_server.errors import BadRequest, Forbidden, InvalidInput, NotFound, from_invalid_field
from hq_server.escalation_sweep import LEAD as LEAD_ROLE
from hq_server.openapi import operation
from hq_server.responses import json_response
from hq_server.schema import notifications as notifications_table
from hq_server.sla import parse_policy
from sync_protocol.errors import InvalidField
from sync_protocol.forms import parse_form
from sync_protocol.tickets import PRIORITIES

_json_decoder = msgspec.json.Decoder()


async def _json(request: Request) -> Any:
    try:
        return _json_decoder.decode(await request.body())
    except msgspec.DecodeError as exc:
        raise BadRequest("invalid_json") from exc


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def get_routing_rules(request: Request) -> Response:
    """The routing rules in order (first match wins).

    Answers `{"rules": [rule...]}`; the same list is what `storedesk hq rules export` writes.
    """
    hq, _ = await admin_principal(request)

    def run() -> list[Any]:
        with hq.db.read() as conn:
            return [msgspec.to_builtins(rule) for rule in routing.load_rules(conn)]

    return json_response({"rules": await run_in_threadpool(run)})


@operation(body={"type": "object", "required": ["rules"], "properties": {"rules": {"type": "array"}}})
async def put_routing_rules(request: Request) -> Response:
    """Replace the routing rules with `{"rules": [...]}`.

    Each rule: `id`, `name`, `enabled`, `when` (types, channels, stores, regions, customer_levels,
    product_categories, keywords) and `then` (department, priority, tags). Rules apply to tickets
    reaching HQ from now on.
    """
    hq, _ = await admin_principal(request)
    body = await _json(request)
    if not isinstance(body, dict) or "rules" not in body:
        raise InvalidInput("required", field="rules")

    def run() -> list[Any]:
        with hq.db.write() as conn:
            try:
                rules = routing.replace_rules(conn, body["rules"], _now_ms())
            except InvalidField as exc:
                raise from_invalid_field(exc, **exc.params) from exc
        return [msgspec.to_builtins(rule) for rule in rules]

    return json_response({"rules": await run_in_threadpool(run)})


async def get_sla_policies(request: Request) -> Response:
    """SLA targets per ticket type and priority (`*` = any), in business minutes.

    Answers `{"policies": [{"ticket_type", "priority", "first_response_min", "resolution_min",
    "pausing_statuses"}...]}`.
    """
    hq, _ = await admin_principal(request)

    def run() -> list[dict[str, Any]]:
        with hq.db.read() as conn:
            levels = service_levels.load(conn)
        return [
            {"ticket_type": ticket_type, "priority": priority, **msgspec.to_builtins(policy)}
            for (ticket_type, priority), policy in sorted(levels.policies.items())
        ]

    return json_response({"policies": await run_in_threadpool(run)})


@operation(body={"type": "object", "properties": {"first_response_min": {}, "resolution_min": {}}})
async def put_sla_policy(request: Request) -> Response:
    """Set the SLA policy of one ticket type (or `*`) and priority (or `*`).

    Body: `{"first_response_min": 60, "resolution_min": 480, "pausing_statuses": [...]}`; open
    tickets are recalculated.
    """
    hq, _ = await admin_principal(request)
    ticket_type = request.path_params["ticket_type"]
    priority = request.path_params["priority"]
    body = await _json(request)

    def run() -> dict[str, Any]:
        with hq.db.write() as conn:
            if ticket_type != service_levels.ANY and ticket_type not in reference.ticket_type_codes(conn):
                raise InvalidInput("unknown_ticket_type", field="ticket_type", value=ticket_type)
            if priority != service_levels.ANY and priority not in PRIORITIES:
                raise InvalidInput("invalid_choice", field="priority")
            try:
                policy = parse_policy(body)
            except ValueError as exc:
                raise InvalidInput("invalid_policy", field=getattr(exc, "field", "policy")) from exc
            now = _now_ms()
            service_levels.put_policy(conn, ticket_type, priority, policy, now)
            recalculated = service_levels.recalculate_open(conn, hq.clock, now)
        return {
            "ticket_type": ticket_type,
            "priority": priority,
            **msgspec.to_builtins(policy),
            "recalculated": recalculated,
        }

    return json_response(await run_in_threadpool(run))


async def get_calendar(request: Request) -> Response:
    """A department's business hours (`*`: the default for departments without their own)."""
    hq, _ = await admin_principal(request)
    department = request.path_params["department"]

    def run() -> Any:
        with hq.db.read() as conn:
            levels = service_levels.load(conn)
        found = levels.calendars.get(department)
        if found is None and department != service_levels.ANY:
            if department not in _departments(hq):
                raise NotFound("unknown_department", value=department)
            return {"department": department, "inherited": True, **msgspec.to_builtins(levels.calendar_for(department))}
        if found is None:
            raise NotFound("unknown_department", value=department)
        return {"department": department, "inherited": False, **msgspec.to_builtins(found)}

    return json_response(await run_in_threadpool(run))


@operation(body={"type": "object", "properties": {"tz": {}, "weekly": {}, "holidays": {}, "workdays": {}}})
async def put_calendar(request: Request) -> Response:
    """Set a department's business hours.

    Body: `{"tz": "Asia/Shanghai", "weekly": {"mon": [["09:00", "18:00"]], ...}, "holidays":
    ["2026-10-01"], "workdays": ["2026-10-10"], "workday_hours": "mon", "always_open": false}`;
    open tickets are recalculated.
    """
    hq, _ = await admin_principal(request)
    department = request.path_params["department"]
    body = await _json(request)
    try:
        calendar = parse_calendar(body)
    except InvalidCalendar as exc:
        raise InvalidInput("invalid_calendar", field=exc.field, reason=exc.reason) from exc

    def run() -> dict[str, Any]:
        with hq.db.write() as conn:
            if department != service_levels.ANY and department not in reference.department_codes(conn):
                raise NotFound("unknown_department", value=department)
            now = _now_ms()
            service_levels.put_calendar(conn, department, calendar, now)
            recalculated = service_levels.recalculate_open(conn, hq.clock, now)
        return {"department": department, **msgspec.to_builtins(calendar), "recalculated": recalculated}

    return json_response(await run_in_threadpool(run))


async def get_escalation_steps(request: Request) -> Response:
    """The escalation ladder in order.

    Answers `{"steps": [{"id", "name", "trigger": "idle"|"due", "minutes", "due", "actions",
    "role"}...]}`.
    """
    hq, _ = await admin_principal(request)

    def run() -> list[Any]:
        with hq.db.read() as conn:
            return [msgspec.to_builtins(step) for step in escalation_sweep.load_ladder(conn)]

    return json_response({"steps": await run_in_threadpool(run)})


@operation(body={"type": "object", "required": ["steps"], "properties": {"steps": {"type": "array"}}})
async def put_escalation_steps(request: Request) -> Response:
    """Replace the escalation ladder with `{"steps": [...]}`.

    A step: `id`, `name`, `trigger` (`idle`: minutes without progress; `due`: minutes after the
    `first_response` or `resolution` due time, negative for before), `actions` (`remind_lead`,
    `raise_priority`, `reassign`, `notify_role` with `role`, `webhook`). Each step fires once per
    ticket.
    """
    hq, _ = await admin_principal(request)
    body = await _json(request)
    if not isinstance(body, dict) or "steps" not in body:
        raise InvalidInput("required", field="steps")

    def run() -> list[Any]:
        with hq.db.write() as conn:
            try:
                steps = escalation_sweep.replace_ladder(conn, body["steps"], _now_ms())
            except InvalidField as exc:
                raise from_invalid_field(exc, **exc.params) from exc
        return [msgspec.to_builtins(step) for step in steps]

    return json_response({"steps": await run_in_threadpool(run)})


async def get_notifications(request: Request) -> Response:
    """In-app notifications of a role (`?role=lead&department=qc`; chain-wide ones included).

    `unread=1` leaves out those already read. Each has `id`, `kind`, `ticket_id`,
    `ticket_number`, `message` (in the request's language), `created_at`, `read_at`.
    """
    hq, principal = await staff_principal(request)
    role = request.query_params.get("role", "")
    if not role:
        raise BadRequest("invalid_param", field="role")
    department = request.query_params.get("department", "")
    if not principal.sees_every_ticket:
        # A group lead or agent reads their departments' inboxes (default: their first), an agent
        # not the leads' one, neither the chain-wide one (about any ticket); a regional manager none.
        principal.check_works_tickets()
        department = principal.acting_department(department or None) or ""
        if principal.role == "agent" and role == LEAD_ROLE:
            raise Forbidden("out_of_scope")
    unread = request.query_params.get("unread") in ("1", "true")
    lang = "en" if request.headers.get("accept-language", "").lower().startswith("en") else "zh"

    def run() -> list[dict[str, Any]]:
        with hq.db.read() as conn:
            return notifications.inbox_view(
                conn,
                role=role,
                department=department,
                unread=unread,
                lang=lang,
                chain_wide=principal.sees_every_ticket,
            )

    return json_response({"items": await run_in_threadpool(run)})


async def read_notification(request: Request) -> Response:
    """Mark a notification read."""
    hq, principal = await staff_principal(request)
    notification_id = request.path_params["id"]

    def run() -> bool:
        with hq.db.write() as conn:
            if not principal.sees_every_ticket:
                principal.check_works_tickets()
                n = notifications_table.c
                found = conn.execute(sa.select(n.department, n.role).where(n.id == notification_id)).first()
                if found is None or found[0] not in principal.departments:
                    raise Forbidden("out_of_scope")  # another department's, or chain-wide
                if principal.role == "agent" and found[1] == LEAD_ROLE:
                    raise Forbidden("out_of_scope")
            return notifications.mark_read(conn, notification_id, _now_ms())

    if not await run_in_threadpool(run):
        raise NotFound("notification_not_found", value=notification_id)
    return json_response({"id": notification_id, "read": True})


def _agent_json(agent: assignment.Agent, open_count: int) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "departments": list(agent.departments),
        "lead_of": list(agent.lead_of),
        "cap": agent.cap,
        "shift": msgspec.to_builtins(agent.shift) if agent.shift is not None else None,
        "active": agent.active,
        "open_tickets": open_count,
    }


async def get_agents(request: Request) -> Response:
    """Agents with their departments, cap, shift and open tickets (`?department=` filters)."""
    hq, _ = await admin_principal(request)
    department = request.query_params.get("department", "")

    def run() -> list[dict[str, Any]]:
        with hq.db.read() as conn:
            counts = assignment.open_counts(conn)
            found = assignment.load_agents(conn)
        return [_agent_json(a, counts.get(a.id, 0)) for a in found if not department or department in a.departments]

    return json_response({"items": await run_in_threadpool(run)})


@operation(body={"type": "object", "required": ["name", "departments"]})
async def put_agent(request: Request) -> Response:
    """Create or change an agent.

    Body: `{"name", "departments": [...], "lead_of": [...], "cap": 20, "shift": calendar or null,
    "active": true}`. The agent's name reaches the stores, so they see who has their tickets.
    """
    hq, _ = await admin_principal(request)
    agent_id = request.path_params["id"]
    body = await _json(request)

    def run() -> dict[str, Any]:
        with hq.db.write() as conn:
            try:
                agent = assignment.put_agent(conn, hq.clock, agent_id, body, _now_ms())
            except InvalidField as exc:
                raise from_invalid_field(exc, **exc.params) from exc
            return _agent_json(agent, assignment.open_counts(conn).get(agent.id, 0))

    return json_response(await run_in_threadpool(run))


async def get_assignment_settings(request: Request) -> Response:
    """How a department hands out tickets: `strategy` (`round_robin` or `least_open`) and
    `assignment_timeout_min` (an untouched assignment goes back to the pool after it)."""
    hq, _ = await admin_principal(request)
    department = request.path_params["department"]

    def run() -> dict[str, Any]:
        with hq.db.read() as conn:
            if department not in reference.department_codes(conn):
                raise NotFound("unknown_department", value=department)
            found = assignment.load_settings(conn).get(department, assignment.DepartmentSettings())
        return {"department": department, "strategy": found.strategy, "assignment_timeout_min": found.timeout_min}

    return json_response(await run_in_threadpool(run))


@operation(body={"type": "object", "properties": {"strategy": {}, "assignment_timeout_min": {}}})
async def put_assignment_settings(request: Request) -> Response:
    """Set a department's `strategy` and `assignment_timeout_min`."""
    hq, _ = await admin_principal(request)
    department = request.path_params["department"]
    body = await _json(request)
    if not isinstance(body, dict):
        raise BadRequest("invalid_json")

    def run() -> dict[str, Any]:
        with hq.db.write() as conn:
            try:
                assignment.put_settings(
                    conn,
                    department,
                    strategy=body.get("strategy", "round_robin"),
                    timeout_min=body.get("assignment_timeout_min", assignment.DEFAULT_TIMEOUT_MIN),
                    now_ms=_now_ms(),
                )
            except InvalidField as exc:
                if exc.code == "unknown_department":
                    raise NotFound("unknown_department", value=department) from exc
                raise from_invalid_field(exc, **exc.params) from exc
            found = assignment.load_settings(conn)[department]
        return {"department": department, "strategy": found.strategy, "assignment_timeout_min": found.timeout_min}

    return json_response(await run_in_threadpool(run))


@operation(body={"type": "object", "properties": {"fields": {"type": "array"}}})
async def put_ticket_form(request: Request) -> Response:
    """Set the form of a ticket type: the fields it asks for.

    Body: `{"fields": [{"name", "label_zh", "label_en", "kind": "text"|"choice"|"photo"|
    "product_code", "required": true, "choices": [...]}]}`. Stores receive it with the ticket type
    and check new tickets against it before they write them; HQ checks again when they arrive.
    """
    hq, _ = await admin_principal(request)
    code = request.path_params["code"]
    body = await _json(request)

    def run() -> Any:
        with hq.db.write() as conn:
            if code not in reference.ticket_type_codes(conn):
                raise NotFound("unknown_ticket_type", value=code)
            try:
                form = parse_form(body)
            except InvalidField as exc:
                raise from_invalid_field(exc, **exc.params) from exc
            reference.put_form(conn, hq.clock, code, form, _now_ms())
        return {"ticket_type": code, **msgspec.to_builtins(form)}

    return json_response(await run_in_threadpool(run))


def _departments(hq: HqContext) -> frozenset[str]:
    with hq.db.read() as conn:
        return reference.department_codes(conn)


routes = [
    Route("/api/v1/routing-rules", get_routing_rules, methods=["GET"]),
    Route("/api/v1/routing-rules", put_routing_rules, methods=["PUT"]),
    Route("/api/v1/sla-policies", get_sla_policies, methods=["GET"]),
    Route("/api/v1/sla-policies/{ticket_type}/{priority}", put_sla_policy, methods=["PUT"]),
    Route("/api/v1/departments/{department}/calendar", get_calendar, methods=["GET"]),
    Route("/api/v1/departments/{department}/calendar", put_calendar, methods=["PUT"]),
    Route("/api/v1/escalation-steps", get_escalation_steps, methods=["GET"]),
    Route("/api/v1/escalation-steps", put_escalation_steps, methods=["PUT"]),
    Route("/api/v1/notifications", get_notifications, methods=["GET"]),
    Route("/api/v1/notifications/{id}/read", read_notification, methods=["POST"]),
    Route("/api/v1/ticket-types/{code}/form", put_ticket_form, methods=["PUT"]),
    Route("/api/v1/agents", get_agents, methods=["GET"]),
    Route("/api/v1/agents/{id}", put_agent, methods=["PUT"]),
    Route("/api/v1/departments/{department}/assignment", get_assignment_settings, methods=["GET"]),
    Route("/api/v1/departments/{department}/assignment", put_assignment_settings, methods=["PUT"]),
]
