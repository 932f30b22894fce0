"""Webhooks (hq_server.webhooks, hq_server.webhooks_api): events from the outbox reach a real
receiver on a loopback port, signed, once; failures are retried at the backoff times and given up
after MAX_ATTEMPTS; two HQ processes delivering at once send each delivery once."""

from __future__ import annotations

import random
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.testclient import TestClient

from hq_server import notifications, webhooks, webhooks_api
from hq_server.app import create_app
from hq_server.db import Database
from hq_server.responses import EXCEPTION_HANDLERS
from hq_server.schema import webhook_deliveries, webhook_events
from hq_server.staff_views import iso
from hq_server.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    LEASE_MS,
    MAX_ATTEMPTS,
    MAX_BACKOFF_MS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryReport,
    add_webhook,
    backoff,
    claim_due,
    deliver_due,
    fan_out,
    list_webhooks,
    remove_webhook,
    sign,
    valid_url,
    verify,
)
from sync_protocol.errors import InvalidField
from tests.hq.helpers import ADMIN, ADMIN_TOKEN, DAY_MS, Hq, now_ms, race_as_hq_processes
from tests.hq.test_sync_boundary import assert_error

ESCALATED = "ticket.escalated"
PAYLOAD = {"ticket_id": "0190f0c4-0000-7000-8000-000000000001", "department": "it", "step": "idle-24h"}


# -- a receiving server on a loopback port ------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def delivery_id(self) -> str:
        return self.headers[DELIVERY_HEADER.lower()]

    def verifies_with(self, secret: str) -> bool:
        timestamp = int(self.headers[TIMESTAMP_HEADER.lower()])
        return verify(secret, timestamp, self.body, self.headers[SIGNATURE_HEADER.lower()])


