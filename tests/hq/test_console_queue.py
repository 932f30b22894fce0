"""The console's queue, board and ticket page (issue 8): users sign in for real and use the pages as
a browser would (forms with the session's CSRF token).

The world: departments ``qc`` and ``finance``; stores SH001 and HZ001 (region east), BJ001 (north);
tickets ``qc_east`` (qc, SH001), ``qc_west`` (qc, HZ001, high priority), ``fin_north`` (finance,
BJ001) and ``fin_shared`` (finance, BJ001, shared with qc). ``agent`` and ``lead`` work in qc.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from hq_server.enrollment import enroll_store
from tests.hq.helpers import Hq, now_ms

PASSWORD = "Spring-2025!"
HOUR_MS = 3600_000

pytestmark = pytest.mark.usefixtures("fast_hashing")


@dataclass
class Console:
    """A signed-in browser: its client and the session's CSRF token for forms."""

    client: TestClient
    csrf: str

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str], *, csrf: bool = True) -> Any:
        form = {**data, "csrf_token": self.csrf} if csrf else data
        return self.client.post(path, data=form, follow_redirects=False)


@dataclass
class World:
    hq: Hq
    tickets: dict[str, dict[str, str]]
    users: dict[str, Console]


def _ticket(hq: Hq, title: str, type_: str, department: str, store: str, **fields: Any) -> dict[str, str]:
    body = {"type": type_, "title": title, "department": department, "store": store, **fields}
    response = hq.api("POST", "/api/v1/tickets", json=body)
    assert response.status_code == 201, response.text
    return {"id": response.json()["id"], "number": response.json()["number"]}


def _sign_in(hq: Hq, username: str) -> Console:
    client = TestClient(hq.app)
    response = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return Console(client, response.json()["csrf_token"])


@pytest.fixture
def world(hq: Hq) -> World:
    for code, region in (("SH001", "east"), ("HZ001", "east"), ("BJ001", "north")):
        enroll_store(hq.ctx.db, hq.ctx.clock, code, name=f"{code} 门店", region=region)
    tickets = {
        "qc_east": _ticket(hq, "牛仔裤开线", "quality", "qc", "SH001"),
        "qc_west": _ticket(hq, "衣架损坏", "equipment", "qc", "HZ001", priority="high"),
        "fin_north": _ticket(hq, "退款未到账", "refund", "finance", "BJ001"),
        "fin_shared": _ticket(hq, "退款与质检", "refund", "finance", "BJ001"),
    }
    shared = hq.api("POST", f"/api/v1/tickets/{tickets['fin_shared']['id']}/shares", json={"department": "qc"})
    assert shared.status_code == 201, shared.text
    for agent_id, name in (("agent", "小李"), ("agent2", "小王")):
        put = hq.api("PUT", f"/api/v1/agents/{agent_id}", json={"name": name, "departments": ["qc"]})
        assert put.status_code == 200, put.text
    users: dict[str, Console] = {}
    accounts: dict[str, dict[str, Any]] = {
        "agent": {"role": "agent", "departments": ["qc"], "display_name": "李坐席"},
        "lead": {"role": "group_lead", "departments": ["qc"], "display_name": "张组长"},
        "boss": {"role": "cs_supervisor", "display_name": "王主管"},
        "manager": {"role": "regional_manager", "regions": ["east"], "display_name": "赵经理"},
    }
    for name, fields in accounts.items():
        created = hq.api("POST", "/api/v1/users", json={"username": name, "password": PASSWORD, **fields})
        assert created.status_code == 201, created.text
        users[name] = _sign_in(hq, name)
    return World(hq, tickets, users)


def numbers_on(html: str) -> set[str]:
    """The tickets listed (the queue's rows or the board's cards, not the notifications)."""
    listed = html.split('<aside class="q-side">')[0]
    return set(re.findall(r'href="/console/tickets/([A-Z0-9-]+)"', listed))


def test_an_agent_sees_only_their_departments_and_shared_tickets(world: World) -> None:
    t = world.tickets
    mine = {t["qc_east"]["number"], t["qc_west"]["number"], t["fin_shared"]["number"]}
    for path in ("/console/queue", "/console/board"):
        page = world.users["agent"].get(path)
        assert page.status_code == 200, page.text
        assert numbers_on(page.text) == mine
        assert t["fin_north"]["number"] not in page.text
        # Naming another department in the filter does not widen it.
        other = world.users["agent"].get(f"{path}?department=finance")
        assert numbers_on(other.text) == mine
    everything = {ticket["number"] for ticket in t.values()}
    assert numbers_on(world.users["boss"].get("/console/queue").text) == everything
    east = {t["qc_east"]["number"], t["qc_west"]["number"]}
    assert numbers_on(world.users["manager"].get("/console/queue").text) == east


