"""The desktop shell: the node's local UI in a pywebview window. Closing the window stops the node."""

from __future__ import annotations

import sys
import threading
import time

import httpx
import uvicorn
from starlette.applications import Starlette


def run_window(app: Starlette, host: str, port: int) -> int:
    try:
        import webview
    except ImportError:
        print(
            "storedesk store serve --window: the desktop window needs pywebview; "
            "install it with: pip install 'storedesk[desktop]'",
            file=sys.stderr,
        )
        return 2
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="storedesk-ui", daemon=True)
    thread.start()
    url = f"http://{host}:{port}/"
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            print("storedesk store serve --window: the local UI did not start", file=sys.stderr)
            return 1
        time.sleep(0.05)
    title = "StoreDesk"
    try:
        status = httpx.get(f"{url}api/v1/sync/status", timeout=2).json()
        if status.get("store_name"):
            title = f"StoreDesk · {status['store_name']}"
    except httpx.HTTPError:
        pass
    webview.create_window(title, url, width=1280, height=800)
    webview.start(gui="qt")
    server.should_exit = True  # window closed: stop the node; the outbox is already on disk
    thread.join(timeout=15)
    return 0
