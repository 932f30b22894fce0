"""Webhooks: HQ posts each event of its outbox (``webhook_events``, written by
:func:`hq_server.notifications.enqueue_webhook` in the transaction that caused the event) to every
active webhook that wants it, signed, retried with exponential backoff.

    event ──fan_out──> one ``webhook_deliveries`` row per interested active webhook
    delivery ──deliver_due──> POST; 2xx: delivered; else retried at now + backoff(attempts),
                              given up (``failed_at``) after MAX_ATTEMPTS

``webhook_events.delivered_at`` means "fanned out": set once the event's delivery rows exist (also
when no webhook wants it). A webhook added later does not receive older events.

A delivery is a POST of ``{"id", "event", "created_at", "data"}`` (JSON) with the headers
``X-StoreDesk-Event``, ``X-StoreDesk-Delivery`` (the event id, the same on every retry and for
every webhook: receivers dedupe on it), ``X-StoreDesk-Timestamp`` (ms) and
``X-StoreDesk-Signature`` (:func:`sign`). Delivery is at least once: a process that dies between a
POST and recording its outcome sends it again later.

No HTTP is ever sent inside a database transaction. :func:`deliver_due` first claims a batch in a
write transaction by pushing the deliveries' ``next_attempt_at`` forward by a lease; another HQ
process only picks what is due, so it cannot send what this one claimed. Each outcome is then
recorded in a small write transaction of its own, and only while the claim still holds (its
``next_attempt_at`` is still this claim's lease). Sending stops early enough for every claimed
POST to end inside the lease; what is left is released for the next round.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server.db import Database
from hq_server.schema import webhook_deliveries, webhook_events, webhooks
from hq_server.staff_views import iso
from sync_protocol.errors import InvalidField
from sync_protocol.ops import new_id

log = logging.getLogger("storedesk.hq.webhooks")

MAX_URL_LENGTH = 500
MAX_SECRET_LENGTH = 200
MAX_EVENT_NAME_LENGTH = 40
MAX_EVENTS = 50
#: An event name: letters, digits and ``. _ : -`` (``ticket.escalated``).
EVENT_NAME = re.compile(r"[A-Za-z0-9_.:-]+")

#: Attempts before a delivery is given up.
MAX_ATTEMPTS = 12
FIRST_BACKOFF_MS = 30_000
MAX_BACKOFF_MS = 6 * 3600 * 1000
#: Each wait is moved by up to this fraction either way, so failed deliveries do not retry in step.
JITTER = 0.10
#: How long a claimed batch belongs to the process that claimed it.
LEASE_MS = 120_000
#: Timeout of each phase (connect, write, read) of one POST, in seconds.
TIMEOUT_S = 10.0
#: The longest ``timeout_s`` that still leaves time to send within a lease.
MAX_TIMEOUT_S = 30.0
#: Kept free at the end of a lease so the last outcomes are recorded before it runs out.
LEASE_MARGIN_S = 10.0
MAX_ERROR_LENGTH = 200

EVENT_HEADER = "X-StoreDesk-Event"
DELIVERY_HEADER = "X-StoreDesk-Delivery"
TIMESTAMP_HEADER = "X-StoreDesk-Timestamp"
SIGNATURE_HEADER = "X-StoreDesk-Signature"

_json_encoder = msgspec.json.Encoder()
_default_rng = random.Random()


# -- webhooks ------------------------------------------------------------------------------------


def add_webhook(conn: Connection, *, url: str, secret: str | None, events: list[str], now_ms: int) -> dict[str, Any]:
    """Add an active webhook; returns it with its secret (a random one when ``secret`` is None).

    ``events``: the event names it wants (empty: every event). Raises
    :class:`~sync_protocol.errors.InvalidField` for a bad ``url``, ``secret`` or ``events``.
    """
    hook = {
        "id": new_id(),
        "url": valid_url(url),
        "secret": secrets.token_urlsafe(32) if secret is None else valid_secret(secret),
        "events": valid_events(events),
        "active": True,
        "created_at": now_ms,
    }
    conn.execute(webhooks.insert().values(**hook))
    return hook


def list_webhooks(conn: Connection, *, include_inactive: bool = False) -> list[dict[str, Any]]:
    """The webhooks (secrets included), oldest first; removed ones only with ``include_inactive``."""
    query = sa.select(webhooks).order_by(webhooks.c.created_at, webhooks.c.id)
    if not include_inactive:
        query = query.where(webhooks.c.active == sa.true())
    return [_webhook(row) for row in conn.execute(query).mappings()]


def get_webhook(conn: Connection, webhook_id: str) -> dict[str, Any] | None:
    """One webhook, active or removed; None when unknown."""
    row = conn.execute(sa.select(webhooks).where(webhooks.c.id == webhook_id)).mappings().first()
    return None if row is None else _webhook(row)


def remove_webhook(conn: Connection, webhook_id: str) -> bool:
    """Deactivate a webhook (its deliveries stay as history; pending ones are no longer sent).

    False when there is no such webhook; removing a removed webhook is True.
    """
    done = conn.execute(webhooks.update().where(webhooks.c.id == webhook_id).values(active=False))
    return done.rowcount == 1


def list_deliveries(conn: Connection, webhook_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """A webhook's deliveries, newest event first, with their event's name and time."""
    d, e = webhook_deliveries.c, webhook_events.c
    query = (
        sa.select(
            d.event_id,
            e.event,
            e.created_at,
            d.attempts,
            d.next_attempt_at,
            d.delivered_at,
            d.failed_at,
            d.last_error,
        )
        .join_from(webhook_deliveries, webhook_events, e.id == d.event_id)
        .where(d.webhook_id == webhook_id)
        .order_by(e.created_at.desc(), d.event_id.desc())
        .limit(limit)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def valid_url(url: object) -> str:
    """``url`` when it is an http(s) URL with a host, at most :data:`MAX_URL_LENGTH` characters."""
    if url is None or url == "":
        raise InvalidField("url", "url is required", code="required")
    if not isinstance(url, str):
        raise InvalidField("url", "url must be a string", code="invalid_type")
    refused = InvalidField("url", f"not an http(s) URL with a host: {url[:80]!r}", code="invalid_url")
    if len(url) > MAX_URL_LENGTH or any(c.isspace() or not c.isprintable() for c in url):
        raise refused
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port out of range
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        raise refused from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise refused
    return url


def valid_secret(secret: object) -> str:
    """A secret given by the caller: a non-empty string of at most :data:`MAX_SECRET_LENGTH`."""
    if not isinstance(secret, str):
        raise InvalidField("secret", "secret must be a string", code="invalid_type")
    if not secret:
        raise InvalidField("secret", "secret is required", code="required")
    if len(secret) > MAX_SECRET_LENGTH:
        raise InvalidField("secret", "secret is too long", code="too_long")
    return secret


def valid_events(events: object) -> list[str]:
    """The event names a webhook wants, without repeats (empty: every event)."""
    if not isinstance(events, list):
        raise InvalidField("events", "events must be a list of event names", code="invalid_type")
    if len(events) > MAX_EVENTS:
        raise InvalidField("events", "too many events", code="too_long")
    names: list[str] = []
    for i, name in enumerate(events):
        field = f"events[{i}]"
        if not isinstance(name, str):
            raise InvalidField(field, "an event name must be a string", code="invalid_type")
        if not name:
            raise InvalidField(field, "the event name is empty", code="required")
        if len(name) > MAX_EVENT_NAME_LENGTH:
            raise InvalidField(field, "the event name is too long", code="too_long")
        if not EVENT_NAME.fullmatch(name):
            raise InvalidField(field, f"not an event name: {name!r}", code="invalid_choice")
        if name not in names:
            names.append(name)
    return names


def _webhook(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "url": row["url"],
        "secret": row["secret"],
        "events": list(row["events"]),
        "active": bool(row["active"]),
        "created_at": row["created_at"],
    }


# -- fan-out -------------------------------------------------------------------------------------


def fan_out(conn: Connection, now_ms: int) -> int:
    """Create the deliveries of every event not fanned out yet and mark those events fanned out.

    One delivery per active webhook whose ``events`` is empty or names the event, due at
    ``now_ms``. Returns the number of deliveries created. Call in a write transaction.
    """
    e = webhook_events.c
    pending = list(conn.execute(sa.select(e.id, e.event).where(e.delivered_at.is_(None)).order_by(e.created_at, e.id)))
    if not pending:
        return 0
    hooks = [(str(row[0]), list(row[1])) for row in conn.execute(_active_webhooks())]
    rows = [
        {"event_id": event_id, "webhook_id": hook_id, "attempts": 0, "next_attempt_at": now_ms}
        for event_id, event in pending
        for hook_id, wanted in hooks
        if wants(wanted, event)
    ]
    if rows:
        conn.execute(webhook_deliveries.insert(), rows)
    event_ids = [str(row[0]) for row in pending]
    for start in range(0, len(event_ids), 500):
        chunk = event_ids[start : start + 500]
        conn.execute(webhook_events.update().where(e.id.in_(chunk)).values(delivered_at=now_ms))
    return len(rows)


def wants(events: Sequence[str], event: str) -> bool:
    """Whether a webhook subscribed to ``events`` (empty: all) wants ``event``."""
    return not events or event in events


def _active_webhooks() -> sa.Select[Any]:
    return sa.select(webhooks.c.id, webhooks.c.events).where(webhooks.c.active == sa.true()).order_by(webhooks.c.id)


# -- signing -------------------------------------------------------------------------------------


def sign(secret: str, timestamp_ms: int, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``"<timestamp_ms>." + body`` keyed with ``secret``."""
    message = f"{timestamp_ms}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp_ms: int, body: bytes, signature: str) -> bool:
    """Whether ``signature`` is :func:`sign` of this timestamp and body (constant-time comparison).

    Receivers should also refuse timestamps far from their own clock (replays).
    """
    expected = sign(secret, timestamp_ms, body)
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def event_body(event_id: str, event: str, created_at_ms: int, payload: Any) -> bytes:
    """The JSON body posted for an event (the same bytes on every attempt)."""
    return _json_encoder.encode({"id": event_id, "event": event, "created_at": iso(created_at_ms), "data": payload})


