"""The store node's local JSON API (store_node.api) through the real Starlette app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from store_node import views
from store_node.app import create_app
from store_node.node import Node
from tests.store.helpers import fake_hello

EN = {"Accept-Language": "en-US,en;q=0.9"}


@pytest.fixture
def api(data_dir: Path) -> Iterator[TestClient]:
    """The local API of an enrolled node; its sync loop is not started (HQ is never contacted)."""
    app = create_app(data_dir, "http://127.0.0.1:9", "token", start_sync=False)
    app.state.node.adopt(fake_hello())
    with TestClient(app) as client:
        yield client


def node_of(api: TestClient) -> Node:
    node: Node = api.app.state.node  # type: ignore[attr-defined]
    return node


def create(api: TestClient, **fields: Any) -> dict[str, Any]:
    response = api.post("/api/v1/tickets", json={"type": "equipment", "title": "冷柜不制冷", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert set(error) <= {"code", "message", "field"}
    assert error["code"] and error["message"]
    return error


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_create_returns_the_numbered_ticket_pending_sync(api: TestClient) -> None:
    ticket = create(api, customer_name="张女士", author="小王")
    assert ticket["number"] == "SH012-000001"
    assert (ticket["title"], ticket["customer_name"], ticket["status"]) == ("冷柜不制冷", "张女士", "new")
    assert ticket["status_label"] == "待分派"
    assert ticket["sync"] == "pending" and ticket["comments"] == [] and ticket["history"] == []
    assert ticket["created_at"].endswith("Z")

    by_number = api.get(f"/api/v1/tickets/{ticket['number']}", headers=EN)
    assert by_number.status_code == 200
    assert by_number.json()["id"] == ticket["id"]
    assert by_number.json()["status_label"] == "Awaiting routing"


def test_edit_comment_and_status_change_through_the_api(api: TestClient) -> None:
    ticket = create(api)
    key = ticket["number"]
    edited = api.patch(f"/api/v1/tickets/{key}", json={"title": "冷柜温度过高"})
    assert edited.status_code == 200 and edited.json()["title"] == "冷柜温度过高"
    commented = api.post(f"/api/v1/tickets/{key}/comments", json={"body": "已报修", "author": "小王"})
    assert commented.status_code == 201
    assert [(c["body"], c["author"], c["pending"]) for c in commented.json()["comments"]] == [("已报修", "小王", True)]
    moved = api.post(f"/api/v1/tickets/{key}/status", json={"status": "in_progress", "note": "处理中"})
    assert moved.status_code == 200
    body = moved.json()
    assert body["status"] == "in_progress"
    assert [(h["from_status"], h["to_status"], h["note"]) for h in body["history"]] == [
        ("new", "in_progress", "处理中")
    ]

    status = api.get("/api/v1/sync/status").json()
    assert (status["enrolled"], status["pending_ops"], status["next_seq"], status["store_code"]) == (
        True,
        4,
        5,
        "SH012",
    )


def test_list_filters_by_status_and_pages(api: TestClient) -> None:
    first, second, third = (create(api, title=f"工单 {i}") for i in range(3))
    api.post(f"/api/v1/tickets/{second['id']}/status", json={"status": "resolved"})
    everything = api.get("/api/v1/tickets").json()
    assert everything["total"] == 3
    assert {t["id"] for t in everything["items"]} == {first["id"], second["id"], third["id"]}
    resolved = api.get("/api/v1/tickets", params={"status": "resolved"}).json()
    assert [t["id"] for t in resolved["items"]] == [second["id"]] and resolved["total"] == 1
    page = api.get("/api/v1/tickets", params={"limit": 2, "offset": 2}).json()
    assert len(page["items"]) == 1 and page["total"] == 3


def test_missing_title_names_the_field_with_a_chinese_reason_by_default(api: TestClient) -> None:
    error = error_of(api.post("/api/v1/tickets", json={"type": "equipment"}), 400)
    assert (error["code"], error["field"]) == ("required", "title")
    assert has_chinese(error["message"])


def test_errors_are_in_english_when_the_client_asks_for_it(api: TestClient) -> None:
    error = error_of(api.post("/api/v1/tickets", json={"type": "equipment"}, headers=EN), 400)
    assert (error["code"], error["field"]) == ("required", "title")
    assert not has_chinese(error["message"]) and "title" in error["message"]


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "field"),
    [
        ("POST", "/api/v1/tickets", {"type": "equipment", "title": "x" * 201}, "too_long", "title"),
        ("POST", "/api/v1/tickets", {"type": "equipment", "title": 5}, "invalid_type", "title"),
        (
            "POST",
            "/api/v1/tickets",
            {"type": "equipment", "title": "t", "priority": "high"},
            "unknown_field",
            "priority",
        ),
        ("PATCH", "/api/v1/tickets/SH012-000001", {"department": "维修部"}, "hq_only_field", "department"),
        ("PATCH", "/api/v1/tickets/SH012-000001", {}, "required", "changes"),
        ("POST", "/api/v1/tickets/SH012-000001/comments", {"body": "   "}, "required", "body"),
        ("POST", "/api/v1/tickets/SH012-000001/status", {"status": "done"}, "invalid_choice", "status"),
        ("POST", "/api/v1/tickets/SH012-000001/status", {}, "required", "status"),
        ("POST", "/api/v1/tickets/SH012-000001/status", {"status": "resolved", "note": 1}, "invalid_type", "note"),
    ],
)
def test_bad_input_gives_400_json_naming_the_field(
    api: TestClient, method: str, path: str, body: dict[str, Any], code: str, field: str
) -> None:
    create(api)
    before = api.get("/api/v1/sync/status").json()["pending_ops"]
    for headers in ({}, EN):
        error = error_of(api.request(method, path, json=body, headers=headers), 400)
        assert (error["code"], error["field"]) == (code, field)
    assert api.get("/api/v1/sync/status").json()["pending_ops"] == before


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe", b'"text"'])
def test_a_body_that_is_not_a_json_object_gives_400(api: TestClient, content: bytes) -> None:
    error = error_of(api.post("/api/v1/tickets", content=content), 400)
    assert (error["code"], error["field"]) == ("malformed_json", "body")


@pytest.mark.parametrize(
    ("value", "code"), [("many", "invalid_type"), ("-1", "out_of_range"), ("1001", "out_of_range")]
)
def test_bad_paging_parameters_give_400(api: TestClient, value: str, code: str) -> None:
    error = error_of(api.get("/api/v1/tickets", params={"limit": value}), 400)
    assert (error["code"], error["field"]) == (code, "limit")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/tickets/SH012-000404", None),
        ("PATCH", "/api/v1/tickets/SH012-000404", {"title": "t"}),
        ("POST", "/api/v1/tickets/SH012-000404/comments", {"body": "评论"}),
        ("POST", "/api/v1/tickets/SH012-000404/status", {"status": "resolved"}),
    ],
)
def test_unknown_ticket_gives_404_json(api: TestClient, method: str, path: str, body: dict[str, Any] | None) -> None:
    error = error_of(api.request(method, path, json=body), 404)
    assert error["code"] == "ticket_not_found"
    assert "SH012-000404" in error["message"]


def test_api_before_the_first_sync_answers_503_not_enrolled(data_dir: Path) -> None:
    app = create_app(data_dir, "http://127.0.0.1:9", "token", start_sync=False)
    with TestClient(app) as api:
        error = error_of(api.post("/api/v1/tickets", json={"type": "equipment", "title": "t"}), 503)
        assert error["code"] == "not_enrolled"
        assert api.get("/api/v1/sync/status").json()["enrolled"] is False
        assert api.get("/api/v1/tickets").json() == {"items": [], "total": 0}


def test_products_and_ticket_types_come_from_the_synced_reference_data(api: TestClient) -> None:
    node = node_of(api)
    with node.replica.tx() as conn:
        conn.executemany(
            "INSERT INTO reference (entity, id, code, name_zh, name_en, attrs) VALUES (?, ?, ?, ?, ?, ?)",
            [
                ("ticket_type", "t1", "quality", "质量反馈", "Quality feedback", "{}"),
                ("product", "p1", "TS-100", "纯棉T恤", "Cotton tee", json.dumps({"price_cents": 9900, "skus": []})),
                ("product", "p2", "TS_200", "100%羊毛衫", "Wool sweater", "{}"),
            ],
        )
    assert api.get("/api/v1/ticket-types", headers=EN).json() == {
        "items": [{"code": "quality", "name": "Quality feedback", "fields": []}]
    }
    assert [p["code"] for p in api.get("/api/v1/products", params={"q": "TS"}).json()["items"]] == ["TS-100", "TS_200"]
    [tee] = api.get("/api/v1/products", params={"q": "T恤"}).json()["items"]
    assert (tee["code"], tee["price"]) == ("TS-100", "99.00")
    # LIKE wildcards in the query are literal characters.
    assert [p["code"] for p in api.get("/api/v1/products", params={"q": "TS_"}).json()["items"]] == ["TS_200"]
    assert [p["code"] for p in api.get("/api/v1/products", params={"q": "%"}).json()["items"]] == ["TS_200"]
    error = error_of(api.post("/api/v1/tickets", json={"type": "equipment", "title": "t"}), 400)
    assert (error["code"], error["field"]) == ("unknown_ticket_type", "type")
    assert error["message"] == "未知的工单类型 equipment"


def test_forbidden_status_change_explains_the_statuses_in_chinese(api: TestClient) -> None:
    ticket = create(api)
    api.post(f"/api/v1/tickets/{ticket['id']}/status", json={"status": "closed"})
    error = error_of(api.post(f"/api/v1/tickets/{ticket['id']}/status", json={"status": "in_progress"}), 400)
    assert (error["code"], error["field"]) == ("invalid_transition", "status")
    assert "{" not in error["message"]
    assert "已关闭" in error["message"] and "处理中" in error["message"]


def test_unknown_ticket_message_is_chinese_by_default(api: TestClient) -> None:
    error = error_of(api.get("/api/v1/tickets/SH012-000404"), 404)
    assert has_chinese(error["message"])


def test_chinese_messages_name_the_field_by_its_chinese_label(api: TestClient) -> None:
    error = error_of(api.post("/api/v1/tickets", json={"type": "equipment"}), 400)
    assert error["message"] == "标题为必填项"


def test_unknown_api_paths_and_methods_answer_the_json_error_envelope(api: TestClient) -> None:
    assert error_of(api.get("/api/v1/no-such-thing"), 404)["code"]
    assert error_of(api.delete("/api/v1/tickets"), 405)["code"]


@pytest.mark.parametrize("title", ["收银机\u0000故障", "收银机\ud800故障"])
def test_text_no_database_can_store_is_refused_with_400_naming_the_field(api: TestClient, title: str) -> None:
    body = json.dumps({"type": "equipment", "title": title})  # ASCII JSON: \u0000 and \ud800 as escapes
    error = error_of(api.post("/api/v1/tickets", content=body, headers={"content-type": "application/json"}), 400)
    assert (error["code"], error["field"]) == ("invalid_text", "title")
    assert error["message"] == "标题含有无法保存的字符"
    assert api.get("/api/v1/tickets").json()["items"] == []


def test_an_unexpected_error_answers_500_in_the_json_envelope(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(data_dir, "http://127.0.0.1:9", "token", start_sync=False)
    app.state.node.adopt(fake_hello())

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(views, "list_tickets", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        error = error_of(client.get("/api/v1/tickets"), 500)
        assert error["code"] == "store_internal_error"
        assert "本机程序出错" in error["message"]
        assert client.get("/api/v1/sync/status").status_code == 200
