"""HTTP handlers of returns and the chain's return policy (staff: a signed-in HQ user or the admin
token, JSON). Setting the policy is for administrators (403 ``admin_only``); a regional manager
sees the returns of their regions' stores only (another store by id or filter: 403
``out_of_scope``).

    GET /api/v1/return-policy                 the policy in force, with a summary in words
    PUT /api/v1/return-policy                 set it (every store receives it on its next sync)
    GET /api/v1/returns?store=&status=&order=&limit=   returns, newest first
    GET /api/v1/returns/{id}                  one return, by id or number
    GET /api/v1/returns/reasons?from=&to=&store=       accepted returns per reason (a report)

Returns themselves are made at the stores (op ``return.create``) and decided at push time.
"""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hq_server import reference, return_settings, return_store
from hq_server.auth import admin_principal, staff_principal
from hq_server.errors import InvalidInput, NotFound, from_invalid_field
from hq_server.openapi import operation, path_id, query
from hq_server.responses import json_response, request_lang
from hq_server.schema import orders, return_lines, returns
from hq_server.staff_api import json_object
from hq_server.staff_views import iso, parse_time
from sync_protocol.errors import InvalidField
from sync_protocol.orders import yuan
from sync_protocol.return_policy import REASON_LABELS, ReturnPolicy, explain, parse_policy, summary
from sync_protocol.returns import (
    ReturnState,
    amounts_json,
    label,
    summary_json,
)

MAX_LIST = 200
_POLICY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "no_reason_days": {"type": "integer", "description": "returns without a quality problem, up to this day"},
        "quality_days": {"type": "integer", "description": "quality problems, free up to this day"},
        "excluded_categories": {"type": "array", "items": {"type": "string"}},
        "require_unworn": {"type": "boolean"},
        "allow_refund": {"type": "boolean"},
        "allow_exchange": {"type": "boolean"},
        "exchange_days": {"type": ["integer", "null"]},
        "tz": {"type": "string", "description": "IANA time zone in which days are counted"},
    },
}


def policy_json(policy: ReturnPolicy, *, is_set: bool, lang: str) -> dict[str, Any]:
    return {**msgspec.to_builtins(policy), "source": "hq" if is_set else "default", "summary": summary(policy, lang)}


async def get_policy(request: Request) -> Response:
    """The chain's return policy (the defaults until one is set)."""
    hq, _ = await staff_principal(request)

    def run() -> tuple[ReturnPolicy, bool]:
        with hq.db.read() as conn:
            return return_settings.get_policy(conn), return_settings.is_set(conn)

    policy, is_set = await run_in_threadpool(run)
    return json_response(policy_json(policy, is_set=is_set, lang=request_lang(request)))


@operation(body=_POLICY_SCHEMA)
async def put_policy(request: Request) -> Response:
    """Set the chain's return policy; fields left out take their defaults. Every store receives
    it on its next sync; HQ decides returns pushed from then on with it."""
    hq, _ = await admin_principal(request)
    body = await json_object(request)
    try:
        policy = parse_policy(body)
    except InvalidField as exc:
        raise from_invalid_field(exc, **exc.params) from exc

    def run() -> None:
        with hq.db.write() as conn:
            return_settings.put_policy(conn, hq.clock, policy)

    await run_in_threadpool(run)
    return json_response(policy_json(policy, is_set=True, lang=request_lang(request)))


def return_json(state: ReturnState, store: dict[str, Any] | None, lang: str) -> dict[str, Any]:
    """A return for staff: amounts in yuan, times ISO 8601 UTC, decisions in words."""
    return {
        **summary_json(state, lang),
        "store": store,
        "order_number": state.order_number,
        "order_channel": state.order_channel,
        "customer_phone": state.customer_phone,
        "lines": [
            {
                "line_no": line.line_no,
                "sku": line.sku,
                "name": line.name,
                "category": line.category,
                "colour": line.colour,
                "size": line.size,
                "qty": line.qty,
                "unit_price": yuan(line.unit_price_cents),
                "amount": yuan(line.amount_cents),
                "unworn": line.unworn,
                "decision": None
                if line.decision is None
                else {
                    "allowed": line.decision.allowed,
                    "code": line.decision.code,
                    "text": explain(line.decision, lang),
                },
            }
            for line in state.lines
        ],
        "exchange": [
            {"sku": i.sku, "name": i.name, "qty": i.qty, "unit_price": yuan(i.unit_price_cents)} for i in state.exchange
        ],
        **amounts_json(state),
        "code": state.code,
        "refusal": state.refusal(lang),
        "refund_ticket": state.refund_ticket or None,
        "exception_ticket": state.exception_ticket or None,
        "exchange_order": state.exchange_order or None,
        "photos": state.photos,
        "note": state.note,
        "actor": state.actor,
        "at": iso(state.at),
        "decided_at": iso(state.decided_at),
    }


def _store_filter(conn: sa.Connection, key: str) -> str:
    store = reference.find_store(conn, key)
    if store is None:
        raise InvalidInput("unknown_store", field="store", value=key)
    return str(store["id"])


def _stores(conn: sa.Connection) -> dict[str, dict[str, Any]]:
    return {str(s["id"]): {"code": s["code"], "name": s["name"]} for s in reference.list_stores(conn)}


