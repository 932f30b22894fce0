"""Access rules a review found open: a signed-in person cannot write under another name, an agent
reads neither chain-wide nor the leads' notifications, and an admin changing their own password in
the console gives the current one."""

from __future__ import annotations

import re

import pytest

from hq_server.schema import notifications
from tests.hq.helpers import Hq
from tests.hq.test_scope import World, signed_in, world  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("fast_hashing")


def test_a_signed_in_person_writes_comments_and_notes_under_their_own_name(world: World) -> None:  # noqa: F811
    agent = world.as_role("agent")
    ticket = world.tickets["qc_east"]["id"]
    comment = agent.post(f"/api/v1/tickets/{ticket}/comments", json={"body": "已联系", "author": "总部客服主管"})
    assert comment.status_code == 201, comment.text
    assert comment.json()["author"] != "总部客服主管"
    note = agent.post(f"/api/v1/tickets/{ticket}/notes", json={"body": "内部", "author": "CS supervisor"})
    assert note.status_code == 201, note.text
    assert "CS supervisor" not in note.text


def _notice(hq: Hq, *, role: str, department: str) -> str:
    notice_id = f"n-{role}-{department or 'chain'}"
    with hq.ctx.db.write() as conn:
        conn.execute(
            notifications.insert().values(
                id=notice_id,
                kind="escalated",
                role=role,
                department=department,
                ticket_id=None,
                params={"step": "x"},
                created_at=1,
                read_at=None,
            )
        )
    return notice_id


def test_an_agent_reads_neither_chain_wide_nor_the_leads_notifications(world: World) -> None:  # noqa: F811
    chain = _notice(world.hq, role="supervisor", department="")
    lead = _notice(world.hq, role="lead", department="qc")
    agent = world.as_role("agent")
    assert agent.get("/api/v1/notifications", params={"role": "supervisor"}).json()["items"] == []
    assert agent.get("/api/v1/notifications", params={"role": "lead"}).status_code == 403
    assert agent.post(f"/api/v1/notifications/{chain}/read").status_code == 403
    assert agent.post(f"/api/v1/notifications/{lead}/read").status_code == 403
    lead_items = world.as_role("lead").get("/api/v1/notifications", params={"role": "lead"}).json()["items"]
    ids = {item["id"] for item in lead_items}
    assert lead in ids and chain not in ids


def test_an_admin_changing_their_own_password_in_the_console_gives_the_current_one(world: World) -> None:  # noqa: F811
    admin = world.as_role("admin")
    me = admin.get("/api/v1/session").json()["user"]["id"]
    page = admin.get(f"/console/admin/users/{me}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None and 'name="current_password"' in page.text
    refused = admin.post(
        f"/console/admin/users/{me}/password", data={"csrf_token": token.group(1), "password": "Another-2026!"}
    )
    assert refused.status_code == 422
    assert (
        world.hq.client.post("/api/v1/session", json={"username": "admin", "password": "Another-2026!"}).status_code
        == 401
    )