def test_console_home_sends_an_agent_to_the_queue(world: World) -> None:
    home = world.users["agent"].get("/console/")
    assert home.status_code == 200
    assert str(home.url).endswith("/console/queue")
    assert "李坐席" in home.text and "坐席" in home.text


def test_another_departments_ticket_page_is_403(world: World) -> None:
    agent = world.users["agent"]
    for key in (world.tickets["fin_north"]["number"], world.tickets["fin_north"]["id"], "XX-NOPE"):
        page = agent.get(f"/console/tickets/{key}")
        assert page.status_code == 403, key
        assert "您没有查看此页面的权限" in page.text
        refused = agent.post(f"/console/tickets/{key}/reply", {"body": "hi"})
        assert refused.status_code == 403
    assert agent.get(f"/console/tickets/{world.tickets['fin_shared']['number']}").status_code == 200
    poll = agent.get(f"/console/tickets/{world.tickets['fin_north']['id']}/timeline")
    assert poll.status_code == 403


def test_reply_note_share_reassign_and_resolve_from_the_ticket_page(world: World) -> None:
    hq, lead = world.hq, world.users["lead"]
    key = world.tickets["qc_east"]["id"]
    path = f"/console/tickets/{key}"

    done = lead.post(f"{path}/reply", {"body": "请拍照上传"})
    assert (done.status_code, done.headers["location"]) == (303, path)
    assert any(c["body"] == "请拍照上传" and c["author"] == "张组长" for c in hq.ticket(key)["comments"])

    assert lead.post(f"{path}/note", {"body": "供应商批次问题"}).status_code == 303
    assert lead.post(f"{path}/share", {"department": "finance", "note": "可能退款"}).status_code == 303
    assert lead.post(f"{path}/assign", {"department": "qc", "assignee": "agent2"}).status_code == 303
    assert hq.ticket(key)["assignee"] == "agent2"
    page = lead.get(path)
    assert "供应商批次问题" in page.text and "内部" in page.text and "请拍照上传" in page.text
    shares = hq.api("GET", f"/api/v1/tickets/{key}").json()
    assert shares["department"] == "qc"

    resolved = lead.post(f"{path}/status", {"status": "resolved", "note": "已更换"})
    assert resolved.status_code == 303
    ticket = hq.ticket(key)
    assert ticket["status"] == "resolved"
    assert ticket["history"][-1]["note"] == "已更换"
    assert "已解决" in lead.get(path).text

    # Without the session's CSRF token nothing happens.
    forged = lead.post(f"{path}/status", {"status": "in_progress"}, csrf=False)
    assert forged.status_code == 403
    assert "页面已过期" in forged.text
    assert lead.post(f"{path}/reply", {"body": "x", "csrf_token": "forged"}, csrf=False).status_code == 403
    assert hq.ticket(key)["status"] == "resolved"


def test_refusals_show_on_the_ticket_page(world: World) -> None:
    agent, key = world.users["agent"], world.tickets["fin_shared"]["id"]
    # qc only has a task on finance's ticket: it cannot resolve or share it (the owner rules).
    refused = agent.post(f"/console/tickets/{key}/status", {"status": "resolved"})
    assert refused.status_code == 403
    assert 'role="alert"' in refused.text
    assert world.hq.ticket(key)["status"] != "resolved"
    # but it may write an internal note.
    assert agent.post(f"/console/tickets/{key}/note", {"body": "质检意见：面料问题"}).status_code == 303
    empty = agent.post(f"/console/tickets/{world.tickets['qc_east']['id']}/reply", {"body": "  "})
    assert empty.status_code == 422 and 'role="alert"' in empty.text
    # An agent moves a ticket only within their departments.
    moved = agent.post(f"/console/tickets/{world.tickets['qc_east']['id']}/assign", {"department": "finance"})
    assert moved.status_code == 403
    # A regional manager reads and replies, nothing more.
    manager = world.users["manager"]
    east = world.tickets["qc_east"]["id"]
    assert manager.post(f"/console/tickets/{east}/reply", {"body": "门店已确认"}).status_code == 303
    assert manager.post(f"/console/tickets/{east}/status", {"status": "resolved"}).status_code == 403


