"""Store nodes: enrolment (a node token for a new or existing store, shown once) and the sync
health of every store's nodes.

What HQ knows of a node is what :mod:`hq_server.nodes` keeps: when it was enrolled, when it last
reached HQ (a push, or a pull or wait, recorded at most once a minute; pushes and pulls are not
told apart), its high-water mark (the last op seq HQ applied) and ticket counter. HQ does not
know how many ops wait at the store, nor which protocol version or client a node last spoke (the
header is checked on every request but not recorded): the page says so rather than guess. Nodes
cannot be revoked: :mod:`hq_server.nodes` has no revocation, so the page offers none.

The token is in the one answer to the enrolment form (not cached: ``Cache-Control: no-store``),
never stored (HQ keeps its SHA-256) and never logged."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

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
)
from hq_server.console.admin_org_stores import region_rows
from hq_server.console.render import lang_of
from hq_server.enrollment import Enrollment, enroll_store
from hq_server.errors import HqError
from hq_server.schema import nodes, regions, stores
from sync_protocol.version import SUPPORTED_VERSIONS

log = logging.getLogger("storedesk.hq.console")

GREEN_MS = 5 * 60_000
AMBER_MS = 60 * 60_000


@dataclass(frozen=True)
class NodeRow:
    node_no: int
    store_code: str
    store_name: str
    region_code: str
    enrolled_at: int
    last_seen_at: int | None
    high_water: int
    ticket_counter: int
    pending_ops: int | None = None
    protocol: int | None = None
    client_version: str | None = None


def health(last_seen_at: int | None, now_ms: int) -> str:
    """``ok`` (under 5 minutes), ``soon`` (under an hour) or ``overdue`` (older, or never)."""
    if last_seen_at is None:
        return "overdue"
    age = now_ms - last_seen_at
    return "ok" if age < GREEN_MS else "soon" if age < AMBER_MS else "overdue"


def age_text(last_seen_at: int | None, now_ms: int, lang: str) -> str:
    from hq_server.console.texts import t

    if last_seen_at is None:
        return t("ao_never", lang)
    minutes = max(0, now_ms - last_seen_at) // 60_000
    if minutes < 1:
        return t("ao_age_now", lang)
    if minutes < 60:
        return t("ao_age_minutes", lang, n=minutes)
    if minutes < 48 * 60:
        return t("ao_age_hours", lang, n=minutes // 60)
    return t("ao_age_days", lang, n=minutes // (24 * 60))


def _node_query() -> sa.Select[Any]:
    return (
        sa.select(
            nodes.c.node_no,
            stores.c.code,
            stores.c.name,
            sa.func.coalesce(regions.c.code, "").label("region_code"),
            nodes.c.created_at,
            nodes.c.last_seen_at,
            nodes.c.high_water,
            nodes.c.ticket_counter,
            nodes.c.pending_ops,
            nodes.c.protocol,
            nodes.c.client_version,
        )
        .select_from(
            nodes.join(stores, nodes.c.store_id == stores.c.id).outerjoin(regions, stores.c.region_id == regions.c.id)
        )
        .order_by(stores.c.code, nodes.c.node_no)
    )


def _rows(conn: Connection, query: sa.Select[Any]) -> list[NodeRow]:
    return [
        NodeRow(
            int(no),
            str(code),
            str(name),
            str(region),
            int(created),
            None if seen is None else int(seen),
            int(hw),
            int(tc),
            None if pending is None else int(pending),
            None if protocol is None else int(protocol),
            None if client is None else str(client),
        )
        for no, code, name, region, created, seen, hw, tc, pending, protocol, client in conn.execute(query)
    ]


def store_nodes(conn: Connection, store_id: str) -> list[NodeRow]:
    return _rows(conn, _node_query().where(nodes.c.store_id == store_id))


def all_nodes(conn: Connection) -> list[NodeRow]:
    return _rows(conn, _node_query())


def _stores_without_nodes(conn: Connection) -> list[dict[str, Any]]:
    query = (
        sa.select(stores.c.code, stores.c.name)
        .where(~stores.c.id.in_(sa.select(nodes.c.store_id).scalar_subquery()))
        .order_by(stores.c.code)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


async def sync_page(request: Request) -> Response:
    caller = await admin_caller(request)
    if isinstance(caller, Response):
        return caller

    def work(conn: Connection) -> dict[str, Any]:
        return {"nodes": all_nodes(conn), "bare_stores": _stores_without_nodes(conn)}

    found = await blocking(request, lambda hq: read(hq, work))
    now_ms = now(request)
    lang = lang_of(request)
    return admin_page(
        request,
        caller,
        "console_admin_org_sync.html",
        **found,
        now_ms=now_ms,
        health=lambda seen: health(seen, now_ms),
        age=lambda seen: age_text(seen, now_ms, lang),
        versions=", ".join(map(str, SUPPORTED_VERSIONS)),
    )


async def _enroll_page(
    request: Request, caller: Any, form: dict[str, Any], errors: dict[str, str], status_code: int = 200
) -> Response:
    def work(conn: Connection) -> dict[str, Any]:
        from hq_server import reference

        return {"stores": reference.list_stores(conn), "regions": region_rows(conn)}

    found = await blocking(request, lambda hq: read(hq, work))
    return admin_page(
        request, caller, "console_admin_org_enroll.html", status_code=status_code, form=form, errors=errors, **found
    )


async def enroll_page(request: Request) -> Response:
    caller = await admin_caller(request)
    if isinstance(caller, Response):
        return caller
    return await _enroll_page(request, caller, {"code": request.query_params.get("store", "")}, {})


async def enroll(request: Request) -> Response:
    found = await admin_form(request)
    if isinstance(found, Response):
        return found
    caller, form = found
    code, name, region = text(form, "code"), text(form, "name"), text(form, "region")
    try:
        done: Enrollment = await blocking(
            request, lambda hq: enroll_store(hq.db, hq.clock, code, name=name or None, region=region or None)
        )
    except HqError as exc:
        return await _enroll_page(request, caller, kept(form), field_errors(exc, lang_of(request)), exc.status)
    who = caller.user.username if caller.user is not None else "?"
    log.info(
        "node %s (no. %d) of store %s enrolled from the console by %s", done.node_id, done.node_no, done.store_code, who
    )
    response = admin_page(request, caller, "console_admin_org_enrolled.html", enrolled=done)
    response.headers.update(NO_STORE)
    return response


routes: list[BaseRoute] = [
    Route("/console/admin/sync", sync_page, methods=["GET"]),
    Route("/console/admin/enroll", enroll_page, methods=["GET"]),
    Route("/console/admin/enroll", enroll, methods=["POST"]),
]
