"""Administration of staff accounts: the list, create (role-dependent scope, password, PIN for
store roles), edit (name, role, scope, active, PIN) and password reset.

Every write goes through :mod:`hq_server.accounts` (its rules, its change-log entries for store
accounts); a refusal shows the form again (422, 409) with the message next to its field and
everything typed but the password and PIN."""

from __future__ import annotations

import functools
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hq_server import accounts, reference
from hq_server.accounts import User
from hq_server.auth import Caller
from hq_server.console.admin_org_base import (
    NO_STORE,
    admin_caller,
    admin_form,
    admin_page,
    blocking,
    field_errors,
    kept,
    now,
    read,
    text,
    texts,
)
from hq_server.console.render import lang_of
from hq_server.context import HqContext
from hq_server.errors import HqError, NotFound
from hq_server.principals import ROLE_LABELS, STORE_ROLES
from hq_server.schema import regions

BASE = "/console/admin/users"


def _choices(conn: Any) -> dict[str, Any]:
    import sqlalchemy as sa

    region_rows = conn.execute(sa.select(regions.c.id, regions.c.code, regions.c.name).order_by(regions.c.code))
    return {
        "departments": reference.list_departments(conn),
        "regions": [dict(row._mapping) for row in region_rows],
        "stores": reference.list_stores(conn),
        "roles": list(ROLE_LABELS),
        "store_roles": STORE_ROLES,
    }


def role_label(role: str, lang: str) -> str:
    pair = ROLE_LABELS.get(role)
    return role if pair is None else pair[1 if lang == "en" else 0]


def _scope_text(user: User, region_codes: dict[str, str], store_codes: dict[str, str]) -> str:
    if user.departments:
        return ", ".join(user.departments)
    if user.regions:
        return ", ".join(region_codes.get(rid, rid) for rid in user.regions)
    if user.store_id:
        return store_codes.get(user.store_id, user.store_id)
    return ""


async def list_page(request: Request) -> Response:
    caller = await admin_caller(request)
    if isinstance(caller, Response):
        return caller

    def work(conn: Any) -> dict[str, Any]:
        users = accounts.list_users(conn)
        region_codes = accounts.region_codes(conn, {rid for user in users for rid in user.regions})
        store_codes = {str(s["id"]): str(s["code"]) for s in reference.list_stores(conn)}
        return {"users": users, "scopes": {u.id: _scope_text(u, region_codes, store_codes) for u in users}}

    found = await blocking(request, lambda hq: read(hq, work))
    lang = lang_of(request)
    return admin_page(
        request,
        caller,
        "console_admin_org_users.html",
        **found,
        now_ms=now(request),
        role_label=lambda role: role_label(role, lang),
    )


def _scope_fields(form: FormData) -> dict[str, object]:
    return {
        "departments": texts(form, "departments"),
        "regions": texts(form, "regions"),
        "store": text(form, "store") or None,
    }


