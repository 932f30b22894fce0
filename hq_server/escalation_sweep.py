"""The escalation sweep: fires the due steps of the ladder (:mod:`hq_server.escalation`) on every
open routed ticket, each step at most once per ticket.

One sweep is one write transaction. A step is recorded in ``escalation_firings`` (primary key
ticket + step) with an insert that does nothing when the row exists, and its actions run only
when this transaction inserted it; the actions (notifications, a priority raise with its SLA
refresh and change-log entry, a webhook event) commit with the record or not at all. Restarts
change nothing, and two HQ processes sweeping at once cannot both fire a step: on SQLite the
file has one writer, on PostgreSQL writers are serialized by the change-log lock and the primary
key is a second guard. The time is passed in (``now_ms``), so tests move it forward at will.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from hq_server import dispatch, notifications, reference, ticket_store
from hq_server.assignment import ASSIGNER
from hq_server.db import Database
from hq_server.escalation import DEFAULT_LADDER, Step, TicketClock, due_steps, parse_ladder, raised
from hq_server.schema import comments, escalation_firings, escalation_steps, ticket_history, tickets
from hq_server.ticket_rules import TicketBatch, hq_edit, hq_stamp
from sync_protocol.hlc import HybridClock
from sync_protocol.tickets import OPEN_STATUSES

log = logging.getLogger("storedesk.hq.escalation")

LEAD = "lead"


def load_ladder(conn: Connection) -> list[Step]:
    query = sa.select(escalation_steps.c.step).order_by(escalation_steps.c.position)
    return [msgspec.convert(value, Step) for value in conn.execute(query).scalars()]


def replace_ladder(conn: Connection, data: object, now_ms: int) -> list[Step]:
    """Validate and store a ladder (raises :class:`~sync_protocol.errors.InvalidField`)."""
    steps = parse_ladder(data)
    store_ladder(conn, steps, now_ms)
    return steps


def store_ladder(conn: Connection, steps: Sequence[Step], now_ms: int) -> None:
    conn.execute(escalation_steps.delete())
    if steps:
        conn.execute(
            escalation_steps.insert(),
            [
                {"id": s.id, "position": i, "step": msgspec.to_builtins(s), "updated_at": now_ms}
                for i, s in enumerate(steps)
            ],
        )


def put_default_ladder(conn: Connection, now_ms: int) -> None:
    store_ladder(conn, DEFAULT_LADDER, now_ms)


@dataclass
class SweepResult:
    """What one sweep did: ``(ticket id, step id)`` of each step fired."""

    fired: list[tuple[str, str]] = field(default_factory=list)


def sweep(db: Database, clock: HybridClock, now_ms: int, *, only: Collection[str] | None = None) -> SweepResult:
    """Fire every due step once (of the tickets ``only``, when given); see the module docstring."""
    result = SweepResult()
    with db.write() as conn:
        ladder = load_ladder(conn)
        if not ladder:
            return result
        candidates = _open_tickets(conn)
        if only is not None:
            candidates = {i: c for i, c in candidates.items() if i in only}
        fired = _fired(conn)
        edits: dict[str, dict[str, str]] = {}
        for ticket_id, (department, priority, ticket_clock) in candidates.items():
            for step in due_steps(ladder, ticket_clock, now_ms, fired.get(ticket_id, ())):
                if not _record(conn, ticket_id, step.id, now_ms):
                    continue  # another sweep fired it first
                result.fired.append((ticket_id, step.id))
                priority = _act(conn, step, ticket_id, department, priority, edits, now_ms)
        if edits:
            _apply_edits(conn, clock, edits, now_ms)
    for ticket_id, step_id in result.fired:
        log.info("escalation %s fired for ticket %s", step_id, ticket_id)
    return result


def _act(
    conn: Connection,
    step: Step,
    ticket_id: str,
    department: str,
    priority: str,
    edits: dict[str, dict[str, str]],
    now_ms: int,
) -> str:
    """Run a step's actions; returns the ticket's priority after them."""
    params = {"step": step.id, "step_name": step.name}
    for action in step.actions:
        if action == "remind_lead":
            notifications.notify(
                conn,
                role=LEAD,
                department=department,
                ticket_id=ticket_id,
                kind="escalation",
                params=params,
                now_ms=now_ms,
            )
        elif action == "notify_role":
            notifications.notify(
                conn,
                role=step.role,
                department="",
                ticket_id=ticket_id,
                kind="escalation",
                params=params,
                now_ms=now_ms,
            )
        elif action == "raise_priority":
            priority = raised(priority)
            edits.setdefault(ticket_id, {})["priority"] = priority
        elif action == "reassign":
            edits.setdefault(ticket_id, {})["assignee"] = ""
        elif action == "webhook":
            payload = {"ticket_id": ticket_id, "department": department, **params}
            notifications.enqueue_webhook(conn, "ticket.escalated", payload, now_ms)
    return priority


def _apply_edits(conn: Connection, clock: HybridClock, edits: dict[str, dict[str, str]], now_ms: int) -> None:
    batch = TicketBatch(
        tickets=ticket_store.load_tickets(conn, edits),
        type_codes=reference.ticket_type_codes(conn),
        department_codes=reference.department_codes(conn),
    )
    for ticket_id, changes in edits.items():
        if ticket_id in batch.tickets:
            hq_edit(batch, ticket_id, changes, hq_stamp(clock, batch.tickets[ticket_id]))
    dispatch.decide(conn, clock, batch, now_ms, touched=list(edits))
    ticket_store.flush(conn, clock, batch)


def _open_tickets(conn: Connection) -> dict[str, tuple[str, str, TicketClock]]:
    """Open routed tickets: department, priority and what the ladder looks at."""
    t, h, c = tickets.c, ticket_history.c, comments.c
    # HQ's own assignment events are not the group's progress (a ticket passed from agent to
    # agent untouched must still escalate).
    last_status = sa.select(sa.func.max(h.at)).where(h.ticket_id == t.id, h.actor != ASSIGNER).scalar_subquery()
    last_reply = sa.select(sa.func.max(c.created_at)).where(c.ticket_id == t.id, c.source == "hq").scalar_subquery()
    query = sa.select(
        t.id,
        t.department,
        t.priority,
        t.routed_at,
        last_status,
        last_reply,
        t.first_response_due,
        t.resolution_due,
        t.first_responded_at,
        t.sla_paused,
    ).where(t.status.in_(sorted(OPEN_STATUSES)), t.routed_at.is_not(None))
    found: dict[str, tuple[str, str, TicketClock]] = {}
    for row in conn.execute(query):
        progress = max(int(v) for v in (row[3], row[4], row[5]) if v is not None)
        found[str(row[0])] = (
            str(row[1]),
            str(row[2]),
            TicketClock(
                last_progress_ms=progress,
                first_response_due=row[6],
                resolution_due=row[7],
                responded=row[8] is not None,
                paused=bool(row[9]),
            ),
        )
    return found


def _fired(conn: Connection) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for ticket_id, step_id in conn.execute(sa.select(escalation_firings.c.ticket_id, escalation_firings.c.step_id)):
        found.setdefault(str(ticket_id), set()).add(str(step_id))
    return found


def _record(conn: Connection, ticket_id: str, step_id: str, now_ms: int) -> bool:
    """Record that ``step_id`` fired for ``ticket_id``; False when it already had."""
    insert = postgres_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(escalation_firings).values(ticket_id=ticket_id, step_id=step_id, fired_at=now_ms)
    # RETURNING rather than rowcount: psycopg reports no usable rowcount for this statement.
    inserted = conn.execute(stmt.on_conflict_do_nothing().returning(escalation_firings.c.step_id)).first()
    return inserted is not None
