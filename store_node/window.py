"""The desktop shell: the node's local UI in a pywebview window (Qt). Closing the window stops the node.

``storedesk store serve --window`` serves the same app as without ``--window`` (uvicorn, in a
thread) and shows it in a window whose title names the store. When the clerk closes the window
the server is told to exit, and the app's lifespan stops the sync task and closes the replica:
whatever is still in the outbox stays on disk and goes out at the next start.

pywebview with Qt (about 530 MB) is the optional extra ``storedesk[desktop]``; an HQ install
never pulls it. Running as root (a kiosk PC, a container) needs Chromium's sandbox off, which is
set here before Qt WebEngine starts.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

#: The window's size; the clerk UI is laid out for 1280 x 800 screens.
WIDTH, HEIGHT = 1280, 800
#: Seconds the local server may take to start, and to stop once the window is closed.
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0

#: Something to run once the window is up (in pywebview's worker thread), given the
#: ``webview.Window``: tests and scripted screenshots drive the window with it.
Driver = Callable[[Any], None]


def window_title(store_name: str | None) -> str:
    """``StoreDesk · 上海徐汇店``; plain ``StoreDesk`` until the node has learnt its store."""
    return f"StoreDesk · {store_name}" if store_name else "StoreDesk"


def _store_name(base_url: str) -> str | None:
    try:
        status = httpx.get(f"{base_url}api/v1/sync/status", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return None
    name = status.get("store_name") if isinstance(status, dict) else None
    return str(name) if name else None


def _desktop_env() -> None:
    """Qt WebEngine refuses to run its Chromium sandbox as root: turn it off there (only there)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")


def run_window(app: Starlette, host: str, port: int, *, drive: Driver | None = None) -> int:
    """Serve ``app`` on ``host:port`` and show it in a window until the window is closed.

    Returns the process exit code: 0 after a clean stop, 1 when the server did not start or stop,
    2 when the desktop extra is missing. ``drive`` (optional) runs once the window is shown."""
    _desktop_env()
    try:
        import webview
    except ImportError:
        print(
            "storedesk store serve --window: the desktop window needs pywebview with Qt; "
            "install it with: pip install 'storedesk[desktop]'",
            file=sys.stderr,
        )
        return 2
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, name="storedesk-ui", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            print(f"storedesk store serve --window: the local UI did not start on {host}:{port}", file=sys.stderr)
            return _stop(server, thread, 1)
        time.sleep(0.05)
    url = f"http://{host}:{port}/"
    window = webview.create_window(window_title(_store_name(url)), url, width=WIDTH, height=HEIGHT)
    if window is None:  # pywebview answers None when its "initialized" event cancels the window
        print("storedesk store serve --window: pywebview made no window", file=sys.stderr)
        return _stop(server, thread, 1)

    def follow_store_name() -> None:
        # A new PC learns its store from the first hello with HQ: name the window once it knows.
        title = window_title(_store_name(url))
        if title != window.title:
            window.set_title(title)

    window.events.loaded += follow_store_name
    restore = _close_on_signals(window)
    code = 0
    try:
        webview.start(drive, (window,), gui="qt")
    except Exception as exc:  # no usable Qt (missing libraries, no display): say so, stop cleanly
        print(f"storedesk store serve --window: cannot open the window: {exc}", file=sys.stderr)
        code = 2
    finally:
        restore()  # a second Ctrl-C while the node stops interrupts as usual
    # The window is closed: stop the server; the app's lifespan stops sync and closes the replica.
    return _stop(server, thread, code)


def _close_on_signals(window: Any) -> Callable[[], None]:
    """Ctrl-C or SIGTERM closes the window, so the node stops as if the clerk had closed it.

    Python runs its signal handlers only between bytecodes of the main thread, which sits in Qt's
    event loop; the C-level handler still writes the signal to a wakeup socket, which a thread
    waits on. Returns what puts the previous handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    watched = [signal.SIGINT, signal.SIGTERM]
    previous = {sig: signal.getsignal(sig) for sig in watched}
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    try:
        old_fd = signal.set_wakeup_fd(writer.fileno())
        for sig in watched:
            signal.signal(sig, lambda signum, frame: None)
    except (ValueError, OSError):  # no wakeup fd on this platform: leave the signals as they are
        reader.close()
        writer.close()
        return lambda: None

    def close_window() -> None:
        with reader:
            try:
                got = reader.recv(1)
            except OSError:
                return
        if got:
            window.destroy()

    threading.Thread(target=close_window, name="storedesk-signals", daemon=True).start()

    def restore() -> None:
        signal.set_wakeup_fd(old_fd)
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)
        writer.close()  # the watcher's recv answers b"": it ends without touching the window

    return restore


def _stop(server: uvicorn.Server, thread: threading.Thread, code: int) -> int:
    server.should_exit = True
    thread.join(timeout=STOP_TIMEOUT_S)
    if thread.is_alive():
        print("storedesk store serve --window: the local UI did not stop in time", file=sys.stderr)
        return 1
    return code
