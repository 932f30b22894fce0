"""The console's dashboard (``/console/dashboard``, hq_server/console/reports.py) on the fixed data set
of tests/hq/test_reports.py, with real sessions (``POST /api/v1/session``).

Each table on the page must equal the API's JSON of the same report, range and region; its
"导出 CSV" link must answer the API's CSV with the very cells shown; a regional manager sees only
the stores of their region (and the 403 page for another region); an agent gets the 403 page.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest
from starlette.testclient import TestClient

from hq_server.console.reports import shown
from hq_server.console.texts import CONSOLE_TEXTS
from hq_server.report_labels import REPORT_NAMES, TITLES
from tests.hq.helpers import Hq
from tests.hq.test_reports import FROM, TO, DataSet, build
from tests.hq.test_scope import PASSWORD, signed_in

pytestmark = pytest.mark.usefixtures("fast_hashing")

UNTRANSLATED = re.compile(r"⟦[^⟧]*⟧")
USERS: dict[str, dict[str, Any]] = {
    "admin": {"role": "admin"},
    "supervisor": {"role": "cs_supervisor"},
    "lead": {"role": "group_lead", "departments": ["qc"]},
    "agent": {"role": "agent", "departments": ["qc"]},
    "east.mgr": {"role": "regional_manager", "regions": ["east"]},
}
RANGE = {"from": FROM, "to": TO}


@dataclass
class PageTable:
    """One table of the page as the DOM has it."""

    report: str
    name: str
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    csv: str = ""
    chart: dict[str, Any] | None = None


class Tables(HTMLParser):
    """The dashboard's tables (``div.report-table``), their CSV links and chart islands."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[tuple[str, str], PageTable] = {}
        self.options: list[str] = []
        self._report = ""
        self._current: PageTable | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._island: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("data-report"):
            self._report = a["data-report"] or ""
        elif tag == "div" and "report-table" in (a.get("class") or ""):
            self._current = PageTable(self._report, a.get("data-table") or "")
            self.tables[self._current.report, self._current.name] = self._current
        elif tag == "option":
            self.options.append(a.get("value") or "")
        elif self._current is None:
            return
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and not self._in_head:
            self._row = []
        elif tag in ("th", "td"):
            self._cell = []
        elif tag == "a" and "csv" in (a.get("class") or ""):
            self._current.csv = a.get("href") or ""
        elif tag == "script" and a.get("type") == "application/json":
            self._island = []

    def handle_endtag(self, tag: str) -> None:
        if self._current is None:
            return
        if tag == "thead":
            self._in_head = False
        elif tag in ("th", "td") and self._cell is not None:
            text = "".join(self._cell)
            if self._in_head:
                self._current.header.append(text)
            elif self._row is not None:
                self._row.append(text)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._current.rows.append(self._row)
            self._row = None
        elif tag == "script" and self._island is not None:
            self._current.chart = json.loads("".join(self._island))
            self._island = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._island is not None:
            self._island.append(data)


def tables_of(html: str) -> Tables:
    parser = Tables()
    parser.feed(html)
    return parser


@dataclass
class World:
    hq: Hq
    data: DataSet
    sessions: dict[str, TestClient]


@pytest.fixture
def world(hq: Hq) -> World:
    data = build(hq)
    sessions: dict[str, TestClient] = {}
    for name, fields in USERS.items():
        created = hq.api("POST", "/api/v1/users", json={"username": name, "password": PASSWORD, **fields})
        assert created.status_code == 201, created.text
        sessions[name] = signed_in(hq, name)
    return World(hq, data, sessions)


def dashboard(client: TestClient, params: dict[str, str] | None = None, status: int = 200) -> str:
    response = client.get("/console/dashboard", params=params or {}, follow_redirects=False)
    assert response.status_code == status, response.text[:2000]
    return response.text


