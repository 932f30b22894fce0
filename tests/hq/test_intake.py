"""Multi-channel intake (hq_server.intake, intake_channels, intake_api): every channel's message
becomes one HQ ticket linked to the customer, a message delivered twice (or twice at once) makes
one ticket, routing rules see the customer's level, and bad requests are named."""

from __future__ import annotations

import threading
from typing import Any, Protocol

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from hq_server import intake, intake_api
from hq_server.db import Database
from hq_server.intake_channels import ADAPTERS, from_sms
from hq_server.schema import customers, intake_messages, tickets
from tests.hq.helpers import ADMIN, Hq, now_ms

VIP_RULES = {
    "rules": [
        {
            "id": "vip",
            "name": "VIP",
            "when": {"customer_levels": ["vip"]},
            "then": {"priority": "urgent", "tags": ["vip"]},
        }
    ]
}

#: channel -> (sample payload, text the description holds, the customer's phone or member id)
SAMPLES: dict[str, tuple[dict[str, Any], str, dict[str, str]]] = {
    "platform": (
        {
            "platform": "tmall",
            "request_id": "AS20250101001",
            "order_no": "TB88001",
            "buyer_phone": "+86 138-0000-0001",
            "buyer_nick": "小王",
            "refund_type": "return_refund",
            "reason": "尺码偏小，申请退货退款",
            "description": "买的 42 码穿着挤脚",
            "images": ["https://img.example.com/a.jpg"],
        },
        "尺码偏小，申请退货退款",
        {"phone": "13800000001"},
    ),
    "wechat": (
        {
            "MsgId": 23650123456789012,
            "FromUserName": "oWx_abc123",
            "Content": "静安店店员态度很差\n我排队半小时没人理",
            "CreateTime": 1735700000,
            "member_id": "M0002",
            "nickname": "阿May",
        },
        "静安店店员态度很差",
        {"member_id": "M0002"},
    ),
    "wecom": (
        {
            "MsgId": "wecom-msg-0003",
            "FromUserName": "wmExternal0003",
            "Content": "门店的试衣间灯坏了",
            "phone": "13800000003",
        },
        "试衣间灯坏了",
        {"phone": "13800000003"},
    ),
    "phone": (
        {
            "call_id": "CALL-0004",
            "caller": "138 0000 0004",
            "transcript": "客服：您好，请问有什么可以帮您？\n顾客：我上周买的皮鞋开胶了\n客服：好的，我记录一下",
            "agent": "李四",
        },
        "我上周买的皮鞋开胶了",
        {"phone": "13800000004"},
    ),
    "sms": (
        {"sms_id": "SMS-0005", "from": "+8613800000005", "text": "收银员多收了我 20 元"},
        "多收了我 20 元",
        {"phone": "13800000005"},
    ),
    "webchat": (
        {
            "session_id": "chat-6",
            "message_id": "chat-6-msg-1",
            "visitor": {"name": "赵六", "phone": "13800000006", "member_id": "M0006"},
            "messages": [
                {"from": "visitor", "text": "网上买的外套掉色"},
                {"from": "agent", "text": "请提供订单号"},
                {"from": "visitor", "text": "订单号 W6006"},
            ],
        },
        "网上买的外套掉色",
        {"member_id": "M0006"},
    ),
    "email": (
        {
            "message_id": "<20250101.0007@mail.example.com>",
            "from": "钱七 <qian7@example.com>",
            "subject": "投诉：会员积分没有到账",
            "body": "上周消费的积分一直没到账，请联系我 13800000007。",
            "attachments": ["receipt.jpg"],
        },
        "积分一直没到账",
        {"phone": "13800000007"},
    ),
}


@pytest.fixture
def client(hq: Hq) -> TestClient:
    """HQ's own app: the intake routes are mounted in it."""
    return hq.client


