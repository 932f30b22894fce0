"""What a clerk does on the store node's screens, in a real browser (Playwright on Debian's Chromium).

:class:`ClerkAt` is one clerk at one store's local UI: sign in through the real form, open a
screen, fill and submit a form, type into a type-ahead and take a suggestion with the keyboard,
wait for the sync badge. Tests (``tests/ui/test_browser.py``) and ``scripts/screenshots.py`` use it;
a flow over several screens is a function taking a ``ClerkAt`` built from these steps, e.g.
:func:`file_ticket` (a ticket with a photo)::

    clerk.go("/tickets/new")
    clerk.follow('main nav.tk-types a[href="/tickets/new?type=equipment"]')
    clerk.fill({"title": "收银机屏幕不亮", "location": "收银台"})
    clerk.attach("photos", photo_path)
    clerk.submit()

and :func:`look_up_stock`, :func:`request_transfer_from_stock`.

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

    def sign_in(
        self,
        name: str = CLERK_NAME,
        staff_no: str = CLERK_STAFF_NO,
        *,
        account: tuple[str, str] | None = None,
        wait_for_account_s: float = 0.0,
        next_path: str = "/",
    ) -> None:
        """Sign in through the sign-in form; lands on ``next_path``.

        A store with accounts from HQ asks for one: ``account`` is its (username, password or
        PIN); the form is reloaded for up to ``wait_for_account_s`` while the store has none yet
        (its pull may not have brought them). A store with no accounts takes ``name`` and
        ``staff_no``."""
        self.open(f"/signin?next={quote(next_path, safe='')}")
        deadline = time.monotonic() + wait_for_account_s
        while account is not None and not self.page.locator("#username").count() and time.monotonic() < deadline:
            time.sleep(0.5)
            self.page.reload()
        if self.page.locator("#username").count():
            if account is None:
                raise AssertionError("the store has accounts from HQ: sign in with one (account=...)")
            self.page.fill("#username", account[0])
            self.page.fill("#secret", account[1])
        else:
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
        """Press the form's submit button (``type=submit``, or a ``<button>`` without a type, which
        submits too) and wait for the page it leads to."""
        with self.page.expect_navigation():
            self.page.locator(f"{form} [type=submit], {form} button:not([type])").first.click()

    def type_into(self, selector: str, text: str) -> None:
        """Click into the field ``selector`` and type ``text`` key by key (the page's type-aheads
        listen to those key presses, not to a value set at once)."""
        field = self.page.locator(selector)
        field.click()
        field.press_sequentially(text, delay=20)

    def pick_suggestion(self, field: str, listbox: str, *, timeout_s: float = 5.0) -> bool:
        """With the keyboard, take the first option of the type-ahead ``listbox`` under the input
        ``field`` (ArrowDown, Enter); ``False`` when no option appeared within ``timeout_s``."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        options = self.page.locator(f"{listbox} [role=option]")
        try:
            options.first.wait_for(state="visible", timeout=timeout_s * 1000)
        except PlaywrightTimeout:
            return False
        self.page.press(field, "ArrowDown")
        self.page.wait_for_selector(f'{listbox} [role=option][aria-selected="true"]')
        self.page.press(field, "Enter")
        self.page.wait_for_selector(f"{listbox}", state="hidden")
        return True

    def press_enter(self, field: str) -> None:
        """Press Enter in ``field`` (submitting its form) and wait for the page it leads to."""
        with self.page.expect_navigation():
            self.page.press(field, "Enter")

    def follow(self, link: str) -> None:
        """Click the link ``link`` (a selector) and wait for the page it opens."""
        with self.page.expect_navigation():
            self.page.locator(link).first.click()

    def go(self, path: str) -> None:
        """Open a screen from the menu: click its entry (``nav.main a[href=path]``)."""
        self.follow(f'nav.main a[href="{path}"]')

    def reload_until(self, selector: str, timeout_s: float, *, every_s: float = 0.5) -> float:
        """Reload the (server-rendered) page until ``selector`` is on it, as a clerk presses F5
        waiting for something to arrive; returns the seconds it took."""
        started = time.monotonic()
        while self.page.locator(selector).count() == 0:
            if time.monotonic() - started > timeout_s:
                raise AssertionError(f"{selector} not on {self.path()} within {timeout_s} s")
            self.page.wait_for_timeout(every_s * 1000)
            self.page.reload(wait_until="load")
        return time.monotonic() - started

    def image_loaded(self, selector: str) -> int:
        """Scroll the image ``selector`` into view, wait until it has loaded; its natural width."""
        image = self.page.locator(selector).first
        image.scroll_into_view_if_needed()
        handle = image.element_handle()
        self.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=handle)
        width: int = image.evaluate("img => img.naturalWidth")
        return width

    def text(self, selector: str = "main") -> str:
        """The visible text of ``selector`` (the page's main part by default)."""
        return self.page.inner_text(selector)


# -- flows over several screens -------------------------------------------------------------------


def file_ticket(clerk: ClerkAt, type_code: str, fields: Mapping[str, str], photos: Mapping[str, Path]) -> str:
    """新建工单 from the menu, pick the type ``type_code``, fill ``fields``, attach each photo field's
    file, submit; the new ticket's id (the page it lands on is ``/tickets/<id>?created=1``)."""
    clerk.go("/tickets/new")
    clerk.follow(f'main nav.tk-types a[href="/tickets/new?type={quote(type_code)}"]')
    clerk.fill(fields)
    for name, photo in photos.items():
        clerk.attach(name, photo)
    clerk.submit()
    path = clerk.path()
    assert path.startswith("/tickets/") and "created=1" in path, f"the form was not taken: {path}\n{clerk.text()}"
    return path.split("?")[0].rsplit("/", 1)[1]


def look_up_stock(clerk: ClerkAt, typed: str) -> bool:
    """库存查询 from the menu, type ``typed`` (part of a product code) into the product field, take
    the first suggestion with the keyboard if the type-ahead offers one, and search (Enter).
    Whether a suggestion was taken."""
    clerk.go("/stock")
    clerk.type_into("#product", typed)
    picked = clerk.pick_suggestion("#product", "#product-options")
    clerk.press_enter("#product")
    return picked


def request_transfer_from_stock(clerk: ClerkAt, store_code: str, sku: str, *, qty: int = 1, note: str = "") -> str:
    """On the stock page's row of ``store_code``, follow the request link of ``sku``; on the new
    transfer form (SKU and source filled in by the link) set the quantity and the note, send it;
    the transfer's id (the page it lands on is ``/transfers/<id>``)."""
    clerk.follow(f'#other-stores tr[data-store="{store_code}"] td[data-sku="{sku}"] a.st-request')
    assert clerk.path().startswith("/transfers/new"), clerk.path()
    assert clerk.page.input_value("#sku") == sku and clerk.page.input_value("#source_store") == store_code
    clerk.fill({"qty": str(qty), "note": note})
    clerk.submit()
    path = clerk.path()
    assert path.startswith("/transfers/") and path != "/transfers/new", f"not requested: {path}\n{clerk.text()}"
    return path.split("?")[0].rsplit("/", 1)[1]
