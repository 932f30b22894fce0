"""What a clerk does on the store node's screens, in a real browser (Playwright on Debian's Chromium).

:class:`ClerkAt` is one clerk at one store's local UI: sign in through the real form, open a
screen, fill and submit a form, wait for the sync badge. Tests (``tests/ui/test_browser.py``) and
``scripts/screenshots.py`` use it; a flow for a new screen is a method here (or a function taking a
``ClerkAt``) built from these steps, e.g. filing a ticket with a photo::

    clerk.open("/tickets/new")
    clerk.fill({"type": "quality", "title": "拉链总坏"})
    clerk.attach("photos", photo_path)
    clerk.submit()

Selectors are the page's own ids and ``name`` attributes (what the forms post), never texts, so
flows work in both languages.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from playwright.sync_api import Page

#: Who signs in unless a test says otherwise.
CLERK_NAME = "王芳"
CLERK_STAFF_NO = "0012"
#: The node's page script refreshes the badge from /api/v1/sync/status every 2 s.
BADGE_POLL_S = 2.0


@dataclass
class ClerkAt:
    """A clerk at the store node serving ``base_url`` (e.g. ``Store.url``), in ``page``."""

    page: Page
    base_url: str

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def open(self, path: str) -> int:
        """Go to ``path``; the HTTP status of the page it ends on (after redirects)."""
        response = self.page.goto(self.url(path), wait_until="load")
        return response.status if response is not None else 0

    def answers(self, path: str) -> bool:
        """Whether the node has a screen at ``path`` (not 404), now shown in the page."""
        return self.open(path) != 404

    def path(self) -> str:
        """The path (and query) the page is on now."""
        current = self.page.url
        return current[len(self.base_url.rstrip("/")) :] if current.startswith(self.base_url) else current

    # -- the shell --------------------------------------------------------------------------------

    def sign_in(self, name: str = CLERK_NAME, staff_no: str = CLERK_STAFF_NO, *, next_path: str = "/") -> None:
        """Sign in through the sign-in form; lands on ``next_path``."""
        self.open(f"/signin?next={quote(next_path, safe='')}")
        self.page.fill("#name", name)
        self.page.fill("#staff_no", staff_no)
        self.submit('form[action="/signin"]')
        path = next_path.split("?")[0]
        self.page.wait_for_url(lambda url: url.split("?")[0].endswith(path) and "/signin" not in url)

    def badge_state(self) -> str:
        """``online`` or ``offline``: what the header's sync badge says now."""
        state = self.page.get_attribute("#sync-badge", "data-state")
        return state or ""

    def wait_for_badge(self, state: str, timeout_s: float) -> float:
        """Wait until the sync badge shows ``state`` (it follows the node without a reload);
        returns the seconds it took."""
        started = time.monotonic()
        self.page.wait_for_selector(f"#sync-badge[data-state={state}]", timeout=timeout_s * 1000)
        return time.monotonic() - started

    # -- forms ------------------------------------------------------------------------------------

    def fill(self, fields: Mapping[str, str], *, form: str = "main form") -> None:
        """Set form fields by their ``name``: text inputs and text areas are typed into, selects
        choose the option with that value, checkboxes and radios are checked."""
        for name, value in fields.items():
            field = self.page.locator(f'{form} [name="{name}"]')
            kind = field.first.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
            if kind.startswith("select"):
                field.first.select_option(value)
            elif kind in ("input:checkbox", "input:radio"):
                self.page.locator(f'{form} [name="{name}"][value="{value}"]').check()
            else:
                field.first.fill(value)

    def attach(self, name: str, *files: Path, form: str = "main form") -> None:
        """Put ``files`` (a photo, say) into the file input ``name``."""
        self.page.locator(f'{form} input[type=file][name="{name}"]').set_input_files(list(files))

    def submit(self, form: str = "main form") -> None:
        """Press the form's submit button and wait for the page it leads to."""
        with self.page.expect_navigation():
            self.page.locator(f"{form} [type=submit]").first.click()

    def text(self, selector: str = "main") -> str:
        """The visible text of ``selector`` (the page's main part by default)."""
        return self.page.inner_text(selector)
