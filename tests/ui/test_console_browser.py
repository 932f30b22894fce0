"""HQ's console in a real browser: a real HQ process on a loopback port (tests/e2e/procs.py), headless
Chromium driven by Playwright (tests/browser.py). Without Chromium or Playwright the test skips
(fails under ``CI=true``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser import browser_page_fixture  # noqa: F401 - the browser_page fixture
from tests.e2e.conftest import hq  # noqa: F401 - a real HQ process
from tests.e2e.procs import Hq

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

AGENT = "li.agent"
PASSWORD = "Agent-2026!"


def test_agent_resolves_a_ticket_from_the_queue(browser_page: Page, hq: Hq) -> None:  # noqa: F811
    hq.enroll("SH001", name="上海南京路店", region="east")
    created = hq.api.post(
        "/api/v1/users",
        json={
            "username": AGENT,
            "password": PASSWORD,
            "role": "agent",
            "departments": ["qc"],
            "display_name": "李坐席",
        },
    )
    assert created.status_code == 201, created.text
    ticket = hq.api.post(
        "/api/v1/tickets", json={"type": "quality", "title": "牛仔裤开线", "department": "qc", "store": "SH001"}
    )
    assert ticket.status_code == 201, ticket.text
    number, ticket_id = ticket.json()["number"], ticket.json()["id"]
    other = hq.api.post("/api/v1/tickets", json={"type": "refund", "title": "退款未到账", "department": "finance"})
    assert other.status_code == 201, other.text

    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{hq.url}/console/login")
    page.fill("#username", AGENT)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/queue")
    assert "李坐席" in page.inner_text("header")
    rows = page.locator("table.q-table tbody tr")
    assert rows.count() == 1
    assert other.json()["number"] not in page.content()

    page.click(f"text={number}")
    page.wait_for_url(f"**/console/tickets/{number}")
    page.fill("#status-note", "已与供应商确认，更换处理")
    page.click("button[name=status][value=resolved]")
    page.wait_for_url(f"**/console/tickets/{ticket_id}")
    assert page.inner_text("#q-status") == "已解决"
    assert "已与供应商确认" in page.inner_text("#q-timeline")
    assert hq.ticket(ticket_id)["status"] == "resolved"
    # Live: the store's answer shows in the timeline without a reload (the page polls every 5 s).
    comment = hq.api.post(f"/api/v1/tickets/{ticket_id}/comments", json={"body": "门店已收到，谢谢"})
    assert comment.status_code == 201, comment.text
    page.wait_for_function("document.getElementById('q-timeline').innerText.includes('门店已收到')", timeout=15_000)

    page.click("text=返回队列")
    page.wait_for_url("**/console/queue")
    row = page.locator(f'tr:has(a:text("{number}"))')
    assert "已解决" in row.inner_text()
    assert errors == []
