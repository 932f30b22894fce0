"""What every administration screen (org) shares: the admin gate for pages and forms (signed in,
else the sign-in page; an administrator, else the 403 page; a form's CSRF token, else a 403
page), reading a form, and turning a refusal into an inline error next to its field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from hq_server.auth import Caller, now_ms, staff_caller
from hq_server.console.render import console_caller, forbidden, lang_of, page
from hq_server.context import HqContext, context_of
from hq_server.errors import HqError
from sync_protocol.i18n import render

T = TypeVar("T")

#: Pages with a node token or a password form stay out of caches and referrers.
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


async def admin_caller(request: Request) -> Caller | Response:
    """The signed-in administrator of a page, or the response to send instead."""
    caller = await console_caller(request)
    if isinstance(caller, Response):
        return caller
    if not caller.principal.is_admin:
        return forbidden(request, caller)
    return caller


async def admin_form(request: Request) -> tuple[Caller, FormData] | Response:
    """A POSTed admin form: signed in, an administrator, the CSRF token checked (through
    :func:`hq_server.auth.staff_caller`); the caller and the form, or the response to send."""
    caller = await admin_caller(request)
    if isinstance(caller, Response):
        return caller
    try:
        await staff_caller(request)
    except HqError:
        return page(request, caller, "console_message.html", status_code=403, message_key="ao_csrf_failed")
    return caller, await request.form()


def text(form: FormData, name: str) -> str:
    """A text field, stripped ("" when absent)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def texts(form: FormData, name: str) -> list[str]:
    """A multi-valued field (checkboxes), blanks dropped."""
    return [value.strip() for value in form.getlist(name) if isinstance(value, str) and value.strip()]


#: Fields that are lists (checkboxes).
MANY = frozenset({"departments", "regions"})
#: Fields never shown again.
SECRET = frozenset({"password", "pin", "csrf_token"})
#: The ``?done=`` notices a page shows after a form.
DONE = frozenset({"created", "saved", "password"})


def kept(form: FormData) -> dict[str, Any]:
    """What the user typed, to show again after a refusal (never a password or PIN)."""
    values: dict[str, Any] = {name: [] for name in MANY}
    for name in form:
        if name not in SECRET:
            values[name] = texts(form, name) if name in MANY else text(form, name)
    return values


def error_message(error: HqError, lang: str) -> str:
    return render(error.code, lang, field=error.field, **error.params)


def field_errors(error: HqError, lang: str) -> dict[str, str]:
    """``{field: message}`` for a refusal naming a field, ``{"": message}`` otherwise."""
    return {error.field or "": error_message(error, lang)}


async def blocking(request: Request, work: Callable[[HqContext], T]) -> T:
    """Run ``work`` (database calls) off the event loop."""
    hq = context_of(request)
    return await run_in_threadpool(work, hq)


def read(hq: HqContext, work: Callable[[Any], T]) -> T:
    with hq.db.read() as conn:
        return work(conn)


def now(request: Request) -> int:
    return now_ms(context_of(request))


def admin_page(
    request: Request, caller: Caller, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """An admin page in the console's layout (``errors``/``form`` default to empty)."""
    context.setdefault("errors", {})
    context.setdefault("form", {})
    context.setdefault("lang_code", lang_of(request))
    done = request.query_params.get("done", "")
    context.setdefault("done", done if done in DONE else "")
    return page(request, caller, template, status_code=status_code, **context)
