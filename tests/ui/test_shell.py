"""The clerk UI's shell (store_node.ui): sign-in, language, home, the sync page and its drain bar."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from store_node import outbox, ticket_actions
from store_node.ui.texts import UI_TEXTS
from sync_protocol.messages import OpResult
from tests.ui.conftest import node_of

UNTRANSLATED = re.compile(r"⟦[^⟧]*⟧")


def test_pages_send_a_clerk_to_sign_in_first_and_back_afterwards(ui: TestClient) -> None:
    response = ui.get("/sync", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin?next=%2Fsync"
    form = ui.get(response.headers["location"])
    assert form.status_code == 200 and 'name="next" value="/sync"' in form.text
    done = ui.post("/signin", data={"name": "王芳", "next": "/sync"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/sync"
    assert ui.get("/sync").status_code == 200


def test_sign_in_needs_a_name_and_never_sends_the_clerk_to_another_site(ui: TestClient) -> None:
    missing = ui.post("/signin", data={"name": "  "})
    assert missing.status_code == 422 and "请填写姓名" in missing.text
    away = ui.post("/signin", data={"name": "王芳", "next": "//evil.example/"}, follow_redirects=False)
    assert away.headers["location"] == "/"


def test_a_forged_clerk_cookie_is_not_taken(ui: TestClient) -> None:
    ui.cookies.set("sd_clerk", "eyJuYW1lIjogIuadjuWbmyJ9.0123456789abcdef0123456789abcdef")
    assert ui.get("/", follow_redirects=False).status_code == 303


def test_home_shows_the_clerk_open_tickets_and_sync_state(clerk: TestClient) -> None:
    node = node_of(clerk)
    ticket_actions.create_ticket(node, {"type": "equipment", "title": "冷柜不制冷"})
    page = clerk.get("/")
    assert page.status_code == 200
    assert "王芳 (0012)" in page.text and "冷柜不制冷" in page.text
    assert 'id="sync-badge"' in page.text and "待同步 1 条" in page.text
    assert '<html lang="zh-CN"' in page.text


def test_every_shell_page_answers_in_both_languages_with_no_untranslated_key(clerk: TestClient) -> None:
    for path in ("/", "/sync", "/signin"):
        for lang, marker in (("zh", "首页"), ("en", "Home")):
            page = clerk.get(path, params={"lang": lang})
            assert page.status_code == 200, (path, lang)
            assert not UNTRANSLATED.findall(page.text), (path, lang, UNTRANSLATED.findall(page.text))
            if path != "/signin":
                assert marker in page.text, (path, lang)


def test_the_language_switch_is_remembered(clerk: TestClient) -> None:
    switched = clerk.get("/lang/en", params={"next": "/sync"}, follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/sync"
    assert "Sync status" in clerk.get("/sync").text
    clerk.get("/lang/zh")
    assert "同步状态" in clerk.get("/sync").text


def test_every_ui_text_has_both_languages() -> None:
    for key, (zh, en) in UI_TEXTS.items():
        assert zh.strip() and en.strip(), key
        assert re.findall(r"\{(\w+)\}", zh) == re.findall(r"\{(\w+)\}", en) or key.startswith("age_"), key


def test_sync_page_shows_each_refused_op_with_its_reason_and_what_to_do(clerk: TestClient) -> None:
    node = node_of(clerk)
    ticket_id = ticket_actions.create_ticket(node, {"type": "equipment", "title": "冷柜不制冷"})
    op = outbox.pending_ops(node, 10)[0]
    with node.replica.tx() as conn:
        outbox.record_results(
            conn,
            [OpResult(seq=op.seq, op_id=op.op_id, status="rejected", code="required", reason="标题为必填项", hlc="")],
            node.wall_ms(),
        )
    page = clerk.get("/sync")
    assert "标题为必填项" in page.text and "请按原因修改后重新提交" in page.text
    assert f'href="/tickets/{ticket_id}"' in page.text
    assert "被总部拒绝" in clerk.get("/").text


def test_drain_bar_counts_what_was_made_since_the_outbox_was_last_empty(clerk: TestClient) -> None:
    node = node_of(clerk)
    assert clerk.get("/api/v1/sync/status").json()["drain"] == {"sent": 0, "total": 0}
    for n in range(4):
        ticket_actions.create_ticket(node, {"type": "equipment", "title": f"离线工单 {n}"})
    ops = outbox.pending_ops(node, 10)
    with node.replica.tx() as conn:
        results = [OpResult(seq=o.seq, op_id=o.op_id, status="applied", code="", reason="", hlc="") for o in ops[:3]]
        outbox.record_results(conn, results, node.wall_ms())
    assert clerk.get("/api/v1/sync/status").json()["drain"] == {"sent": 3, "total": 4}
    page = clerk.get("/")
    assert 'style="width: 75%"' in page.text and "还剩 1 条" in page.text
    with node.replica.tx() as conn:
        outbox.record_results(
            conn, [OpResult(seq=ops[3].seq, op_id=ops[3].op_id, status="applied", code="", reason="", hlc="")], 0
        )
    ticket_actions.create_ticket(node, {"type": "equipment", "title": "新的一条"})
    assert clerk.get("/api/v1/sync/status").json()["drain"] == {"sent": 0, "total": 1}


def test_static_assets_ship_inside_the_package(ui: TestClient) -> None:
    css, js = ui.get("/static/app.css"), ui.get("/static/app.js")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    assert js.status_code == 200 and "/api/v1/sync/status" in js.text