@operation(
    parameters=[
        query("store", "returning store code or id"),
        query("status", "accepted or rejected"),
        query("order", "order number"),
        query("limit", f"at most {MAX_LIST}", "integer"),
    ]
)
async def list_returns(request: Request) -> Response:
    """Returns decided at HQ, newest first: `{"items": [return...]}`."""
    hq, principal = await staff_principal(request)
    scope = principal.store_condition(returns.c.store_id)
    params = request.query_params
    status = params.get("status", "").strip()
    if status and status not in ("accepted", "rejected"):
        raise InvalidInput("invalid_choice", field="status", value=status)
    raw_limit = params.get("limit", "50")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIST:
        raise InvalidInput("out_of_range", field="limit", minimum=1, maximum=MAX_LIST)

    def run() -> tuple[list[ReturnState], dict[str, dict[str, Any]]]:
        with hq.db.read() as conn:
            conditions: list[sa.ColumnElement[bool]] = [sa.true() if scope is None else scope]
            if params.get("store", "").strip():
                store_id = _store_filter(conn, params["store"].strip())
                principal.check_store(conn, store_id)
                conditions.append(returns.c.store_id == store_id)
            if status:
                conditions.append(returns.c.status == status)
            if params.get("order", "").strip():
                order_ids = sa.select(orders.c.id).where(orders.c.number == params["order"].strip())
                conditions.append(returns.c.order_id.in_(order_ids))
            found = return_store.load_states(conn, sa.and_(*conditions), limit=int(raw_limit))
            return found, _stores(conn)

    found, stores = await run_in_threadpool(run)
    lang = request_lang(request)
    return json_response({"items": [return_json(s, stores.get(s.store_id), lang) for s in found]})


@operation(parameters=[path_id("return id or number")])
async def get_return(request: Request) -> Response:
    """One return, by id or number, with each line's decision in words."""
    hq, principal = await staff_principal(request)
    key = request.path_params["id"]

    def run() -> tuple[ReturnState | None, dict[str, dict[str, Any]]]:
        with hq.db.read() as conn:
            state = return_store.get_state(conn, key)
            if state is not None:
                principal.check_store(conn, state.store_id)
            return state, _stores(conn)

    state, stores = await run_in_threadpool(run)
    if state is None:
        raise NotFound("return_not_found", value=key)
    return json_response(return_json(state, stores.get(state.store_id), request_lang(request)))


@operation(
    parameters=[
        query("from", "returns taken in at or after (ISO 8601 or ms)"),
        query("to", "returns taken in before (ISO 8601 or ms)"),
        query("store", "returning store code or id"),
    ]
)
async def reasons_report(request: Request) -> Response:
    """Accepted returns per reason: how many returns, units and refunded yuan, and units per
    category, most returned first (`{"reasons": [...], "total": {...}}`)."""
    hq, principal = await staff_principal(request)
    scope = principal.store_condition(returns.c.store_id)
    params = request.query_params
    start = parse_time("from", params["from"]) if params.get("from") else None
    end = parse_time("to", params["to"]) if params.get("to") else None
    lang = request_lang(request)

    def run() -> dict[str, Any]:
        with hq.db.read() as conn:
            r, lines = returns.c, return_lines.c
            conditions: list[sa.ColumnElement[bool]] = [r.status == "accepted"]
            if scope is not None:
                conditions.append(scope)
            if start is not None:
                conditions.append(r.at >= start)
            if end is not None:
                conditions.append(r.at < end)
            if params.get("store", "").strip():
                store_id = _store_filter(conn, params["store"].strip())
                principal.check_store(conn, store_id)
                conditions.append(r.store_id == store_id)
            where = sa.and_(*conditions)
            per_reason = conn.execute(
                sa.select(r.reason, sa.func.count(), sa.func.sum(r.refund_cents)).where(where).group_by(r.reason)
            ).all()
            per_category = conn.execute(
                sa.select(r.reason, lines.category, sa.func.sum(lines.qty))
                .select_from(returns.join(return_lines, lines.return_id == r.id))
                .where(where)
                .group_by(r.reason, lines.category)
            ).all()
        categories: dict[str, dict[str, int]] = {}
        for reason, category, units in per_category:
            categories.setdefault(str(reason), {})[str(category)] = int(units or 0)
        items = []
        for reason, count, refund in per_reason:
            by_category = categories.get(str(reason), {})
            items.append(
                {
                    "reason": reason,
                    "reason_label": label(REASON_LABELS, str(reason), lang),
                    "returns": int(count),
                    "units": sum(by_category.values()),
                    "refund": yuan(int(refund or 0)),
                    "categories": [
                        {"category": c, "units": u} for c, u in sorted(by_category.items(), key=lambda kv: -kv[1])
                    ],
                }
            )
        items.sort(key=lambda item: (-item["units"], item["reason"]))
        return {
            "from": iso(start),
            "to": iso(end),
            "reasons": items,
            "total": {"returns": sum(i["returns"] for i in items), "units": sum(i["units"] for i in items)},
        }

    return json_response(await run_in_threadpool(run))


routes = [
    Route("/api/v1/return-policy", get_policy, methods=["GET"]),
    Route("/api/v1/return-policy", put_policy, methods=["PUT"]),
    Route("/api/v1/returns", list_returns, methods=["GET"]),
    Route("/api/v1/returns/reasons", reasons_report, methods=["GET"]),
    Route("/api/v1/returns/{id}", get_return, methods=["GET"]),
]
