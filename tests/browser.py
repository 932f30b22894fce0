"""Headless Chromium for the UI tests: find it, print a page to PDF, take a screenshot, read the results.

``scripts/ensure-test-deps.sh`` (``make test-deps``) installs Debian's ``chromium`` (with CJK fonts
and ``zbarimg``). Without it the browser tests skip with the reason; under ``CI=true`` they fail
instead, as the PostgreSQL tests do. Use the ``chromium`` fixture (import it into a test module or a
conftest: ``from tests.browser import chromium_fixture  # noqa: F401``, then ask for ``chromium``),
or :func:`require_chromium` / :func:`require_tool` in a test.

Pages driven like a clerk drives them (click, type, wait for an element) go through Playwright,
which drives the same Debian Chromium (``executable_path``; ``playwright install`` never runs, no
browser is downloaded): the ``browser_page`` fixture gives a fresh page (zh-CN, 1280 x 800), or
:func:`playwright_browser` outside pytest (``scripts/screenshots.py``). Flows on the store's
screens (sign in, wait for the sync badge, ...) are in ``tests/ui/browser_flows.py``.

Also here, with no Python dependency: :func:`pdf_page_count`, and :func:`read_png` (8-bit
non-interlaced PNGs, as Chromium writes them) with :func:`dark_fraction`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # Playwright is a dev dependency: imported only where a test drives a page
    from playwright.sync_api import Browser, Page

#: Names the browser goes by on PATH, Debian's first; ``STOREDESK_CHROMIUM`` overrides them.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome", "chrome")
#: Seconds one browser run may take before the test fails.
TIMEOUT_S = 60.0
INSTALL_HINT = "run `make test-deps` (scripts/ensure-test-deps.sh) as root to install it"


def chromium_path() -> str | None:
    """The Chromium (or Chrome) executable, or ``None`` when none is installed."""
    override = os.environ.get("STOREDESK_CHROMIUM")
    if override:
        return shutil.which(override)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def missing(reason: str, *, what: str = "the browser tests") -> None:
    """Skip the test with ``reason``; under ``CI=true`` fail it instead (CI must run it)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: {what} must run)", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str, package: str) -> str:
    """The path of the command ``name`` (from the Debian ``package``), else skip (fail under CI)."""
    found = shutil.which(name)
    if found is None:
        missing(f"`{name}` is not installed (Debian package {package}); {INSTALL_HINT}")
        raise AssertionError("unreachable")  # pragma: no cover - missing() raises
    return found


def require_chromium() -> str:
    found = chromium_path()
    if found is None:
        missing(f"Chromium is not installed; {INSTALL_HINT}")
        raise AssertionError("unreachable")  # pragma: no cover - missing() raises
    return found


@dataclass
class Chromium:
    """Headless Chromium runs, each with a fresh profile under ``workdir`` (safe under xdist)."""

    path: str
    workdir: Path

    def run(self, url: str, *flags: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """Run headless Chromium on ``url`` with ``flags``; fail the test when it exits non-zero."""
        profile = self.workdir / f"profile-{len(list(self.workdir.glob('profile-*')))}"
        args = [
            self.path,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--hide-scrollbars",
            "--mute-audio",
            f"--user-data-dir={profile}",
            *flags,
            url,
        ]
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            pytest.fail(f"chromium exited {done.returncode}: {done.stderr[-2000:]}", pytrace=False)
        return done

    def print_to_pdf(self, url: str, out: Path) -> bytes:
        """The page at ``url`` printed (print media, its own @page size) without header and footer."""
        self.run(url, f"--print-to-pdf={out}", "--no-pdf-header-footer")
        assert out.exists(), f"chromium wrote no PDF to {out}"
        return out.read_bytes()

    def screenshot(self, url: str, out: Path, *, width: int = 1000, height: int = 1400, scale: float = 1) -> bytes:
        """A PNG of the page at ``url`` (screen media) in a ``width`` x ``height`` CSS-pixel window."""
        self.run(url, f"--screenshot={out}", f"--window-size={width},{height}", f"--force-device-scale-factor={scale}")
        assert out.exists(), f"chromium wrote no screenshot to {out}"
        return out.read_bytes()


@pytest.fixture(name="chromium")
def chromium_fixture(tmp_path: Path) -> Chromium:
    """Headless Chromium, or the test skips (fails under ``CI=true``) when it is not installed."""
    workdir = tmp_path / "chromium"
    workdir.mkdir()
    return Chromium(require_chromium(), workdir)


#: Chromium's flags under Playwright (headless, as root, in a container, no network chatter).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
#: The clerk's screen: the store PCs run 1280 x 800, the UI in Chinese.
WIDTH, HEIGHT = 1280, 800
LOCALE = "zh-CN"
#: Milliseconds a Playwright action (a click, a wait for an element) may take by default.
ACTION_TIMEOUT_MS = 15_000


def playwright_available() -> bool:
    return importlib.util.find_spec("playwright") is not None


def require_playwright() -> None:
    if not playwright_available():
        missing("Playwright is not installed (the dev extra: pip install -e '.[dev]', or `make test`)")


@contextlib.contextmanager
def playwright_browser(executable: str | None = None) -> Iterator[Browser]:
    """Playwright's Chromium, launched from Debian's executable (``chromium_path()`` by default)."""
    from playwright.sync_api import sync_playwright

    path = executable or chromium_path()
    if path is None:
        raise RuntimeError(f"Chromium is not installed; {INSTALL_HINT}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=list(CHROMIUM_ARGS), timeout=60_000)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def clerk_page(browser: Browser, *, locale: str = LOCALE) -> Iterator[Page]:
    """A page in a fresh context (its own cookies): the clerk's screen size and language."""
    context = browser.new_context(locale=locale, viewport={"width": WIDTH, "height": HEIGHT})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(name="browser_page")
def browser_page_fixture() -> Iterator[Page]:
    """A Playwright page in headless Chromium (zh-CN, 1280 x 800); the test skips (fails under
    ``CI=true``) without Chromium or Playwright. One browser per test: safe beside asyncio tests."""
    path = require_chromium()
    require_playwright()
    with playwright_browser(path) as browser, clerk_page(browser) as page:
        yield page


def file_url(path: Path) -> str:
    return path.resolve().as_uri()


_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def pdf_page_count(data: bytes) -> int:
    """Pages of a PDF: its ``/Type /Page`` objects (not ``/Pages``).

    Chromium (Skia) writes page dictionaries uncompressed; a PDF keeping them in compressed object
    streams would count 0 here, which fails a test rather than passing it wrongly."""
    return len(_PAGE.findall(data))


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    #: Channels per pixel: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA.
    channels: int
    #: Unfiltered rows, ``width * channels`` bytes each.
    rows: Sequence[bytes]


_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def read_png(data: bytes) -> Png:
    """Decode an 8-bit, non-interlaced, non-palette PNG (Chromium's screenshots) with the stdlib."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, bytearray(), b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in _CHANNELS or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}")
    channels = _CHANNELS[colour]
    stride = width * channels
    raw = zlib.decompress(bytes(idat))
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b, c = prev[i], prev[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return Png(width, height, channels, rows)


def dark_fraction(png: Png, *, below: int = 128) -> float:
    """The share of pixels whose grey level (mean of the colour channels) is below ``below``."""
    colours = 1 if png.channels <= 2 else 3
    dark = 0
    for row in png.rows:
        for x in range(0, len(row), png.channels):
            if sum(row[x : x + colours]) < below * colours:
                dark += 1
    return dark / (png.width * png.height)