async def _form_page(
    request: Request,
    caller: Caller,
    *,
    user: User | None,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    choices = await blocking(request, lambda hq: read(hq, _choices))
    lang = lang_of(request)
    response = admin_page(
        request,
        caller,
        "console_admin_org_user.html",
        status_code=status_code,
        edited=user,
        form=form,
        errors=errors or {},
        role_label=lambda role: role_label(role, lang),
        **choices,
    )
    response.headers.update(NO_STORE)
    return response


def _user_form(user: User) -> dict[str, Any]:
    return {
        "display_name": user.display_name,
        "role": user.role,
        "departments": list(user.departments),
        "regions": list(user.regions),
        "store": user.store_id or "",
        "active": "1" if user.active else "",
    }


async def new_page(request: Request) -> Response:
    caller = await admin_caller(request)
    if isinstance(caller, Response):
        return caller
    return await _form_page(request, caller, user=None, form={"role": "agent"})


async def create(request: Request) -> Response:
    found = await admin_form(request)
    if isinstance(found, Response):
        return found
    caller, form = found
    fields: dict[str, object] = {
        "username": text(form, "username"),
        "display_name": text(form, "display_name"),
        "role": text(form, "role"),
        "password": form.get("password") or "",
        **_scope_fields(form),
    }
    pin = text(form, "pin")
    if pin:
        fields["pin"] = pin

    def work(hq: HqContext) -> User:
        return accounts.create_user(hq.db, fields, now(request), clock=hq.clock)

    try:
        user = await blocking(request, work)
    except HqError as exc:
        errors = field_errors(exc, lang_of(request))
        return await _form_page(request, caller, user=None, form=kept(form), errors=errors, status_code=exc.status)
    return RedirectResponse(f"{BASE}/{user.id}?done=created", status_code=303)


def _load(hq: HqContext, user_id: str) -> User | None:
    with hq.db.read() as conn:
        return accounts.get_user(conn, user_id)


async def edit_page(request: Request) -> Response:
    caller = await admin_caller(request)
    if isinstance(caller, Response):
        return caller
    user = await blocking(request, lambda hq: _load(hq, request.path_params["id"]))
    if user is None:
        return admin_page(request, caller, "console_message.html", status_code=404, message_key="c_not_found")
    return await _form_page(request, caller, user=user, form=_user_form(user))


async def update(request: Request) -> Response:
    found = await admin_form(request)
    if isinstance(found, Response):
        return found
    caller, form = found
    user_id = request.path_params["id"]
    user = await blocking(request, lambda hq: _load(hq, user_id))
    if user is None:
        return admin_page(request, caller, "console_message.html", status_code=404, message_key="c_not_found")
    changes: dict[str, object] = {
        "display_name": text(form, "display_name"),
        "role": text(form, "role"),
        "active": bool(text(form, "active")),
        **_scope_fields(form),
    }
    pin = text(form, "pin")
    if pin:
        changes["pin"] = pin
    elif text(form, "clear_pin"):
        changes["pin"] = None

    def work(hq: HqContext) -> User:
        return accounts.update_user(hq.db, user_id, changes, now(request), clock=hq.clock)

    try:
        await blocking(request, work)
    except HqError as exc:
        errors = field_errors(exc, lang_of(request))
        return await _form_page(request, caller, user=user, form=kept(form), errors=errors, status_code=exc.status)
    return RedirectResponse(f"{BASE}/{user_id}?done=saved", status_code=303)


async def reset_password(request: Request) -> Response:
    found = await admin_form(request)
    if isinstance(found, Response):
        return found
    caller, form = found
    user_id = request.path_params["id"]
    own = caller.user is not None and caller.user.id == user_id
    keep = caller.session.id if own and caller.session is not None else None
    password = form.get("password") or ""
    set_password = functools.partial(accounts.set_password, keep_session=keep)

    def work(hq: HqContext) -> int:
        if own and caller.user is not None:  # as the API asks: a stolen session cannot take the account
            accounts.check_current_password(hq.db, caller.user, form.get("current_password"), now(request))
        return set_password(hq.db, user_id, password, now(request), clock=hq.clock)

    try:
        await blocking(request, work)
    except NotFound:
        return admin_page(request, caller, "console_message.html", status_code=404, message_key="c_not_found")
    except HqError as exc:
        user = await blocking(request, lambda hq: _load(hq, user_id))
        found_errors = field_errors(exc, lang_of(request))
        field, message = found_errors.popitem()
        errors = {"current_password" if field == "current_password" else "new_password": message}
        page_form = _user_form(user) if user is not None else {}
        return await _form_page(request, caller, user=user, form=page_form, errors=errors, status_code=exc.status)
    return RedirectResponse(f"{BASE}/{user_id}?done=password", status_code=303)


routes: list[BaseRoute] = [
    Route(BASE, list_page, methods=["GET"]),
    Route(f"{BASE}/new", new_page, methods=["GET"]),
    Route(f"{BASE}/new", create, methods=["POST"]),
    Route(f"{BASE}/{{id}}", edit_page, methods=["GET"]),
    Route(f"{BASE}/{{id}}", update, methods=["POST"]),
    Route(f"{BASE}/{{id}}/password", reset_password, methods=["POST"]),
]
