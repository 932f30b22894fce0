"""The clerk's returns screens: find the customer's orders (by phone or order number, live from HQ
or this store's copies while offline), take goods back against the chain's policy (a check that
records nothing, then the return itself), and one return with HQ's decision and its voucher.

Every rule is the backend's: :mod:`store_node.return_actions` checks and records,
:mod:`store_node.return_views` and :mod:`store_node.order_views` shape what is shown, and the
order lookup is the local API's (:func:`store_node.api.find_orders`).
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from store_node import api, order_views, return_actions, return_records, return_views
from store_node.errors import NotFound, StoreNodeError
from store_node.ui import session
from store_node.ui.render import age, money, node_of, page, signed_in
from store_node.ui.returns_form import (
    ReturnForm,
    place_error,
    read_form,
    request_data,
    take_photos,
)
from store_node.ui.texts import t
from sync_protocol import i18n
from sync_protocol.errors import InvalidField
from sync_protocol.orders import PHONE, check_order_number, check_phone, normalize_phone
from sync_protocol.return_policy import REASON_LABELS
from sync_protocol.returns import REFUND_METHOD_LABELS, RETURN_KIND_LABELS

#: How many of this store's returns the lookup page lists.
RECENT_RETURNS = 20
#: Files one form may carry (beyond the most a return keeps, the clerk is told, not refused outright).
MAX_UPLOADS = 50
_MOBILE = re.compile(r"1\d{10}")


# -- formatting for the templates ------------------------------------------------------------------------


def yuan_money(value: str | None, lang: str = "zh") -> str:
    """:func:`money` of an amount the views give in yuan (``"1299.00"`` -> ``¥1,299.00``)."""
    if value in (None, ""):
        return ""
    return money(int(Decimal(str(value)) * 100), lang)


def _ago(now_ms: int, lang: str, iso_time: str | None) -> str:
    """How long before ``now_ms`` an ISO time of the views was, in words."""
    if not iso_time:
        return age(None, lang)
    moment = datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp() * 1000
    return age((now_ms - moment) / 1000, lang)


def _helpers(request: Request) -> dict[str, Any]:
    lang = session.lang_of(request)
    return {
        "yuan": functools.partial(yuan_money, lang=lang),
        "ago": functools.partial(_ago, node_of(request).wall_ms(), lang),
        "colon": ": " if lang == "en" else "：",
        "choices": {
            "reason": _labels(REASON_LABELS, lang),
            "kind": _labels(RETURN_KIND_LABELS, lang),
            "method": _labels(REFUND_METHOD_LABELS, lang),
        },
    }


def _labels(labels: dict[str, tuple[str, str]], lang: str) -> list[tuple[str, str]]:
    return [(code, pair[1] if lang == "en" else pair[0]) for code, pair in labels.items()]


def _message(exc: StoreNodeError, lang: str) -> str:
    message = i18n.render(exc.code, lang, field=exc.field, **exc.params)
    return exc.message if message == exc.code else message


# -- 1. the lookup -------------------------------------------------------------------------------------


def lookup_keys(typed: str) -> tuple[str | None, str | None]:
    """``(phone, number)`` of what the clerk typed, by its shape: a mainland mobile number (any
    spacing, ``+86`` or not) is a phone; else an order number; else any other phone number.
    Raises :class:`InvalidField` when it is neither."""
    value = typed.strip()
    if PHONE.fullmatch(value) and _MOBILE.fullmatch(normalize_phone(value)):
        return check_phone(value, "q"), None
    try:
        return None, check_order_number(value, "q")
    except InvalidField:
        if PHONE.fullmatch(value):
            return check_phone(value, "q"), None
        raise


async def returns_home(request: Request) -> Response:
    """``/returns?q=``: the lookup box, the orders found, and this store's recent returns."""
    clerk = signed_in(request)
    if isinstance(clerk, Response):
        return clerk
    node = node_of(request)
    lang = session.lang_of(request)
    typed = request.query_params.get("q", "").strip()[:80]
    found: dict[str, Any] | None = None
    error = ""
    if typed:
        try:
            phone, number = lookup_keys(typed)
        except InvalidField:
            error = t("rt_lookup_invalid", lang)
        else:
            found = await api.find_orders(request, phone=phone, number=number, lang=lang)
            if number is not None and not found["orders"] and PHONE.fullmatch(typed):
                found = await api.find_orders(request, phone=check_phone(typed, "q"), number=None, lang=lang)
    recent = return_views.list_returns(node, lang=lang)["items"][:RECENT_RETURNS]
    return page(
        request,
        "returns.html",
        status_code=422 if error else 200,
        q=typed,
        error=error,
        found=found,
        recent=recent,
        **_helpers(request),
    )


# -- 2. taking goods back ------------------------------------------------------------------------------


