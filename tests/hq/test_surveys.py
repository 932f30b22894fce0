"""Satisfaction surveys (hq_server.surveys, hq_server.surveys_api), as HQ runs them: resolving a
ticket (at HQ through the staff API, or at a store through a push) opens one survey per ticket and
queues its link, also when the ticket is reopened and resolved again; the signed link is refused
when altered or expired; a survey takes one answer; the results add up per department and agent.

The page and the answers go through the real app (``hq.client``), which mounts the survey routes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from hq_server import dispatch, migrations, surveys
from hq_server.schema import surveys as surveys_table
from hq_server.schema import webhook_events
from hq_server.staff_views import iso
from hq_server.ticket_rules import TicketBatch
from hq_server.ticket_store import load_tickets
from sync_protocol.errors import InvalidField
from sync_protocol.ops import new_id
from sync_protocol.tickets import HistoryEntry
from tests.hq.helpers import ADMIN, DAY_MS, Hq, WireNode, now_ms

BASE_URL = "https://hq.example.com/"
PHONE = "13800138000"
CHOICES_ZH = ("非常不满意", "不满意", "一般", "满意", "非常满意")
CHOICES_EN = ("Very dissatisfied", "Dissatisfied", "Neutral", "Satisfied", "Very satisfied")
TTL_MS = 30 * DAY_MS


def put_agent(hq: Hq, agent_id: str, department: str) -> None:
    response = hq.api("PUT", f"/api/v1/agents/{agent_id}", json={"name": agent_id, "departments": [department]})
    assert response.status_code == 200, response.text


def set_status(hq: Hq, ticket_id: str, status: str) -> None:
    response = hq.api("PATCH", f"/api/v1/tickets/{ticket_id}", json={"status": status})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == status


def push_statuses(node: WireNode, ticket_id: str, *statuses: str) -> None:
    """A store changes a ticket's status (one op per status, in one push); every op applies."""
    answer = node.push([node.op(node.status(ticket_id, status)) for status in statuses])
    assert [(r.status, r.code) for r in answer.results] == [("applied", "")] * len(statuses)


def set_public_url(hq: Hq, url: str) -> None:
    with hq.ctx.db.write() as conn:
        dispatch.set_public_url(conn, url)


def handled_ticket(hq: Hq, node: WireNode, ticket_type: str, agent: str) -> dict[str, Any]:
    """A ticket pushed by a store, routed to a department and handled there by ``agent`` (an
    active agent of that department, as a reassignment requires); not resolved yet."""
    create = node.create("顾客投诉：退货慢", type=ticket_type, customer_phone=PHONE)
    node.push([node.op(create)])
    department = hq.ticket(create.ticket_id)["department"]
    assert department
    put_agent(hq, agent, department)
    if hq.ticket(create.ticket_id)["assignee"] != agent:
        response = hq.api("PATCH", f"/api/v1/tickets/{create.ticket_id}", json={"assignee": agent})
        assert response.status_code == 200, response.text
    ticket = hq.ticket(create.ticket_id)
    assert ticket["assignee"] == agent and ticket["status"] not in ("resolved", "closed")
    return ticket


def resolved_ticket(hq: Hq, node: WireNode, ticket_type: str, agent: str) -> dict[str, Any]:
    """:func:`handled_ticket`, resolved at HQ through the staff API."""
    ticket = handled_ticket(hq, node, ticket_type, agent)
    set_status(hq, ticket["id"], "resolved")
    ticket = hq.ticket(ticket["id"])
    assert (ticket["assignee"], ticket["status"]) == (agent, "resolved")
    return ticket


def replay_resolution(hq: Hq, ticket_id: str) -> list[str]:
    """open_for_resolved once more for a ticket, with a batch that resolves it (as a second
    resolving write would): the ids of the surveys it opens."""
    at = now_ms()
    with hq.ctx.db.write() as conn:
        batch = TicketBatch(tickets=load_tickets(conn, [ticket_id]), type_codes=frozenset())
        entry = HistoryEntry(
            id=new_id(), ticket_id=ticket_id, from_status="in_progress", to_status="resolved", at=at, hlc="x"
        )
        batch.history.append(entry)
        return surveys.open_for_resolved(conn, batch, at, base_url=BASE_URL)