def signed_headers(event_id: str, event: str, secret: str, timestamp_ms: int, body: bytes) -> dict[str, str]:
    """The headers of one POST of ``body``."""
    return {
        "Content-Type": "application/json",
        EVENT_HEADER: event,
        DELIVERY_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp_ms),
        SIGNATURE_HEADER: sign(secret, timestamp_ms, body),
    }


# -- delivery ------------------------------------------------------------------------------------


def backoff(attempts: int, rng: random.Random | None = None) -> int:
    """Milliseconds to wait after ``attempts`` failed attempts: 30 s doubling per attempt, capped
    at 6 h, then moved by up to ±10 % (by ``rng``; a seeded one gives the same waits every run)."""
    doublings = min(max(attempts - 1, 0), 30)
    base = min(FIRST_BACKOFF_MS << doublings, MAX_BACKOFF_MS)
    jitter = (rng or _default_rng).uniform(-JITTER, JITTER)
    return round(base * (1 + jitter))


Outcome = Literal["delivered", "retried", "failed"]


@dataclass
class DeliveryReport:
    """What one :func:`deliver_due` round did: deliveries delivered, to be retried, given up."""

    delivered: int = 0
    retried: int = 0
    failed: int = 0

    def count(self, outcome: Outcome) -> None:
        if outcome == "delivered":
            self.delivered += 1
        elif outcome == "retried":
            self.retried += 1
        else:
            self.failed += 1


