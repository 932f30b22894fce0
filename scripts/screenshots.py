"""Screenshots of the clerk UI and of HQ's console for the docs (``make screenshots``).

Starts the demo chain (``storedesk demo``: HQ and three stores with tickets, stock, transfers,
orders and a return) in a fresh temporary folder, signs a clerk in at one store (with the store's
demo account, :func:`storedesk_demo.store_account`, once its node has pulled it) in headless
Chromium (Playwright driving Debian's ``chromium``; no browser is downloaded) and captures each
screen of :data:`SHOTS` in Chinese at 1280 x 800 into ``docs/screenshots/``. A screen the node does
not have (404) is skipped with a note. Then it signs in at HQ's console as demo users and takes
:data:`CONSOLE_SHOTS` (queue, board, a ticket, a regional manager's dashboard). Everything it
started is stopped afterwards.

To add a screen, add a :class:`Shot`; ``{ticket}``, ``{transfer}``, ``{return}`` and
``{product}`` in its path are filled from the store's own data (see :data:`FILLERS`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import random
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from storedesk_demo import STOCKED_PRODUCTS, STORES, USERS, store_account  # noqa: E402
from tests.browser import chromium_path, clerk_page, playwright_browser  # noqa: E402
from tests.ui.browser_flows import ClerkAt  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@dataclass(frozen=True)
class Shot:
    #: The screen's path; ``{name}`` placeholders are filled by :data:`FILLERS`.
    path: str
    #: The PNG's name in the output folder.
    file: str
    #: Whether a clerk is signed in (the sign-in page itself is taken before).
    signed_in: bool = True
    #: The demo store whose screen it is (None: the one given by ``--store``, SH001 by default).
    store: str | None = None


SHOTS: list[Shot] = [
    Shot("/signin", "signin.png", signed_in=False),
    Shot("/", "home.png"),
    Shot("/sync", "sync.png"),
    Shot("/tickets/new?type=quality", "ticket-new.png"),
    Shot("/tickets/{ticket}", "ticket.png"),
    Shot("/stock?product={product}", "stock.png"),
    Shot("/transfers", "transfers.png"),
    Shot("/transfers/{transfer}", "transfer.png"),
    # The demo's return was taken at BJ001 (goods bought at SH001).
    Shot("/returns", "returns.png", store="BJ001"),
    Shot("/returns/{return}", "return.png", store="BJ001"),
]

#: HQ console screens: (demo user, path, PNG, whole page). A supervisor sees every ticket; the
#: dashboard is a regional manager's (their region only).
CONSOLE_SHOTS: list[tuple[str, str, str, bool]] = [
    ("supervisor", "/console/queue", "console-queue.png", False),
    ("supervisor", "/console/board", "console-board.png", False),
    ("supervisor", "/console/tickets/{console_ticket}", "console-ticket.png", False),
    ("east.manager", "/console/dashboard", "console-dashboard.png", True),
]

#: Seconds the demo may take to start and fill the chain (about 40 on the 2-core dev VM).
DEMO_TIMEOUT_S = 240.0
#: Seconds the chosen store may take to have everything synced.
SYNC_TIMEOUT_S = 60.0


def _first(api: httpx.Client, path: str, field: str = "id", lists: tuple[str, ...] = ("items",)) -> str | None:
    """``field`` of the first record the local API lists at ``path`` (in the first non-empty list)."""
    response = api.get(path)
    if response.status_code != 200:
        return None
    body = response.json()
    for key in lists:
        if body.get(key):
            return str(body[key][0][field])
    return None


#: What fills each placeholder of a shot's path, from the store's local API (None: nothing there).
FILLERS: dict[str, Callable[[httpx.Client], str | None]] = {
    "ticket": lambda api: _first(api, "/api/v1/tickets"),
    "transfer": lambda api: _first(api, "/api/v1/transfers", lists=("incoming", "outgoing")),
    "return": lambda api: _first(api, "/api/v1/returns", "number"),
    "product": lambda api: STOCKED_PRODUCTS[0],
}


def fill_path(template: str, api: httpx.Client, cache: dict[str, str | None]) -> str | None:
    """``template`` with its placeholders filled, or None when the store has nothing for one."""
    values: dict[str, str] = {}
    for _, name, _, _ in string.Formatter().parse(template):
        if not name:
            continue
        if name not in cache:
            filler = FILLERS.get(name)
            cache[name] = filler(api) if filler else None
        value = cache[name]
        if value is None:
            return None
        values[name] = value
    return template.format(**values)


def free_block(count: int) -> int:
    """The first of ``count`` consecutive free loopback ports (the demo's HQ port, then its stores)."""
    for _ in range(200):
        base = random.randint(20_000, 60_000 - count)
        try:
            with contextlib.ExitStack() as stack:
                for port in range(base, base + count):
                    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free block of loopback ports")


@contextlib.contextmanager
def demo_chain(data: Path, hq_port: int) -> Iterator[None]:
    """``storedesk demo`` running until the block ends; stopped with SIGTERM (it stops its stores
    first, then HQ), killed with its process group if it hangs."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "storedesk_cli", "demo", "--data", str(data), "--hq-port", str(hq_port), "--fresh"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: nothing of it outlives this script
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        deadline = time.monotonic() + DEMO_TIMEOUT_S
        seen: list[str] = []
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError("the demo did not start in time:\n" + "".join(seen[-30:])) from None
            if line is None:
                raise RuntimeError(f"the demo exited with {proc.wait()}:\n" + "".join(seen[-30:]))
            seen.append(line)
            if "StoreDesk demo is running" in line:
                break
        yield
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_synced(api: httpx.Client) -> None:
    deadline = time.monotonic() + SYNC_TIMEOUT_S
    while time.monotonic() < deadline:
        status: dict[str, Any] = api.get("/api/v1/sync/status").json()
        if status["online"] and status["pending_ops"] == 0:
            return
        time.sleep(0.5)
    print("screenshots: the store still has changes to sync; taking the screens as they are")


def settle(clerk: ClerkAt) -> None:
    """Fonts loaded and the page's first requests answered, so the PNG shows the finished page."""
    clerk.page.wait_for_load_state("networkidle")
    clerk.page.evaluate("document.fonts.ready.then(() => true)")


def wait_for_accounts(api: httpx.Client) -> None:
    """Until the store's sign-in form asks for an account (its pull brought the demo accounts)."""
    deadline = time.monotonic() + SYNC_TIMEOUT_S
    while time.monotonic() < deadline:
        if 'name="secret"' in api.get("/signin").text:
            return
        time.sleep(0.5)
    print("screenshots: the store has no accounts from HQ yet; signing in by name")


def capture(browser: Browser, store_url: str, out: Path, shots: list[Shot], code: str = "") -> list[str]:
    """Take ``shots`` at the store ``code`` serving ``store_url``; the names of the PNGs written."""
    written: list[str] = []
    cache: dict[str, str | None] = {}
    account = store_account(code)
    with httpx.Client(base_url=store_url, timeout=10) as api:
        wait_synced(api)
        if account is not None:
            wait_for_accounts(api)
        for signed_in in (False, True):
            todo = [shot for shot in shots if shot.signed_in == signed_in]
            if not todo:
                continue
            with clerk_page(browser) as page:
                clerk = ClerkAt(page, store_url)
                if signed_in:
                    clerk.sign_in(account=account)
                for shot in todo:
                    if take(clerk, shot, api, cache, out):
                        written.append(shot.file)
    return written


def take(clerk: ClerkAt, shot: Shot, api: httpx.Client, cache: dict[str, str | None], out: Path) -> bool:
    path = fill_path(shot.path, api, cache)
    if path is None:
        print(f"screenshots: skipped {shot.file}: the store has nothing for {shot.path}")
        return False
    status = clerk.open(path)
    if status == 404:
        print(f"screenshots: skipped {shot.file}: {path} answers 404 (no such screen yet)")
        return False
    if status >= 400:
        print(f"screenshots: skipped {shot.file}: {path} answers {status}")
        return False
    if shot.signed_in and clerk.path().startswith("/signin"):
        print(f"screenshots: skipped {shot.file}: {path} sent the clerk to sign in")
        return False
    settle(clerk)
    clerk.page.screenshot(path=str(out / shot.file))
    print(f"screenshots: {shot.file}  <- {clerk.base_url}{path}")
    return True


def capture_console(browser: Browser, hq_url: str, out: Path) -> list[str]:
    """Sign in at HQ's console as each demo user of :data:`CONSOLE_SHOTS` and take its screens."""
    written: list[str] = []
    for username in dict.fromkeys(user for user, _, _, _ in CONSOLE_SHOTS):
        with clerk_page(browser) as page:
            page.goto(f"{hq_url}/console/login")
            page.fill("#username", username)
            page.fill("#password", USERS[username][3])
            page.click("button[type=submit]")
            page.wait_for_url(f"{hq_url}/console/**")
            for user, path, file, whole in CONSOLE_SHOTS:
                if user != username:
                    continue
                if "{console_ticket}" in path:
                    page.goto(f"{hq_url}/console/queue")
                    link = page.locator("a[href^='/console/tickets/']").first
                    if link.count() == 0:
                        print(f"screenshots: skipped {file}: the queue is empty")
                        continue
                    path = str(link.get_attribute("href"))
                response = page.goto(f"{hq_url}{path}")
                if response is None or response.status >= 400:
                    print(f"screenshots: skipped {file}: {path} answers {response.status if response else '?'}")
                    continue
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(out / file), full_page=whole)
                written.append(file)
                print(f"screenshots: {file}  <- {hq_url}{path} (as {username})")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots", help="folder for the PNGs")
    parser.add_argument("--store", default=STORES[0]["code"], choices=[s["code"] for s in STORES])
    parser.add_argument("--keep-data", action="store_true", help="keep the demo's folder (printed) afterwards")
    args = parser.parse_args(argv)
    if chromium_path() is None:
        print("screenshots: Chromium is not installed; run `make test-deps` as root", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="storedesk-screenshots-"))
    hq_port = free_block(1 + len(STORES))
    codes = [store["code"] for store in STORES]
    by_store: dict[str, list[Shot]] = {}
    for shot in SHOTS:
        by_store.setdefault(shot.store or args.store, []).append(shot)
    written: list[str] = []
    started = time.monotonic()
    try:
        print(f"screenshots: starting the demo chain in {data} (HQ on port {hq_port}) ...", flush=True)
        with demo_chain(data, hq_port), playwright_browser() as browser:
            for code, shots in by_store.items():
                store_url = f"http://127.0.0.1:{hq_port + 1 + codes.index(code)}"  # the demo's port order
                written += capture(browser, store_url, args.out, shots, code)
            written += capture_console(browser, f"http://127.0.0.1:{hq_port}", args.out)
    finally:
        if args.keep_data:
            print(f"screenshots: the demo's data and logs are in {data}")
        else:
            shutil.rmtree(data, ignore_errors=True)
    total = len(SHOTS) + len(CONSOLE_SHOTS)
    print(f"screenshots: {len(written)} of {total} screens in {args.out} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
