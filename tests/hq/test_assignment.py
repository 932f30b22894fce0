"""Assignment inside a department (hq_server.assignment): round robin or least open among agents
on shift and under their cap, the pool, timeouts back to the pool, a lead's reassignment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from hq_server import assignment
from hq_server.app import create_app
from hq_server.assignment import Agent, DepartmentSettings, pick
from hq_server.business_hours import Calendar
from sync_protocol.entities import decode_entity
from sync_protocol.hlc import system_wall_ms
from tests.hq.helpers import ADMIN_TOKEN, Hq
from tests.hq.test_sync_boundary import assert_error

HOUR_MS = 3600 * 1000
NOW = 1_790_000_000_000


@pytest.fixture
def hq_on(db_url: str) -> Iterator[Hq]:
    app = create_app(db_url, ADMIN_TOKEN, sweep_interval_s=None)
    with TestClient(app) as client:
        yield Hq(app, client)


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def agent(hq: Hq, agent_id: str, name: str, *departments: str, **fields: Any) -> None:
    response = hq.api(
        "PUT", f"/api/v1/agents/{agent_id}", json={"name": name, "departments": list(departments), **fields}
    )
    assert response.status_code == 200, response.text


def equipment_tickets(hq: Hq, count: int) -> list[dict[str, Any]]:
    node = hq.enroll()
    creates = [node.create(f"设备故障 {i}", type="equipment") for i in range(count)]
    node.push([node.op(c) for c in creates])
    return [hq.ticket(c.ticket_id) for c in creates]


# -- choosing an agent (no database) ------------------------------------------------------------

A, B, C = (Agent(id=i, name=i, departments=("it",), cap=2) for i in ("a", "b", "c"))


@pytest.mark.parametrize(
    ("settings", "counts", "expected"),
    [
        (DepartmentSettings("round_robin", 120, ""), {}, "a"),
        (DepartmentSettings("round_robin", 120, "a"), {}, "b"),
        (DepartmentSettings("round_robin", 120, "c"), {}, "a"),  # wraps around
        (DepartmentSettings("round_robin", 120, "a"), {"b": 2}, "c"),  # b is at its cap
        (DepartmentSettings("least_open", 120, ""), {"a": 1, "b": 0, "c": 1}, "b"),
        (DepartmentSettings("least_open", 120, "b"), {"a": 0, "b": 1, "c": 0}, "c"),  # tie: round-robin order
        (DepartmentSettings("round_robin", 120, ""), {"a": 2, "b": 2, "c": 2}, None),  # everyone full
    ],
)
def test_pick_follows_the_strategy_and_the_caps(
    settings: DepartmentSettings, counts: dict[str, int], expected: str | None
) -> None:
    chosen = pick([A, B, C], counts, settings, NOW)
    assert (chosen.id if chosen else None) == expected


def test_agents_off_shift_inactive_or_excluded_are_skipped() -> None:
    night = Calendar(
        tz="UTC", weekly={d: [("00:00", "01:00")] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    )
    off_shift = Agent(id="a", name="a", departments=("it",), shift=night)
    inactive = Agent(id="b", name="b", departments=("it",), active=False)
    at_noon = 1_790_000_000_000 - 1_790_000_000_000 % 86_400_000 + 12 * HOUR_MS
    assert pick([off_shift, inactive, C], {}, DepartmentSettings(), at_noon) == C
    assert pick([off_shift, C], {}, DepartmentSettings(), at_noon, exclude=["c"]) is None
    assert pick([off_shift], {}, DepartmentSettings(), at_noon - 12 * HOUR_MS + 30 * 60_000) == off_shift


# -- assignment at HQ -------------------------------------------------------------------------------


def test_routed_tickets_go_round_robin_to_the_departments_agents(hq_on: Hq) -> None:
    agent(hq_on, "wang", "王工", "it")
    agent(hq_on, "zhao", "赵工", "it")
    agent(hq_on, "qian", "钱工", "qc")  # another department
    tickets = equipment_tickets(hq_on, 3)
    assert [t["assignee"] for t in tickets] == ["wang", "zhao", "wang"]
    assert {t["status"] for t in tickets} == {"assigned"}
    history = hq_on.ticket(tickets[0]["id"])["history"]
    assert [(h["from_status"], h["to_status"]) for h in history] == [("new", "assigned")]


def test_least_open_gives_the_ticket_to_the_agent_with_fewest_open(hq_on: Hq) -> None:
    agent(hq_on, "wang", "王工", "it")
    [first] = equipment_tickets(hq_on, 1)  # wang
    agent(hq_on, "zhao", "赵工", "it")
    put = hq_on.api(
        "PUT", "/api/v1/departments/it/assignment", json={"strategy": "least_open", "assignment_timeout_min": 60}
    )
    assert put.status_code == 200, put.text
    assert first["assignee"] == "wang"
    # zhao has none open, so zhao; then both have one, and the tie goes round robin: wang.
    assert [t["assignee"] for t in equipment_tickets(hq_on, 2)] == ["zhao", "wang"]


def test_a_ticket_nobody_can_take_waits_in_the_pool_until_an_agent_is_free(hq_on: Hq) -> None:
    agent(hq_on, "wang", "王工", "it", cap=1)
    first, second = equipment_tickets(hq_on, 2)
    assert (first["assignee"], second["assignee"], second["status"]) == ("wang", "", "new")
    agent(hq_on, "wang", "王工", "it", cap=2)
    with hq_on.ctx.db.write() as conn:
        _, assigned = assignment.return_untouched(conn, hq_on.ctx.clock, ms(second["routed_at"]) + 60_000)
    assert assigned == [second["id"]]
    assert hq_on.ticket(second["id"])["assignee"] == "wang"


def test_an_untouched_assignment_goes_back_to_the_pool_and_on_to_another_agent(hq_on: Hq) -> None:
    agent(hq_on, "wang", "王工", "it")
    agent(hq_on, "zhao", "赵工", "it")
    [ticket] = equipment_tickets(hq_on, 1)
    assert ticket["assignee"] == "wang"
    settings = {"strategy": "round_robin", "assignment_timeout_min": 30}
    assert hq_on.api("PUT", "/api/v1/departments/it/assignment", json=settings).status_code == 200
    assigned_at = ms(ticket["history"][-1]["at"]) if ticket.get("history") else ms(ticket["routed_at"])
    with hq_on.ctx.db.write() as conn:
        early = assignment.return_untouched(conn, hq_on.ctx.clock, assigned_at + 29 * 60_000)
    assert early == ([], [])
    with hq_on.ctx.db.write() as conn:
        returned, assigned = assignment.return_untouched(conn, hq_on.ctx.clock, assigned_at + 31 * 60_000)
    assert (returned, assigned) == ([ticket["id"]], [ticket["id"]])
    after = hq_on.ticket(ticket["id"])
    assert (after["assignee"], after["status"]) == ("zhao", "assigned")
    assert [h["to_status"] for h in after["history"]] == ["assigned", "new", "assigned"]


def test_an_agent_who_touched_the_ticket_keeps_it(hq_on: Hq) -> None:
    agent(hq_on, "wang", "王工", "it")
    [ticket] = equipment_tickets(hq_on, 1)
    assert hq_on.api("PATCH", f"/api/v1/tickets/{ticket['id']}", json={"status": "in_progress"}).status_code == 200
    with hq_on.ctx.db.write() as conn:
        returned, _ = assignment.return_untouched(conn, hq_on.ctx.clock, ms(ticket["routed_at"]) + 10 * HOUR_MS)
    assert returned == []
    assert hq_on.ticket(ticket["id"])["assignee"] == "wang"


def test_a_lead_reassigns_only_to_an_agent_of_the_department(hq_on: Hq) -> None:
    agent(hq_on, "wang", "王工", "it")
    agent(hq_on, "zhao", "赵工", "it")
    agent(hq_on, "qian", "钱工", "qc")
    [ticket] = equipment_tickets(hq_on, 1)
    path = f"/api/v1/tickets/{ticket['id']}"
    error = assert_error(hq_on.api("PATCH", path, json={"assignee": "qian"}), 422, "unknown_agent")
    assert error["field"] == "assignee"
    assert_error(hq_on.api("PATCH", path, json={"assignee": "nobody"}), 422, "unknown_agent")
    moved = hq_on.api("PATCH", path, json={"assignee": "zhao"})
    assert moved.status_code == 200 and moved.json()["assignee"] == "zhao"
    pooled = hq_on.api("PATCH", path, json={"assignee": ""}).json()
    assert (pooled["assignee"], pooled["status"]) == ("", "new")


def test_the_store_learns_who_has_its_ticket(hq_on: Hq) -> None:
    agent(hq_on, "wang", "王工", "it")
    node = hq_on.enroll()
    create = node.create("冷柜不制冷", type="equipment")
    node.push([node.op(create)])
    changes, _ = node.pull_all()
    [ticket] = [decode_entity("ticket", c.data) for c in changes if c.entity == "ticket"]
    [named] = [decode_entity("agent", c.data) for c in changes if c.entity == "agent"]
    assert (ticket.assignee, ticket.status) == ("wang", "assigned")
    assert (named.id, named.name_zh) == ("wang", "王工")


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"name": "", "departments": ["it"]}, "name", "required"),
        ({"name": "x", "departments": []}, "departments", "required"),
        ({"name": "x", "departments": ["nowhere"]}, "departments", "unknown_department"),
        ({"name": "x", "departments": ["it"], "cap": 0}, "cap", "invalid_choice"),
        (
            {"name": "x", "departments": ["it"], "shift": {"weekly": {"mon": [["9", "18"]]}}},
            "shift.weekly.mon[0]",
            "invalid_calendar",
        ),
        ({"name": "x", "departments": ["it"], "boss": True}, "agent.boss", "unknown_field"),
    ],
)
def test_bad_agents_are_refused_naming_the_field(hq_on: Hq, body: dict[str, Any], field: str, code: str) -> None:
    error = assert_error(hq_on.api("PUT", "/api/v1/agents/x1", json=body), 422, code)
    assert error["field"] == field


def test_the_assignment_timeout_counts_from_when_the_ticket_last_changed_hands(db_url: str) -> None:
    """A lead moves an assigned ticket to another agent 100 minutes later (no status event): the
    new agent gets a whole timeout (120 min), not the 20 minutes left of the first one's."""
    shift = [0]
    app = create_app(db_url, ADMIN_TOKEN, wall_ms=lambda: system_wall_ms() + shift[0], sweep_interval_s=None)
    with TestClient(app) as client:
        hq = Hq(app, client)
        agent(hq, "wang", "王工", "it")
        agent(hq, "zhao", "赵工", "it")
        [ticket] = equipment_tickets(hq, 1)
        assert ticket["assignee"] == "wang"
        shift[0] = 100 * 60_000  # HQ's clock: 100 minutes on
        moved = hq.api("PATCH", f"/api/v1/tickets/{ticket['id']}", json={"assignee": "zhao"})
        assert moved.status_code == 200, moved.text
        handed = ms(ticket["routed_at"]) + 100 * 60_000
        with hq.ctx.db.write() as conn:
            early = assignment.return_untouched(conn, hq.ctx.clock, handed + 119 * 60_000)
        assert early[0] == []
        with hq.ctx.db.write() as conn:
            late = assignment.return_untouched(conn, hq.ctx.clock, handed + 121 * 60_000)
        assert late[0] == [ticket["id"]]