@dataclass(frozen=True)
class Claim:
    """A delivery this process claimed until ``lease_until``, with what it takes to send it."""

    event_id: str
    webhook_id: str
    url: str
    secret: str
    event: str
    payload: Any
    created_at: int
    attempts: int
    due_at: int
    lease_until: int


def deliver_due(
    db: Database,
    now_ms: int,
    *,
    client: httpx.Client,
    limit: int = 100,
    rng: random.Random | None = None,
    timeout_s: float = TIMEOUT_S,
) -> DeliveryReport:
    """Fan out new events, then send up to ``limit`` due deliveries, oldest event first.

    Each POST runs outside any transaction, with ``timeout_s`` per phase; each outcome is
    recorded in its own write transaction, at ``now_ms``. See the module docstring.
    """
    if not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise ValueError(f"timeout_s must be in (0, {MAX_TIMEOUT_S}]")
    report = DeliveryReport()
    with db.write() as conn:
        fan_out(conn, now_ms)
    with db.write() as conn:
        claims = claim_due(conn, now_ms, limit)
    started = time.monotonic()
    budget_s = _send_budget_s(timeout_s)
    sent = 0
    try:
        for claim in claims:
            if time.monotonic() - started >= budget_s:
                break
            error = post(client, claim, now_ms, timeout_s)
            sent += 1
            with db.write() as conn:
                outcome = record_outcome(conn, claim, error, now_ms, rng)
            if outcome is not None:
                report.count(outcome)
    finally:
        if sent < len(claims):
            with db.write() as conn:
                release(conn, claims[sent:])
    return report


def _send_budget_s(timeout_s: float) -> float:
    """Seconds after the claim in which a POST may still start: one POST (at most three timeouts:
    connect, write, read) and the recording of its outcome must end inside the lease."""
    return LEASE_MS / 1000 - LEASE_MARGIN_S - 3 * timeout_s