class Receiver:
    """An HTTP server in a thread that records every POST; answers 500 to the next ``failures``
    ones, and holds ``/slow`` requests until it closes."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.failures = 0
        self.lock = threading.Lock()
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path.startswith("/slow"):
                    receiver.released.wait(timeout=10)
                status = receiver.record(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def record(self, request: Received) -> int:
        with self.lock:
            self.requests.append(request)
            if self.failures > 0:
                self.failures -= 1
                return 500
            return 200

    def fail_next(self, count: int) -> None:
        with self.lock:
            self.failures = count

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as http:
        yield http


@pytest.fixture
def hq_on(db_url: str) -> Iterator[Hq]:
    """HQ on SQLite and PostgreSQL, without background jobs: the tests deliver at the times they choose."""
    app = create_app(db_url, ADMIN_TOKEN, sweep_interval_s=None)
    with TestClient(app) as test_client:
        yield Hq(app, test_client)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- helpers on the database --------------------------------------------------------------------


def add(hq: Hq, url: str, events: list[str] | None = None, secret: str | None = None) -> dict[str, Any]:
    with hq.ctx.db.write() as conn:
        return add_webhook(conn, url=url, secret=secret, events=events or [], now_ms=now_ms())


def enqueue(hq: Hq, at: int, event: str = ESCALATED, payload: dict[str, Any] | None = None) -> str:
    """An event written the way an escalation writes it: in a write transaction of its own."""
    with hq.ctx.db.write() as conn:
        return notifications.enqueue_webhook(conn, event, payload or PAYLOAD, at)


def delivery(hq: Hq, event_id: str, webhook_id: str) -> dict[str, Any]:
    d = webhook_deliveries.c
    with hq.ctx.db.read() as conn:
        query = sa.select(webhook_deliveries).where(d.event_id == event_id, d.webhook_id == webhook_id)
        return dict(conn.execute(query).mappings().one())


def deliver(hq: Hq, at: int, client: httpx.Client, seed: int = 1) -> DeliveryReport:
    return deliver_due(hq.ctx.db, at, client=client, rng=random.Random(seed))


# -- delivery -----------------------------------------------------------------------------------


def test_an_escalation_event_reaches_the_receiver_once_signed(
    hq_on: Hq, receiver: Receiver, client: httpx.Client
) -> None:
    hook = add(hq_on, receiver.url + "/hook")
    t0 = now_ms()
    event_id = enqueue(hq_on, t0)
    assert deliver(hq_on, t0, client) == DeliveryReport(delivered=1)
    assert deliver(hq_on, t0 + DAY_MS, client) == DeliveryReport()
    [received] = receiver.requests
    assert received.path == "/hook"
    assert received.delivery_id == event_id
    assert received.headers[EVENT_HEADER.lower()] == ESCALATED
    assert received.headers["content-type"] == "application/json"
    assert received.headers[TIMESTAMP_HEADER.lower()] == str(t0)
    assert received.verifies_with(hook["secret"])
    body = msgspec.json.decode(received.body)
    assert body == {"id": event_id, "event": ESCALATED, "created_at": iso(t0), "data": PAYLOAD}
    row = delivery(hq_on, event_id, hook["id"])
    assert (row["attempts"], row["delivered_at"], row["failed_at"], row["last_error"]) == (1, t0, None, "")


def test_a_failing_receiver_is_retried_at_the_backoff_times_then_delivered(
    hq_on: Hq, receiver: Receiver, client: httpx.Client
) -> None:
    hook = add(hq_on, receiver.url)
    receiver.fail_next(2)
    t0 = now_ms()
    event_id = enqueue(hq_on, t0)

    assert deliver(hq_on, t0, client) == DeliveryReport(retried=1)
    first = delivery(hq_on, event_id, hook["id"])
    assert (first["attempts"], first["last_error"]) == (1, "HTTP 500")
    retry_1 = first["next_attempt_at"]
    assert 27_000 <= retry_1 - t0 <= 33_000  # 30 s ± 10 %

    assert deliver(hq_on, retry_1 - 1, client) == DeliveryReport()  # not before its time
    assert len(receiver.requests) == 1
    assert deliver(hq_on, retry_1, client) == DeliveryReport(retried=1)
    second = delivery(hq_on, event_id, hook["id"])
    retry_2 = second["next_attempt_at"]
    assert second["attempts"] == 2
    assert 54_000 <= retry_2 - retry_1 <= 66_000  # 60 s ± 10 %

    assert deliver(hq_on, retry_2 - 1, client) == DeliveryReport()
    assert deliver(hq_on, retry_2, client) == DeliveryReport(delivered=1)
    done = delivery(hq_on, event_id, hook["id"])
    assert (done["attempts"], done["delivered_at"], done["last_error"]) == (3, retry_2, "")
    assert [r.headers[TIMESTAMP_HEADER.lower()] for r in receiver.requests] == [str(t0), str(retry_1), str(retry_2)]
    assert {r.delivery_id for r in receiver.requests} == {event_id}
    assert len({r.body for r in receiver.requests}) == 1  # the same body on every attempt
    assert all(r.verifies_with(hook["secret"]) for r in receiver.requests)
    assert deliver(hq_on, retry_2 + DAY_MS, client) == DeliveryReport()


def test_after_max_attempts_the_delivery_is_failed_and_never_sent_again(
    hq_on: Hq, receiver: Receiver, client: httpx.Client
) -> None:
    hook = add(hq_on, receiver.url)
    receiver.fail_next(10**6)
    at = now_ms()
    event_id = enqueue(hq_on, at)
    waits: list[int] = []
    for attempt in range(1, MAX_ATTEMPTS):
        assert deliver(hq_on, at, client, seed=attempt) == DeliveryReport(retried=1)
        row = delivery(hq_on, event_id, hook["id"])
        assert row["attempts"] == attempt
        waits.append(row["next_attempt_at"] - at)
        at = row["next_attempt_at"]
    assert deliver(hq_on, at, client) == DeliveryReport(failed=1)
    row = delivery(hq_on, event_id, hook["id"])
    assert (row["attempts"], row["failed_at"], row["delivered_at"]) == (MAX_ATTEMPTS, at, None)
    assert deliver(hq_on, at + 30 * DAY_MS, client) == DeliveryReport()
    assert len(receiver.requests) == MAX_ATTEMPTS
    for attempt, wait in enumerate(waits, start=1):
        base = min(30_000 * 2 ** (attempt - 1), MAX_BACKOFF_MS)
        assert 0.9 * base <= wait <= 1.1 * base


def test_an_unreachable_url_records_a_connection_error_and_is_retried(hq_on: Hq, client: httpx.Client) -> None:
    hook = add(hq_on, f"http://127.0.0.1:{closed_port()}/hook")
    t0 = now_ms()
    event_id = enqueue(hq_on, t0)
    assert deliver(hq_on, t0, client) == DeliveryReport(retried=1)
    row = delivery(hq_on, event_id, hook["id"])
    assert row["attempts"] == 1
    assert row["last_error"].startswith("connection error")
    assert row["next_attempt_at"] > t0
    assert deliver(hq_on, row["next_attempt_at"], client) == DeliveryReport(retried=1)
    assert delivery(hq_on, event_id, hook["id"])["attempts"] == 2


def test_a_receiver_too_slow_to_answer_records_a_timeout(hq_on: Hq, receiver: Receiver, client: httpx.Client) -> None:
    hook = add(hq_on, receiver.url + "/slow")
    t0 = now_ms()
    event_id = enqueue(hq_on, t0)
    report = deliver_due(hq_on.ctx.db, t0, client=client, timeout_s=0.3)
    assert report == DeliveryReport(retried=1)
    assert delivery(hq_on, event_id, hook["id"])["last_error"] == "timeout"


def test_webhooks_get_only_the_events_they_want_and_only_while_active(
    hq_on: Hq, receiver: Receiver, client: httpx.Client
) -> None:
    wanting = add(hq_on, receiver.url + "/escalations", events=[ESCALATED])
    add(hq_on, receiver.url + "/surveys", events=["survey.answered"])
    add(hq_on, receiver.url + "/everything")
    removed = add(hq_on, receiver.url + "/removed")
    with hq_on.ctx.db.write() as conn:
        assert remove_webhook(conn, removed["id"])
    t0 = now_ms()
    enqueue(hq_on, t0)
    assert deliver(hq_on, t0, client) == DeliveryReport(delivered=2)
    assert sorted(r.path for r in receiver.requests) == ["/escalations", "/everything"]

    # Removed after its delivery was made but before it was sent: it is not sent.
    second = enqueue(hq_on, t0 + 1)
    with hq_on.ctx.db.write() as conn:
        assert fan_out(conn, t0 + 1) == 2
        assert remove_webhook(conn, wanting["id"])
    assert deliver(hq_on, t0 + 1, client) == DeliveryReport(delivered=1)
    assert [r.path for r in receiver.requests if r.delivery_id == second] == ["/everything"]
    assert deliver(hq_on, t0 + DAY_MS, client) == DeliveryReport()


def test_events_before_any_webhook_are_fanned_out_to_nobody(
    hq_on: Hq, receiver: Receiver, client: httpx.Client
) -> None:
    t0 = now_ms()
    event_id = enqueue(hq_on, t0)
    with hq_on.ctx.db.write() as conn:
        assert fan_out(conn, t0) == 0
    with hq_on.ctx.db.read() as conn:
        fanned = conn.execute(sa.select(webhook_events.c.delivered_at).where(webhook_events.c.id == event_id))
        assert fanned.scalar_one() == t0
    add(hq_on, receiver.url)
    assert deliver(hq_on, t0 + 1, client) == DeliveryReport()
    assert receiver.requests == []


def test_removing_an_unknown_webhook_is_false(hq_on: Hq) -> None:
    with hq_on.ctx.db.write() as conn:
        assert not remove_webhook(conn, "no-such-webhook")


# -- signatures ---------------------------------------------------------------------------------


def test_a_tampered_body_or_a_wrong_secret_fails_verification() -> None:
    body = b'{"id":"e1","event":"ticket.escalated","data":{"ticket_id":"t1"}}'
    signature = sign("s3cret", 1_700_000_000_000, body)
    assert signature.startswith("sha256=") and len(signature) == len("sha256=") + 64
    assert verify("s3cret", 1_700_000_000_000, body, signature)
    assert not verify("s3cret", 1_700_000_000_000, body.replace(b"t1", b"t2"), signature)
    assert not verify("other", 1_700_000_000_000, body, signature)
    assert not verify("s3cret", 1_700_000_000_001, body, signature)  # a replayed body with a new timestamp
    assert not verify("s3cret", 1_700_000_000_000, body, "sha256=" + "0" * 64)
    assert not verify("s3cret", 1_700_000_000_000, body, "签名")


def test_backoff_doubles_from_30_seconds_up_to_6_hours_with_jitter() -> None:
    assert backoff(1, random.Random(3)) == backoff(1, random.Random(3))
    for attempts, base in [(1, 30_000), (2, 60_000), (5, 480_000), (11, MAX_BACKOFF_MS), (40, MAX_BACKOFF_MS)]:
        waits = [backoff(attempts, random.Random(seed)) for seed in range(50)]
        assert all(0.9 * base <= wait <= 1.1 * base for wait in waits)
        assert len(set(waits)) > 1


# -- two HQ processes ---------------------------------------------------------------------------


def test_two_rounds_racing_send_each_delivery_once(hq_on: Hq, db_url: str, receiver: Receiver) -> None:
    hooks = [add(hq_on, receiver.url + "/a"), add(hq_on, receiver.url + "/b")]
    t0 = now_ms()
    events = [enqueue(hq_on, t0 + i, payload={"n": i}) for i in range(10)]
    at = t0 + 100

    def run(db: Database) -> DeliveryReport:
        with httpx.Client() as http:
            return deliver_due(db, at, client=http)

    reports = race_as_hq_processes(db_url, run)
    assert len(reports) == 2
    assert sum(r.delivered for r in reports) == len(events) * len(hooks)
    sent = Counter((r.path, r.delivery_id) for r in receiver.requests)
    assert sent == Counter({(path, event_id): 1 for path in ("/a", "/b") for event_id in events})


def test_a_claim_left_by_a_dead_round_is_sent_after_its_lease(
    hq_on: Hq, receiver: Receiver, client: httpx.Client
) -> None:
    hook = add(hq_on, receiver.url)
    t0 = now_ms()
    event_id = enqueue(hq_on, t0)
    with hq_on.ctx.db.write() as conn:
        fan_out(conn, t0)
        [claim] = claim_due(conn, t0, 10)  # a round that then dies before sending
        assert (claim.event_id, claim.webhook_id, claim.lease_until) == (event_id, hook["id"], t0 + LEASE_MS)
        assert claim_due(conn, t0, 10) == []
    assert deliver(hq_on, t0 + LEASE_MS - 1, client) == DeliveryReport()
    assert deliver(hq_on, t0 + LEASE_MS, client) == DeliveryReport(delivered=1)
    assert [r.delivery_id for r in receiver.requests] == [event_id]
    assert delivery(hq_on, event_id, hook["id"])["attempts"] == 1


def test_claims_not_sent_before_the_lease_would_run_out_are_released(
    hq_on: Hq, receiver: Receiver, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = add(hq_on, receiver.url)
    t0 = now_ms()
    event_id = enqueue(hq_on, t0)
    monkeypatch.setattr(webhooks, "_send_budget_s", lambda timeout_s: 0.0)  # no time left to send
    assert deliver(hq_on, t0, client) == DeliveryReport()
    row = delivery(hq_on, event_id, hook["id"])
    assert (row["attempts"], row["next_attempt_at"]) == (0, t0)  # due again at once
    monkeypatch.undo()
    assert deliver(hq_on, t0 + 1, client) == DeliveryReport(delivered=1)
    assert [r.delivery_id for r in receiver.requests] == [event_id]


@pytest.mark.parametrize("timeout_s", [0.0, -1.0, webhooks.MAX_TIMEOUT_S + 1])
def test_a_timeout_that_leaves_no_time_in_the_lease_is_refused(
    timeout_s: float, client: httpx.Client, tmp_path: Path
) -> None:
    db = Database(str(tmp_path / "unused.db"))
    try:
        with pytest.raises(ValueError, match="timeout_s"):
            deliver_due(db, now_ms(), client=client, timeout_s=timeout_s)
    finally:
        db.close()


# -- validation ---------------------------------------------------------------------------------

BAD_URLS = [
    "ftp://example.com/hook",
    "example.com/hook",
    "http://",
    "https:///hook",
    "http://exa mple.com/hook",
    "http://example.com:99999/hook",
    "http://example.com/\nhook",
    "javascript:alert(1)",
    "https://example.com/" + "a" * 500,
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_bad_url_is_refused_as_invalid_url(url: str) -> None:
    with pytest.raises(InvalidField) as refused:
        valid_url(url)
    assert (refused.value.field, refused.value.code) == ("url", "invalid_url")


@pytest.mark.parametrize(("url", "code"), [("", "required"), (None, "required"), (42, "invalid_type")])
def test_a_missing_or_non_text_url_is_refused(url: object, code: str) -> None:
    with pytest.raises(InvalidField) as refused:
        valid_url(url)
    assert (refused.value.field, refused.value.code) == ("url", code)


def test_bad_webhook_urls_are_refused_with_field_url_and_nothing_is_stored(hq_on: Hq) -> None:
    for url in BAD_URLS:
        with pytest.raises(InvalidField) as refused, hq_on.ctx.db.write() as conn:
            add_webhook(conn, url=url, secret=None, events=[], now_ms=now_ms())
        assert refused.value.field == "url"
    assert add(hq_on, "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc")["active"]
    with hq_on.ctx.db.read() as conn:
        assert len(list_webhooks(conn, include_inactive=True)) == 1


# -- the API ------------------------------------------------------------------------------------


def refused(response: Any, status: int, code: str) -> dict[str, object]:
    """:func:`assert_error` for a TestClient's response (typed by the test client's own httpx)."""
    return assert_error(response, status, code)


@pytest.fixture
def api(hq_on: Hq) -> Iterator[TestClient]:
    """The webhook routes around this HQ's context, with the admin token."""
    app = Starlette(routes=webhooks_api.routes, exception_handlers=EXCEPTION_HANDLERS)
    app.state.hq = hq_on.ctx
    with TestClient(app, headers=ADMIN) as test_client:
        yield test_client


