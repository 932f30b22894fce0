"""The console's queue screens: the department queue (filters, sort, pages, saved views,
notifications), the kanban board by status, and the JSON the pages poll for live updates.

Every list is the staff API's: the caller's scope condition (:meth:`Principal.ticket_condition`)
in SQL, filters on top (:mod:`hq_server.console.queue_data`). The ticket page and its forms are in
:mod:`hq_server.console.ticket_page`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hq_server.auth import Caller, check_csrf, now_ms
from hq_server.console import queue_data, queue_inbox, ticket_page
from hq_server.console.queue_data import BOARD_STATUSES, PAGE_SIZE, QueueFilter, Row
from hq_server.console.render import console_caller, lang_of, page, safe_next
from hq_server.context import HqContext, context_of
from hq_server.errors import HqError
from sync_protocol.i18n import status_label
from sync_protocol.tickets import PRIORITIES, STATUSES, TRANSITIONS

T = TypeVar("T")
MAX_VIEW_NAME = 80


async def _read(hq: HqContext, work: Callable[[Any], T]) -> T:
    def run() -> T:
        with hq.db.read() as conn:
            return work(conn)

    return await run_in_threadpool(run)


def sla_text(row: Row, lang: str) -> str:
    """``剩余 2小时`` / ``2h left``, ``已超时 2小时`` / ``overdue 2h``, ``已暂停`` / ``paused``, or ""."""
    from hq_server.console.texts import t

    sla = row.sla
    if sla.due is None:
        return t("q_sla_paused", lang) if sla.paused else ""
    key = "q_sla_overdue" if sla.left_ms < 0 else "q_sla_left"
    return t(key, lang, span=queue_data.span(sla.left_ms, lang))


def _common(hq: HqContext, caller: Caller, flt: QueueFilter, lang: str) -> Callable[[Any], dict[str, Any]]:
    principal = caller.principal
    user_id = caller.user.id if caller.user is not None else ""

    def work(conn: Any) -> dict[str, Any]:
        return {
            **queue_data.reference_lists(conn, principal),
            "views": queue_inbox.list_views(conn, user_id),
            "unread": queue_inbox.unread_count(conn, principal),
            "notices": queue_inbox.notice_list(conn, principal, lang),
            "since": queue_data.head_pos(conn),
        }

    return work


def _context(request: Request, flt: QueueFilter, now: int) -> dict[str, Any]:
    lang = lang_of(request)
    return {
        "flt": flt,
        "statuses": STATUSES,
        "priorities": PRIORITIES,
        "status_label": lambda code: status_label(code, lang),
        "sla_text": lambda row: sla_text(row, lang),
        "now_ms": now,
        "sorts": queue_data.SORTS,
    }


async def queue(request: Request) -> Response:
    caller = await console_caller(request)
    if isinstance(caller, Response):
        return caller
    hq = context_of(request)
    flt = QueueFilter.parse(request.query_params, caller.principal)
    now = now_ms(hq)
    lang = lang_of(request)

    def work(conn: Any) -> dict[str, Any]:
        rows, total = queue_data.queue_page(conn, flt, caller.principal, now)
        return {"rows": rows, "total": total, **_common(hq, caller, flt, lang)(conn)}

    found = await _read(hq, work)
    pages = max(1, -(-found["total"] // PAGE_SIZE))
    return page(
        request, caller, "console_queue.html", **found, **_context(request, flt, now), pages=pages, screen="queue"
    )


async def board(request: Request) -> Response:
    caller = await console_caller(request)
    if isinstance(caller, Response):
        return caller
    hq = context_of(request)
    flt = QueueFilter.parse(request.query_params, caller.principal)
    now = now_ms(hq)
    lang = lang_of(request)

    def work(conn: Any) -> dict[str, Any]:
        columns = queue_data.board(conn, flt, caller.principal, now)
        return {"columns": columns, **_common(hq, caller, flt, lang)(conn)}

    found = await _read(hq, work)
    moves = {status: [s for s in BOARD_STATUSES if s in TRANSITIONS[status]] for status in BOARD_STATUSES}
    return page(
        request,
        caller,
        "console_board.html",
        **found,
        **_context(request, flt, now),
        board_statuses=BOARD_STATUSES,
        moves=moves,
        screen="board",
    )


async def changes(request: Request) -> Response:
    """``GET /console/queue/changes?since=<change-log position>``: the tickets in scope changed
    since then (a poll every few seconds), the new position, and the unread notifications."""
    caller = await console_caller(request)
    if isinstance(caller, Response):
        return JSONResponse({"error": "not_signed_in"}, status_code=401)
    hq = context_of(request)
    try:
        since = max(0, int(request.query_params.get("since", "0")))
    except ValueError:
        since = 0
    now = now_ms(hq)
    lang = lang_of(request)

    def work(conn: Any) -> tuple[int, list[Row], int]:
        head, rows = queue_data.changed_since(conn, caller.principal, since, now)
        return head, rows, queue_inbox.unread_count(conn, caller.principal)

    head, rows, unread = await _read(hq, work)
    items = [
        {
            "id": row.ticket.id,
            "number": row.ticket.number,
            "status": row.ticket.status,
            "status_label": status_label(row.ticket.status, lang),
            "assignee": row.ticket.assignee,
            "sla": sla_text(row, lang),
            "sla_class": row.sla.css,
            "due": row.sla.due,
        }
        for row in rows
    ]
    return JSONResponse({"since": head, "now": now, "changed": items, "unread": unread})


async def _form_action(request: Request, work: Callable[[HqContext, Caller, dict[str, str]], None]) -> Response:
    """A console form POST: signed in, CSRF-checked (403 page otherwise), then ``work``; back to
    the form's ``next`` (303)."""
    caller = await console_caller(request)
    if isinstance(caller, Response):
        return caller
    try:
        await check_csrf(request, caller.session)
    except HqError:
        return ticket_page.message(request, caller, 403, "q_csrf_failed")
    form = await request.form()
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    hq = context_of(request)
    try:
        await run_in_threadpool(work, hq, caller, values)
    except HqError as exc:
        return ticket_page.message(request, caller, exc.status, "q_refused", error=exc)
    return RedirectResponse(safe_next(values.get("next") or "/console/queue"), status_code=303)


