"""What every admin_service screen shares: the admin-only gate of a page and of a form POST (CSRF
checked by :func:`hq_server.auth.staff_caller`), and a refusal turned into (field path, text) for
the page to show next to the input at fault."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from hq_server.auth import Caller, staff_caller
from hq_server.console.render import console_caller, forbidden, lang_of, page
from hq_server.context import HqContext, context_of
from hq_server.errors import HqError, from_invalid_field
from sync_protocol.errors import InvalidField
from sync_protocol.i18n import render

T = TypeVar("T")


@dataclass(frozen=True)
class FieldError:
    """A refusal: the path of the value at fault (``rules[2].then.department``) and the text."""

    field: str
    text: str

    def at(self, path: str) -> bool:
        """Whether the refusal is about ``path`` or a value inside it."""
        return self.field == path or self.field.startswith((path + ".", path + "["))


def field_error(exc: HqError | InvalidField, lang: str) -> FieldError:
    error = from_invalid_field(exc, **exc.params) if isinstance(exc, InvalidField) else exc
    return FieldError(error.field or "", render(error.code, lang, field=error.field, **error.params))


async def admin_page(request: Request) -> Caller | Response:
    """The signed-in admin of a page; the sign-in page, or the 403 page for any other role."""
    caller = await console_caller(request)
    if isinstance(caller, Response):
        return caller
    if not caller.principal.is_admin:
        return forbidden(request, caller)
    return caller


async def admin_form(request: Request) -> tuple[Caller, FormData] | Response:
    """The admin and the form of a POST, its CSRF token checked; a 403 page otherwise."""
    caller = await admin_page(request)
    if isinstance(caller, Response):
        return caller
    try:
        await staff_caller(request)
    except HqError:
        return page(request, caller, "console_message.html", status_code=403, message_key="as_csrf_failed")
    return caller, await request.form()


def refused(request: Request, caller: Caller, template: str, error: FieldError, **context: Any) -> HTMLResponse:
    """The form again with the refusal (422)."""
    return page(request, caller, template, status_code=422, error=error, **context)


async def read(request: Request, work: Callable[[Any], T]) -> T:
    hq = context_of(request)

    def run() -> T:
        with hq.db.read() as conn:
            return work(conn)

    return await run_in_threadpool(run)


async def write(request: Request, work: Callable[[HqContext, Any], T]) -> T:
    """``work(hq, conn)`` in one write transaction (a refusal rolls everything back)."""
    hq = context_of(request)

    def run() -> T:
        with hq.db.write() as conn:
            return work(hq, conn)

    return await run_in_threadpool(run)


def text_list(value: str) -> list[str]:
    """Values typed one a line or separated by commas (``,`` or ``，``), blanks left out."""
    return [item.strip() for item in re.split(r"[\n,，]", value) if item.strip()]


def whole_number(value: str) -> object:
    """``"12"`` as 12, blank as None; anything else as typed, for the validator to name."""
    value = value.strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return value


def lang(request: Request) -> str:
    return lang_of(request)