def test_webhook_api_adds_lists_removes_and_shows_deliveries(
    hq_on: Hq, api: TestClient, receiver: Receiver, client: httpx.Client
) -> None:
    refused(api.get("/api/v1/webhooks", headers={"Authorization": "Bearer nope"}), 401, "unauthorized")

    created = api.post("/api/v1/webhooks", json={"url": receiver.url + "/wecom", "events": [ESCALATED]})
    assert created.status_code == 201, created.text
    hook = created.json()
    assert len(hook["secret"]) >= 40 and hook["secret_last4"] == hook["secret"][-4:]
    assert (hook["url"], hook["events"], hook["active"]) == (receiver.url + "/wecom", [ESCALATED], True)
    chosen = api.post("/api/v1/webhooks", json={"url": receiver.url + "/sms", "secret": "gateway-secret-1234"})
    assert chosen.status_code == 201 and chosen.json()["secret"] == "gateway-secret-1234"

    listed = api.get("/api/v1/webhooks").json()["items"]
    assert [h["id"] for h in listed] == [hook["id"], chosen.json()["id"]]
    assert all("secret" not in h for h in listed)
    assert [h["secret_last4"] for h in listed] == [hook["secret"][-4:], "1234"]

    t0 = now_ms()
    event_id = enqueue(hq_on, t0)
    assert deliver(hq_on, t0, client) == DeliveryReport(delivered=2)
    assert all(
        r.verifies_with(hook["secret"] if r.path == "/wecom" else "gateway-secret-1234") for r in receiver.requests
    )
    [shown] = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["items"]
    assert shown["event_id"] == event_id and shown["event"] == ESCALATED
    assert (shown["status"], shown["attempts"], shown["last_error"]) == ("delivered", 1, "")
    assert shown["delivered_at"] == iso(t0) and shown["failed_at"] is None

    assert api.delete(f"/api/v1/webhooks/{hook['id']}").json() == {"id": hook["id"], "active": False}
    assert [h["id"] for h in api.get("/api/v1/webhooks").json()["items"]] == [chosen.json()["id"]]
    assert len(api.get("/api/v1/webhooks", params={"inactive": "1"}).json()["items"]) == 2
    assert len(api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["items"]) == 1  # history kept
    refused(api.delete("/api/v1/webhooks/nope"), 404, "webhook_not_found")
    refused(api.get("/api/v1/webhooks/nope/deliveries"), 404, "webhook_not_found")
    refused(api.get(f"/api/v1/webhooks/{hook['id']}/deliveries", params={"limit": "0"}), 400, "invalid_param")


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"url": "ftp://example.com/hook"}, "url", "invalid_url"),
        ({"url": "http://"}, "url", "invalid_url"),
        ({"events": []}, "url", "required"),
        ({"url": 42}, "url", "invalid_type"),
        ({"url": "https://example.com/hook", "events": "ticket.escalated"}, "events", "invalid_type"),
        ({"url": "https://example.com/hook", "events": ["ok", ""]}, "events[1]", "required"),
        ({"url": "https://example.com/hook", "events": ["no spaces"]}, "events[0]", "invalid_choice"),
        ({"url": "https://example.com/hook", "secret": ""}, "secret", "required"),
        ({"url": "https://example.com/hook", "secret": "x" * 201}, "secret", "too_long"),
        ({"url": "https://example.com/hook", "active": False}, "active", "unknown_field"),
    ],
)
def test_webhook_api_refuses_bad_bodies_naming_the_field(
    api: TestClient, body: dict[str, Any], field: str, code: str
) -> None:
    error = refused(api.post("/api/v1/webhooks", json=body), 422, code)
    assert error["field"] == field
    assert api.get("/api/v1/webhooks").json()["items"] == []