def test_saved_views_round_trip(world: World) -> None:
    agent = world.users["agent"]
    saved = agent.post(
        "/console/queue/views",
        {"name": "高优先级", "query": "priority=high&status=&bogus=1", "next": "/console/queue?priority=high"},
    )
    assert (saved.status_code, saved.headers["location"]) == (303, "/console/queue?priority=high")
    page = agent.get("/console/queue")
    link = re.search(r'<a href="/console/queue\?([^"]*)">高优先级</a>', page.text)
    assert link is not None and link.group(1) == "priority=high"
    assert numbers_on(agent.get(f"/console/queue?{link.group(1)}").text) == {world.tickets["qc_west"]["number"]}
    # Another user does not see it; saving the name again replaces it.
    assert "高优先级" not in world.users["lead"].get("/console/queue").text
    agent.post("/console/queue/views", {"name": "高优先级", "query": "priority=urgent"})
    assert "/console/queue?priority=urgent" in agent.get("/console/queue").text
    view_id = re.search(r'/console/queue/views/([^/"]+)/delete', agent.get("/console/queue").text)
    assert view_id is not None
    assert world.users["lead"].post(f"/console/queue/views/{view_id.group(1)}/delete", {}).status_code == 303
    assert "高优先级" in agent.get("/console/queue").text
    assert agent.post(f"/console/queue/views/{view_id.group(1)}/delete", {}).status_code == 303
    assert "高优先级" not in agent.get("/console/queue").text


def test_filters_and_sorting(world: World) -> None:
    t, boss = world.tickets, world.users["boss"]

    def shown(query: str) -> set[str]:
        page = boss.get(f"/console/queue?{query}")
        assert page.status_code == 200, page.text
        return {name for name, ticket in t.items() if ticket["number"] in numbers_on(page.text)}

    assert shown("store=BJ001") == {"fin_north", "fin_shared"}
    assert shown("type=equipment") == {"qc_west"}
    assert shown("priority=high") == {"qc_west"}
    assert shown("department=qc") == {"qc_east", "qc_west", "fin_shared"}
    assert shown("q=退款") == {"fin_north", "fin_shared"}
    assert shown(f"q={t['qc_east']['number'][-3:]}") >= {"qc_east"}
    assert shown("q=%25") == set()
    world.hq.api("PATCH", f"/api/v1/tickets/{t['qc_east']['id']}", json={"status": "in_progress"})
    assert shown("status=in_progress") == {"qc_east"}
    world.hq.api("PATCH", f"/api/v1/tickets/{t['qc_west']['id']}", json={"assignee": "agent"})
    assert {
        n for n, k in t.items() if k["number"] in numbers_on(world.users["agent"].get("/console/queue?mine=1").text)
    } == {"qc_west"}
    assert shown("status=bogus&sort=bogus&page=x") == set(t)
    # Sorted by due time: the ticket due first comes first.
    due = {"qc_east": 5, "qc_west": 1, "fin_north": 3}
    for name, hours in due.items():
        later = {"first_response_due": None, "resolution_due": now_ms() + hours * HOUR_MS}
        assert world.hq.api("PATCH", f"/api/v1/tickets/{t[name]['id']}", json=later).status_code == 200
    page = boss.get("/console/queue?sort=due").text
    order = [page.index(t[name]["number"]) for name in ("qc_west", "fin_north", "qc_east")]
    assert order == sorted(order)


def test_the_sla_countdown_of_an_overdue_ticket(world: World) -> None:
    t = world.tickets
    late = {"first_response_due": None, "resolution_due": now_ms() - 2 * HOUR_MS - 60_000}
    assert world.hq.api("PATCH", f"/api/v1/tickets/{t['qc_east']['id']}", json=late).status_code == 200
    soon = {"first_response_due": None, "resolution_due": now_ms() + 3 * HOUR_MS + 30 * 60_000}
    assert world.hq.api("PATCH", f"/api/v1/tickets/{t['qc_west']['id']}", json=soon).status_code == 200
    agent = world.users["agent"]
    zh = agent.get("/console/queue").text
    assert re.search(r'class="tag sla overdue" data-due="\d+">已超时 2小时1分<', zh)
    assert "剩余 3小时" in zh
    en = agent.get("/console/queue?lang=en").text
    assert ">overdue 2h 1m<" in en
    assert "3h 29m left" in en or "3h 30m left" in en
    assert numbers_on(agent.get("/console/queue?overdue=1").text) == {t["qc_east"]["number"]}
    ticket_page = agent.get(f"/console/tickets/{t['qc_east']['number']}?lang=en").text
    assert "overdue 2h 1m" in ticket_page


