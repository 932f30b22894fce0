"""The store node's Starlette app: local API, clerk UI, and the sync task in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from store_node import api
from store_node.errors import MethodNotAllowed, NotFound, StoreNodeError
from store_node.node import Node
from store_node.sync_client import SyncClient
from store_node.ui import returns, shell, stock, tickets

log = logging.getLogger("storedesk.store")


async def _store_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StoreNodeError)
    return api.error_response(exc, api.lang_of(request))


async def _routing_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer in the same JSON envelope as every other error."""
    assert isinstance(exc, HTTPException)
    error: StoreNodeError
    if exc.status_code == 405:
        error = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
    elif exc.status_code == 404:
        error = NotFound(f"no such path {request.url.path}")
    else:
        error = StoreNodeError(str(exc.detail), code="http_error")
        error.status = exc.status_code
    return api.error_response(error, api.lang_of(request))


async def _unexpected(request: Request, exc: Exception) -> Response:
    """A bug: logged with its traceback, answered 500 in the JSON envelope; the node goes on."""
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    error = StoreNodeError(f"{type(exc).__name__}: {exc}", code="store_internal_error")
    error.status = 500
    return api.error_response(error, api.lang_of(request))


#: How long a stopping node waits for its sync task. A cancel can be lost inside an HTTP connect to
#: an unreachable HQ (the task then never ends); the outbox is on disk, so the node stops anyway.
STOP_WAIT_S = 5.0


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=STOP_WAIT_S)
    if not done:
        log.warning("the sync task did not stop within %.0f s (a connect to HQ hung); stopping without it", STOP_WAIT_S)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # whatever it ends with is moot
    elif not task.cancelled() and task.exception() is not None:
        log.warning("the sync task ended with %r", task.exception())


def create_app(
    data_dir: Path,
    hq_url: str,
    token: str,
    *,
    wall_ms: Callable[[], int] | None = None,
    start_sync: bool = True,
) -> Starlette:
    """The app of one store node over the replica in ``data_dir``, syncing with ``hq_url``."""
    node = Node(data_dir, wall_ms=wall_ms)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        node.local_write = asyncio.Event()  # bind to the serving loop
        client = SyncClient(node, hq_url, token)
        app.state.sync = client
        task = asyncio.create_task(client.run()) if start_sync else None
        try:
            yield
        finally:
            if task is not None:
                await _stop(task)
            await client.close()
            node.close()

    app = Starlette(
        routes=[
            *shell.routes,
            *tickets.routes,
            *stock.routes,
            *returns.routes,
            Mount("/static", StaticFiles(packages=[("store_node", "static")]), name="static"),
            *api.routes,
        ],
        exception_handlers={StoreNodeError: _store_error, HTTPException: _routing_error, Exception: _unexpected},
        lifespan=lifespan,
    )
    app.state.node = node
    return app
