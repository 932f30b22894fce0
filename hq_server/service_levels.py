"""Service levels at HQ: SLA policies and business calendars as stored, and the SLA fields of tickets.

Policies are kept per ticket type and priority, ``"*"`` standing for any; the most specific one
applies ((type, priority), then (type, *), (*, priority), (*, *)). Calendars are kept per
department, ``"*"`` being the default. The SLA itself is worked out by :func:`hq_server.sla.sla_state`
from the ticket's status history with the times the events happened, so a ticket a store made
offline hours before it synced is counted from its creation, and refreshing a ticket after a
policy or calendar change recalculates it. :func:`refresh` writes the result into the tickets of a
batch (due times, pause, first response) before the batch is flushed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import ticket_store
from hq_server.business_hours import Calendar, parse_calendar
from hq_server.schema import department_calendars, sla_policies, ticket_history, tickets
from hq_server.sla import SlaPolicy, StatusEvent, parse_policy, sla_state
from hq_server.ticket_rules import TicketBatch
from sync_protocol.hlc import HybridClock
from sync_protocol.tickets import OPEN_STATUSES, HistoryEntry, TicketState

ANY = "*"
#: The calendar of a department that has none of its own, and of the default when none is stored.
OFFICE_HOURS = Calendar(
    tz="Asia/Shanghai",
    weekly={day: [("09:00", "18:00")] for day in ("mon", "tue", "wed", "thu", "fri")},
)
#: Customer service answers customers on shop days too.
SHOP_HOURS = Calendar(
    tz="Asia/Shanghai",
    weekly={day: [("09:00", "21:00")] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
)
#: Default targets (business minutes) by priority, for any ticket type.
DEFAULT_POLICIES: dict[str, SlaPolicy] = {
    "urgent": SlaPolicy(first_response_min=30, resolution_min=4 * 60),
    "high": SlaPolicy(first_response_min=60, resolution_min=8 * 60),
    "normal": SlaPolicy(first_response_min=4 * 60, resolution_min=24 * 60),
    "low": SlaPolicy(first_response_min=8 * 60, resolution_min=48 * 60),
}


def put_defaults(conn: Connection, now_ms: int) -> None:
    """Seed the default policies and calendars (a new database, or the migration that adds them)."""
    for priority, policy in DEFAULT_POLICIES.items():
        put_policy(conn, ANY, priority, policy, now_ms)
    put_calendar(conn, ANY, OFFICE_HOURS, now_ms)
    put_calendar(conn, "cs", SHOP_HOURS, now_ms)


def put_policy(conn: Connection, ticket_type: str, priority: str, policy: SlaPolicy, now_ms: int) -> None:
    key = (sla_policies.c.ticket_type == ticket_type) & (sla_policies.c.priority == priority)
    conn.execute(sla_policies.delete().where(key))
    conn.execute(
        sla_policies.insert().values(
            ticket_type=ticket_type, priority=priority, policy=msgspec.to_builtins(policy), updated_at=now_ms
        )
    )


def put_calendar(conn: Connection, department: str, calendar: Calendar, now_ms: int) -> None:
    conn.execute(department_calendars.delete().where(department_calendars.c.department == department))
    conn.execute(
        department_calendars.insert().values(
            department=department, calendar=msgspec.to_builtins(calendar), updated_at=now_ms
        )
    )


@dataclass
class ServiceLevels:
    """Every policy and calendar, read once per batch."""

    policies: dict[tuple[str, str], SlaPolicy]
    calendars: dict[str, Calendar]

    def policy_for(self, ticket_type: str, priority: str) -> SlaPolicy:
        for key in ((ticket_type, priority), (ticket_type, ANY), (ANY, priority), (ANY, ANY)):
            found = self.policies.get(key)
            if found is not None:
                return found
        return SlaPolicy()

    def calendar_for(self, department: str) -> Calendar:
        return self.calendars.get(department) or self.calendars.get(ANY) or OFFICE_HOURS


def load(conn: Connection) -> ServiceLevels:
    policies = {
        (str(t), str(p)): parse_policy(value)
        for t, p, value in conn.execute(
            sa.select(sla_policies.c.ticket_type, sla_policies.c.priority, sla_policies.c.policy)
        )
    }
    calendars = {
        str(d): parse_calendar(value)
        for d, value in conn.execute(sa.select(department_calendars.c.department, department_calendars.c.calendar))
    }
    return ServiceLevels(policies, calendars)


def status_events(conn: Connection, batch: TicketBatch, ticket_ids: Iterable[str]) -> dict[str, list[StatusEvent]]:
    """The status events of these tickets: those stored and those of the batch not flushed yet."""
    wanted = sorted(set(ticket_ids))
    found: dict[str, list[StatusEvent]] = {ticket_id: [] for ticket_id in wanted}
    stored = [ticket_id for ticket_id in wanted if ticket_id not in batch.created]  # new ones have none yet
    h = ticket_history.c
    for start in range(0, len(stored), 500):
        chunk = stored[start : start + 500]
        for ticket_id, at, to_status in conn.execute(
            sa.select(h.ticket_id, h.at, h.to_status).where(h.ticket_id.in_(chunk))
        ):
            found[str(ticket_id)].append(StatusEvent(at_ms=int(at), to_status=str(to_status)))
    for entry in batch.history:
        if entry.ticket_id in found:
            found[entry.ticket_id].append(_event(entry))
    return found


def _event(entry: HistoryEntry) -> StatusEvent:
    return StatusEvent(at_ms=entry.at, to_status=entry.to_status)


def apply_state(ticket: TicketState, levels: ServiceLevels, events: list[StatusEvent], now_ms: int) -> bool:
    """Write the ticket's SLA fields from its history; True when any of them changed."""
    # The status now is the ticket's (decided by HLC), whatever order store clocks put the
    # events' times in: it closes the timeline.
    events = [*events, StatusEvent(at_ms=max(now_ms, ticket.created_at), to_status=ticket.status)]
    state = sla_state(
        levels.policy_for(ticket.type, ticket.priority),
        levels.calendar_for(ticket.department),
        created_ms=ticket.created_at,
        events=events,
        first_response_ms=ticket.first_responded_at,
        now_ms=now_ms,
    )
    before = (ticket.first_response_due, ticket.resolution_due, ticket.sla_paused)
    ticket.first_response_due = state.first_response_due
    ticket.resolution_due = state.resolution_due
    ticket.sla_paused = state.paused
    return before != (ticket.first_response_due, ticket.resolution_due, ticket.sla_paused)