def claim_due(conn: Connection, now_ms: int, limit: int) -> list[Claim]:
    """Claim up to ``limit`` due deliveries of active webhooks until ``now_ms + LEASE_MS``.

    A claim moves ``next_attempt_at`` to the lease's end, only if nobody moved it meanwhile.
    Call in a write transaction.
    """
    d, w, e = webhook_deliveries.c, webhooks.c, webhook_events.c
    query = (
        sa.select(
            d.event_id,
            d.webhook_id,
            w.url,
            w.secret,
            e.event,
            e.payload,
            e.created_at,
            d.attempts,
            d.next_attempt_at,
        )
        .join_from(webhook_deliveries, webhooks, w.id == d.webhook_id)
        .join(webhook_events, e.id == d.event_id)
        .where(
            d.delivered_at.is_(None),
            d.failed_at.is_(None),
            d.next_attempt_at <= now_ms,
            w.active == sa.true(),
        )
        .order_by(e.created_at, d.event_id, d.webhook_id)
        .limit(limit)
    )
    lease_until = now_ms + LEASE_MS
    claims: list[Claim] = []
    for row in conn.execute(query).mappings().all():
        claim = Claim(
            event_id=row["event_id"],
            webhook_id=row["webhook_id"],
            url=row["url"],
            secret=row["secret"],
            event=row["event"],
            payload=row["payload"],
            created_at=row["created_at"],
            attempts=row["attempts"],
            due_at=row["next_attempt_at"],
            lease_until=lease_until,
        )
        if _move(conn, claim.event_id, claim.webhook_id, claim.due_at, next_attempt_at=lease_until):
            claims.append(claim)
    return claims


def release(conn: Connection, claims: Sequence[Claim]) -> None:
    """Give claims back unsent: due again at their former time."""
    for claim in claims:
        _move(conn, claim.event_id, claim.webhook_id, claim.lease_until, next_attempt_at=claim.due_at)


def post(client: httpx.Client, claim: Claim, now_ms: int, timeout_s: float = TIMEOUT_S) -> str | None:
    """POST a claimed delivery, stamped ``now_ms``; None when the receiver answered 2xx, else a
    short text of what went wrong (``HTTP 500``, ``timeout``, ``connection error: ...``)."""
    body = event_body(claim.event_id, claim.event, claim.created_at, claim.payload)
    headers = signed_headers(claim.event_id, claim.event, claim.secret, now_ms, body)
    try:
        with client.stream("POST", claim.url, content=body, headers=headers, timeout=timeout_s) as response:
            status = response.status_code  # the answer's body is never read
    except httpx.TimeoutException:
        return "timeout"
    except httpx.ConnectError as exc:
        return _short(f"connection error: {exc}")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return _short(f"{type(exc).__name__}: {exc}")
    if 200 <= status < 300:
        return None
    return f"HTTP {status}"


def record_outcome(
    conn: Connection, claim: Claim, error: str | None, now_ms: int, rng: random.Random | None = None
) -> Outcome | None:
    """Record one POST: ``delivered``, ``retried`` (due again after :func:`backoff`) or ``failed``
    (the last attempt). None when the claim no longer holds (nothing recorded). Call in a write
    transaction."""
    attempts = claim.attempts + 1
    outcome: Outcome
    values: dict[str, Any] = {"attempts": attempts, "last_error": error or ""}
    if error is None:
        outcome, values["delivered_at"] = "delivered", now_ms
    elif attempts >= MAX_ATTEMPTS:
        outcome, values["failed_at"] = "failed", now_ms
    else:
        outcome, values["next_attempt_at"] = "retried", now_ms + backoff(attempts, rng)
    if not _move(conn, claim.event_id, claim.webhook_id, claim.lease_until, **values):
        log.warning("webhook %s: claim on event %s lost before its outcome", claim.webhook_id, claim.event_id)
        return None
    if error is not None:
        log.warning("webhook %s, event %s, attempt %d: %s", claim.webhook_id, claim.event_id, attempts, error)
    return outcome


def _move(conn: Connection, event_id: str, webhook_id: str, expected_next_attempt_at: int, **values: Any) -> bool:
    """Update one pending delivery if its ``next_attempt_at`` is still the expected one."""
    d = webhook_deliveries.c
    done = conn.execute(
        webhook_deliveries.update()
        .where(
            d.event_id == event_id,
            d.webhook_id == webhook_id,
            d.next_attempt_at == expected_next_attempt_at,
            d.delivered_at.is_(None),
            d.failed_at.is_(None),
        )
        .values(**values)
    )
    return done.rowcount == 1


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"
