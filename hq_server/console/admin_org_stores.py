"""Administration of stores (region, address, coordinates, contact; their nodes), regions and
departments.

A store edit is checked as ``PUT /api/v1/stores/{code}`` checks it (the same length limits and
coordinate bounds) and, like it, writes the row and the store's reference entry in one
transaction; the region is chosen from the known ones. Regions are made through
:func:`hq_server.reference.ensure_region`, departments through
:func:`hq_server.reference.put_department` (create or rename)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hq_server import reference
from hq_server.console.admin_org_base import (
    admin_caller,
    admin_form,
    admin_page,
    blocking,
    field_errors,
    kept,
    now,
    read,
    text,
)
from hq_server.console.render import lang_of
from hq_server.context import HqContext
from hq_server.enrollment import CODE_PATTERN, MAX_NAME_LENGTH
from hq_server.errors import Conflict, HqError, InvalidInput, NotFound
from hq_server.schema import nodes, regions, stores
from sync_protocol.messages import ReferenceItem


def region_rows(conn: Connection) -> list[dict[str, Any]]:
    query = sa.select(regions.c.id, regions.c.code, regions.c.name).order_by(regions.c.code)
    return [dict(row) for row in conn.execute(query).mappings()]


def node_counts(conn: Connection) -> dict[str, int]:
    query = sa.select(nodes.c.store_id, sa.func.count()).group_by(nodes.c.store_id)
    return {str(store_id): int(count) for store_id, count in conn.execute(query)}


async def stores_page(request: Request) -> Response:
    caller = await admin_caller(request)
    if isinstance(caller, Response):
        return caller

    def work(conn: Connection) -> dict[str, Any]:
        return {"stores": reference.list_stores(conn), "node_counts": node_counts(conn)}

    found = await blocking(request, lambda hq: read(hq, work))
    return admin_page(request, caller, "console_admin_org_stores.html", **found)


def _store_form(store: dict[str, Any]) -> dict[str, Any]:
    form = {name: store.get(name) or "" for name in (*reference.STORE_TEXT_LIMITS, "region_id")}
    form.update({name: "" if store.get(name) is None else str(store[name]) for name in reference.COORDINATE_BOUNDS})
    return form


def _store_context(conn: Connection, code: str) -> dict[str, Any] | None:
    store = reference.find_store(conn, code)
    if store is None:
        return None
    from hq_server.console.admin_org_nodes import store_nodes

    return {"store": store, "regions": region_rows(conn), "nodes": store_nodes(conn, str(store["id"]))}


async def _store_page(
    request: Request, caller: Any, form: dict[str, Any] | None, errors: dict[str, str], status_code: int = 200
) -> Response:
    code = request.path_params["code"]
    found = await blocking(request, lambda hq: read(hq, lambda conn: _store_context(conn, code)))
    if found is None:
        return admin_page(request, caller, "console_message.html", status_code=404, message_key="c_not_found")
    shown = form if form is not None else _store_form(found["store"])
    return admin_page(
        request, caller, "console_admin_org_store.html", status_code=status_code, form=shown, errors=errors, **found
    )


async def store_page(request: Request) -> Response:
    caller = await admin_caller(request)
    if isinstance(caller, Response):
        return caller
    return await _store_page(request, caller, None, {})


def store_changes(form: FormData) -> dict[str, Any]:
    """The columns a store form sets, checked as ``PUT /api/v1/stores/{code}`` checks them."""
    values: dict[str, Any] = {}
    for name, limit in reference.STORE_TEXT_LIMITS.items():
        value = text(form, name)
        if len(value) > limit:
            raise InvalidInput("too_long", field=name)
        if name == "name" and not value:
            raise InvalidInput("required", field=name)
        values[name] = value
    for name, bound in reference.COORDINATE_BOUNDS.items():
        raw = text(form, name)
        try:
            number = float(raw) if raw else None
        except ValueError:
            number = float("nan")
        if number is not None and not -bound <= number <= bound:
            raise InvalidInput("invalid_coordinate", field=name, limit=bound)
        values[name] = number
    values["region_id"] = text(form, "region_id") or None
    return values


def save_store(hq: HqContext, code: str, values: dict[str, Any], now_ms: int) -> None:
    with hq.db.write() as conn:
        region_id = values["region_id"]
        if region_id is not None and region_id not in {row["id"] for row in region_rows(conn)}:
            raise InvalidInput("unknown_region", field="region_id", value=region_id[:40])
        if reference.update_store(conn, hq.clock, code, values, now_ms) is None:
            raise NotFound("unknown_store", value=code)


async def store_save(request: Request) -> Response:
    found = await admin_form(request)
    if isinstance(found, Response):
        return found
    caller, form = found
    code = request.path_params["code"]
    try:
        values = store_changes(form)
        await blocking(request, lambda hq: save_store(hq, code, values, now(request)))
    except NotFound:
        return admin_page(request, caller, "console_message.html", status_code=404, message_key="c_not_found")
    except HqError as exc:
        return await _store_page(request, caller, kept(form), field_errors(exc, lang_of(request)), exc.status)
    return RedirectResponse(f"/console/admin/stores/{code}?done=saved", status_code=303)


# -- regions ------------------------------------------------------------------------------------


async def _regions_page(
    request: Request, caller: Any, form: dict[str, Any], errors: dict[str, str], status_code: int = 200
) -> Response:
    def work(conn: Connection) -> dict[str, Any]:
        counts = sa.select(stores.c.region_id, sa.func.count()).group_by(stores.c.region_id)
        return {"regions": region_rows(conn), "store_counts": {str(r): int(n) for r, n in conn.execute(counts)}}

    found = await blocking(request, lambda hq: read(hq, work))
    return admin_page(
        request, caller, "console_admin_org_regions.html", status_code=status_code, form=form, errors=errors, **found
    )


async def regions_page(request: Request) -> Response:
    caller = await admin_caller(request)
    if isinstance(caller, Response):
        return caller
    return await _regions_page(request, caller, {}, {})


def create_region(hq: HqContext, code: str, name: str, now_ms: int) -> None:
    if not CODE_PATTERN.fullmatch(code):
        raise InvalidInput("invalid_code", field="code", limit=40)
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput("too_long", field="name")
    with hq.db.write() as conn:
        if conn.execute(sa.select(regions.c.id).where(regions.c.code == code)).first() is not None:
            raise Conflict("ao_region_taken", field="code", value=code)
        region_id = reference.ensure_region(conn, hq.clock, code, now_ms)
        if name and name != code:
            conn.execute(regions.update().where(regions.c.id == region_id).values(name=name))
            reference.log_item(conn, hq.clock, "region", ReferenceItem(id=region_id, code=code, name_zh=name))


async def region_create(request: Request) -> Response:
    found = await admin_form(request)
    if isinstance(found, Response):
        return found
    caller, form = found
    code, name = text(form, "code"), text(form, "name")
    try:
        await blocking(request, lambda hq: create_region(hq, code, name, now(request)))
    except HqError as exc:
        return await _regions_page(request, caller, kept(form), _errors(exc, request), exc.status)
    return RedirectResponse("/console/admin/regions?done=created", status_code=303)


def _errors(exc: HqError, request: Request) -> dict[str, str]:
    """Field errors, with the console's own texts for the refusals the API has no text for."""
    if exc.code.startswith("ao_"):
        from hq_server.console.texts import t

        return {exc.field or "": t(exc.code, lang_of(request), **exc.params)}
    return field_errors(exc, lang_of(request))


