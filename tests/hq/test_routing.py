"""Routing and SLA at HQ (hq_server.routing, hq_server.service_levels, hq_server.dispatch): tickets
are routed when they reach HQ, their SLA is worked out of their history, and the settings API
validates and recalculates."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sync_protocol.entities import decode_entity
from tests.hq.helpers import Hq
from tests.hq.test_sync_boundary import assert_error

HOUR_MS = 3600 * 1000
ALWAYS_OPEN = {"always_open": True}

RULES: list[dict[str, Any]] = [
    {
        "id": "vip-complaints",
        "name": "VIP 顾客投诉",
        "when": {"types": ["complaint"], "keywords": ["VIP"]},
        "then": {"department": "cs", "priority": "urgent", "tags": ["vip"]},
    },
    {"id": "refunds", "name": "退款", "when": {"keywords": ["退款", "refund"]}, "then": {"department": "finance"}},
]


def ms(iso: str | None) -> int:
    assert iso is not None
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def put(hq: Hq, path: str, body: Any) -> Any:
    response = hq.api("PUT", path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_store_ticket_goes_to_its_types_department_when_no_rule_matches(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create("牛仔裤拉链总坏", type="quality")
    node.push([node.op(create)])
    ticket = hq.ticket(create.ticket_id)
    assert ticket["department"] == "qc"
    assert ticket["routed_at"] is not None
    assert ticket["first_response_due"] is not None and ticket["resolution_due"] is not None


def test_first_matching_rule_sets_department_priority_and_tags(hq: Hq) -> None:
    put(hq, "/api/v1/routing-rules", {"rules": RULES})
    node = hq.enroll()
    vip = node.create("VIP 顾客投诉态度", type="complaint")
    refund = node.create("顾客要求退款", type="complaint")
    plain = node.create("衣架不够", type="display")
    node.push([node.op(vip), node.op(refund), node.op(plain)])
    assert {k: hq.ticket(vip.ticket_id)[k] for k in ("department", "priority", "tags")} == {
        "department": "cs",
        "priority": "urgent",
        "tags": ["vip"],
    }
    assert hq.ticket(refund.ticket_id)["department"] == "finance"
    assert (hq.ticket(plain.ticket_id)["department"], hq.ticket(plain.ticket_id)["priority"]) == (
        "operations",
        "normal",
    )


def test_routing_happens_once_and_a_later_type_change_by_the_store_does_not_move_the_ticket(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create("货架坏了", type="display")
    node.push([node.op(create)])
    routed_at = hq.ticket(create.ticket_id)["routed_at"]
    node.push([node.op(node.set(create.ticket_id, type="equipment"))])
    ticket = hq.ticket(create.ticket_id)
    assert (ticket["department"], ticket["routed_at"], ticket["type"]) == ("operations", routed_at, "equipment")


def test_store_pull_brings_the_routed_ticket(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create("拉链", type="quality")
    answer = node.push([node.op(create)])
    assert answer.entities == []  # applied as sent: the pull brings HQ's version
    changes, _ = node.pull_all()
    [version] = [c for c in changes if c.entity == "ticket" and c.entity_id == create.ticket_id]
    state = decode_entity("ticket", version.data)
    assert (state.department, state.routed_at is not None, state.first_response_due is not None) == ("qc", True, True)


@pytest.mark.parametrize(
    ("rules", "field", "code"),
    [
        (
            [{"id": "x", "name": "x", "then": {"department": "nowhere"}}],
            "rules[0].then.department",
            "unknown_department",
        ),
        ([{"id": "x", "name": "x", "then": {}}], "rules[0].then", "required"),
        ([{"id": "Bad Id", "name": "x", "then": {"department": "qc"}}], "rules[0].id", "invalid_code"),
        ("not a list", "rules", "invalid_rules"),
    ],
)
def test_bad_rules_are_refused_naming_the_field_and_the_old_rules_stay(
    hq: Hq, rules: Any, field: str, code: str
) -> None:
    put(hq, "/api/v1/routing-rules", {"rules": RULES})
    error = assert_error(hq.api("PUT", "/api/v1/routing-rules", json={"rules": rules}), 422, code)
    assert error["field"] == field
    assert [r["id"] for r in hq.api("GET", "/api/v1/routing-rules").json()["rules"]] == ["vip-complaints", "refunds"]


def test_ticket_made_offline_five_hours_before_it_synced_is_counted_from_its_creation(hq: Hq) -> None:
    put(hq, "/api/v1/departments/*/calendar", ALWAYS_OPEN)
    put(hq, "/api/v1/sla-policies/*/normal", {"first_response_min": 60, "resolution_min": 8 * 60})
    node = hq.enroll()
    made = int(datetime.now(UTC).timestamp() * 1000) - 5 * HOUR_MS
    create = node.create("断网时报的", type="display", created_at=made)
    node.push([node.op(create)])
    ticket = hq.ticket(create.ticket_id)
    assert ms(ticket["first_response_due"]) == made + HOUR_MS  # already overdue
    assert ms(ticket["resolution_due"]) == made + 8 * HOUR_MS


def test_waiting_on_the_customer_pauses_the_resolution_clock_and_leaving_it_resumes(hq: Hq) -> None:
    put(hq, "/api/v1/departments/*/calendar", ALWAYS_OPEN)
    node = hq.enroll()
    create = node.create("等顾客回复", type="display")
    node.push([node.op(create)])
    paused = hq.api("PATCH", f"/api/v1/tickets/{create.ticket_id}", json={"status": "waiting_customer"}).json()
    assert (paused["sla_paused"], paused["resolution_due"]) == (True, None)
    resumed = hq.api("PATCH", f"/api/v1/tickets/{create.ticket_id}", json={"status": "in_progress"}).json()
    assert resumed["sla_paused"] is False and resumed["resolution_due"] is not None


def test_hq_reply_is_the_first_response(hq: Hq) -> None:
    node = hq.enroll()
    create = node.create()
    node.push([node.op(create)])
    assert hq.ticket(create.ticket_id)["first_responded_at"] is None
    assert hq.api("POST", f"/api/v1/tickets/{create.ticket_id}/comments", json={"body": "已收到"}).status_code == 201
    assert hq.ticket(create.ticket_id)["first_responded_at"] is not None


def test_calendar_change_recalculates_open_tickets(hq: Hq) -> None:
    put(hq, "/api/v1/departments/*/calendar", ALWAYS_OPEN)
    node = hq.enroll()
    create = node.create(type="display")
    node.push([node.op(create)])
    before = ms(hq.ticket(create.ticket_id)["resolution_due"])
    office = {"tz": "Asia/Shanghai", "weekly": {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}}
    answer = put(hq, "/api/v1/departments/operations/calendar", office)
    assert answer["recalculated"] >= 1
    assert ms(hq.ticket(create.ticket_id)["resolution_due"]) > before  # 24 business hours, not 24 hours


def test_bad_calendar_and_policy_are_refused_naming_the_field(hq: Hq) -> None:
    error = assert_error(
        hq.api("PUT", "/api/v1/departments/qc/calendar", json={"weekly": {"mon": [["18:00", "09:00"]]}}),
        422,
        "invalid_calendar",
    )
    assert error["field"].startswith("weekly.mon")
    error = assert_error(
        hq.api("PUT", "/api/v1/sla-policies/*/high", json={"resolution_min": -1}), 422, "invalid_policy"
    )
    assert error["field"] == "resolution_min"
    assert_error(hq.api("PUT", "/api/v1/departments/nowhere/calendar", json=ALWAYS_OPEN), 404, "unknown_department")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storedesk_cli", "hq", *args], capture_output=True, text=True, timeout=120
    )


def test_rules_export_and_import_round_trip_through_a_json_file(tmp_path: Path) -> None:
    first, second = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(__import__("json").dumps(RULES, ensure_ascii=False), encoding="utf-8")
    done = cli("rules", "import", str(rules_file), "--db", first)
    assert done.returncode == 0, done.stderr
    assert "2" in done.stdout
    exported = tmp_path / "out.json"
    assert cli("rules", "export", "--db", first, "-o", str(exported)).returncode == 0
    assert "VIP 顾客投诉" in exported.read_text(encoding="utf-8")
    assert cli("rules", "import", str(exported), "--db", second).returncode == 0
    assert cli("rules", "export", "--db", second).stdout == exported.read_text(encoding="utf-8")


def test_rules_import_of_a_bad_file_says_why_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "x", "name": "x", "then": {"department": "nowhere"}}]', encoding="utf-8")
    done = cli("rules", "import", str(bad), "--db", str(tmp_path / "hq.db"))
    assert done.returncode == 2
    assert "rules[0].then.department" in done.stderr or "nowhere" in done.stderr
    assert "Traceback" not in done.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    done = cli("rules", "import", str(broken), "--db", str(tmp_path / "hq.db"))
    assert done.returncode == 2 and "JSON" in done.stderr and "Traceback" not in done.stderr


def test_the_sla_pause_follows_the_tickets_status_whatever_the_store_clocks_say(hq: Hq) -> None:
    """HQ asks the store to wait (paused); the store answers with a status change stamped by a
    clock ten minutes slow: the ticket is in progress again, so its clock runs."""
    put(hq, "/api/v1/departments/*/calendar", ALWAYS_OPEN)
    node = hq.enroll()
    create = node.create("等门店补照片", type="display")
    node.push([node.op(create)])
    waiting = hq.api("PATCH", f"/api/v1/tickets/{create.ticket_id}", json={"status": "waiting_store"}).json()
    assert waiting["sla_paused"] is True
    slow_at = ms(waiting["history"][-1]["at"]) - 10 * 60_000
    node.push([node.op(node.status(create.ticket_id, "in_progress", at=slow_at))])
    ticket = hq.ticket(create.ticket_id)
    assert ticket["status"] == "in_progress"
    assert (ticket["sla_paused"], ticket["resolution_due"] is not None) == (False, True)


def test_a_store_cannot_claim_a_customer_level_for_routing(hq: Hq) -> None:
    put(
        hq,
        "/api/v1/routing-rules",
        {"rules": [{"id": "vip", "name": "VIP", "when": {"customer_levels": ["vip"]}, "then": {"priority": "urgent"}}]},
    )
    node = hq.enroll()
    create = node.create("我是VIP", type="display", extra={"customer_level": "vip"})
    node.push([node.op(create)])
    assert hq.ticket(create.ticket_id)["priority"] == "normal"
