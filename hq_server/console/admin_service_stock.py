"""The chain's return policy as a form (with the summary a clerk reads out, and a refusal next to
the field at fault), and the stores' replenishment thresholds (list by store, set one, remove one).

The policy goes through :func:`sync_protocol.return_policy.parse_policy` and
:func:`hq_server.return_settings.put_policy` as ``PUT /api/v1/return-policy`` does; a threshold
through the item check of ``PUT /api/v1/stock/thresholds`` (``null`` removes)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hq_server import reference, return_settings, stock_api
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
from hq_server.context import HqContext
from hq_server.errors import InvalidInput
from hq_server.schema import stock_thresholds, stores
from sync_protocol.errors import InvalidField
from sync_protocol.return_policy import ReturnPolicy, parse_policy, summary

POLICY_TEMPLATE = "console_admin_service_returns.html"
THRESHOLD_TEMPLATE = "console_admin_service_thresholds.html"
CHECKS = ("require_unworn", "allow_refund", "allow_exchange")


def policy_inputs(policy: ReturnPolicy) -> dict[str, Any]:
    return {
        "no_reason_days": str(policy.no_reason_days),
        "quality_days": str(policy.quality_days),
        "exchange_days": "" if policy.exchange_days is None else str(policy.exchange_days),
        "excluded_categories": "\n".join(policy.excluded_categories),
        "tz": policy.tz,
        **{name: getattr(policy, name) for name in CHECKS},
    }


def policy_body(inputs: dict[str, Any]) -> dict[str, Any]:
    """The API's body from the form (a blank exchange window: the same as the no-reason one)."""
    body: dict[str, Any] = {
        name: whole_number(str(inputs.get(name, ""))) for name in ("no_reason_days", "quality_days")
    }
    body = {key: value for key, value in body.items() if value is not None}
    body["exchange_days"] = whole_number(str(inputs.get("exchange_days", "")))
    body["excluded_categories"] = text_list(str(inputs.get("excluded_categories", "")))
    body["tz"] = str(inputs.get("tz", "")).strip() or ReturnPolicy().tz
    for name in CHECKS:
        body[name] = bool(inputs.get(name))
    return body


def _policy_page(request: Request, caller: Any, policy: ReturnPolicy, is_set: bool, **context: Any) -> Response:
    context.setdefault("inputs", policy_inputs(policy))
    return page(
        request,
        caller,
        POLICY_TEMPLATE,
        summary=summary(policy, lang(request)),
        is_set=is_set,
        checks=CHECKS,
        screen="return-policy",
        **context,
    )


def _current(conn: Any) -> tuple[ReturnPolicy, bool]:
    return return_settings.get_policy(conn), return_settings.is_set(conn)


async def policy_page(request: Request) -> Response:
    caller = await admin_page(request)
    if isinstance(caller, Response):
        return caller
    policy, is_set = await read(request, _current)
    return _policy_page(request, caller, policy, is_set, error=None, saved=request.query_params.get("saved") == "1")


async def save_policy(request: Request) -> Response:
    posted = await admin_form(request)
    if isinstance(posted, Response):
        return posted
    caller, data = posted
    inputs: dict[str, Any] = {key: value for key, value in data.items() if isinstance(value, str)}

    def work(hq: HqContext, conn: Any) -> None:
        return_settings.put_policy(conn, hq.clock, parse_policy(policy_body(inputs)))

    try:
        await write(request, work)
    except InvalidField as exc:
        policy, is_set = await read(request, _current)
        error = field_error(exc, lang(request))
        return _policy_page(request, caller, policy, is_set, error=error, inputs=inputs, status_code=422)
    return RedirectResponse("/console/admin/return-policy?saved=1", status_code=303)


# --- Thresholds -----------------------------------------------------------------------------


def _thresholds(store_code: str) -> Any:
    def work(conn: Any) -> dict[str, Any]:
        t, s = stock_thresholds.c, stores.c
        query = (
            sa.select(s.code, s.name, t.sku, t.threshold, t.updated_at)
            .select_from(stock_thresholds.join(stores, t.store_id == s.id))
            .order_by(s.code, t.sku)
        )
        if store_code:
            query = query.where(s.code == store_code)
        return {"items": [dict(row) for row in conn.execute(query).mappings()], "stores": reference.list_stores(conn)}

    return work


async def _threshold_page(request: Request, caller: Any, **context: Any) -> Response:
    store_code = request.query_params.get("store", "").strip()
    found = await read(request, _thresholds(store_code))
    context.setdefault("inputs", {"store": store_code})
    context.setdefault("error", None)
    return page(request, caller, THRESHOLD_TEMPLATE, **found, store_filter=store_code, screen="thresholds", **context)


async def thresholds_page(request: Request) -> Response:
    caller = await admin_page(request)
    if isinstance(caller, Response):
        return caller
    return await _threshold_page(request, caller, saved=request.query_params.get("saved") == "1")


async def set_threshold(request: Request) -> Response:
    """Set one (``threshold`` a number) or remove one (``remove`` given)."""
    posted = await admin_form(request)
    if isinstance(posted, Response):
        return posted
    caller, data = posted
    inputs = {key: value.strip() for key, value in data.items() if isinstance(value, str)}
    removing = bool(inputs.get("remove"))
    item = {
        "store": inputs.get("store", ""),
        "sku": inputs.get("sku", ""),
        "threshold": None if removing else whole_number(inputs.get("threshold", "")),
    }

    def work(hq: HqContext, conn: Any) -> None:
        stock_api.put_threshold(conn, 0, item, hq.clock.wall())

    try:
        if not removing and item["threshold"] is None:
            raise InvalidInput("required", field="[0].threshold")
        await write(request, work)
    except InvalidInput as exc:
        field = (exc.field or "").removeprefix("[0].")
        error = field_error(InvalidInput(exc.code, field=field, **exc.params), lang(request))
        return await _threshold_page(request, caller, error=error, inputs=inputs, status_code=422)
    back = f"/console/admin/thresholds?saved=1&store={quote(inputs.get('filter', ''))}"
    return RedirectResponse(back, status_code=303)


routes: list[BaseRoute] = [
    Route("/console/admin/return-policy", policy_page, methods=["GET"]),
    Route("/console/admin/return-policy", save_policy, methods=["POST"]),
    Route("/console/admin/thresholds", thresholds_page, methods=["GET"]),
    Route("/console/admin/thresholds", set_threshold, methods=["POST"]),
]
