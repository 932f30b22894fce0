"""HQ's reports (hq_server.reports, reports_api, csv_export) against figures computed by hand on a
fixed data set.

The data set (:func:`build`) lies in the ten days ``[T0, T_END)`` = 2025-03-03 00:00 to
2025-03-13 00:00 UTC, with one of each kind of record just outside at both ends (at ``T0 - 1`` ms
and at ``T_END``) to check that ranges are half open. Three stores: SH001 and HZ001 in region
``east``, BJ001 in region ``north``. How each part is made:

* tickets: pushed by the stores' nodes (``ticket.create`` with an explicit ``created_at``), then
  resolved by pushed ``ticket.status`` events with an explicit ``at`` (the history times the
  resolution figures use). HQ routes each ticket to its type's default department (quality -> qc,
  equipment -> it, complaint -> cs).
* assignee, first response and SLA due times: written straight into the ``tickets`` row with
  ``hq.ctx.db.write()``, because the protocol cannot express them as past times (HQ stamps a first
  response with its own clock when staff answer, and computes due times from its SLA policies
  and calendars). The assignee is written before the resolving push, so the survey HQ opens then
  carries it; the first response and dues after every push, as HQ refreshes the dues on each
  status change.
* surveys: opened by HQ when the resolving push lands, answered with ``surveys.answer``.
* returns: orders through the staff API, returns pushed by the stores with an explicit ``at``.
* transfers: requested and stepped by pushes with explicit ``at`` times.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import surveys as survey_rules
from hq_server.csv_export import BOM, cell, to_csv
from hq_server.errors import Forbidden
from hq_server.principals import INTEGRATION_PRINCIPAL, Principal
from hq_server.reports import (
    Durations,
    ReportScope,
    nearest_rank,
    response_times,
    return_reasons,
    satisfaction,
    sla_breaches,
    ticket_volume,
    top_problems,
    transfer_lead_times,
)
from hq_server.reports_api import ReportParams, scope_for
from hq_server.schema import agents, regions, surveys, tickets
from tests.hq.helpers import DAY_MS, Hq, WireNode, import_catalogue

MIN = 60_000
HOUR = 60 * MIN
T0 = int(datetime(2025, 3, 3, tzinfo=UTC).timestamp() * 1000)
T_END = T0 + 10 * DAY_MS
FROM, TO = "2025-03-03T00:00:00Z", "2025-03-13T00:00:00Z"
#: "Now" for the pure SLA function: every open ticket's dues have passed.
NOW = T_END + DAY_MS

CATALOGUE = """product_code,name_zh,name_en,category,colour,size
JN-2041,修身牛仔裤,Slim jeans,jeans,蓝,M
UW-0100,棉质内裤,Cotton briefs,underwear,白,M
TS-1001,圆领T恤,Crew tee,tops,白,M
"""
JEANS, BRIEFS, TEE = "JN-2041-蓝-M", "UW-0100-白-M", "TS-1001-白-M"
REGIONS = {"SH001": "east", "HZ001": "east", "BJ001": "north"}


@dataclass(frozen=True)
class Spec:
    """One ticket of the data set; minutes count from its creation."""

    store: str
    type: str
    product: str
    created: int
    assignee: str
    first_response_min: int | None
    resolved_min: int | None
    first_response_due_min: int
    resolution_due_min: int | None
    score: int | None = None


# Departments come from the type: quality -> qc, equipment -> it, complaint -> cs, other -> cs.
TICKETS: dict[str, Spec] = {
    # (store, type, product, created, agent, first response, resolved, first-response due, resolution due, score)
    "A1": Spec("SH001", "quality", "JN-2041", T0, "a.wang", 10, 60, 30, None, 5),
    "A2": Spec("SH001", "quality", "JN-2041", T0 + 1 * DAY_MS, "a.wang", 20, 120, 30, 200, 4),
    "A3": Spec("SH001", "equipment", "", T0 + 2 * DAY_MS, "b.li", 15, 300, 30, 200, 5),
    "A4": Spec("SH001", "complaint", "TS-1001", T0 + 3 * DAY_MS, "c.zhao", 5, None, 30, 200),
    "B1": Spec("HZ001", "quality", "JN-2041", T0 + 4 * DAY_MS, "a.wang", 30, 180, 30, 150, 2),
    "B2": Spec("HZ001", "quality", "TS-1001", T0 + 5 * DAY_MS, "d.sun", 40, 240, 30, 200, 3),
    "B3": Spec("HZ001", "complaint", "TS-1001", T0 + 6 * DAY_MS, "c.zhao", None, None, 30, 200),
    "C1": Spec("BJ001", "quality", "JN-2041", T0 + 7 * DAY_MS, "d.sun", 90, None, 30, 200),
    "C2": Spec("BJ001", "equipment", "POS-9", T0 + 8 * DAY_MS, "b.li", 45, None, 30, 200),
    "C3": Spec("BJ001", "complaint", "TS-1001", T0 + 9 * DAY_MS, "c.zhao", None, 600, 30, 200),
    # Just outside the range, at both ends: they would show everywhere (an "other" type, a
    # product ZZ-1, breaches, a score of 1) if a range were not half open.
    "X1": Spec("SH001", "other", "ZZ-1", T0 - 1, "c.zhao", 1, 2, 0, 1, 1),
    "X2": Spec("BJ001", "other", "ZZ-1", T_END, "c.zhao", 1, 2, 0, 1, 1),
}


@dataclass
class DataSet:
    nodes: dict[str, WireNode]
    numbers: dict[str, str] = field(default_factory=dict)
    region_ids: dict[str, str] = field(default_factory=dict)

    def store_id(self, code: str) -> str:
        return self.nodes[code].store_id


def applied(node: WireNode, *payloads: Any) -> None:
    answer = node.send(*payloads)
    assert [r.status for r in answer.results] == ["applied"] * len(payloads), answer.results


def set_row(hq: Hq, ticket_id: str, **values: Any) -> None:
    """Written straight into the row: the protocol cannot express these as past times."""
    with hq.ctx.db.write() as conn:
        conn.execute(tickets.update().where(tickets.c.id == ticket_id).values(**values))


def sell(hq: Hq, number: str, store: str, paid_at: int, lines: list[tuple[str, int, str]]) -> str:
    body = {
        "number": number,
        "channel": "store",
        "store": store,
        "customer_phone": "13800138000",
        "paid_at": paid_at,
        "lines": [{"sku": sku, "qty": qty, "unit_price": price} for sku, qty, price in lines],
    }
    response = hq.api("POST", "/api/v1/orders", json=body)
    assert response.status_code == 201, response.text
    order_id: str = response.json()["id"]
    return order_id


def build(hq: Hq) -> DataSet:
    import_catalogue(hq, CATALOGUE)
    data = DataSet({code: hq.enroll(code, region=region) for code, region in REGIONS.items()})
    with hq.ctx.db.read() as conn:
        data.region_ids = {str(code): str(i) for i, code in conn.execute(sa.select(regions.c.id, regions.c.code))}
    ids: dict[str, str] = {}
    for key, spec in TICKETS.items():
        node = data.nodes[spec.store]
        create = node.create(f"工单 {key}", type=spec.type, product_code=spec.product, created_at=spec.created)
        applied(node, create)
        ids[key], data.numbers[key] = create.ticket_id, create.number
        set_row(hq, create.ticket_id, assignee=spec.assignee)
    for key, spec in TICKETS.items():
        if spec.resolved_min is not None:
            node = data.nodes[spec.store]
            applied(node, node.status(ids[key], "resolved", at=spec.created + spec.resolved_min * MIN))
    for key, spec in TICKETS.items():
        set_row(
            hq,
            ids[key],
            first_responded_at=None
            if spec.first_response_min is None
            else spec.created + spec.first_response_min * MIN,
            first_response_due=spec.created + spec.first_response_due_min * MIN,
            resolution_due=None if spec.resolution_due_min is None else spec.created + spec.resolution_due_min * MIN,
        )
    with hq.ctx.db.write() as conn:
        for key, spec in TICKETS.items():
            if spec.score is not None:
                survey_id = conn.execute(sa.select(surveys.c.id).where(surveys.c.ticket_id == ids[key])).scalar_one()
                survey_rules.answer(conn, survey_id, score=spec.score, comment="", now_ms=T_END)
        # Agents' names, for the labels (inactive: HQ gives them no tickets).
        for agent_id, name in (("a.wang", "王芳"), ("b.li", "李斌"), ("c.zhao", "赵晨"), ("d.sun", "孙迪")):
            conn.execute(
                agents.insert().values(
                    id=agent_id, name=name, departments=[], lead_of=[], active=False, updated_at=T_END
                )
            )
    build_returns(hq, data)
    build_transfers(data)
    return data


def build_returns(hq: Hq, data: DataSet) -> None:
    """Accepted in range: size at SH001 (1 jeans, 299.00), quality at HZ001 (1 jeans + 1 briefs,
    338.00), size at BJ001 (1 tee, 129.00). Not counted: a refused colour return in range, a
    fabric return at T0 - 1 ms and a colour return at T_END (both accepted)."""
    sh, hz, bj = (data.nodes[c] for c in ("SH001", "HZ001", "BJ001"))
    so1 = sell(hq, "SO-1", "SH001", T0 - 2 * DAY_MS, [(JEANS, 2, "299.00"), (BRIEFS, 1, "39.00")])
    so2 = sell(hq, "SO-2", "BJ001", T0 - 2 * DAY_MS, [(TEE, 1, "129.00")])
    so3 = sell(hq, "SO-3", "BJ001", T_END - 2 * DAY_MS, [(BRIEFS, 1, "39.00")])
    so4 = sell(hq, "SO-4", "SH001", T0 - 3 * DAY_MS, [(TEE, 1, "129.00")])
    applied(sh, sh.take_back(so1, [(1, 1)], reason="size", at=T0 + HOUR))
    applied(hz, hz.take_back(so1, [(1, 1), (2, 1)], reason="quality", at=T0 + 2 * DAY_MS))
    applied(bj, bj.take_back(so2, [(1, 1)], reason="size", at=T0 + 3 * DAY_MS))
    refused = hz.send(hz.take_back(so1, [(1, 1)], reason="colour", at=T0 + 4 * DAY_MS)).results[0]
    assert refused.code == "over_return"
    applied(bj, bj.take_back(so3, [(1, 1)], reason="colour", at=T_END))
    applied(sh, sh.take_back(so4, [(1, 1)], reason="fabric", at=T0 - 1))


def build_transfers(data: DataSet) -> None:
    """Steps in hours after the one before: T1 HZ001 asks SH001 (2, 4, 10), T2 HZ001 asks SH001
    (1, 2, 6), T3 BJ001 asks SH001 (3, 5, 24), T4 SH001 asks HZ001 (approved after 6, not
    shipped); outside the range: one requested at T0 - 1 ms and one at T_END."""
    for node in data.nodes.values():
        applied(node, node.move(JEANS, 10, "receipt"))
    plan = [
        ("HZ001", "SH001", T0 + HOUR, (2, 4, 10)),
        ("HZ001", "SH001", T0 + DAY_MS, (1, 2, 6)),
        ("BJ001", "SH001", T0 + 2 * DAY_MS, (3, 5, 24)),
        ("SH001", "HZ001", T0 + 3 * DAY_MS, (6,)),
        ("BJ001", "HZ001", T0 - 1, (50, 50, 50)),
        ("HZ001", "BJ001", T_END, (100, 100, 100)),
    ]
    for requester_code, source_code, at, hours in plan:
        requester, source = data.nodes[requester_code], data.nodes[source_code]
        request = requester.request_transfer(JEANS, 1, source.store_id, at=at)
        applied(requester, request)
        for action, step_hours in zip(("approve", "ship", "receive"), hours, strict=False):
            at += step_hours * HOUR
            node = requester if action == "receive" else source
            applied(node, node.step(request.transfer_id, action, at=at))


@pytest.fixture
def data(hq: Hq) -> DataSet:
    return build(hq)


@pytest.fixture
def conn(hq: Hq, data: DataSet) -> Iterator[Connection]:
    with hq.ctx.db.read() as connection:
        yield connection


EVERYTHING = ReportScope(T0, T_END)


def minutes(count: int, median: int | None, p90: int | None) -> Durations:
    return Durations(count, None if median is None else median * MIN, None if p90 is None else p90 * MIN)


def hours(count: int, median: int | None, p90: int | None) -> Durations:
    return Durations(count, None if median is None else median * HOUR, None if p90 is None else p90 * HOUR)


# -- the arithmetic -----------------------------------------------------------------------------


def test_nearest_rank_percentiles() -> None:
    # rank = ceil(p/100 * n): n=5 -> median 3rd, p90 5th; n=4 -> median 2nd, p90 4th;
    # n=10 -> p90 9th; n=20 -> p90 18th; n=1 -> the value; n=0 -> None.
    assert [nearest_rank([10, 20, 30, 40, 90], p) for p in (50, 90)] == [30, 90]
    assert [nearest_rank([60, 120, 180, 240], p) for p in (50, 90)] == [120, 240]
    assert nearest_rank(list(range(1, 11)), 90) == 9
    assert nearest_rank(list(range(1, 21)), 90) == 18
    assert nearest_rank(list(range(1, 71)), 90) == 63  # float 0.9 * 70 = 63.00000000000001 would give 64
    assert nearest_rank([7], 50) == 7 and nearest_rank([], 90) is None


def test_csv_cells_and_bom() -> None:
    text = to_csv(["门店", "n"], [["上海一店", 3], ["=cmd()", None], ["a,b", [1, 2]], ["-1", 2.5]])
    assert text.startswith(BOM) and text.encode("utf-8")[:3] == b"\xef\xbb\xbf"
    assert text[1:].split("\r\n") == ["门店,n", "上海一店,3", "'=cmd(),", '"a,b",1 2', "'-1,2.5", ""]
    assert cell(True) == "true" and cell(None) == ""


# -- the figures, straight from the query functions -----------------------------------------------


def test_volume_and_problems(conn: Connection, data: DataSet) -> None:
    volume = ticket_volume(conn, EVERYTHING)
    # SH001: A1 A2 quality, A3 equipment, A4 complaint; HZ001: B1 B2 quality, B3 complaint;
    # BJ001: C1 quality, C2 equipment, C3 complaint. X1 (T0 - 1 ms) and X2 (T_END) are out.
    assert [(r.store_code, r.region_code, r.tickets, r.by_type) for r in volume.stores] == [
        ("BJ001", "north", 3, {"quality": 1, "equipment": 1, "complaint": 1}),
        ("HZ001", "east", 3, {"quality": 2, "complaint": 1}),
        ("SH001", "east", 4, {"quality": 2, "equipment": 1, "complaint": 1}),
    ]
    # east = SH001 + HZ001: 4 quality, 1 equipment, 2 complaints = 7; north = BJ001.
    assert [(r.region_code, r.tickets, r.by_type) for r in volume.regions] == [
        ("east", 7, {"quality": 4, "equipment": 1, "complaint": 2}),
        ("north", 3, {"quality": 1, "equipment": 1, "complaint": 1}),
    ]
    assert volume.types == ["quality", "complaint", "equipment"]  # 5, 3, 2 tickets

    # (quality, JN-2041): A1 A2 B1 C1 = 4; (complaint, TS-1001): A4 B3 C3 = 3; then the ties of 1
    # by type: equipment/POS-9 (C2) before quality/TS-1001 (B2). A3 has no product: left out.
    found = [(p.type, p.product_code, p.tickets) for p in top_problems(conn, EVERYTHING)]
    assert found == [
        ("quality", "JN-2041", 4),
        ("complaint", "TS-1001", 3),
        ("equipment", "POS-9", 1),
        ("quality", "TS-1001", 1),
    ]
    assert [p.tickets for p in top_problems(conn, EVERYTHING, limit=2)] == [4, 3]
    # With limit 3 the tie at the 3rd place is broken by type code: equipment < quality.
    assert [p.product_code for p in top_problems(conn, EVERYTHING, limit=3)] == ["JN-2041", "TS-1001", "POS-9"]


def test_response_and_resolution_times(conn: Connection, data: DataSet) -> None:
    rows = {r.department: r for r in response_times(conn, EVERYTHING)}
    assert list(rows) == ["cs", "it", "qc"]
    # qc (A1 A2 B1 B2 C1): first responses 10, 20, 30, 40, 90 min -> median (rank ceil(0.5*5)=3) 30,
    # p90 (rank ceil(0.9*5)=5) 90; resolved A1 60, A2 120, B1 180, B2 240 -> median (rank 2) 120,
    # p90 (rank ceil(3.6)=4) 240.
    assert rows["qc"].tickets == 5
    assert rows["qc"].first_response == minutes(5, 30, 90)
    assert rows["qc"].resolution == minutes(4, 120, 240)
    # it (A3 C2): first responses 15, 45 -> median (rank 1) 15, p90 (rank ceil(1.8)=2) 45;
    # resolved A3 300.
    assert (rows["it"].tickets, rows["it"].first_response, rows["it"].resolution) == (
        2,
        minutes(2, 15, 45),
        minutes(1, 300, 300),
    )
    # cs (A4 B3 C3): only A4 answered (5 min); only C3 resolved (600 min, without an HQ answer).
    assert (rows["cs"].tickets, rows["cs"].first_response, rows["cs"].resolution) == (
        3,
        minutes(1, 5, 5),
        minutes(1, 600, 600),
    )


def test_sla_breaches(conn: Connection, data: DataSet) -> None:
    n = data.numbers
    found = [
        (r.department, r.store_code, r.tickets, r.first_response_breaches, r.resolution_breaches, r.breached)
        for r in sla_breaches(conn, EVERYTHING, NOW)
    ]
    # First response due 30 min after creation: B1 answered at 30 (met exactly: no breach), B2 at
    # 40, C1 at 90, C2 at 45 breach; B3 and C3 never answered and NOW is past: breach.
    # Resolution due 200 min (B1: 150; A1: no target): A3 300, B1 180, B2 240, C3 600 resolved
    # late; A4, B3, C1, C2 still open at NOW: breach. A2 (120) met it.
    # In qc/HZ001, B2 overran by 40 min (resolution; 10 for its first response), B1 by 30: B2 first.
    assert found == [
        ("cs", "BJ001", 1, 1, 1, [n["C3"]]),
        ("cs", "HZ001", 1, 1, 1, [n["B3"]]),
        ("cs", "SH001", 1, 0, 1, [n["A4"]]),
        ("it", "BJ001", 1, 1, 1, [n["C2"]]),
        ("it", "SH001", 1, 0, 1, [n["A3"]]),
        ("qc", "BJ001", 1, 1, 1, [n["C1"]]),
        ("qc", "HZ001", 2, 1, 2, [n["B2"], n["B1"]]),
        ("qc", "SH001", 2, 0, 0, []),
    ]
    # Before any due has passed (NOW = T0 + 5 min), the open tickets have breached nothing yet.
    early = sla_breaches(conn, ReportScope(T0, T0 + DAY_MS), T0 + 5 * MIN)
    assert [(r.department, r.first_response_breaches, r.resolution_breaches) for r in early] == [("qc", 0, 0)]


def test_satisfaction(conn: Connection, data: DataSet) -> None:
    found = satisfaction(conn, EVERYTHING)
    figures = [(r.key, r.sent, r.answered, r.mean, r.satisfied, r.satisfied_share) for r in found.departments]
    # Surveys open on resolution: qc A1 5, A2 4, B1 2, B2 3 -> mean 14/4 = 3.5, 4-5: 2 of 4 = 0.5;
    # it A3 5; cs C3 unanswered. X1/X2 (score 1) are out of range.
    assert figures == [("cs", 1, 0, None, 0, None), ("it", 1, 1, 5.0, 1, 1.0), ("qc", 4, 4, 3.5, 2, 0.5)]
    figures = [(r.key, r.sent, r.answered, r.mean, r.satisfied, r.satisfied_share) for r in found.agents]
    # a.wang: 5, 4, 2 -> 11/3 = 3.666.. -> 3.67; 2 of 3 -> 0.6667 (half up, 4 places).
    assert figures == [
        ("a.wang", 3, 3, 3.67, 2, 0.6667),
        ("b.li", 1, 1, 5.0, 1, 1.0),
        ("c.zhao", 1, 0, None, 0, None),
        ("d.sun", 1, 1, 3.0, 0, 0.0),
    ]


def test_return_reasons(conn: Connection, data: DataSet) -> None:
    rows = return_reasons(conn, EVERYTHING)
    # quality: 1 return, jeans 299.00 + briefs 39.00 = 338.00, 2 units; size: SH001 jeans 299.00 +
    # BJ001 tee 129.00 = 428.00, 2 units. Equal units: by reason code, quality first.
    assert [(r.reason, r.returns, r.units, r.refund_cents) for r in rows] == [
        ("quality", 1, 2, 33800),
        ("size", 2, 2, 42800),
    ]
    assert [(c.category, c.units, c.amount_cents) for c in rows[0].categories] == [
        ("jeans", 1, 29900),
        ("underwear", 1, 3900),
    ]
    assert [(c.category, c.units, c.amount_cents) for c in rows[1].categories] == [
        ("jeans", 1, 29900),
        ("tops", 1, 12900),
    ]
    north = return_reasons(conn, ReportScope(T0, T_END, region_id=data.region_ids["north"]))
    assert [(r.reason, r.returns, r.units, r.refund_cents) for r in north] == [("size", 1, 1, 12900)]


def test_transfer_lead_times(conn: Connection, data: DataSet) -> None:
    found = transfer_lead_times(conn, EVERYTHING)
    # request->approve 2, 1, 3, 6 h -> sorted 1 2 3 6: median rank 2 = 2, p90 rank ceil(3.6)=4 = 6;
    # approve->ship 4, 2, 5 -> 2 4 5: median rank ceil(1.5)=2 = 4, p90 rank ceil(2.7)=3 = 5;
    # ship->receive 10, 6, 24 -> 10 and 24; request->receive 16, 9, 32 -> 9 16 32: 16 and 32.
    assert found.overall.transfers == 4
    assert found.overall.steps == {
        "request_to_approve": hours(4, 2, 6),
        "approve_to_ship": hours(3, 4, 5),
        "ship_to_receive": hours(3, 10, 24),
        "request_to_receive": hours(3, 16, 32),
    }
    routes = {(r.from_store_code, r.to_store_code): r for r in found.routes}
    assert list(routes) == [("HZ001", "SH001"), ("SH001", "BJ001"), ("SH001", "HZ001")]
    # SH001 -> HZ001 (T1, T2): 2 and 1 h -> median rank 1 = 1, p90 rank 2 = 2; 4 and 2 -> 2, 4; ...
    assert routes["SH001", "HZ001"].steps == {
        "request_to_approve": hours(2, 1, 2),
        "approve_to_ship": hours(2, 2, 4),
        "ship_to_receive": hours(2, 6, 10),
        "request_to_receive": hours(2, 9, 16),
    }
    assert routes["HZ001", "SH001"].transfers == 1
    assert routes["HZ001", "SH001"].steps["request_to_approve"] == hours(1, 6, 6)
    assert routes["HZ001", "SH001"].steps["approve_to_ship"] == hours(0, None, None)


# -- who sees what --------------------------------------------------------------------------------


def test_regional_manager_sees_only_the_stores_of_their_region(conn: Connection, data: DataSet) -> None:
    north = data.region_ids["north"]
    manager = Principal(role="regional_manager", username="north.mgr", regions=frozenset({north}))
    scope = scope_for(manager, ReportParams(T0, T_END), conn)
    assert scope.store_ids == {data.store_id("BJ001")} and scope.departments is None
    volume = ticket_volume(conn, scope)
    assert [(r.store_code, r.tickets) for r in volume.stores] == [("BJ001", 3)]
    assert [(r.region_code, r.tickets) for r in volume.regions] == [("north", 3)]
    # BJ001 only: qc C1 answered at 90, it C2 at 45, cs C3 resolved at 600 without an answer.
    rows = {r.department: (r.tickets, r.first_response, r.resolution) for r in response_times(conn, scope)}
    assert rows == {
        "cs": (1, minutes(0, None, None), minutes(1, 600, 600)),
        "it": (1, minutes(1, 45, 45), minutes(0, None, None)),
        "qc": (1, minutes(1, 90, 90), minutes(0, None, None)),
    }
    # Transfers with BJ001 at either end: T3 (SH001 -> BJ001) only.
    lead = transfer_lead_times(conn, scope)
    assert lead.overall.transfers == 1 and lead.overall.steps["request_to_receive"] == hours(1, 32, 32)
    assert [r.reason for r in return_reasons(conn, scope)] == ["size"]
    with pytest.raises(Forbidden):
        scope_for(manager, ReportParams(T0, T_END, data.region_ids["east"]), conn)
    with pytest.raises(Forbidden):
        scope_for(Principal(role="agent", departments=frozenset({"qc"})), ReportParams(T0, T_END), conn)


def test_group_lead_sees_only_their_departments(conn: Connection, data: DataSet) -> None:
    lead = Principal(role="group_lead", username="qc.lead", departments=frozenset({"qc"}))
    scope = scope_for(lead, ReportParams(T0, T_END), conn)
    assert scope.store_ids is None and scope.departments == {"qc"}
    volume = ticket_volume(conn, scope)
    assert [(r.store_code, r.by_type) for r in volume.stores] == [
        ("BJ001", {"quality": 1}),
        ("HZ001", {"quality": 2}),
        ("SH001", {"quality": 2}),
    ]
    assert [r.department for r in response_times(conn, scope)] == ["qc"]
    assert {r.department for r in sla_breaches(conn, scope, NOW)} == {"qc"}
    found = satisfaction(conn, scope)
    assert [r.key for r in found.departments] == ["qc"] and [r.key for r in found.agents] == ["a.wang", "d.sun"]
    # Returns are finance's (the refund type's department), transfers the warehouse's (stock).
    assert return_reasons(conn, scope) == [] and transfer_lead_times(conn, scope).overall.transfers == 0
    finance = scope_for(Principal(role="group_lead", departments=frozenset({"finance"})), ReportParams(T0, T_END), conn)
    assert [r.reason for r in return_reasons(conn, finance)] == ["quality", "size"]
    everything = scope_for(INTEGRATION_PRINCIPAL, ReportParams(T0, T_END), conn)
    assert everything == EVERYTHING


# -- over HTTP ------------------------------------------------------------------------------------


def report(hq: Hq, name: str, lang: str = "zh", **params: Any) -> dict[str, Any]:
    response = hq.api("GET", f"/api/v1/reports/{name}", params=params, headers={"Accept-Language": lang})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def rows_of(body: dict[str, Any], table: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = body["tables"][table]["rows"]
    return found


def test_api_answers_figures_with_names_in_the_callers_language(hq: Hq, data: DataSet) -> None:
    body = report(hq, "volume", "en", **{"from": FROM, "to": TO})
    assert (body["from"], body["to"]) == ("2025-03-03T00:00:00.000Z", "2025-03-13T00:00:00.000Z")
    stores_table = body["tables"]["stores"]
    labels = [c["label"] for c in stores_table["columns"]]
    assert labels == [
        "Region code",
        "Region",
        "Store code",
        "Store",
        "Tickets",
        "Quality feedback",
        "Customer complaint",
        "Equipment fault",
    ]
    sh = rows_of(body, "stores")[2]
    assert (sh["store_code"], sh["store_name"], sh["region_name"], sh["tickets"]) == ("SH001", "SH001 门店", "east", 4)
    assert (sh["type:quality"], sh["type:equipment"], sh["type:complaint"]) == (2, 1, 1)

    body = report(hq, "response-times", **{"from": FROM, "to": TO})
    qc = rows_of(body, "departments")[2]
    assert (qc["department_name"], qc["first_response_median_min"], qc["first_response_p90_min"]) == (
        "质检",
        30.0,
        90.0,
    )
    assert (qc["resolution_median_ms"], qc["resolution_p90_ms"]) == (120 * MIN, 240 * MIN)

    body = report(hq, "problems", "en", **{"from": FROM, "to": TO})
    first = rows_of(body, "problems")[0]
    assert (first["rank"], first["type_name"], first["product_name"], first["tickets"]) == (
        1,
        "Quality feedback",
        "Slim jeans",
        4,
    )

    agents_rows = rows_of(report(hq, "satisfaction", **{"from": FROM, "to": TO}), "agents")
    wang = agents_rows[0]
    assert (wang["agent"], wang["agent_name"], wang["mean_score"], wang["satisfied_share"]) == (
        "a.wang",
        "王芳",
        3.67,
        0.6667,
    )

    reasons = rows_of(report(hq, "return-reasons", "en", **{"from": FROM, "to": TO}), "reasons")
    assert [(r["reason_name"], r["refund"], r["refund_cents"]) for r in reasons] == [
        ("quality problem", "338.00", 33800),
        ("wrong size", "428.00", 42800),
    ]

    overall = rows_of(report(hq, "transfer-lead-times", **{"from": FROM, "to": TO}), "overall")[0]
    assert (overall["transfers"], overall["request_to_receive_median_h"], overall["request_to_receive_p90_h"]) == (
        4,
        16.0,
        32.0,
    )

    # The breaches as of HQ's now (2025's open tickets are long overdue): the same as at NOW.
    breaches = rows_of(report(hq, "sla-breaches", **{"from": FROM, "to": TO}), "breaches")
    assert [(r["department"], r["store_code"], r["breached"]) for r in breaches][6] == (
        "qc",
        "HZ001",
        [data.numbers["B2"], data.numbers["B1"]],
    )


def test_region_filter_by_code_or_id(hq: Hq, data: DataSet) -> None:
    body = report(hq, "volume", region="north", **{"from": FROM, "to": TO})
    assert body["region"]["code"] == "north"
    assert [r["store_code"] for r in rows_of(body, "stores")] == ["BJ001"]
    body = report(hq, "volume", region=data.region_ids["east"], **{"from": FROM, "to": TO})
    assert [(r["store_code"], r["tickets"]) for r in rows_of(body, "stores")] == [("HZ001", 3), ("SH001", 4)]
    assert [(r["region_code"], r["tickets"]) for r in rows_of(body, "regions")] == [("east", 7)]
    east_breaches = rows_of(report(hq, "sla-breaches", region="east", **{"from": FROM, "to": TO}), "breaches")
    assert {r["store_code"] for r in east_breaches} == {"SH001", "HZ001"}


def test_date_range_is_half_open(hq: Hq, data: DataSet) -> None:
    def tickets_per_store(start: int | str, end: int | str) -> dict[str, int]:
        body = report(hq, "volume", **{"from": str(start), "to": str(end)})
        return {r["store_code"]: r["tickets"] for r in rows_of(body, "stores")}

    assert tickets_per_store(T0, T_END) == {"BJ001": 3, "HZ001": 3, "SH001": 4}
    # X1 was created at T0 - 1 ms (SH001), X2 at T_END (BJ001): each is in only when its
    # instant is in [from, to).
    assert tickets_per_store(T0 - 1, T_END) == {"BJ001": 3, "HZ001": 3, "SH001": 5}
    assert tickets_per_store(T0, T_END + 1) == {"BJ001": 4, "HZ001": 3, "SH001": 4}
    # A1 was created at T0 exactly: in [T0, T0 + 1), out of [T0 - 1, T0).
    assert tickets_per_store(T0, T0 + 1) == {"SH001": 1}
    assert tickets_per_store(T0 - 1, T0) == {"SH001": 1}  # that is X1
    # A range in ISO 8601 with an offset: 2025-03-03T08:00+08:00 is T0.
    assert tickets_per_store("2025-03-03T08:00:00+08:00", "2025-03-03T08:00:00.001+08:00") == {"SH001": 1}
    # Returns and transfers at T_END are out, at T0 - 1 ms too; widening by 1 ms takes each in.
    reasons = rows_of(report(hq, "return-reasons", **{"from": str(T0 - 1), "to": str(T_END + 1)}), "reasons")
    assert {r["reason"]: r["returns"] for r in reasons} == {"quality": 1, "size": 2, "colour": 1, "fabric": 1}
    overall = rows_of(report(hq, "transfer-lead-times", **{"from": str(T0 - 1), "to": str(T_END + 1)}), "overall")
    assert overall[0]["transfers"] == 6


def test_csv_export_carries_the_json_figures(hq: Hq, data: DataSet) -> None:
    listed = hq.api("GET", "/api/v1/reports").json()["reports"]
    for item in listed:
        for table in item["tables"]:
            params = {"from": FROM, "to": TO}
            body = report(hq, item["name"], **params)
            response = hq.api(
                "GET", f"/api/v1/reports/{item['name']}", params={**params, "format": "csv", "table": table["name"]}
            )
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "text/csv; charset=utf-8"
            assert response.content.startswith(b"\xef\xbb\xbf")
            lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
            expected = body["tables"][table["name"]]
            assert lines[0] == [c["label"] for c in expected["columns"]]
            assert len(lines) - 1 == len(expected["rows"]) > 0, (item["name"], table["name"])
            for line, row in zip(lines[1:], expected["rows"], strict=True):
                for text, column in zip(line, expected["columns"], strict=True):
                    assert_same(text, row[column["key"]])


def assert_same(text: str, value: Any) -> None:
    """A CSV cell read back equals the JSON value."""
    if value is None:
        assert text == ""
    elif isinstance(value, list):
        assert text.split() == value
    elif isinstance(value, int | float):
        assert float(text) == value
    else:
        assert text == value


def test_bad_parameters_are_refused_naming_the_field(hq: Hq) -> None:
    def error(name: str, status: int, **params: str) -> dict[str, Any]:
        response = hq.api("GET", f"/api/v1/reports/{name}", params=params, headers={"Accept-Language": "en"})
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()["error"]
        return body

    bad_from = error("volume", 422, **{"from": "last tuesday"})
    assert (bad_from["code"], bad_from["field"]) == ("invalid_time", "from")
    assert error("volume", 422, **{"from": "2025-13-01"})["field"] == "from"
    assert error("volume", 422, to="12345")["field"] == "to"
    backwards = error("volume", 422, **{"from": TO, "to": FROM})
    assert (backwards["code"], backwards["field"]) == ("invalid_range", "to")
    assert error("volume", 422, region="nowhere")["field"] == "region"
    assert error("volume", 422, format="xlsx")["field"] == "format"
    assert error("volume", 422, format="csv", table="agents")["field"] == "table"
    assert error("no-such-report", 404)["code"] == "unknown_report"
    assert hq.client.get("/api/v1/reports/volume").status_code == 401


def test_default_range_is_the_last_30_days(hq: Hq) -> None:
    body = report(hq, "volume")
    assert body["to_ms"] - body["from_ms"] == 30 * DAY_MS
    assert body["to"] == body["as_of"] and body["tables"]["stores"]["rows"] == []