async def save_view(request: Request) -> Response:
    """Save the current filters (``query``) under ``name``, for the signed-in user."""

    def work(hq: HqContext, caller: Caller, form: dict[str, str]) -> None:
        from hq_server.errors import InvalidInput

        name = form.get("name", "").strip()
        if not name or len(name) > MAX_VIEW_NAME or caller.user is None:
            raise InvalidInput("required", field="name")
        flt = QueueFilter.parse(dict(_pairs(form.get("query", ""))), caller.principal)
        with hq.db.write() as conn:
            if queue_inbox.count_views(conn, caller.user.id) >= queue_inbox.MAX_VIEWS:
                raise InvalidInput("too_many", field="name")
            queue_inbox.save_view(conn, caller.user.id, name, flt.query(page=1), now_ms(hq))

    return await _form_action(request, work)


def _pairs(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query.lstrip("?"), keep_blank_values=False)


async def delete_view(request: Request) -> Response:
    view_id = request.path_params["id"]

    def work(hq: HqContext, caller: Caller, form: dict[str, str]) -> None:
        if caller.user is None:
            return
        with hq.db.write() as conn:
            queue_inbox.delete_view(conn, caller.user.id, view_id)

    return await _form_action(request, work)


async def read_notice(request: Request) -> Response:
    """Mark one of the caller's notifications read (``all``: every one)."""
    notice_id = request.path_params["id"]

    def work(hq: HqContext, caller: Caller, form: dict[str, str]) -> None:
        with hq.db.write() as conn:
            queue_inbox.mark_read(conn, caller.principal, None if notice_id == "all" else notice_id, now_ms(hq))

    return await _form_action(request, work)


routes: list[BaseRoute] = [
    Route("/console/queue", queue, methods=["GET"]),
    Route("/console/queue/changes", changes, methods=["GET"]),
    Route("/console/queue/views", save_view, methods=["POST"]),
    Route("/console/queue/views/{id}/delete", delete_view, methods=["POST"]),
    Route("/console/notifications/{id}/read", read_notice, methods=["POST"]),
    Route("/console/board", board, methods=["GET"]),
    *ticket_page.routes,
]
