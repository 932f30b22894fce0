"""The clerk UI in a real browser against real processes: an HQ and a store node on loopback
ports (tests/e2e/procs.py), headless Chromium driven by Playwright (tests/browser.py), the clerk's
steps from tests/ui/browser_flows.py. Without Chromium or Playwright the tests skip (fail under
``CI=true``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser import browser_page_fixture  # noqa: F401 - the browser_page fixture
from tests.e2e.conftest import StoreFactory, hq, make_store  # noqa: F401 - real HQ and store processes
from tests.e2e.procs import Hq
from tests.ui.browser_flows import BADGE_POLL_S, CLERK_NAME, ClerkAt

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

#: The badge follows the node's sync state within its 2 s poll; the node notices HQ is gone when
#: its long-poll breaks (at once) and that HQ is back at its next retry (backoff from 0.5 s).
OFFLINE_WITHIN_S = 10.0
ONLINE_WITHIN_S = 30.0


def test_offline_badge_appears_when_hq_stops_and_clears_when_it_is_back(
    browser_page: Page,
    hq: Hq,  # noqa: F811 - the fixture imported above
    make_store: StoreFactory,  # noqa: F811
) -> None:
    store = make_store("SH012")
    clerk = ClerkAt(browser_page, store.url)
    clerk.sign_in()
    assert clerk.path() == "/"
    assert CLERK_NAME in clerk.text("header")
    clerk.wait_for_badge("online", ONLINE_WITHIN_S)

    hq.stop()
    took = clerk.wait_for_badge("offline", OFFLINE_WITHIN_S)
    print(f"offline shown {took:.1f} s after HQ stopped")
    assert clerk.path() == "/", "the badge changes in place, without a reload"

    hq.start()
    took = clerk.wait_for_badge("online", ONLINE_WITHIN_S)
    print(f"online shown {took:.1f} s after HQ started (badge poll {BADGE_POLL_S} s)")
    assert clerk.path() == "/"
