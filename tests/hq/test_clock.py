"""HQ's clock: a store PC whose clock is far ahead cannot drag HQ forward (hq_server.clock, push)."""

from __future__ import annotations

import pytest

from hq_server import changelog
from hq_server.app import create_app
from hq_server.clock import OFFSET_ENV, wall_clock_from_env
from hq_server.enrollment import enroll_store
from sync_protocol.hlc import DEFAULT_MAX_DRIFT_MS, Hlc, system_wall_ms
from tests.hq.helpers import ADMIN_TOKEN, DAY_MS, YEAR_MS, Hq


def test_op_stamped_a_year_ahead_is_applied_with_hq_time_and_does_not_move_hq_clock(hq: Hq) -> None:
    node = hq.enroll(wall_ms=lambda: system_wall_ms() + YEAR_MS)
    create = node.create("未来的工单")
    op = node.op(create)
    result = node.push([op]).results[0]
    assert (result.status, result.code) == ("applied", "clock_clamped")
    assert "总部时间" in result.reason
    recorded = Hlc.parse(result.hlc)
    assert recorded.node == hq.ctx.clock.node
    assert recorded.wall_ms < system_wall_ms() + 60_000
    assert Hlc.parse(node.hello().server_hlc).wall_ms < system_wall_ms() + 60_000


def test_later_hq_edit_still_wins_over_a_future_stamped_store_edit(hq: Hq) -> None:
    node = hq.enroll(wall_ms=lambda: system_wall_ms() + YEAR_MS)
    create = node.create()
    node.push([node.op(create), node.op(node.set(create.ticket_id, title="未来的修改"))])
    assert hq.ticket(create.ticket_id)["title"] == "未来的修改"
    assert hq.api("PATCH", f"/api/v1/tickets/{create.ticket_id}", json={"title": "总部现在改"}).status_code == 200
    assert hq.ticket(create.ticket_id)["title"] == "总部现在改"


def test_op_ahead_within_the_drift_bound_keeps_its_own_hlc(hq: Hq) -> None:
    node = hq.enroll(wall_ms=lambda: system_wall_ms() + DEFAULT_MAX_DRIFT_MS // 2)
    op = node.op(node.create())
    result = node.push([op]).results[0]
    assert (result.status, result.code, result.hlc) == ("applied", "", op.hlc)
    assert hq.ctx.clock.last >= Hlc.parse(op.hlc)


def test_store_clock_behind_is_observed_without_harm(hq: Hq) -> None:
    node = hq.enroll(wall_ms=lambda: system_wall_ms() - DAY_MS)
    op = node.op(node.create())
    assert node.push([op]).results[0].hlc == op.hlc


def test_clock_offset_env_shifts_the_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OFFSET_ENV, str(DAY_MS))
    shifted = wall_clock_from_env()()
    assert abs(shifted - (system_wall_ms() + DAY_MS)) < 5_000
    monkeypatch.delenv(OFFSET_ENV)
    assert abs(wall_clock_from_env()() - system_wall_ms()) < 5_000


def test_hq_clock_resumes_after_the_newest_log_entry_when_its_wall_clock_went_back(db_url: str) -> None:
    ahead = create_app(db_url, ADMIN_TOKEN, wall_ms=lambda: system_wall_ms() + DAY_MS)
    enroll_store(ahead.state.hq.db, ahead.state.hq.clock, "SH001")
    with ahead.state.hq.db.read() as conn:
        _, newest = changelog.head(conn)
    ahead.state.hq.db.close()
    later = create_app(db_url, ADMIN_TOKEN)  # the machine's clock is a day "behind" the log now
    try:
        assert later.state.hq.clock.now() > Hlc.parse(newest)
    finally:
        later.state.hq.db.close()
