"""The escalation ladder and its sweep (hq_server.escalation, hq_server.escalation_sweep): each
step fires once per ticket at its time, across restarts and with two sweeps racing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from hq_server.app import create_app
from hq_server.escalation import Step, TicketClock, due_steps, parse_ladder, raised
from hq_server.escalation_sweep import sweep
from sync_protocol.errors import InvalidField
from sync_protocol.hlc import HybridClock
from tests.hq.helpers import ADMIN_TOKEN, Hq, race_as_hq_processes
from tests.hq.test_sync_boundary import assert_error

HOUR_MS = 3600 * 1000


@pytest.fixture
def hq_on(db_url: str) -> Iterator[Hq]:
    """HQ without background jobs: the tests run the sweep themselves, at the times they choose."""
    app = create_app(db_url, ADMIN_TOKEN, sweep_interval_s=None)
    with TestClient(app) as client:
        yield Hq(app, client)


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def routed_ticket(hq: Hq, title: str = "冷柜不制冷") -> dict[str, Any]:
    node = hq.enroll()
    create = node.create(title, type="equipment")
    node.push([node.op(create)])
    return hq.ticket(create.ticket_id)


def inbox(hq: Hq, role: str, department: str = "") -> list[dict[str, Any]]:
    response = hq.api("GET", "/api/v1/notifications", params={"role": role, "department": department})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# -- the ladder (no database) -------------------------------------------------------------------


def clock_of(progress: int, **fields: Any) -> TicketClock:
    values: dict[str, Any] = {
        "last_progress_ms": progress,
        "first_response_due": None,
        "resolution_due": None,
        "responded": False,
        "paused": False,
    }
    return TicketClock(**{**values, **fields})


@pytest.mark.parametrize(
    ("hours", "expected"), [(23.9, []), (24, ["idle-24h"]), (47.9, ["idle-24h"]), (48, ["idle-24h", "idle-48h"])]
)
def test_default_ladder_steps_come_due_at_24_and_48_hours_without_progress(hours: float, expected: list[str]) -> None:
    ladder = parse_ladder(
        [
            {"id": "idle-24h", "name": "24h", "trigger": "idle", "minutes": 1440, "actions": ["remind_lead"]},
            {
                "id": "idle-48h",
                "name": "48h",
                "trigger": "idle",
                "minutes": 2880,
                "actions": ["notify_role"],
                "role": "cs_supervisor",
            },
        ]
    )
    due = due_steps(ladder, clock_of(0), int(hours * HOUR_MS), fired=())
    assert [s.id for s in due] == expected


def test_a_fired_step_is_never_due_again() -> None:
    step = Step(id="idle-24h", name="x", trigger="idle", minutes=60, actions=["remind_lead"])
    assert due_steps([step], clock_of(0), 10 * HOUR_MS, fired={"idle-24h"}) == []


def test_due_steps_follow_the_due_time_and_skip_paused_or_answered_tickets() -> None:
    before = Step(id="warn", name="x", trigger="due", minutes=-30, actions=["remind_lead"])
    late = Step(id="late", name="x", trigger="due", due="first_response", minutes=0, actions=["webhook"])
    ticket = clock_of(0, resolution_due=10 * HOUR_MS, first_response_due=HOUR_MS)
    assert [s.id for s in due_steps([before, late], ticket, 9 * HOUR_MS + 31 * 60_000, ())] == ["warn", "late"]
    paused = clock_of(0, resolution_due=None, first_response_due=HOUR_MS, paused=True, responded=True)
    assert due_steps([before, late], paused, 20 * HOUR_MS, ()) == []


def test_priority_goes_up_one_step_and_stops_at_urgent() -> None:
    assert [raised(p) for p in ("low", "normal", "high", "urgent")] == ["normal", "high", "urgent", "urgent"]


@pytest.mark.parametrize(
    ("steps", "field", "code"),
    [
        ("x", "steps", "invalid_steps"),
        (
            [{"id": "a", "name": "a", "trigger": "idle", "minutes": 0, "actions": ["remind_lead"]}],
            "steps[0].minutes",
            "invalid_choice",
        ),
        ([{"id": "a", "name": "a", "trigger": "idle", "minutes": 5, "actions": []}], "steps[0].actions", "required"),
        (
            [{"id": "a", "name": "a", "trigger": "idle", "minutes": 5, "actions": ["notify_role"]}],
            "steps[0].role",
            "required",
        ),
        (
            [{"id": "a", "name": "a", "trigger": "soon", "minutes": 5, "actions": ["webhook"]}],
            "steps[0].trigger",
            "invalid_type",
        ),
        (
            [{"id": "a", "name": "a", "trigger": "idle", "minutes": 5, "actions": ["explode"]}],
            "steps[0].actions[0]",
            "invalid_type",
        ),
    ],
)
def test_bad_ladder_is_refused_naming_the_field(steps: Any, field: str, code: str) -> None:
    with pytest.raises(InvalidField) as refused:
        parse_ladder(steps)
    assert (refused.value.field, refused.value.code) == (field, code)


# -- the sweep (real database, injected time) ---------------------------------------------------


def test_escalation_at_24_and_48_hours_fires_each_step_exactly_once(hq_on: Hq) -> None:
    hq = hq_on
    ticket = routed_ticket(hq)
    routed = ms(ticket["routed_at"])
    db, clock = hq.ctx.db, hq.ctx.clock
    assert sweep(db, clock, routed + 23 * HOUR_MS).fired == []
    first = sweep(db, clock, routed + 24 * HOUR_MS + 60_000)
    assert first.fired == [(ticket["id"], "idle-24h")]
    assert hq.ticket(ticket["id"])["priority"] == "high"  # normal -> high
    [reminder] = inbox(hq, "lead", "it")
    assert (reminder["ticket_number"], reminder["kind"]) == (ticket["number"], "escalation")
    assert ticket["number"] in reminder["message"]
    assert sweep(db, clock, routed + 30 * HOUR_MS).fired == []
    second = sweep(db, clock, routed + 48 * HOUR_MS + 60_000)
    assert second.fired == [(ticket["id"], "idle-48h")]
    assert [n["ticket_id"] for n in inbox(hq, "cs_supervisor")] == [ticket["id"]]
    assert sweep(db, clock, routed + 100 * HOUR_MS).fired == []
    assert hq.ticket(ticket["id"])["priority"] == "high"  # raised once, not once per sweep
    assert len(inbox(hq, "lead", "it")) == 1


def test_progress_by_the_group_restarts_the_idle_clock(hq_on: Hq) -> None:
    hq = hq_on
    ticket = routed_ticket(hq)
    routed = ms(ticket["routed_at"])
    reply = hq.api("POST", f"/api/v1/tickets/{ticket['id']}/comments", json={"body": "已安排维修"})
    assert reply.status_code == 201
    replied = ms(reply.json()["created_at"])
    assert sweep(hq.ctx.db, hq.ctx.clock, replied + 23 * HOUR_MS).fired == []
    assert sweep(hq.ctx.db, hq.ctx.clock, max(routed, replied) + 24 * HOUR_MS + 1).fired == [(ticket["id"], "idle-24h")]


def test_resolved_tickets_do_not_escalate(hq_on: Hq) -> None:
    hq = hq_on
    ticket = routed_ticket(hq)
    assert hq.api("PATCH", f"/api/v1/tickets/{ticket['id']}", json={"status": "resolved"}).status_code == 200
    assert sweep(hq.ctx.db, hq.ctx.clock, ms(ticket["routed_at"]) + 100 * HOUR_MS).fired == []


def test_a_step_fired_before_a_restart_does_not_fire_again_after_it(db_url: str) -> None:
    first = create_app(db_url, ADMIN_TOKEN, sweep_interval_s=None)
    with TestClient(first) as client:
        hq = Hq(first, client)
        ticket = routed_ticket(hq)
        at = ms(ticket["routed_at"]) + 25 * HOUR_MS
        assert sweep(hq.ctx.db, hq.ctx.clock, at).fired == [(ticket["id"], "idle-24h")]
    again = create_app(db_url, ADMIN_TOKEN, sweep_interval_s=None)
    with TestClient(again) as client:
        hq = Hq(again, client)
        assert sweep(hq.ctx.db, hq.ctx.clock, at + HOUR_MS).fired == []
        assert len(inbox(hq, "lead", "it")) == 1
        assert hq.ticket(ticket["id"])["priority"] == "high"


def test_two_hq_processes_sweeping_at_once_fire_each_step_once(hq_on: Hq, db_url: str) -> None:
    hq = hq_on
    tickets = [routed_ticket(hq, f"工单 {i}") for i in range(5)]
    at = max(ms(t["routed_at"]) for t in tickets) + 49 * HOUR_MS
    results = race_as_hq_processes(db_url, lambda db: sweep(db, HybridClock("hq-other"), at).fired)
    fired = sorted(pair for result in results for pair in result)
    assert fired == sorted((t["id"], step) for t in tickets for step in ("idle-24h", "idle-48h"))
    assert len(inbox(hq, "lead", "it")) == 5
    assert len(inbox(hq, "cs_supervisor")) == 5
    assert {hq.ticket(t["id"])["priority"] for t in tickets} == {"high"}


def test_ladder_api_replaces_the_steps_and_refuses_bad_ones(hq_on: Hq) -> None:
    hq = hq_on
    steps = [{"id": "late", "name": "超时通知", "trigger": "due", "minutes": 0, "actions": ["webhook", "reassign"]}]
    response = hq.api("PUT", "/api/v1/escalation-steps", json={"steps": steps})
    assert response.status_code == 200, response.text
    assert [s["id"] for s in hq.api("GET", "/api/v1/escalation-steps").json()["steps"]] == ["late"]
    error = assert_error(hq.api("PUT", "/api/v1/escalation-steps", json={"steps": [{"id": "x"}]}), 422, "required")
    assert error["field"].startswith("steps[0].")
    assert [s["id"] for s in hq.api("GET", "/api/v1/escalation-steps").json()["steps"]] == ["late"]


def test_notification_can_be_marked_read(hq_on: Hq) -> None:
    hq = hq_on
    ticket = routed_ticket(hq)
    sweep(hq.ctx.db, hq.ctx.clock, ms(ticket["routed_at"]) + 25 * HOUR_MS)
    [notice] = inbox(hq, "lead", "it")
    assert hq.api("POST", f"/api/v1/notifications/{notice['id']}/read").status_code == 200
    unread = hq.api("GET", "/api/v1/notifications", params={"role": "lead", "department": "it", "unread": "1"})
    assert unread.json()["items"] == []
    assert_error(hq.api("POST", f"/api/v1/notifications/{notice['id']}/read"), 404, "notification_not_found")


def test_a_ticket_passed_from_agent_to_agent_untouched_still_escalates(hq_on: Hq) -> None:
    """HQ's own assignment events are not progress."""
    from hq_server import assignment

    hq = hq_on
    for agent_id, name in (("wang", "王工"), ("zhao", "赵工")):
        assert (
            hq.api("PUT", f"/api/v1/agents/{agent_id}", json={"name": name, "departments": ["it"]}).status_code == 200
        )
    ticket = routed_ticket(hq)
    routed = ms(ticket["routed_at"])
    with hq.ctx.db.write() as conn:  # the assignment timeout (120 min) hands it on, twice
        assignment.return_untouched(conn, hq.ctx.clock, routed + 3 * HOUR_MS)
    with hq.ctx.db.write() as conn:
        assignment.return_untouched(conn, hq.ctx.clock, routed + 6 * HOUR_MS)
    assert hq.ticket(ticket["id"])["assignee"] in ("wang", "zhao")
    assert sweep(hq.ctx.db, hq.ctx.clock, routed + 24 * HOUR_MS + 60_000).fired == [(ticket["id"], "idle-24h")]
