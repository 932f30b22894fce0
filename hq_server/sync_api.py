"""HTTP handlers of the sync endpoints (msgpack; docs/sync.md). Blocking work runs in threads.

Order of checks on every request: the node token (401), the protocol header (426), then the
body: size (413), decoding (400), then the push rules (403, 409).
"""

from __future__ import annotations

import asyncio
import time

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hq_server import nodes, pull, push
from hq_server.context import HqContext, bearer_token, context_of
from hq_server.errors import BadRequest, PayloadTooLarge, Unauthorized, UnsupportedProtocol
from hq_server.responses import msgpack_response, request_lang
from sync_protocol.messages import WaitResponse, push_request_decoder
from sync_protocol.version import (
    CLIENT_HEADER,
    MAX_PUSH_BYTES,
    MAX_WAIT_S,
    PENDING_HEADER,
    PROTOCOL_HEADER,
    SUPPORTED_VERSIONS,
)

#: Bodies up to this size are read to the end even when too large, so the client reads our 413
#: instead of a reset connection; larger ones are refused without reading.
DRAIN_LIMIT = 4 * MAX_PUSH_BYTES
DEFAULT_WAIT_S = 25.0
#: A pull or wait records the node's contact when the last one recorded is older than this (ms):
#: "how old is this store's stock figure" without a write per request.
CONTACT_EVERY_MS = 60_000


async def authenticate(request: Request) -> tuple[HqContext, nodes.Node]:
    """The node whose token the request carries (401 otherwise), then the protocol check (426)."""
    hq = context_of(request)
    token = bearer_token(request)
    node = await run_in_threadpool(hq.find_node, token)
    if node is None:
        raise Unauthorized()
    version = request.headers.get(PROTOCOL_HEADER, "").strip()
    if not version.isdigit() or int(version) not in SUPPORTED_VERSIONS:
        raise UnsupportedProtocol(value=version or "-", supported=", ".join(map(str, SUPPORTED_VERSIONS)))
    return hq, node


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or :class:`PayloadTooLarge` when it has more than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > DRAIN_LIMIT:
        raise PayloadTooLarge("body_too_large", limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > DRAIN_LIMIT:
            break
        if size <= limit:
            chunks.append(chunk)
    if size > limit:
        raise PayloadTooLarge("body_too_large", limit=limit)
    return b"".join(chunks)


async def hello(request: Request) -> Response:
    """Who the calling node is, its high-water mark and ticket counter, and HQ's clock."""
    hq, node = await authenticate(request)
    return msgpack_response(pull.hello(hq.clock, node))


async def push_ops(request: Request) -> Response:
    """Apply a batch of ops in one transaction; one result per op."""
    hq, node = await authenticate(request)
    body = await read_body(request, MAX_PUSH_BYTES)
    try:
        message = push_request_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadRequest("malformed_body", detail=str(exc)) from exc
    answer = await run_in_threadpool(push.push, hq.db, hq.clock, node, message, request_lang(request))
    return msgpack_response(answer)


async def pull_changes(request: Request) -> Response:
    """The store's changes after ``cursor``, at most ``limit``."""
    hq, node = await authenticate(request)
    cursor = request.query_params.get("cursor", "0")
    limit = pull.parse_limit(request.query_params.get("limit"))
    answer = await run_in_threadpool(pull.pull, hq.db, hq.clock, node, cursor, limit)
    await note_contact(hq, node, request)
    return msgpack_response(answer)


async def wait_changes(request: Request) -> Response:
    """Long-poll: answers as soon as the store's scope has changes after ``cursor``."""
    hq, node = await authenticate(request)
    cursor = pull.parse_cursor(request.query_params.get("cursor", "0"))
    timeout = _parse_timeout(request.query_params.get("timeout"))
    await note_contact(hq, node, request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        snapshot = hq.notifier.snapshot()
        if await run_in_threadpool(pull.has_changes, hq.db, node, cursor):
            return msgpack_response(WaitResponse(changed=True, server_hlc=hq.clock.now().encode()))
        remaining = deadline - loop.time()
        if remaining <= 0 or hq.notifier.closed:
            return msgpack_response(WaitResponse(changed=False, server_hlc=hq.clock.now().encode()))
        await hq.notifier.wait(snapshot, remaining)


def node_report(request: Request) -> nodes.Report:
    """What the node says of itself in the request's headers (ignored when malformed)."""
    pending = request.headers.get(PENDING_HEADER, "").strip()
    protocol = request.headers.get(PROTOCOL_HEADER, "").strip()
    client = request.headers.get(CLIENT_HEADER, "").strip()
    return nodes.Report(
        pending_ops=int(pending) if pending.isdigit() and len(pending) < 10 else None,
        protocol=int(protocol) if protocol.isdigit() and len(protocol) < 6 else None,
        client_version=client[:40] if client.isprintable() and client else None,
    )


async def note_contact(hq: HqContext, node: nodes.Node, request: Request) -> None:
    """Record that the node reached HQ and what it says of itself (ops not yet acknowledged,
    protocol, software), unless that was recorded less than a minute ago and nothing changed."""
    now_ms = time.time_ns() // 1_000_000
    report = node_report(request)
    recent = node.last_seen_at is not None and now_ms - node.last_seen_at < CONTACT_EVERY_MS
    if recent and not report.differs_from(node):
        return

    def run() -> None:
        with hq.db.write_bookkeeping() as conn:
            nodes.touch(conn, node.id, now_ms, report)

    await run_in_threadpool(run)


def _parse_timeout(raw: str | None) -> float:
    if raw is None or raw == "":
        return DEFAULT_WAIT_S
    try:
        value = float(raw)
    except ValueError as exc:
        raise BadRequest("invalid_param", field="timeout") from exc
    if not value >= 0:  # also NaN
        raise BadRequest("invalid_param", field="timeout")
    return min(value, MAX_WAIT_S)


routes = [
    Route("/sync/v1/hello", hello, methods=["GET"]),
    Route("/sync/v1/push", push_ops, methods=["POST"]),
    Route("/sync/v1/pull", pull_changes, methods=["GET"]),
    Route("/sync/v1/wait", wait_changes, methods=["GET"]),
]