# -- departments --------------------------------------------------------------------------------


async def _departments_page(
    request: Request, caller: Any, form: dict[str, Any], errors: dict[str, str], status_code: int = 200
) -> Response:
    found = await blocking(request, lambda hq: read(hq, reference.list_departments))
    return admin_page(
        request,
        caller,
        "console_admin_org_departments.html",
        status_code=status_code,
        departments=found,
        form=form,
        errors=errors,
    )


async def departments_page(request: Request) -> Response:
    caller = await admin_caller(request)
    if isinstance(caller, Response):
        return caller
    return await _departments_page(request, caller, {}, {})


def save_department(hq: HqContext, form: FormData) -> None:
    """Create a department, or rename one (``rename``: the code must exist)."""
    code, name_zh, name_en = text(form, "code"), text(form, "name_zh"), text(form, "name_en")
    if not CODE_PATTERN.fullmatch(code):
        raise InvalidInput("invalid_code", field="code", limit=40)
    if not name_zh:
        raise InvalidInput("required", field="name_zh")
    for field, value in (("name_zh", name_zh), ("name_en", name_en)):
        if len(value) > MAX_NAME_LENGTH:
            raise InvalidInput("too_long", field=field)
    raw_sort = text(form, "sort") or "0"
    if not raw_sort.lstrip("-").isdigit() or abs(int(raw_sort)) > 1_000_000:
        raise InvalidInput("invalid_type", field="sort")
    renaming = bool(text(form, "rename"))
    with hq.db.write() as conn:
        exists = code in reference.department_codes(conn)
        if exists and not renaming:
            raise Conflict("ao_department_taken", field="code", value=code)
        if renaming and not exists:
            raise InvalidInput("unknown_department", field="code", value=code)
        reference.put_department(conn, hq.clock, code, name_zh, name_en, sort=int(raw_sort))


async def department_save(request: Request) -> Response:
    found = await admin_form(request)
    if isinstance(found, Response):
        return found
    caller, form = found
    try:
        await blocking(request, lambda hq: save_department(hq, form))
    except HqError as exc:
        return await _departments_page(request, caller, kept(form), _errors(exc, request), exc.status)
    return RedirectResponse("/console/admin/departments?done=saved", status_code=303)


routes: list[BaseRoute] = [
    Route("/console/admin/stores", stores_page, methods=["GET"]),
    Route("/console/admin/stores/{code}", store_page, methods=["GET"]),
    Route("/console/admin/stores/{code}", store_save, methods=["POST"]),
    Route("/console/admin/regions", regions_page, methods=["GET"]),
    Route("/console/admin/regions", region_create, methods=["POST"]),
    Route("/console/admin/departments", departments_page, methods=["GET"]),
    Route("/console/admin/departments", department_save, methods=["POST"]),
]