def survey_event_rows(hq: Hq) -> list[dict[str, Any]]:
    with hq.ctx.db.read() as conn:
        query = sa.select(webhook_events).where(webhook_events.c.event == surveys.SURVEY_CREATED)
        return [dict(row) for row in conn.execute(query.order_by(webhook_events.c.created_at)).mappings()]


def survey_events(hq: Hq) -> list[dict[str, Any]]:
    return [dict(row["payload"]) for row in survey_event_rows(hq)]


def survey_rows(hq: Hq, ticket_id: str) -> list[dict[str, Any]]:
    with hq.ctx.db.read() as conn:
        query = sa.select(surveys_table).where(surveys_table.c.ticket_id == ticket_id)
        return [dict(row) for row in conn.execute(query).mappings()]


def secret(hq: Hq) -> str:
    with hq.ctx.db.read() as conn:
        return surveys.secret_of(conn)


def link_of(hq: Hq, ticket_id: str) -> str:
    """The path of a ticket's survey link, from its survey.created event (the link is on HQ's
    public address)."""
    with hq.ctx.db.read() as conn:
        base = dispatch.public_url(conn)
    [event] = [e for e in survey_events(hq) if e["ticket_id"] == ticket_id]
    url: str = event["url"]
    assert url.startswith(f"{base.rstrip('/')}/survey/")
    return urlsplit(url).path


def assert_opened(hq: Hq, ticket: dict[str, Any], before: int, after: int) -> dict[str, Any]:
    """The one survey of a ticket resolved between ``before`` and ``after``, and its one event."""
    [row] = survey_rows(hq, ticket["id"])
    assert (row["department"], row["assignee"]) == (ticket["department"], ticket["assignee"])
    assert before <= row["created_at"] <= after
    assert row["expires_at"] == row["created_at"] + TTL_MS
    assert (row["answered_at"], row["score"], row["comment"]) == (None, None, "")

    [event_row] = [e for e in survey_event_rows(hq) if e["payload"]["ticket_id"] == ticket["id"]]
    assert event_row["created_at"] == row["created_at"]
    event = event_row["payload"]
    assert {k: event[k] for k in ("ticket_id", "ticket_number", "customer_phone", "survey_id", "expires_at")} == {
        "ticket_id": ticket["id"],
        "ticket_number": ticket["number"],
        "customer_phone": PHONE,
        "survey_id": row["id"],
        "expires_at": iso(row["expires_at"]),
    }
    token = link_of(hq, ticket["id"]).removeprefix("/survey/")
    key = secret(hq)
    assert token == surveys.make_token(key, row["id"], row["expires_at"])
    assert surveys.read_token(key, token, row["created_at"]) == row["id"]
    return row


def survey_for(
    hq: Hq, agent: str = "wang_fang", ticket_type: str = "complaint", store: str = "SH001"
) -> tuple[dict[str, Any], str]:
    """A ticket resolved at HQ, which opened its survey; the ticket and the link's path."""
    ticket = resolved_ticket(hq, hq.enroll(store), ticket_type, agent)
    assert len(survey_rows(hq, ticket["id"])) == 1
    return ticket, link_of(hq, ticket["id"])


