"""Ticket types and their forms: the list (with each type's default department), and a type's form
editor as a table of rows, saved through :func:`sync_protocol.forms.parse_form` and
:func:`hq_server.reference.put_form` as ``PUT /api/v1/ticket-types/{code}/form`` does.

A row's inputs are named ``f{i}_name``, ``f{i}_label_zh``... with ``i`` any number (the page's
script numbers rows it adds); rows are kept in the order of ``i``; a row marked ``f{i}_remove``
or left blank is dropped."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hq_server import reference
from hq_server.console.admin_service_common import (
    FieldError,
    admin_form,
    admin_page,
    field_error,
    lang,
    read,
    refused,
    text_list,
    write,
)
from hq_server.console.render import page
from hq_server.context import HqContext
from hq_server.errors import HqError, NotFound
from sync_protocol.errors import InvalidField
from sync_protocol.forms import Form, parse_form

KINDS = ("text", "choice", "photo", "product_code")
_ROW = re.compile(r"f(\d+)_(name|label_zh|label_en|kind|required|choices|remove)")
TEMPLATE = "console_admin_service_type.html"


def _types(conn: Any) -> dict[str, Any]:
    departments = {row["code"]: row for row in reference.list_departments(conn)}
    forms = reference.forms_of(conn)
    return {
        "types": reference.list_ticket_types(conn),
        "departments": departments,
        "field_counts": {code: len(form.fields) for code, form in forms.items()},
    }


async def type_list(request: Request) -> Response:
    caller = await admin_page(request)
    if isinstance(caller, Response):
        return caller
    found = await read(request, _types)
    return page(request, caller, "console_admin_service_types.html", screen="ticket-types", **found)


def _type_of(conn: Any, code: str) -> dict[str, Any]:
    for row in reference.list_ticket_types(conn):
        if row["code"] == code:
            return row
    raise NotFound("unknown_ticket_type", value=code)


def rows_of(form: Form) -> list[dict[str, Any]]:
    """A stored form as the editor's rows."""
    return [{**msgspec.to_builtins(field), "choices": "\n".join(field.choices)} for field in form.fields]


def rows_from(data: FormData) -> list[dict[str, Any]]:
    """The rows posted, in order, without the removed and the blank ones (as the editor shows them)."""
    found: dict[int, dict[str, str]] = {}
    for key, value in data.multi_items():
        match = _ROW.fullmatch(key)
        if match and isinstance(value, str):
            found.setdefault(int(match[1]), {})[match[2]] = value
    rows: list[dict[str, Any]] = []
    for _, row in sorted(found.items()):
        texts = (row.get(name, "").strip() for name in ("name", "label_zh", "label_en", "choices"))
        if row.get("remove") or not any(texts):
            continue
        rows.append(
            {
                "name": row.get("name", "").strip(),
                "label_zh": row.get("label_zh", "").strip(),
                "label_en": row.get("label_en", "").strip(),
                "kind": row.get("kind", "text"),
                "required": bool(row.get("required")),
                "choices": row.get("choices", ""),
            }
        )
    return rows


def form_data(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The API's body for ``rows``: ``{"fields": [...]}``, choices one a line or comma separated."""
    fields = []
    for row in rows:
        field = {key: value for key, value in row.items() if key != "choices"}
        field["choices"] = text_list(row["choices"])
        fields.append(field)
    return {"fields": fields}


def _editor(request: Request, row: dict[str, Any], rows: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
    return {"type_row": row, "rows": rows, "kinds": KINDS, "screen": "ticket-types", **context}


async def type_form(request: Request) -> Response:
    caller = await admin_page(request)
    if isinstance(caller, Response):
        return caller
    code = request.path_params["code"]

    def work(conn: Any) -> tuple[dict[str, Any], Form]:
        return _type_of(conn, code), reference.forms_of(conn).get(code, Form())

    try:
        row, form = await read(request, work)
    except NotFound:
        return page(request, caller, "console_message.html", status_code=404, message_key="c_not_found")
    saved = request.query_params.get("saved") == "1"
    return page(request, caller, TEMPLATE, **_editor(request, row, rows_of(form), error=None, saved=saved))


async def save_form(request: Request) -> Response:
    posted = await admin_form(request)
    if isinstance(posted, Response):
        return posted
    caller, data = posted
    code = request.path_params["code"]
    rows = rows_from(data)

    def work(hq: HqContext, conn: Any) -> dict[str, Any]:
        row = _type_of(conn, code)
        try:
            form = parse_form(form_data(rows))
        except InvalidField as exc:
            raise _Refused(row, field_error(exc, lang(request))) from exc
        reference.put_form(conn, hq.clock, code, form, hq.clock.wall())
        return row

    try:
        await write(request, work)
    except NotFound:
        return page(request, caller, "console_message.html", status_code=404, message_key="c_not_found")
    except _Refused as exc:
        return refused(request, caller, TEMPLATE, exc.error, **_editor(request, exc.row, rows, saved=False))
    return RedirectResponse(f"/console/admin/ticket-types/{code}?saved=1", status_code=303)


class _Refused(HqError):
    """A form the validator refused (raised inside the transaction so nothing is written)."""

    def __init__(self, row: dict[str, Any], error: FieldError) -> None:
        super().__init__("invalid_field", field=error.field)
        self.row = row
        self.error = error


routes: list[BaseRoute] = [
    Route("/console/admin/ticket-types", type_list, methods=["GET"]),
    Route("/console/admin/ticket-types/{code}", type_form, methods=["GET"]),
    Route("/console/admin/ticket-types/{code}/form", save_form, methods=["POST"]),
]
