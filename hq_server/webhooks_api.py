"""HTTP handlers of HQ's webhooks (``/api/v1/webhooks``; an administrator or the
admin token only, 403 ``admin_only``): list, add, remove,
and each webhook's recent deliveries. A webhook's secret is shown in full only in the answer that
adds it; lists show its last four characters."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hq_server import webhooks
from hq_server.auth import admin_principal
from hq_server.errors import BadRequest, InvalidInput, NotFound, from_invalid_field
from hq_server.openapi import operation, query
from hq_server.responses import json_response
from hq_server.staff_views import iso
from sync_protocol.errors import InvalidField

_json_decoder = msgspec.json.Decoder()

_BODY_FIELDS = frozenset({"url", "events", "secret"})
DEFAULT_DELIVERIES = 50
MAX_DELIVERIES = 500


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        value = _json_decoder.decode(await request.body())
    except msgspec.DecodeError as exc:
        raise BadRequest("invalid_json") from exc
    if not isinstance(value, dict):
        raise BadRequest("invalid_json")
    return value


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def webhook_json(hook: dict[str, Any], *, reveal_secret: bool = False) -> dict[str, Any]:
    """A webhook as JSON: the secret's last four characters, the whole secret only when revealed."""
    secret: str = hook["secret"]
    shown: dict[str, Any] = {
        "id": hook["id"],
        "url": hook["url"],
        "events": hook["events"],
        "active": hook["active"],
        "created_at": iso(hook["created_at"]),
        "secret_last4": secret[-4:],
    }
    if reveal_secret:
        shown["secret"] = secret
    return shown


def delivery_json(delivery: dict[str, Any]) -> dict[str, Any]:
    """A delivery as JSON, with its ``status``: ``delivered``, ``failed`` or ``pending``."""
    if delivery["delivered_at"] is not None:
        status = "delivered"
    elif delivery["failed_at"] is not None:
        status = "failed"
    else:
        status = "pending"
    return {
        "event_id": delivery["event_id"],
        "event": delivery["event"],
        "created_at": iso(delivery["created_at"]),
        "status": status,
        "attempts": delivery["attempts"],
        "last_error": delivery["last_error"],
        "next_attempt_at": None if status != "pending" else iso(delivery["next_attempt_at"]),
        "delivered_at": iso(delivery["delivered_at"]),
        "failed_at": iso(delivery["failed_at"]),
    }


@operation(parameters=[query("inactive", "1: include removed webhooks")])
async def get_webhooks(request: Request) -> Response:
    """The webhooks, oldest first.

    Answers `{"items": [{"id", "url", "events", "active", "created_at", "secret_last4"}...]}`;
    removed webhooks only with `inactive=1`.
    """
    hq, _ = await admin_principal(request)
    include_inactive = request.query_params.get("inactive") in ("1", "true")

    def run() -> list[dict[str, Any]]:
        with hq.db.read() as conn:
            return webhooks.list_webhooks(conn, include_inactive=include_inactive)

    return json_response({"items": [webhook_json(hook) for hook in await run_in_threadpool(run)]})


@operation(
    body={
        "type": "object",
        "required": ["url"],
        "properties": {
            "url": {"type": "string", "maxLength": webhooks.MAX_URL_LENGTH},
            "events": {"type": "array", "items": {"type": "string"}},
            "secret": {"type": "string", "maxLength": webhooks.MAX_SECRET_LENGTH},
        },
    }
)
async def post_webhook(request: Request) -> Response:
    """Add a webhook: `{"url": "https://...", "events": ["ticket.escalated"], "secret": "..."}`.

    `events` empty or left out: every event. Without `secret` HQ makes a random one. Answers 201
    with the webhook and its whole `secret`, shown this once. Each event is POSTed as JSON with
    `X-StoreDesk-Signature: sha256=<hex HMAC-SHA256(secret, "<X-StoreDesk-Timestamp>." + body)>`.
    """
    hq, _ = await admin_principal(request)
    body = await _json_object(request)
    for name in body:
        if name not in _BODY_FIELDS:
            raise InvalidInput("unknown_field", field=name)
    if body.get("url") in (None, ""):
        raise InvalidInput("required", field="url")
    events = body.get("events", [])
    secret = body.get("secret")

    def run() -> dict[str, Any]:
        with hq.db.write() as conn:
            try:
                return webhooks.add_webhook(conn, url=body["url"], secret=secret, events=events, now_ms=_now_ms())
            except InvalidField as exc:
                raise from_invalid_field(exc, **exc.params) from exc

    hook = await run_in_threadpool(run)
    return json_response(webhook_json(hook, reveal_secret=True), status_code=201)


async def delete_webhook(request: Request) -> Response:
    """Remove a webhook: it gets no more events; its deliveries stay listed."""
    hq, _ = await admin_principal(request)
    webhook_id = request.path_params["id"]

    def run() -> bool:
        with hq.db.write() as conn:
            return webhooks.remove_webhook(conn, webhook_id)

    if not await run_in_threadpool(run):
        raise NotFound("webhook_not_found", value=webhook_id)
    return json_response({"id": webhook_id, "active": False})


@operation(parameters=[query("limit", f"how many (1-{MAX_DELIVERIES}, default {DEFAULT_DELIVERIES})", "integer")])
async def get_deliveries(request: Request) -> Response:
    """A webhook's recent deliveries, newest event first.

    Answers `{"items": [{"event_id", "event", "created_at", "status": "pending"|"delivered"|"failed",
    "attempts", "last_error", "next_attempt_at", "delivered_at", "failed_at"}...]}`.
    """
    hq, _ = await admin_principal(request)
    webhook_id = request.path_params["id"]
    limit = _limit(request)

    def run() -> list[dict[str, Any]] | None:
        with hq.db.read() as conn:
            if webhooks.get_webhook(conn, webhook_id) is None:
                return None
            return webhooks.list_deliveries(conn, webhook_id, limit=limit)

    found = await run_in_threadpool(run)
    if found is None:
        raise NotFound("webhook_not_found", value=webhook_id)
    return json_response({"items": [delivery_json(delivery) for delivery in found]})


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return DEFAULT_DELIVERIES
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest("invalid_param", field="limit") from None
    if not 1 <= value <= MAX_DELIVERIES:
        raise BadRequest("invalid_param", field="limit")
    return value


routes = [
    Route("/api/v1/webhooks", get_webhooks, methods=["GET"]),
    Route("/api/v1/webhooks", post_webhook, methods=["POST"]),
    Route("/api/v1/webhooks/{id}", delete_webhook, methods=["DELETE"]),
    Route("/api/v1/webhooks/{id}/deliveries", get_deliveries, methods=["GET"]),
]
