"""The HQ console's dashboard in a real browser: a real HQ process (tests/e2e/procs.Hq) on a loopback
port, headless Chromium driven by Playwright (tests/browser.py). The stores are enrolled with the
CLI, the tickets and the users made through the API with the admin token, and the users sign in at
``/console/login`` like anyone else. Without Chromium or Playwright the tests skip (fail under
``CI=true``).

Stores: SH001 and HZ001 in region ``east``, BJ001 in ``north``; the east manager must never see
BJ001 (its name is unique on purpose: 北京王府井店).
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser import browser_page_fixture  # noqa: F401 - the browser_page fixture
from tests.e2e.conftest import hq  # noqa: F401 - a real HQ process
from tests.e2e.procs import Hq

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

PASSWORD = "Dashboard-2026!"
STORES = {"SH001": ("上海南京路店", "east"), "HZ001": ("杭州西湖店", "east"), "BJ001": ("北京王府井店", "north")}
#: (store, type, department, product): east 5 tickets, north 2.
TICKETS = [
    ("SH001", "quality", "qc", "JN-2041"),
    ("SH001", "quality", "qc", "JN-2041"),
    ("SH001", "complaint", "cs", "TS-1001"),
    ("HZ001", "quality", "qc", "TS-1001"),
    ("HZ001", "equipment", "it", ""),
    ("BJ001", "quality", "qc", "JN-2041"),
    ("BJ001", "complaint", "cs", "TS-1001"),
]

#: Every table of the page as the DOM shows it: {report/table: {header, rows, csv}}.
READ_TABLES = """() => {
  const found = {};
  for (const box of document.querySelectorAll("section.report div.report-table")) {
    const report = box.closest("section.report").dataset.report;
    const table = box.querySelector("table.figures");
    found[report + "/" + box.dataset.table] = {
      header: [...table.querySelectorAll("thead th")].map((th) => th.textContent),
      rows: [...table.querySelectorAll("tbody tr")].map(
        (tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)),
      csv: box.querySelector("a.csv").getAttribute("href"),
    };
  }
  return found;
}"""


def seed(service: Hq) -> None:
    """The stores, their tickets (created now: inside the default last 30 days) and the users."""
    for code, (name, region) in STORES.items():
        service.enroll(code, name=name, region=region)
    for n, (store, type_, department, product) in enumerate(TICKETS):
        body = {"type": type_, "title": f"问题 {n}", "department": department, "store": store}
        if product:
            body["product_code"] = product
        created = service.api.post("/api/v1/tickets", json=body)
        assert created.status_code == 201, created.text
    for username, fields in (
        ("east.mgr", {"role": "regional_manager", "regions": ["east"], "display_name": "华东经理"}),
        ("boss", {"role": "cs_supervisor", "display_name": "客服主管"}),
    ):
        created = service.api.post("/api/v1/users", json={"username": username, "password": PASSWORD, **fields})
        assert created.status_code == 201, created.text


def sign_in(page: Page, service: Hq, username: str) -> None:
    page.goto(f"{service.url}/console/login?next=%2Fconsole%2Fdashboard")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")


def open_dashboard(page: Page, service: Hq) -> None:
    response = page.goto(f"{service.url}/console/dashboard")
    assert response is not None and response.status == 200
    page.wait_for_selector("figure.chart svg rect.bar")


def test_regional_manager_opens_the_dashboard_and_sees_only_their_region(
    browser_page: Page,
    hq: Hq,  # noqa: F811 - the fixture imported above
) -> None:
    seed(hq)
    page = browser_page
    sign_in(page, hq, "east.mgr")
    open_dashboard(page, hq)
    assert page.locator("h1").first.text_content() == "报表"
    # The charts render as SVG with bars, each bar with an accessible title.
    assert page.locator("figure.chart svg").count() >= 3
    assert page.locator("figure.chart svg rect.bar").count() > 0
    titles = page.locator("#report-volume figure.chart svg rect.bar > title").all_text_contents()
    assert any(t.startswith("上海南京路店 · ") for t in titles), titles
    # Their region is named, the filter offers it alone, and only their stores are on the page.
    assert "east" in (page.text_content("#own-regions") or "")
    options = page.eval_on_selector_all("#f-region option", "els => els.map((e) => e.value)")
    assert options == ["", "east"]
    text = page.text_content("body") or ""
    assert "上海南京路店" in text and "杭州西湖店" in text
    assert "北京王府井店" not in text and "BJ001" not in text
    assert "北京王府井店" not in page.content()  # nor in the charts' data
    tables = page.evaluate(READ_TABLES)
    assert [row[2] for row in tables["volume/stores"]["rows"]] == ["HZ001", "SH001"]
    assert [row[4] for row in tables["volume/stores"]["rows"]] == ["2", "3"]
    # Another region by URL: the 403 page.
    refused = page.goto(f"{hq.url}/console/dashboard?region=north")
    assert refused is not None and refused.status == 403
    assert "北京王府井店" not in (page.text_content("body") or "")


def read_csv(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")
    return [
        [cell[1:] if cell[:2] in ("'=", "'+", "'-", "'@") else cell for cell in line]
        for line in csv.reader(io.StringIO(content.decode("utf-8-sig")))
    ]


def test_csv_export_matches_the_figures_on_screen(
    browser_page: Page,
    hq: Hq,  # noqa: F811
) -> None:
    seed(hq)
    page = browser_page
    sign_in(page, hq, "boss")
    open_dashboard(page, hq)
    tables: dict[str, dict[str, Any]] = page.evaluate(READ_TABLES)
    assert len(tables) == 11
    # One export as a person takes it: a click on the link, through the browser's download.
    with page.expect_download() as download_info:
        page.click("#table-volume-stores a.csv")
    download = download_info.value
    assert download.suggested_filename.startswith("volume-stores-") and download.suggested_filename.endswith(".csv")
    path = download.path()
    assert path is not None
    with open(path, "rb") as handle:
        lines = read_csv(handle.read())
    shown = tables["volume/stores"]
    assert lines[0] == shown["header"] and lines[1:] == shown["rows"]
    assert [row[2] for row in shown["rows"]] == ["BJ001", "HZ001", "SH001"]
    # Every other table's link, fetched with the page's session (cookies, no CSRF token).
    for name, table in tables.items():
        response = page.request.get(hq.url + table["csv"])
        assert response.status == 200, (name, response.text())
        lines = read_csv(response.body())
        assert lines[0] == table["header"], name
        assert lines[1:] == table["rows"], name