def tampered(token: str, index: int) -> str:
    swapped = "B" if token[index] == "A" else "A"
    return token[:index] + swapped + token[index + 1 :]


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The JSON error envelope (like test_sync_boundary's, typed for the TestClient's responses)."""
    assert response.status_code == status, response.text
    assert str(response.headers["content-type"]).startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    return error


def is_html(response: Any) -> bool:
    return str(response.headers["content-type"]).startswith("text/html")


# -- opening surveys ----------------------------------------------------------------------------


def test_secret_key_is_the_one_migration_7_stores() -> None:
    assert surveys.SURVEY_SECRET_KEY == migrations.SURVEY_SECRET_KEY


def test_resolving_at_hq_opens_one_survey_and_one_link_event_also_after_reopening(hq: Hq) -> None:
    set_public_url(hq, BASE_URL)
    ticket = handled_ticket(hq, hq.enroll(), "complaint", "wang_fang")
    assert survey_rows(hq, ticket["id"]) == [] and survey_events(hq) == []

    before = now_ms()
    set_status(hq, ticket["id"], "resolved")
    after = now_ms()
    row = assert_opened(hq, ticket, before, after)
    assert row["assignee"] == "wang_fang"
    [event] = survey_events(hq)
    assert event["url"].startswith("https://hq.example.com/survey/")

    # Reopened and resolved again (twice): still the one survey, unchanged, and the one event.
    for _ in range(2):
        set_status(hq, ticket["id"], "in_progress")
        set_status(hq, ticket["id"], "resolved")
    assert survey_rows(hq, ticket["id"]) == [row]
    assert survey_events(hq) == [event]
    # open_for_resolved itself skips a ticket that has its survey.
    assert replay_resolution(hq, ticket["id"]) == []
    assert survey_rows(hq, ticket["id"]) == [row]
    assert survey_events(hq) == [event]


def test_a_store_resolving_by_push_opens_one_survey_and_one_link_event_also_after_reopening(hq: Hq) -> None:
    node = hq.enroll()
    ticket = handled_ticket(hq, node, "complaint", "wang_fang")
    # A ticket of that department arriving now goes to its agent by itself.
    create = node.create("顾客投诉：少找零钱", type="complaint", customer_phone=PHONE)
    node.push([node.op(create)])
    other = hq.ticket(create.ticket_id)
    assert (other["department"], other["assignee"]) == (ticket["department"], "wang_fang")

    before = now_ms()
    push_statuses(node, ticket["id"], "in_progress", "resolved")
    after = now_ms()
    assert hq.ticket(ticket["id"])["status"] == "resolved"
    row = assert_opened(hq, ticket, before, after)
    [event] = survey_events(hq)
    # No public address recorded: links are on the default one.
    assert event["url"].startswith(f"{dispatch.DEFAULT_PUBLIC_URL}/survey/")

    # Reopened and resolved again by the store (in two pushes, then in one), and at HQ.
    push_statuses(node, ticket["id"], "in_progress")
    push_statuses(node, ticket["id"], "resolved")
    push_statuses(node, ticket["id"], "in_progress", "resolved")
    set_status(hq, ticket["id"], "in_progress")
    set_status(hq, ticket["id"], "resolved")
    assert survey_rows(hq, ticket["id"]) == [row]
    assert survey_events(hq) == [event]

    # The other ticket, resolved by its store too, gets its own survey.
    before = now_ms()
    push_statuses(node, other["id"], "resolved")
    after = now_ms()
    assert_opened(hq, hq.ticket(other["id"]), before, after)
    assert len(survey_events(hq)) == 2


def test_only_tickets_a_write_leaves_resolved_get_a_survey(hq: Hq) -> None:
    node = hq.enroll()
    resolved = resolved_ticket(hq, node, "complaint", "wang_fang")
    [resolved_event] = survey_events(hq)

    # Resolved and reopened in the same push: open at the end of the write, no survey.
    create = node.create("门店灯坏了", type="equipment", customer_phone=PHONE)
    answer = node.push(
        [
            node.op(create),
            node.op(node.status(create.ticket_id, "resolved")),
            node.op(node.status(create.ticket_id, "in_progress")),
        ]
    )
    assert [r.status for r in answer.results] == ["applied"] * 3
    assert hq.ticket(create.ticket_id)["status"] == "in_progress"
    assert survey_rows(hq, create.ticket_id) == []

    # Writes to a resolved ticket that do not resolve it: no second survey.
    node.push([node.op(node.comment(resolved["id"], "顾客已取回退款"))])
    response = hq.api("PATCH", f"/api/v1/tickets/{resolved['id']}", json={"priority": "high"})
    assert response.status_code == 200, response.text
    assert len(survey_rows(hq, resolved["id"])) == 1

    with hq.ctx.db.write() as conn:
        loaded = load_tickets(conn, [resolved["id"], create.ticket_id])
        # Resolved, but not by this batch (no history entry to "resolved"): no survey.
        quiet = TicketBatch(tickets=loaded, type_codes=frozenset())
        assert surveys.open_for_resolved(conn, quiet, now_ms(), base_url=BASE_URL) == []
        # A history entry to "resolved", but the ticket is open again by the end of the batch.
        entry = HistoryEntry(
            id=new_id(), ticket_id=create.ticket_id, from_status="new", to_status="resolved", at=now_ms(), hlc="x"
        )
        reopened = TicketBatch(tickets=loaded, type_codes=frozenset(), history=[entry])
        assert surveys.open_for_resolved(conn, reopened, now_ms(), base_url=BASE_URL) == []
    assert survey_rows(hq, create.ticket_id) == []
    assert survey_events(hq) == [resolved_event]


# -- the page -----------------------------------------------------------------------------------


def test_the_link_page_renders_in_chinese_by_default_and_in_english(hq: Hq) -> None:
    ticket, link = survey_for(hq)

    page = hq.client.get(link)
    assert page.status_code == 200 and is_html(page)
    assert ticket["number"] in page.text
    assert page.text.count('type="radio"') == 5
    assert all(label in page.text for label in CHOICES_ZH)
    assert '<html lang="zh-CN">' in page.text and "提交评价" in page.text and "<textarea" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "http" not in page.text  # nothing loaded from elsewhere

    for english in (
        hq.client.get(link, params={"lang": "en"}),
        hq.client.get(link, headers={"Accept-Language": "en-GB"}),
    ):
        assert english.status_code == 200 and is_html(english)
        assert ticket["number"] in english.text
        assert english.text.count('type="radio"') == 5
        assert all(label in english.text for label in CHOICES_EN)
        assert '<html lang="en">' in english.text and "Submit" in english.text


def test_answers_are_stored_with_ticket_department_and_agent_and_add_up_in_results(hq: Hq) -> None:
    complaint, complaint_link = survey_for(hq, "wang_fang", "complaint")
    quality, quality_link = survey_for(hq, "li_na", "quality", store="SH002")
    assert complaint["department"] != quality["department"]

    thanks = hq.client.post(complaint_link, data={"score": "5", "comment": "  服务很好 <b>谢谢</b>  "})
    assert thanks.status_code == 200 and is_html(thanks)
    assert "感谢您的评价" in thanks.text and complaint["number"] in thanks.text
    answered = hq.client.post(quality_link, json={"score": 2, "comment": "等太久了"})
    assert answered.status_code == 200 and answered.json() == {"status": "answered"}

    [row] = survey_rows(hq, complaint["id"])
    assert (row["score"], row["comment"], row["department"], row["assignee"]) == (
        5,
        "服务很好 <b>谢谢</b>",
        complaint["department"],
        "wang_fang",
    )
    assert row["answered_at"] is not None
    [row] = survey_rows(hq, quality["id"])
    assert (row["score"], row["comment"], row["department"], row["assignee"]) == (
        2,
        "等太久了",
        quality["department"],
        "li_na",
    )

    # The link now shows a thank-you page instead of the form.
    again = hq.client.get(complaint_link)
    assert again.status_code == 200 and "已评价" in again.text and 'type="radio"' not in again.text

    with hq.ctx.db.read() as conn:
        found = surveys.results(conn)
    distribution = {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
    assert (found["sent"], found["count"], found["average"], found["distribution"]) == (2, 2, 3.5, distribution)
    by_department = {d["department"]: (d["count"], d["average"]) for d in found["departments"]}
    assert by_department == {complaint["department"]: (1, 5.0), quality["department"]: (1, 2.0)}
    by_agent = {a["assignee"]: (a["count"], a["average"], a["distribution"]["5"]) for a in found["agents"]}
    assert by_agent == {"wang_fang": (1, 5.0, 1), "li_na": (1, 2.0, 0)}

    response = hq.client.get("/api/v1/surveys/results", params={"department": complaint["department"]}, headers=ADMIN)
    assert response.status_code == 200, response.text
    one = response.json()
    assert (one["department"], one["count"], one["average"]) == (complaint["department"], 1, 5.0)
    assert [a["assignee"] for a in one["agents"]] == ["wang_fang"]
    assert_error(hq.client.get("/api/v1/surveys/results"), 401, "unauthorized")


def test_results_count_unanswered_surveys_as_sent_only(hq: Hq) -> None:
    survey_for(hq)
    with hq.ctx.db.read() as conn:
        found = surveys.results(conn)
        none = surveys.results(conn, department="no-such-department")
    assert (found["sent"], found["count"], found["average"]) == (1, 0, None)
    assert (none["sent"], none["count"], none["departments"], none["agents"]) == (0, 0, [], [])


# -- links that cannot be used ------------------------------------------------------------------


def test_an_altered_or_foreign_token_is_refused(hq: Hq) -> None:
    ticket, link = survey_for(hq)
    token = link.removeprefix("/survey/")
    key = secret(hq)
    [row] = survey_rows(hq, ticket["id"])

    for index in (0, len(token) // 2, len(token) - 1):
        altered = tampered(token, index)
        with pytest.raises(surveys.SurveyError) as refused:
            surveys.read_token(key, altered, now_ms())
        assert refused.value.code == "invalid_survey_link"
        page = hq.client.get(f"/survey/{altered}")
        assert page.status_code == 404 and is_html(page) and "链接无效" in page.text
        assert 'type="radio"' not in page.text
        assert_error(hq.client.post(f"/survey/{altered}", json={"score": 5}), 404, "invalid_survey_link")

    foreign = surveys.make_token("another-hq-secret", row["id"], row["expires_at"])
    with pytest.raises(surveys.SurveyError) as refused:
        surveys.read_token(key, foreign, now_ms())
    assert refused.value.code == "invalid_survey_link"
    assert hq.client.get(f"/survey/{foreign}", params={"lang": "en"}).status_code == 404
    assert "Invalid link" in hq.client.get(f"/survey/{foreign}", params={"lang": "en"}).text

    for garbage in ("x", "AAAA", "!!!!", "A" * 500, token + "A"):
        with pytest.raises(surveys.SurveyError):
            surveys.read_token(key, garbage, now_ms())
    # Signed with the right secret, but no such survey.
    ghost = surveys.make_token(key, new_id(), now_ms() + DAY_MS)
    assert hq.client.get(f"/survey/{ghost}").status_code == 404

    assert hq.client.post(f"/survey/{foreign}", data={"score": "5"}).status_code == 404
    assert survey_rows(hq, ticket["id"])[0]["answered_at"] is None


def test_an_expired_link_is_refused(hq: Hq) -> None:
    ticket, link = survey_for(hq)
    token = link.removeprefix("/survey/")
    [row] = survey_rows(hq, ticket["id"])
    survey_id, expires_at = row["id"], row["expires_at"]
    assert expires_at == row["created_at"] + TTL_MS

    # The link works until its expiry, 30 days after the resolution, and not from then on.
    key = secret(hq)
    assert surveys.read_token(key, token, expires_at - 1) == survey_id
    for moment in (expires_at, expires_at + DAY_MS):
        with pytest.raises(surveys.SurveyError) as refused:
            surveys.read_token(key, token, moment)
        assert refused.value.code == "survey_expired"
    with hq.ctx.db.write() as conn, pytest.raises(surveys.SurveyError) as refused:
        surveys.answer(conn, survey_id, score=5, comment="", now_ms=expires_at + 1)
    assert refused.value.code == "survey_expired"

    # A link of this survey, signed by this HQ, whose expiry has passed.
    expired = f"/survey/{surveys.make_token(key, survey_id, now_ms() - 1)}"
    page = hq.client.get(expired)
    assert page.status_code == 410 and is_html(page) and "已过期" in page.text
    assert 'type="radio"' not in page.text
    english = hq.client.get(expired, params={"lang": "en"})
    assert english.status_code == 410 and "expired" in english.text
    assert_error(hq.client.post(expired, json={"score": 5}), 410, "survey_expired")
    assert hq.client.post(expired, data={"score": "5"}).status_code == 410

    # The survey past its expiry: its own link's answer is refused as well.
    with hq.ctx.db.write() as conn:
        conn.execute(surveys_table.update().where(surveys_table.c.id == survey_id).values(expires_at=now_ms() - 1))
    assert_error(hq.client.post(link, json={"score": 5}), 410, "survey_expired")
    assert hq.client.post(link, data={"score": "5"}).status_code == 410
    assert survey_rows(hq, ticket["id"])[0]["answered_at"] is None


# -- one answer, valid values -------------------------------------------------------------------


def test_a_second_answer_is_refused_and_the_first_stands(hq: Hq) -> None:
    ticket, link = survey_for(hq)
    assert hq.client.post(link, data={"score": "4", "comment": "不错"}).status_code == 200

    assert_error(hq.client.post(link, json={"score": 1, "comment": "改主意了"}), 409, "survey_already_answered")
    page = hq.client.post(link, data={"score": "1"})
    assert page.status_code == 409 and is_html(page) and "已评价" in page.text
    [row] = survey_rows(hq, ticket["id"])
    with hq.ctx.db.write() as conn, pytest.raises(surveys.SurveyError) as refused:
        surveys.answer(conn, row["id"], score=2, comment="", now_ms=now_ms())
    assert refused.value.code == "survey_already_answered"
    assert (survey_rows(hq, ticket["id"])[0]["score"], survey_rows(hq, ticket["id"])[0]["comment"]) == (4, "不错")


@pytest.mark.parametrize(
    ("score", "comment", "field", "code"),
    [
        (0, "", "score", "invalid_choice"),
        (6, "", "score", "invalid_choice"),
        ("abc", "", "score", "invalid_choice"),
        ("3", "", "score", "invalid_choice"),  # JSON takes numbers; only form text is converted
        (3.5, "", "score", "invalid_choice"),
        (True, "", "score", "invalid_choice"),
        (None, "", "score", "required"),
        (3, "好" * 501, "comment", "too_long"),
        (3, 42, "comment", "invalid_type"),
    ],
)
def test_bad_values_are_refused_as_json_naming_the_field(
    hq: Hq, score: object, comment: object, field: str, code: str
) -> None:
    ticket, link = survey_for(hq)
    error = assert_error(hq.client.post(link, json={"score": score, "comment": comment}), 422, code)
    assert error["field"] == field
    assert survey_rows(hq, ticket["id"])[0]["answered_at"] is None
    # The refusal does not use up the survey.
    assert hq.client.post(link, json={"score": 3, "comment": "好" * 500}).json() == {"status": "answered"}


@pytest.mark.parametrize(
    ("score", "comment", "message"),
    [
        ("0", "", "评分应为 1 到 5 分"),
        ("6", "<script>alert(1)</script>", "评分应为 1 到 5 分"),
        ("abc", "", "评分应为 1 到 5 分"),
        (None, "", "请选择满意度评分"),
        ("3", "好" * 501, "不能超过 500 字"),
    ],
)
def test_bad_values_in_the_form_show_the_form_again_with_the_error(
    hq: Hq, score: str | None, comment: str, message: str
) -> None:
    ticket, link = survey_for(hq)
    data = {"comment": comment} if score is None else {"score": score, "comment": comment}
    page = hq.client.post(link, data=data)
    assert page.status_code == 422 and is_html(page)
    assert message in page.text and page.text.count('type="radio"') == 5
    assert "<script>" not in page.text
    assert survey_rows(hq, ticket["id"])[0]["answered_at"] is None


def test_validate_answer_checks_score_and_comment() -> None:
    assert surveys.validate_answer(5, None) == (5, "")
    assert surveys.validate_answer(1, "  好  ") == (1, "好")
    assert surveys.validate_answer(3, "x" * 500) == (3, "x" * 500)
    for score, comment, field, code in [(0, "", "score", "invalid_choice"), (2, "x" * 501, "comment", "too_long")]:
        with pytest.raises(InvalidField) as refused:
            surveys.validate_answer(score, comment)
        assert (refused.value.field, refused.value.code) == (field, code)


def test_a_malformed_body_is_refused(hq: Hq) -> None:
    ticket, link = survey_for(hq)
    headers = {"Content-Type": "application/json"}
    for body in (b"{nope", b"[5]"):
        error = assert_error(hq.client.post(link, content=body, headers=headers), 400, "invalid_json")
        assert "{" not in str(error["message"])
    error = assert_error(hq.client.post(link, content=b" " * 20_000, headers=headers), 413, "body_too_large")
    assert "16384" in str(error["message"])
    page = hq.client.post(
        link, content=b"score=" + b"5" * 20_000, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert page.status_code == 413 and is_html(page) and "提交失败" in page.text
    assert survey_rows(hq, ticket["id"])[0]["answered_at"] is None
