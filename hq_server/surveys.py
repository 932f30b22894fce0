"""Satisfaction surveys: one per resolved ticket, answered once by the customer through a signed
link (no login), with a score of 1 to 5 and a comment.

A survey is opened in the write transaction that resolves its ticket (:func:`open_for_resolved`):
a ``surveys`` row tied to the ticket, its department and its agent (``assignee``), and a
``survey.created`` webhook event carrying the link, which the chain's SMS/WeCom gateway sends to
the customer. The ``UNIQUE`` ticket id and an insert that does nothing on conflict keep it at one
survey per ticket, also when a ticket is reopened and resolved again.

The link's token is the capability: ``urlsafe_b64(survey_id "." expires_at "." signature)``,
where the signature is an HMAC-SHA256 (first 16 bytes) with the secret migration 7 stored in
``meta``. Nothing about a token is stored; a token made with another secret, altered in any
character, or past its expiry is refused (:func:`read_token`). The answer is an update guarded
by ``answered_at IS NULL``, so a survey takes one answer even when two arrive at once.

No HTTP here (:mod:`hq_server.surveys_api` serves the page); times are passed in as ``now_ms``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from hq_server.notifications import enqueue_webhook
from hq_server.schema import meta, surveys, tickets
from hq_server.staff_views import iso
from hq_server.ticket_rules import TicketBatch
from sync_protocol.errors import InvalidField
from sync_protocol.ops import new_id
from sync_protocol.tickets import TicketState, validate_text

#: ``meta`` key of the link-signing secret; the same as ``hq_server.migrations.SURVEY_SECRET_KEY``
#: (not imported: migrations imports the ticket-writing modules that will call this one).
SURVEY_SECRET_KEY = "survey_secret"
#: How long a survey link can be answered.
SURVEY_TTL_MS = 30 * 24 * 3600 * 1000
#: The webhook event that carries a new survey's link to the customer.
SURVEY_CREATED = "survey.created"
#: Scores a customer can give: 1 (very dissatisfied) to 5 (very satisfied).
SCORES: tuple[int, ...] = (1, 2, 3, 4, 5)
MAX_SURVEY_COMMENT_LENGTH = 500
#: Bytes of the HMAC-SHA256 kept in a token.
SIGNATURE_BYTES = 16
#: Longer tokens are refused before any decoding (a real one is about 90 characters).
MAX_TOKEN_LENGTH = 200
_RESOLVED = "resolved"
#: Domain separation: a survey signature can never be mistaken for another use of the secret.
_SIGNING_CONTEXT = b"storedesk-survey-v1."

# Codes of SurveyError.
INVALID_LINK = "invalid_survey_link"
EXPIRED = "survey_expired"
ALREADY_ANSWERED = "survey_already_answered"


class SurveyError(Exception):
    """A survey link that cannot be used: ``invalid_survey_link`` (malformed, tampered, or no such
    survey), ``survey_expired`` or ``survey_already_answered``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Survey:
    """A survey with its ticket's number, as the page shows it."""

    id: str
    ticket_id: str
    ticket_number: str
    department: str
    assignee: str
    created_at: int
    expires_at: int
    answered_at: int | None
    score: int | None
    comment: str


# -- tokens -------------------------------------------------------------------------------------


def _signature(secret: str, survey_id: bytes, expires_at: bytes) -> bytes:
    message = _SIGNING_CONTEXT + survey_id + b"." + expires_at
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()[:SIGNATURE_BYTES]


