"""The console's ticket page: the ticket in the caller's scope (a 403 page otherwise), its SLA and
timeline (status history, comments to and from the store, internal notes), and its forms: reply to
the store, internal note, share, reassign, change status (resolve included).

Each form POST is checked as the staff API checks the same call (CSRF, scope through
:func:`hq_server.staff_api.visible_ticket`, a role that works tickets, the department the caller
acts for, the owner rules of :mod:`hq_server.collaboration`) and goes through the same functions
(:mod:`hq_server.ticket_actions`, :mod:`hq_server.collaboration`); it answers 303 back to the page,
or the page again with the refusal (422, 403, 409) above the forms.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hq_server import assignment, collaboration, reference, ticket_actions
from hq_server.auth import Caller, check_csrf, now_ms
from hq_server.console import queue_data
from hq_server.console.render import console_caller, fragment, lang_of, page, safe_next, when
from hq_server.console.texts import t
from hq_server.context import HqContext, context_of
from hq_server.errors import Forbidden, HqError, InvalidInput, NotFound
from hq_server.principals import Principal
from hq_server.queries import TicketView
from hq_server.staff_api import scoped_ticket_view, visible_ticket
from sync_protocol.i18n import render, status_label
from sync_protocol.tickets import PRIORITIES, TRANSITIONS

#: History actors that are HQ (its staff and its automatic assignment).
HQ_ACTORS = frozenset({ticket_actions.HQ_ACTOR, assignment.ASSIGNER})


def message(request: Request, caller: Caller, status: int, key: str, *, error: HqError | None = None) -> HTMLResponse:
    """A page with one message (and the refusal's text, when there is one)."""
    lang = lang_of(request)
    detail = error_text(error, lang) if error is not None else ""
    return page(request, caller, "console_ticket_message.html", status_code=status, message_key=key, detail=detail)


def error_text(error: HqError, lang: str) -> str:
    return render(error.code, lang, field=error.field, **error.params)


def timeline(view: TicketView) -> list[dict[str, Any]]:
    """History, comments and internal notes in time order, each marked hq, store or internal."""
    entries: list[dict[str, Any]] = []
    for h in view.history:
        side = "hq" if h.actor in HQ_ACTORS or h.actor.startswith("总部") else "store"
        entries.append({"kind": "status", "side": side, "at": h.at, "who": h.actor, "body": h.note, "entry": h})
    for c in view.comments:
        entries.append({"kind": "comment", "side": c.source, "at": c.created_at, "who": c.author, "body": c.body})
    for n in view.notes:
        who = n["author"] or n["department"]
        entries.append({"kind": "note", "side": "internal", "at": n["created_at"], "who": who, "body": n["body"]})
    return sorted(entries, key=lambda e: e["at"])


def _timeline_html(request: Request, view: TicketView) -> str:
    lang = lang_of(request)
    return fragment(
        "console_ticket_timeline.html",
        t=functools.partial(t, lang=lang),
        when=functools.partial(when, lang=lang),
        status_label=lambda code: status_label(code, lang),
        timeline=timeline(view),
    )


def _extras(conn: Any, principal: Principal, view: TicketView) -> dict[str, Any]:
    lists = queue_data.reference_lists(conn, principal)
    ticket = view.ticket
    mine = lists["departments"] if principal.is_departmental else lists["all_departments"]
    allowed = {d["code"] for d in mine} | ({ticket.department} if not principal.is_departmental else set())
    agents = [a for a in assignment.load_agents(conn) if a.active and not allowed.isdisjoint(a.departments)]
    stores = [s for s in lists["stores"] if s["id"] == ticket.store_id]
    types = {row["code"]: row for row in lists["types"]}
    return {
        "store": stores[0] if stores else None,
        "type_row": types.get(ticket.type),
        "departments": lists["all_departments"],
        "assign_departments": [d for d in lists["all_departments"] if d["code"] in allowed],
        "agents": agents,
    }


async def detail(request: Request, *, error: HqError | None = None, form: dict[str, str] | None = None) -> Response:
    caller = await console_caller(request)
    if isinstance(caller, Response):
        return caller
    hq = context_of(request)
    principal = caller.principal
    key = request.path_params["key"]

    def work() -> tuple[TicketView, dict[str, Any]]:
        view = scoped_ticket_view(hq, principal, key)
        with hq.db.read() as conn:
            return view, {**_extras(conn, principal, view), "since": queue_data.head_pos(conn)}

    try:
        view, extras = await run_in_threadpool(work)
    except Forbidden:
        return page(request, caller, "console_ticket_message.html", status_code=403, message_key="c_forbidden")
    except NotFound:
        return page(request, caller, "console_ticket_message.html", status_code=404, message_key="c_not_found")
    lang = lang_of(request)
    now = now_ms(hq)
    ticket = view.ticket
    row = queue_data.Row(ticket, view.store_code, "", queue_data.countdown(ticket, now))
    from hq_server.console.queue import sla_text

    return page(
        request,
        caller,
        "console_ticket.html",
        status_code=error.status if error is not None else 200,
        view=view,
        ticket=ticket,
        row=row,
        sla=sla_text(row, lang),
        now_ms=now,
        timeline_html=_timeline_html(request, view),
        timeline_size=len(timeline(view)),
        moves=sorted(TRANSITIONS[ticket.status], key=_status_order),
        status_label=lambda code: status_label(code, lang),
        priorities=PRIORITIES,
        error=error_text(error, lang) if error is not None else "",
        error_form=(form or {}).get("form", ""),
        form=form or {},
        screen="ticket",
        **extras,
    )


def _status_order(status: str) -> int:
    from sync_protocol.tickets import STATUSES

    return STATUSES.index(status)


async def timeline_json(request: Request) -> Response:
    """``GET /console/tickets/{key}/timeline``: the timeline (HTML), its size and the status, for
    the page's poll."""
    caller = await console_caller(request)
    if isinstance(caller, Response):
        return JSONResponse({"error": "not_signed_in"}, status_code=401)
    hq = context_of(request)
    try:
        view = await run_in_threadpool(scoped_ticket_view, hq, caller.principal, request.path_params["key"])
    except HqError as exc:
        return JSONResponse({"error": exc.code}, status_code=exc.status)
    lang = lang_of(request)
    return JSONResponse(
        {
            "size": len(timeline(view)),
            "html": _timeline_html(request, view),
            "status": view.ticket.status,
            "status_label": status_label(view.ticket.status, lang),
            "assignee": view.ticket.assignee,
        }
    )


Action = Callable[[HqContext, Principal, str, dict[str, str]], None]


def _action(work: Action) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        caller = await console_caller(request)
        if isinstance(caller, Response):
            return caller
        try:
            await check_csrf(request, caller.session)
        except HqError:
            return message(request, caller, 403, "q_csrf_failed")
        form = await request.form()
        values = {name: value for name, value in form.items() if isinstance(value, str)}
        key = request.path_params["key"]
        hq = context_of(request)
        try:
            await run_in_threadpool(work, hq, caller.principal, key, values)
        except HqError as exc:
            return await detail(request, error=exc, form=values)
        target = values.get("next") or f"/console/tickets/{key}"
        return RedirectResponse(safe_next(target), status_code=303)

    return handler


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise InvalidInput("required", field=name)
    return value


def reply(hq: HqContext, principal: Principal, key: str, form: dict[str, str]) -> None:
    """A comment the store sees (as ``POST /api/v1/tickets/{id}/comments``: any role in scope)."""
    body = _required(form, "body")
    ticket = scoped_ticket_view(hq, principal, key).ticket
    ticket_actions.comment(hq.db, hq.clock, ticket.id, body, principal.display_name)


def note(hq: HqContext, principal: Principal, key: str, form: dict[str, str]) -> None:
    """An internal note (as ``POST /api/v1/tickets/{id}/notes``)."""
    principal.check_works_tickets()
    body = _required(form, "body")
    with hq.db.write() as conn:
        ticket = visible_ticket(conn, principal, key)
        shared = tuple(str(share["department"]) for share in collaboration.shares_of(conn, ticket.id))
        actor = principal.acting_department(None, prefer=(ticket.department, *shared))
        collaboration.add_note(conn, ticket, body=body, author=principal.display_name, actor=actor, now_ms=now_ms(hq))


def share(hq: HqContext, principal: Principal, key: str, form: dict[str, str]) -> None:
    """Share with a department (as ``POST /api/v1/tickets/{id}/shares``)."""
    principal.check_works_tickets()
    department = _required(form, "department")
    with hq.db.write() as conn:
        ticket = visible_ticket(conn, principal, key)
        actor = principal.acting_department(None, prefer=(ticket.department,))
        if department not in reference.department_codes(conn):
            raise InvalidInput("unknown_department", field="department", value=department)
        collaboration.share(conn, ticket, department, actor=actor, note=form.get("note", ""), now_ms=now_ms(hq))


def reassign(hq: HqContext, principal: Principal, key: str, form: dict[str, str]) -> None:
    """Department and assignee (as ``PATCH /api/v1/tickets/{id}``); a group lead or agent only
    within their departments."""
    principal.check_works_tickets()
    current = scoped_ticket_view(hq, principal, key).ticket
    department = form.get("department", "").strip() or current.department
    assignee = form.get("assignee", "").strip()
    if principal.is_departmental and department not in principal.departments:
        raise Forbidden("not_your_department", department=department)
    changes: dict[str, Any] = {}
    if department != current.department:
        changes["department"] = department
    if assignee != current.assignee or "department" in changes:
        changes["assignee"] = assignee
    if not changes:
        raise InvalidInput("required", field="assignee")
    actor = principal.acting_department(None, prefer=(current.department,))
    ticket_actions.edit(hq.db, hq.clock, current.id, changes, actor=actor)


def change_status(hq: HqContext, principal: Principal, key: str, form: dict[str, str]) -> None:
    """A status change with an optional note (as ``PATCH /api/v1/tickets/{id}`` with ``status``)."""
    principal.check_works_tickets()
    status = _required(form, "status")
    current = scoped_ticket_view(hq, principal, key).ticket
    actor = principal.acting_department(None, prefer=(current.department,))
    changes = {"status": status, "note": form.get("note", "").strip()}
    ticket_actions.edit(hq.db, hq.clock, current.id, changes, actor=actor)


routes: list[BaseRoute] = [
    Route("/console/tickets/{key}", detail, methods=["GET"]),
    Route("/console/tickets/{key}/timeline", timeline_json, methods=["GET"]),
    Route("/console/tickets/{key}/reply", _action(reply), methods=["POST"]),
    Route("/console/tickets/{key}/note", _action(note), methods=["POST"]),
    Route("/console/tickets/{key}/share", _action(share), methods=["POST"]),
    Route("/console/tickets/{key}/assign", _action(reassign), methods=["POST"]),
    Route("/console/tickets/{key}/status", _action(change_status), methods=["POST"]),
]