def _form_page(
    request: Request,
    order: dict[str, Any],
    state: ReturnForm,
    *,
    status_code: int = 200,
    check: dict[str, Any] | None = None,
    decisions: list[dict[str, Any]] | None = None,
    message: str = "",
) -> Response:
    node = node_of(request)
    lang = session.lang_of(request)
    policy = return_views.policy_json(node, lang)
    lines = decisions if decisions is not None else (check["lines"] if check else [])
    return page(
        request,
        "return_form.html",
        status_code=status_code,
        order=order,
        form=state,
        check=check,
        decisions={x["line_no"]: x for x in lines},
        message=message,
        policy=policy,
        **_helpers(request),
    )


def _order_missing(request: Request, number: str, status_code: int = 404) -> Response:
    """The lookup page with the number kept and why no form can be shown."""
    lang = session.lang_of(request)
    recent = return_views.list_returns(node_of(request), lang=lang)["items"][:RECENT_RETURNS]
    error = i18n.render("order_not_found", lang, value=number)
    return page(
        request,
        "returns.html",
        status_code=status_code,
        q=number,
        error=error,
        found=None,
        recent=recent,
        **_helpers(request),
    )


async def new_return_form(request: Request) -> Response:
    """``/returns/new?order=NUMBER``: the order's lines (as HQ knows them now, else this store's
    copy) to pick from."""
    clerk = signed_in(request)
    if isinstance(clerk, Response):
        return clerk
    typed = request.query_params.get("order", "").strip()
    if not typed:
        return RedirectResponse("/returns", status_code=303)
    try:
        number = check_order_number(typed, "order")
    except InvalidField:
        return _order_missing(request, typed[:80], 422)
    order = await api.find_order(request, number, session.lang_of(request))
    if order is None:
        return _order_missing(request, number)
    return _form_page(request, order, ReturnForm(order=number))


async def _submitted(request: Request) -> tuple[ReturnForm, dict[str, Any], dict[str, Any]] | Response:
    """The form as typed (photos kept), the order, and the request to check in the clerk's name."""
    clerk = signed_in(request)
    if isinstance(clerk, Response):
        return clerk
    node = node_of(request)
    lang = session.lang_of(request)
    async with request.form(max_files=MAX_UPLOADS) as form:
        state = read_form(node, form)
        await take_photos(node, form, state, lang)
    try:
        await api.order_for_return(request, {"order": state.order})
        order = order_views.local_order(node, check_order_number(state.order, "order"), lang)
    except InvalidField:
        order = None
    if order is None:
        return _order_missing(request, state.order[:80])
    return state, order, request_data(state, clerk.actor, lang)


async def check_return(request: Request) -> Response:
    """``POST /returns/check``: the policy's decision on each picked line, recording nothing."""
    submitted = await _submitted(request)
    if isinstance(submitted, Response):
        return submitted
    state, order, data = submitted
    lang = session.lang_of(request)
    if state.errors:
        return _form_page(request, order, state, status_code=422, message=t("rt_fix_errors", lang))
    try:
        checked = return_actions.check_return(node_of(request), data, lang=lang)
    except StoreNodeError as exc:
        return _form_page(request, order, state, status_code=422, message=place_error(state, exc, lang))
    return _form_page(request, order, state, check=checked)


async def create_return(request: Request) -> Response:
    """``POST /returns/new``: take the goods back; on to the return (and its voucher)."""
    submitted = await _submitted(request)
    if isinstance(submitted, Response):
        return submitted
    state, order, data = submitted
    node = node_of(request)
    lang = session.lang_of(request)
    if state.errors:
        return _form_page(request, order, state, status_code=422, message=t("rt_fix_errors", lang))
    try:
        return_id = return_actions.create_return(node, data, lang=lang)
    except return_actions.Refused as exc:
        message = place_error(state, exc, lang)
        decisions = exc.details.get("lines") if exc.code == "return_not_allowed" else None
        return _form_page(request, order, state, status_code=422, decisions=decisions, message=message)
    except StoreNodeError as exc:
        return _form_page(request, order, state, status_code=422, message=place_error(state, exc, lang))
    number = return_records.find_return(node, return_id).number
    return RedirectResponse(f"/returns/{quote(number, safe='')}", status_code=303)


# -- 3. one return ---------------------------------------------------------------------------------------


async def return_detail(request: Request) -> Response:
    """``/returns/{id or number}``: lines with the policy's sentence, amounts, HQ's decision."""
    clerk = signed_in(request)
    if isinstance(clerk, Response):
        return clerk
    lang = session.lang_of(request)
    key = request.path_params["key"]
    try:
        shown = return_views.get_return(node_of(request), key, lang)
    except NotFound:
        missing = i18n.render("return_not_found", lang, value=key)
        return page(request, "return_detail.html", status_code=404, ret=None, missing=missing, **_helpers(request))
    return page(request, "return_detail.html", ret=shown, missing="", **_helpers(request))


routes: list[BaseRoute] = [
    Route("/returns", returns_home, methods=["GET"]),
    Route("/returns/new", new_return_form, methods=["GET"]),
    Route("/returns/new", create_return, methods=["POST"]),
    Route("/returns/check", check_return, methods=["POST"]),
    Route("/returns/{key}", return_detail, methods=["GET"]),
]
