"""A fault-injecting HTTP proxy between a store node and HQ, served by uvicorn in a thread.

It forwards every request to HQ over real HTTP and lets a test: hold pushes (answer 503 without
forwarding), delay push answers, or forward a push and then lose its answer (502), optionally
running a callback (such as SIGKILL of the store) after HQ applied the push.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.e2e.procs import free_port


class FaultyProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.hold_pushes = False
        #: Answer every request 503: the store is offline.
        self.offline = False
        self.push_delay_s = 0.0
        #: Forward the next N pushes but answer 502 instead of HQ's answer.
        self.lose_push_answers = 0
        #: Called (in a worker thread) after HQ applied a push whose answer is being lost.
        self.after_lost_push: Callable[[], None] | None = None
        self.pushes_forwarded = 0
        self.push_op_counts: list[int] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    async def _forward(self, request: Request) -> Response:
        path = request.url.path
        body = await request.body()
        is_push = path.endswith("/sync/v1/push")
        if self.offline or (is_push and self.hold_pushes):
            return JSONResponse({"error": {"code": "held", "message": "held by test proxy"}}, status_code=503)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        timeout = httpx.Timeout(60.0)
        async with httpx.AsyncClient(base_url=self.upstream, timeout=timeout) as client:
            upstream = await client.request(
                request.method, path, params=request.query_params, content=body, headers=headers
            )
        if is_push:
            self.pushes_forwarded += 1
            if self.push_delay_s:
                await asyncio.sleep(self.push_delay_s)
            if self.lose_push_answers > 0:
                self.lose_push_answers -= 1
                if self.after_lost_push is not None:
                    await asyncio.to_thread(self.after_lost_push)
                return JSONResponse({"error": {"code": "lost", "message": "answer lost by test proxy"}}, 502)
        drop = {"content-length", "transfer-encoding", "connection", "content-encoding"}
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in drop}
        return Response(upstream.content, status_code=upstream.status_code, headers=out_headers)

    def start(self) -> None:
        app = Starlette(routes=[Route("/{path:path}", self._forward, methods=["GET", "POST", "PATCH"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("proxy did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