def deliver(
    client: TestClient, channel: str, payload: Any, *, status: int = 201, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = client.post(f"/api/v1/intake/{channel}", json=payload, headers=ADMIN if headers is None else headers)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


class _Response(Protocol):
    """An HTTP answer of a TestClient (httpx's or httpx2's, depending on Starlette)."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


def assert_error(response: _Response, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    if field is not None:
        assert error["field"] == field, error


def extra_of(hq: Hq, ticket_id: str) -> dict[str, Any]:
    with hq.ctx.db.read() as conn:
        extra: dict[str, Any] = conn.execute(sa.select(tickets.c.extra).where(tickets.c.id == ticket_id)).scalar_one()
    return extra


def count(hq: Hq, table: sa.Table) -> int:
    with hq.ctx.db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_every_channel_has_an_adapter_and_a_sample() -> None:
    assert set(ADAPTERS) == set(SAMPLES)


@pytest.mark.parametrize("channel", sorted(SAMPLES))
def test_each_channels_message_becomes_a_ticket_linked_to_the_customer(
    hq: Hq, client: TestClient, channel: str
) -> None:
    payload, text, known_by = SAMPLES[channel]
    answer = deliver(client, channel, payload)
    assert answer["duplicate"] is False
    assert answer["past_tickets"] == []
    ticket = hq.ticket(answer["ticket"]["id"])
    assert ticket["number"].startswith("HQ-") and ticket["number"] == answer["ticket"]["number"]
    assert ticket["store_id"] is None
    assert ticket["channel"] == answer["ticket"]["channel"] == channel
    assert text in ticket["description"]
    assert ticket["title"] and len(ticket["title"]) <= 200
    assert ticket["routed_at"] is not None and ticket["department"] == answer["ticket"]["department"]

    customer = answer["customer"]
    assert customer is not None
    for key, value in known_by.items():
        assert customer[key] == value
    if "phone" in known_by:
        assert ticket["customer_phone"] == known_by["phone"]

    listed = client.get(f"/api/v1/customers/{customer['id']}", headers=ADMIN)
    assert listed.status_code == 200, listed.text
    assert [t["id"] for t in listed.json()["tickets"]] == [ticket["id"]]

    extra = extra_of(hq, ticket["id"])
    with hq.ctx.db.read() as conn:
        row = conn.execute(sa.select(intake_messages).where(intake_messages.c.ticket_id == ticket["id"])).one()
    assert row.channel == channel and row.customer_id == customer["id"]
    assert extra["source_message_id"] == row.message_id


def test_platform_refund_request_is_an_after_sales_ticket_with_order_and_images(hq: Hq, client: TestClient) -> None:
    payload = SAMPLES["platform"][0]
    answer = deliver(client, "platform", payload)
    ticket = hq.ticket(answer["ticket"]["id"])
    assert ticket["type"] == "after_sales"
    assert ticket["department"] == "claims"
    assert ticket["title"] == "尺码偏小，申请退货退款"
    assert ticket["customer_name"] == "小王"
    extra = extra_of(hq, ticket["id"])
    assert extra["order_no"] == "TB88001"
    assert extra["attachments"] == ["https://img.example.com/a.jpg"]
    assert extra["source_message_id"] == "AS20250101001"
    assert extra["channel_details"]["platform"] == "tmall"


def test_phone_call_title_is_the_callers_first_line(hq: Hq, client: TestClient) -> None:
    answer = deliver(client, "phone", SAMPLES["phone"][0])
    assert answer["ticket"]["title"] == "我上周买的皮鞋开胶了"
    assert answer["ticket"]["type"] == "complaint" and answer["ticket"]["department"] == "cs"


def test_the_same_message_delivered_twice_makes_one_ticket(hq: Hq, client: TestClient) -> None:
    payload = SAMPLES["wechat"][0]
    first = deliver(client, "wechat", payload)
    again = deliver(client, "wechat", payload, status=200)
    assert again["duplicate"] is True
    assert again["ticket"]["id"] == first["ticket"]["id"]
    assert again["ticket"]["number"] == first["ticket"]["number"]
    assert again["customer"]["id"] == first["customer"]["id"]
    assert again["past_tickets"] == []
    assert count(hq, tickets) == 1 and count(hq, intake_messages) == 1
    # The same id on another channel is another message.
    other = deliver(client, "wecom", payload)
    assert other["ticket"]["id"] != first["ticket"]["id"]


def test_two_deliveries_racing_make_one_ticket(hq: Hq, db_url: str) -> None:
    message = from_sms(b'{"sms_id": "race-1", "from": "13800000099", "text": "sent twice at once"}')
    results: list[intake.IntakeResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def deliver_once() -> None:
        db = Database(db_url)
        try:
            start.wait()
            results.append(intake.receive(db, hq.ctx.clock, "sms", message, now_ms()))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=deliver_once) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(results) == 4
    assert len({r.ticket_id for r in results}) == 1
    assert sorted(r.created for r in results) == [False, False, False, True]
    assert len({r.customer_id for r in results}) == 1
    assert count(hq, tickets) == 1 and count(hq, intake_messages) == 1 and count(hq, customers) == 1


def test_a_vip_customers_ticket_gets_the_rules_priority(hq: Hq, client: TestClient) -> None:
    response = hq.api("PUT", "/api/v1/routing-rules", json=VIP_RULES)
    assert response.status_code == 200, response.text
    vip = deliver(
        client,
        "wechat",
        {"MsgId": 1, "FromUserName": "o1", "Content": "新买的包拉链坏了", "member_id": "V001", "member_level": "VIP"},
    )
    assert vip["customer"]["level"] == "vip"
    assert vip["ticket"]["priority"] == "urgent" and "vip" in vip["ticket"]["tags"]
    assert hq.ticket(vip["ticket"]["id"])["priority"] == "urgent"
    assert extra_of(hq, vip["ticket"]["id"])["customer_level"] == "vip"

    regular = deliver(client, "sms", {"sms_id": "r1", "from": "13800000010", "text": "新买的包拉链坏了"})
    assert regular["customer"]["level"] == ""
    assert regular["ticket"]["priority"] == "normal" and "vip" not in regular["ticket"]["tags"]

    # A known VIP writing on another channel that does not say their level is still a VIP.
    again = deliver(
        client,
        "webchat",
        {"message_id": "w1", "visitor": {"member_id": "V001"}, "messages": [{"from": "visitor", "text": "还没人处理"}]},
    )
    assert again["customer"]["id"] == vip["customer"]["id"]
    assert again["ticket"]["priority"] == "urgent"
    assert [p["id"] for p in again["past_tickets"]] == [vip["ticket"]["id"]]


def test_a_second_message_from_the_same_phone_on_another_channel_links_to_the_customer(
    hq: Hq, client: TestClient
) -> None:
    first = deliver(client, "sms", {"sms_id": "s-1", "from": "13800000011", "text": "门店没有我要的尺码"})
    second = deliver(
        client,
        "phone",
        {
            "call_id": "c-1",
            "caller": "+86 138 0000 0011",
            "transcript": "顾客：上次短信说的尺码问题还没回复",
            "agent": "王五",
        },
    )
    assert second["customer"]["id"] == first["customer"]["id"]
    past = second["past_tickets"]
    assert [p["id"] for p in past] == [first["ticket"]["id"]]
    assert past[0]["number"] == first["ticket"]["number"] and past[0]["channel"] == "sms"
    assert past[0]["status"] in ("new", "assigned") and past[0]["created_at"]

    # The member id a later message brings is attached to the same customer.
    third = deliver(
        client,
        "webchat",
        {
            "message_id": "w-11",
            "visitor": {"name": "孙八", "phone": "13800000011", "member_id": "M0011"},
            "messages": [{"text": "还是尺码的事"}],
        },
    )
    assert third["customer"]["id"] == first["customer"]["id"]
    assert third["customer"]["member_id"] == "M0011" and third["customer"]["name"] == "孙八"
    assert {p["id"] for p in third["past_tickets"]} == {first["ticket"]["id"], second["ticket"]["id"]}
    assert count(hq, customers) == 1

    listed = client.get(f"/api/v1/customers/{first['customer']['id']}", headers=ADMIN).json()
    assert listed["phone"] == "13800000011" and listed["member_id"] == "M0011"
    assert len(listed["tickets"]) == 3


def test_a_message_naming_no_customer_makes_a_ticket_without_one(hq: Hq, client: TestClient) -> None:
    answer = deliver(client, "phone", {"call_id": "anon-1", "caller": "anonymous", "transcript": "商场停车收费太贵"})
    assert answer["customer"] is None and answer["past_tickets"] == []
    assert hq.ticket(answer["ticket"]["id"])["customer_phone"] == ""


def test_a_customers_message_is_not_held_to_the_ticket_types_form(hq: Hq, client: TestClient) -> None:
    """A customer cannot fill in HQ's form; the message must not be lost for it (the agent
    completes the ticket)."""
    form = {
        "fields": [
            {"name": "refund_method", "label_zh": "退款方式", "kind": "choice", "required": True, "choices": ["cash"]}
        ]
    }
    put = hq.api("PUT", "/api/v1/ticket-types/after_sales/form", json=form)
    assert put.status_code == 200, put.text
    response = client.post(
        "/api/v1/intake/sms", json={"sms_id": "f1", "from": "13800000013", "text": "我要退款"}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    assert response.json()["ticket"]["type"] == "after_sales"
    assert count(hq, tickets) == 1 and count(hq, intake_messages) == 1


def test_unstorable_characters_and_overlong_values_are_cleaned_not_refused(hq: Hq, client: TestClient) -> None:
    long_id = "<" + "m" * 300 + "@mail.example.com>"
    payload = {"message_id": long_id, "from": "a@example.com", "subject": "NUL\u0000 here", "body": "x" * 20_000}
    answer = deliver(client, "email", payload)
    ticket = hq.ticket(answer["ticket"]["id"])
    assert ticket["title"] == "NUL here"
    assert len(ticket["description"]) == 10_000 and ticket["description"].endswith("…")
    assert extra_of(hq, ticket["id"])["source_message_id"].startswith("sha256:")
    assert deliver(client, "email", payload, status=200)["ticket"]["id"] == ticket["id"]


def test_unknown_channel_is_404(hq: Hq, client: TestClient) -> None:
    response = client.post("/api/v1/intake/fax", json={"id": "1"}, headers=ADMIN)
    assert_error(response, 404, "unknown_channel")


@pytest.mark.parametrize(
    ("channel", "field"),
    [
        ("platform", "request_id"),
        ("wechat", "MsgId"),
        ("wecom", "MsgId"),
        ("phone", "call_id"),
        ("sms", "sms_id"),
        ("webchat", "message_id"),
        ("email", "message_id"),
    ],
)
def test_a_payload_without_the_channels_message_id_is_422_naming_it(
    hq: Hq, client: TestClient, channel: str, field: str
) -> None:
    payload = {key: value for key, value in SAMPLES[channel][0].items() if key != field}
    response = client.post(f"/api/v1/intake/{channel}", json=payload, headers=ADMIN)
    assert_error(response, 422, "required", field)
    blank = client.post(f"/api/v1/intake/{channel}", json={**payload, field: " "}, headers=ADMIN)
    assert_error(blank, 422, "required", field)
    assert count(hq, tickets) == 0


@pytest.mark.parametrize(
    ("channel", "payload", "code", "field"),
    [
        ("sms", {"sms_id": "t1", "from": "13800000012", "text": 42}, "invalid_type", "text"),
        ("wechat", {"MsgId": [1], "Content": "x"}, "invalid_type", "MsgId"),
        ("webchat", {"message_id": "t2", "visitor": {"phone": 13800000012}}, "invalid_type", "visitor.phone"),
        (
            "webchat",
            {"message_id": "t3", "messages": [{"from": "visitor", "text": ["x"]}]},
            "invalid_type",
            "messages[0].text",
        ),
        ("platform", {"request_id": "t4", "reason": "x", "images": "a.jpg"}, "invalid_type", "images"),
        ("sms", {"sms_id": "t5", "from": "1" * 40, "text": "x"}, "too_long", "from"),
        ("wechat", {"MsgId": 5, "Content": "  "}, "required", "Content"),
        ("webchat", {"message_id": "t6", "messages": []}, "required", "messages"),
    ],
)
def test_a_payload_that_does_not_fit_the_channel_is_422_naming_the_field(
    hq: Hq, client: TestClient, channel: str, payload: dict[str, Any], code: str, field: str
) -> None:
    response = client.post(f"/api/v1/intake/{channel}", json=payload, headers=ADMIN)
    assert_error(response, 422, code, field)


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b'"text"'])
def test_unreadable_json_is_400(hq: Hq, client: TestClient, body: bytes) -> None:
    response = client.post("/api/v1/intake/sms", content=body, headers={**ADMIN, "Content-Type": "application/json"})
    assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}])
def test_no_or_wrong_token_is_401(hq: Hq, client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/api/v1/intake/sms", json=SAMPLES["sms"][0], headers=headers)
    assert_error(response, 401, "unauthorized")
    assert_error(client.get("/api/v1/customers/x", headers=headers), 401, "unauthorized")
    assert count(hq, tickets) == 0


def test_unknown_customer_is_404(hq: Hq, client: TestClient) -> None:
    assert_error(client.get("/api/v1/customers/nobody", headers=ADMIN), 404, "customer_not_found")


def test_a_body_over_the_limit_is_413(hq: Hq, client: TestClient) -> None:
    big = b'{"sms_id": "big", "text": "' + b"x" * (intake_api.MAX_BODY_BYTES + 1) + b'"}'
    response = client.post("/api/v1/intake/sms", content=big, headers={**ADMIN, "Content-Type": "application/json"})
    assert_error(response, 413, "body_too_large")