def make_token(secret: str, survey_id: str, expires_at: int) -> str:
    """The link token of a survey: urlsafe base64 (no padding) of ``id.expires_at.signature``."""
    sid, expiry = survey_id.encode(), str(expires_at).encode()
    raw = sid + b"." + expiry + b"." + _signature(secret, sid, expiry)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def read_token(secret: str, token: str, now_ms: int) -> str:
    """The survey id a token was made for; :class:`SurveyError` ``invalid_survey_link`` when it is
    malformed or not signed with ``secret``, ``survey_expired`` when ``now_ms`` is past its expiry."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise SurveyError(INVALID_LINK)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SurveyError(INVALID_LINK) from exc
    # Only the canonical spelling is accepted: base64 ignores the spare bits of the last
    # character, so without this check two tokens would read the same.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
        raise SurveyError(INVALID_LINK)
    parts = raw.split(b".", 2)
    if len(parts) != 3:
        raise SurveyError(INVALID_LINK)
    sid, expiry, signature = parts
    if not hmac.compare_digest(_signature(secret, sid, expiry), signature):
        raise SurveyError(INVALID_LINK)
    # Signed by us, so well formed; checked anyway rather than trusted.
    if not sid or not expiry.isdigit():
        raise SurveyError(INVALID_LINK)
    try:
        survey_id = sid.decode("ascii")
    except UnicodeDecodeError as exc:
        raise SurveyError(INVALID_LINK) from exc
    if now_ms >= int(expiry):
        raise SurveyError(EXPIRED)
    return survey_id


def secret_of(conn: Connection) -> str:
    """The secret that signs survey links (stored by migration 7)."""
    value = conn.execute(sa.select(meta.c.value).where(meta.c.key == SURVEY_SECRET_KEY)).scalar()
    if not value:
        raise LookupError(f"meta has no {SURVEY_SECRET_KEY!r}: the database predates migration 7")
    return str(value)


def survey_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/survey/{token}"


# -- opening ------------------------------------------------------------------------------------


def open_for_resolved(conn: Connection, batch: TicketBatch, now_ms: int, *, base_url: str) -> list[str]:
    """Open a survey for each ticket this batch resolved: its status is now ``resolved`` and one of
    the batch's history entries goes to ``resolved``. Tickets that already have a survey (a reopened
    ticket resolved again) are skipped. Returns the ids of the surveys opened.

    Call it in the write transaction that stores the batch, after the tickets are flushed (the
    survey row refers to its ticket).
    """
    resolved_now = dict.fromkeys(entry.ticket_id for entry in batch.history if entry.to_status == _RESOLVED)
    due = [
        ticket
        for ticket_id in resolved_now
        if (ticket := batch.tickets.get(ticket_id)) is not None and ticket.status == _RESOLVED
    ]
    if not due:
        return []
    secret = secret_of(conn)
    opened: list[str] = []
    for ticket in due:
        survey_id = open_survey(conn, ticket, now_ms, base_url=base_url, secret=secret)
        if survey_id is not None:
            opened.append(survey_id)
    return opened


def open_survey(
    conn: Connection, ticket: TicketState, now_ms: int, *, base_url: str, secret: str | None = None
) -> str | None:
    """Open the survey of ``ticket`` and queue its ``survey.created`` event; None (and no event)
    when the ticket already has one."""
    survey_id = new_id()
    expires_at = now_ms + SURVEY_TTL_MS
    insert = postgres_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(surveys).values(
        id=survey_id,
        ticket_id=ticket.id,
        department=ticket.department,
        assignee=ticket.assignee,
        created_at=now_ms,
        expires_at=expires_at,
    )
    # RETURNING rather than rowcount: psycopg reports no usable rowcount for this statement.
    inserted = conn.execute(stmt.on_conflict_do_nothing(index_elements=["ticket_id"]).returning(surveys.c.id)).first()
    if inserted is None:
        return None
    token = make_token(secret if secret is not None else secret_of(conn), survey_id, expires_at)
    payload = {
        "ticket_id": ticket.id,
        "ticket_number": ticket.number,
        "customer_phone": ticket.customer_phone,
        "url": survey_url(base_url, token),
        "survey_id": survey_id,
        "expires_at": iso(expires_at),
    }
    enqueue_webhook(conn, SURVEY_CREATED, payload, now_ms)
    return survey_id


# -- reading and answering ----------------------------------------------------------------------


def load_survey(conn: Connection, survey_id: str) -> Survey | None:
    """A survey with its ticket's number, or None."""
    s = surveys.c
    query = (
        sa.select(
            s.id,
            s.ticket_id,
            tickets.c.number,
            s.department,
            s.assignee,
            s.created_at,
            s.expires_at,
            s.answered_at,
            s.score,
            s.comment,
        )
        .select_from(surveys.join(tickets, tickets.c.id == s.ticket_id))
        .where(s.id == survey_id)
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    return Survey(
        id=str(row[0]),
        ticket_id=str(row[1]),
        ticket_number=str(row[2]),
        department=str(row[3]),
        assignee=str(row[4]),
        created_at=int(row[5]),
        expires_at=int(row[6]),
        answered_at=None if row[7] is None else int(row[7]),
        score=None if row[8] is None else int(row[8]),
        comment=str(row[9]),
    )


def validate_answer(score: object, comment: object) -> tuple[int, str]:
    """A score of 1..5 (an int; not a bool) and a comment of at most 500 characters ("" if None);
    :class:`InvalidField` naming ``score`` or ``comment`` otherwise."""
    if score is None or score == "":
        raise InvalidField("score", "score is required", code="required")
    if isinstance(score, bool) or not isinstance(score, int) or score not in SCORES:
        raise InvalidField("score", "score must be a whole number from 1 to 5", code="invalid_choice")
    text = validate_text("comment", "" if comment is None else comment)
    if len(text) > MAX_SURVEY_COMMENT_LENGTH:
        raise InvalidField(
            "comment",
            f"comment is longer than {MAX_SURVEY_COMMENT_LENGTH} characters",
            code="too_long",
            limit=MAX_SURVEY_COMMENT_LENGTH,
        )
    return score, text


def answer(conn: Connection, survey_id: str, *, score: object, comment: object, now_ms: int) -> None:
    """Store the customer's answer. :class:`SurveyError` when there is no such survey, it was
    answered already (the first answer stands) or it expired, checked in that order and before the
    values; then :class:`InvalidField` for a bad score or comment."""
    s = surveys.c
    row = conn.execute(sa.select(s.expires_at, s.answered_at).where(s.id == survey_id)).first()
    if row is None:
        raise SurveyError(INVALID_LINK)
    if row[1] is not None:
        raise SurveyError(ALREADY_ANSWERED)
    if now_ms >= int(row[0]):
        raise SurveyError(EXPIRED)
    valid_score, valid_comment = validate_answer(score, comment)
    done = conn.execute(
        surveys.update()
        .where(s.id == survey_id, s.answered_at.is_(None))
        .values(answered_at=now_ms, score=valid_score, comment=valid_comment)
    )
    if done.rowcount != 1:
        raise SurveyError(ALREADY_ANSWERED)  # another answer won the race


# -- results ------------------------------------------------------------------------------------


class _Tally:
    def __init__(self) -> None:
        self.sent = 0
        self.counts = dict.fromkeys(SCORES, 0)

    def as_dict(self) -> dict[str, Any]:
        answered = sum(self.counts.values())
        total = sum(score * n for score, n in self.counts.items())
        return {
            "sent": self.sent,
            "count": answered,
            "average": round(total / answered, 2) if answered else None,
            "distribution": {str(score): n for score, n in self.counts.items()},
        }


def results(
    conn: Connection, *, department: str | None = None, scope: sa.ColumnElement[bool] | None = None
) -> dict[str, Any]:
    """Answered surveys (optionally of one department): ``count``, ``average`` score (None when
        none), ``distribution`` (``"1"``..``"5"`` -> answers) and ``sent`` (surveys opened), overall,
        per department and per agent (``assignee``; ``""`` for tickets resolved without one). ``scope``:
    a condition on ``surveys`` keeping those the caller may see.

        ``{"department": ..., "sent", "count", "average", "distribution", "departments": [{"department",
        ...}], "agents": [{"assignee", ...}]}``, departments and agents sorted by code.
    """
    s = surveys.c
    query = sa.select(s.department, s.assignee, s.score, sa.func.count()).group_by(s.department, s.assignee, s.score)
    if department is not None:
        query = query.where(s.department == department)
    if scope is not None:
        query = query.where(scope)
    overall = _Tally()
    by_department: dict[str, _Tally] = {}
    by_agent: dict[str, _Tally] = {}
    for dept, assignee, score, n in conn.execute(query):
        for tally in (overall, by_department.setdefault(dept, _Tally()), by_agent.setdefault(assignee, _Tally())):
            tally.sent += int(n)
            if score is not None and int(score) in tally.counts:
                tally.counts[int(score)] += int(n)
    return {
        "department": department,
        **overall.as_dict(),
        "departments": [{"department": code, **by_department[code].as_dict()} for code in sorted(by_department)],
        "agents": [{"assignee": agent, **by_agent[agent].as_dict()} for agent in sorted(by_agent)],
    }