def test_live_updates_list_the_changed_tickets_in_scope(world: World) -> None:
    agent, t = world.users["agent"], world.tickets
    since = agent.get("/console/queue/changes").json()["since"]
    nothing = agent.get(f"/console/queue/changes?since={since}").json()
    assert nothing["changed"] == []
    world.hq.api("PATCH", f"/api/v1/tickets/{t['qc_east']['id']}", json={"status": "in_progress"})
    world.hq.api("PATCH", f"/api/v1/tickets/{t['fin_north']['id']}", json={"status": "in_progress"})
    found = agent.get(f"/console/queue/changes?since={since}&lang=en").json()
    assert [item["number"] for item in found["changed"]] == [t["qc_east"]["number"]]
    assert found["changed"][0]["status_label"] == "In progress"
    assert found["since"] > since
    before = agent.get(f"/console/tickets/{t['qc_east']['id']}/timeline").json()
    world.hq.api("POST", f"/api/v1/tickets/{t['qc_east']['id']}/comments", json={"body": "门店补充照片"})
    after = agent.get(f"/console/tickets/{t['qc_east']['id']}/timeline").json()
    assert after["size"] == before["size"] + 1 and "门店补充照片" in after["html"]
    assert TestClient(world.hq.app).get("/console/queue/changes").status_code == 401


def test_notifications_are_listed_and_marked_read(world: World) -> None:
    lead = world.users["lead"]
    page = lead.get("/console/queue").text
    # finance shared its ticket with qc: qc's lead was notified.
    assert world.tickets["fin_shared"]["number"] in page.split('id="notices"')[1]
    unread = lead.get("/console/queue/changes").json()["unread"]
    assert unread >= 1
    notice = re.search(r'/console/notifications/([^/"]+)/read', page)
    assert notice is not None
    # Another department's user cannot mark it.
    world.users["manager"].post(f"/console/notifications/{notice.group(1)}/read", {})
    assert lead.get("/console/queue/changes").json()["unread"] == unread
    assert lead.post(f"/console/notifications/{notice.group(1)}/read", {}).status_code == 303
    assert lead.get("/console/queue/changes").json()["unread"] == unread - 1
    assert lead.post("/console/notifications/all/read", {}).status_code == 303
    assert lead.get("/console/queue/changes").json()["unread"] == 0


def test_board_moves_a_card_with_a_form(world: World) -> None:
    agent, key = world.users["agent"], world.tickets["qc_east"]["id"]
    board = agent.get("/console/board").text
    assert f'action="/console/tickets/{key}/status"' in board
    moved = agent.post(
        f"/console/tickets/{key}/status", {"status": "in_progress", "next": "/console/board?type=quality"}
    )
    assert (moved.status_code, moved.headers["location"]) == (303, "/console/board?type=quality")
    assert world.hq.ticket(key)["status"] == "in_progress"
    column = agent.get("/console/board").text.split('id="col-in_progress"')[1].split("</section>")[0]
    assert world.tickets["qc_east"]["number"] in column


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_console_page_answers_in_both_languages(world: World, lang: str) -> None:
    number = world.tickets["fin_shared"]["number"]
    for user in ("agent", "lead", "boss", "manager"):
        for path in ("/console/queue", "/console/board", f"/console/tickets/{world.tickets['qc_east']['number']}"):
            page = world.users[user].get(f"{path}?lang={lang}&overdue=1&sort=due")
            assert page.status_code == 200, (user, path, page.text)
            assert "⟦" not in page.text, (user, path)
            assert ('lang="en"' if lang == "en" else 'lang="zh-CN"') in page.text
    page = world.users["agent"].get(f"/console/tickets/{number}?lang={lang}")
    assert page.status_code == 200 and "⟦" not in page.text
    refused = world.users["agent"].post(f"/console/tickets/{number}/status?lang={lang}", {"status": "resolved"})
    assert refused.status_code == 403 and "⟦" not in refused.text
    assert ("Not done" if lang == "en" else "操作未完成") in refused.text


def test_signed_out_pages_go_to_the_sign_in_page(world: World) -> None:
    stranger = TestClient(world.hq.app)
    for path in ("/console/queue", "/console/board", f"/console/tickets/{world.tickets['qc_east']['id']}"):
        response = stranger.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/login?next=")