def api_report(client: TestClient, name: str, lang: str = "zh", **params: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/reports/{name}", params=params, headers={"Accept-Language": lang})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_every_table_on_the_page_equals_the_api_json(world: World) -> None:
    admin = world.sessions["admin"]
    for lang in ("zh", "en"):
        page = tables_of(dashboard(admin, {**RANGE, "lang": lang}))
        expected = {(name, table) for name in REPORT_NAMES for table in TITLES[name]}
        assert set(page.tables) == expected
        for name in REPORT_NAMES:
            body = api_report(admin, name, lang, **RANGE)
            for table_name, table in body["tables"].items():
                shown_table = page.tables[name, table_name]
                assert shown_table.header == [c["label"] for c in table["columns"]], (name, table_name)
                cells = [[shown(row[c["key"]]) for c in table["columns"]] for row in table["rows"]]
                assert shown_table.rows == cells, (name, table_name, lang)
                assert shown_table.rows, (name, table_name)  # the data set fills every table


def test_the_figures_on_screen_are_the_hand_computed_ones(world: World) -> None:
    page = tables_of(dashboard(world.sessions["supervisor"], RANGE))
    stores = page.tables["volume", "stores"]
    # test_reports: SH001 4 tickets (2 quality, 1 equipment, 1 complaint), HZ001 3, BJ001 3.
    assert [(row[2], row[4]) for row in stores.rows] == [("BJ001", "3"), ("HZ001", "3"), ("SH001", "4")]
    qc = page.tables["response-times", "departments"].rows[2]
    assert qc[:3] == ["qc", "质检", "5"] and qc[3:6] == ["5", "30.0", "90.0"]
    problems = page.tables["problems", "problems"].rows
    assert [(row[3], row[5]) for row in problems] == [
        ("JN-2041", "4"),
        ("TS-1001", "3"),
        ("POS-9", "1"),
        ("TS-1001", "1"),
    ]
    # The chart draws the figures of the table: the type mix of each store.
    chart = stores.chart
    assert chart is not None and chart["layout"] == "stacked"
    assert [c.split(" · ")[0] for c in chart["categories"]] == [row[3] for row in stores.rows]
    mix = {s["name"]: s["values"] for s in chart["series"]}
    assert mix["质量反馈"] == [1, 2, 2] and sum(sum(v or 0 for v in s) for s in mix.values()) == 10
    overall = page.tables["transfer-lead-times", "overall"].chart
    assert overall is not None and overall["orientation"] == "vertical"
    assert overall["series"][0]["values"] == [2.0, 4.0, 10.0, 16.0]  # the medians, hours


def test_regional_manager_sees_only_their_region(world: World) -> None:
    manager = world.sessions["east.mgr"]
    html = dashboard(manager, RANGE)
    page = tables_of(html)
    assert "east" in html and 'id="own-regions"' in html
    assert page.options == ["", "east"]  # the filter offers their region only
    assert [row[2] for row in page.tables["volume", "stores"].rows] == ["HZ001", "SH001"]
    assert [row[0] for row in page.tables["volume", "regions"].rows] == ["east"]
    assert {row[2] for row in page.tables["sla-breaches", "breaches"].rows} == {"HZ001", "SH001"}
    # A transfer is in scope when one of its ends is a store of the region.
    for route in page.tables["transfer-lead-times", "routes"].rows:
        assert {route[0], route[2]} & {"HZ001", "SH001"}, route
    # Their figures are the API's for them (east: 7 tickets).
    body = api_report(manager, "volume", **RANGE)
    assert [r["tickets"] for r in body["tables"]["regions"]["rows"]] == [7]
    # Asking for another region: the 403 page, as the API answers 403 report_out_of_scope.
    refused = dashboard(manager, {**RANGE, "region": "north"}, 403)
    assert CONSOLE_TEXTS["c_forbidden"][0] in refused and "BJ001" not in refused
    api = manager.get("/api/v1/reports/volume", params={"region": "north"})
    assert api.status_code == 403 and api.json()["error"]["code"] == "report_out_of_scope"
    own = tables_of(dashboard(manager, {**RANGE, "region": "east"}))
    assert [row[2] for row in own.tables["volume", "stores"].rows] == ["HZ001", "SH001"]


def test_region_filter_narrows_every_table(world: World) -> None:
    page = tables_of(dashboard(world.sessions["admin"], {**RANGE, "region": "north"}))
    assert [row[2] for row in page.tables["volume", "stores"].rows] == ["BJ001"]
    assert all("region=north" in t.csv for t in page.tables.values())
    assert page.options == ["", "east", "north"]


def test_group_lead_sees_their_departments_and_an_agent_gets_403(world: World) -> None:
    lead = dashboard(world.sessions["lead"], RANGE)
    page = tables_of(lead)
    assert 'id="own-departments"' in lead
    assert [row[0] for row in page.tables["response-times", "departments"].rows] == ["qc"]
    agent = dashboard(world.sessions["agent"], status=403)
    assert CONSOLE_TEXTS["c_forbidden"][0] in agent and 'href="/console/dashboard"' not in agent  # no menu entry
    stranger = TestClient(world.hq.app).get("/console/dashboard", follow_redirects=False)
    assert stranger.status_code == 303 and stranger.headers["location"].startswith("/console/login?next=")


def unguarded(text: str) -> str:
    """A CSV cell without the export's guard against spreadsheet formulas."""
    return text[1:] if text[:2] in ("'=", "'+", "'-", "'@") else text


@pytest.mark.parametrize("who", ["admin", "east.mgr"])
def test_every_csv_link_answers_the_cells_on_the_page(world: World, who: str) -> None:
    session = world.sessions[who]
    page = tables_of(dashboard(session, RANGE))
    # A plain GET with the session cookie: no CSRF token needed (what a click on the link sends).
    browser = TestClient(world.hq.app, cookies=dict(session.cookies))
    for (name, table_name), table in page.tables.items():
        assert table.csv.startswith(f"/api/v1/reports/{name}?") and f"table={table_name}" in table.csv
        response = browser.get(table.csv, headers={"Accept-Language": "zh-CN"})
        assert response.status_code == 200, (table.csv, response.text)
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert lines[0] == table.header, (name, table_name)
        assert [[unguarded(c) for c in line] for line in lines[1:]] == table.rows, (name, table_name)


def test_the_csv_of_an_english_page_is_in_english_whatever_the_browser_says(world: World) -> None:
    session = world.sessions["admin"]
    page = tables_of(dashboard(session, {**RANGE, "lang": "en"}))
    table = page.tables["volume", "stores"]
    assert "lang=en" in table.csv
    response = TestClient(world.hq.app, cookies=dict(session.cookies)).get(
        table.csv, headers={"Accept-Language": "zh-CN"}
    )
    header = next(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert header == table.header and not any("\u4e00" <= ch <= "\u9fff" for ch in "".join(header))


def test_default_range_links_the_csv_of_the_same_instants(world: World) -> None:
    page = tables_of(dashboard(world.sessions["admin"]))
    link = page.tables["volume", "stores"].csv
    found = re.search(r"from=(\d+)&to=(\d+)", link)
    assert found is not None and int(found[2]) - int(found[1]) == 30 * 24 * 3600 * 1000


def test_bad_filters_are_shown_not_crashed(world: World) -> None:
    html = dashboard(world.sessions["admin"], {"from": "not a date"}, 422)
    assert 'id="filter-error"' in html and "<form" in html
    assert 'id="filter-error"' in dashboard(world.sessions["admin"], {"region": "nowhere"}, 422)


@pytest.mark.parametrize("who", ["admin", "supervisor", "lead", "east.mgr"])
def test_dashboard_answers_in_both_languages_with_no_untranslated_key(world: World, who: str) -> None:
    for lang, marker in (("zh", "导出 CSV"), ("en", "Export CSV")):
        for params in (RANGE, {}, {**RANGE, "region": "east"}):
            html = dashboard(world.sessions[who], {**params, "lang": lang})
            assert not UNTRANSLATED.findall(html), (who, lang, UNTRANSLATED.findall(html))
            assert marker in html and "/console/static/charts.js" in html


def test_charts_library_ships_inside_the_package(hq: Hq) -> None:
    script = hq.client.get("/console/static/charts.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "createElementNS" in script.text and "http" not in script.text.replace("http://www.w3.org/2000/svg", "")


def test_every_dashboard_text_has_both_languages() -> None:
    from hq_server.console.texts_reports import TEXTS

    for key, (zh, en) in TEXTS.items():
        assert key.startswith("d_") and zh.strip() and en.strip(), key
        assert re.findall(r"\{(\w+)\}", zh) == re.findall(r"\{(\w+)\}", en), key