def refresh(conn: Connection, batch: TicketBatch, ticket_ids: Iterable[str], now_ms: int) -> None:
    """Recompute the SLA fields of these tickets of the batch (routed ones only: an unrouted
    ticket has no department yet, so no calendar)."""
    ids = [i for i in dict.fromkeys(ticket_ids) if i in batch.tickets and batch.tickets[i].routed_at is not None]
    if not ids:
        return
    levels = load(conn)
    events = status_events(conn, batch, ids)
    for ticket_id in ids:
        ticket = batch.tickets[ticket_id]
        if apply_state(ticket, levels, events[ticket_id], now_ms):
            batch.changed[ticket_id] = None


def recalculate_open(conn: Connection, clock: HybridClock, now_ms: int, *, chunk: int = 500) -> int:
    """Recompute the SLA fields of every open routed ticket (after a policy or calendar change);
    writes those that changed with their change-log entries. Returns how many changed."""
    t = tickets.c
    query = sa.select(t.id).where(t.status.in_(sorted(OPEN_STATUSES)), t.routed_at.is_not(None)).order_by(t.id)
    ids = [str(i) for i in conn.execute(query).scalars()]
    changed = 0
    for start in range(0, len(ids), chunk):
        batch = TicketBatch(tickets=ticket_store.load_tickets(conn, ids[start : start + chunk]), type_codes=frozenset())
        refresh(conn, batch, batch.tickets, now_ms)
        changed += len(batch.changed)
        ticket_store.flush(conn, clock, batch)
    return changed
