"""Assignment inside a department: agents, their shifts and caps, and who gets the next ticket.

A routed ticket without an assignee is in its department's pool. :func:`assign_pool` hands pool
tickets to the department's agents who are active, on shift (their ``shift`` calendar is open, or
they have none) and under their cap of open tickets, by the department's strategy:
``round_robin`` (the next agent after the last one given a ticket, by id) or ``least_open``
(fewest open tickets, ties broken in round-robin order). An assignment is an HQ status event
``new -> assigned`` in the ticket's history, so the store sees who has its ticket and when.

A ticket nobody can take stays in the pool and the next sweep tries again. An assigned ticket its
agent has not touched (no status change, no reply) within the department's assignment timeout
goes back to the pool and to another agent (:func:`return_untouched`). A lead reassigns through
the staff API; the new assignee must be an active agent of the ticket's department.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import reference, ticket_store
from hq_server.business_hours import Calendar, business_ms_between, parse_calendar
from hq_server.schema import agents, comments, department_settings, ticket_assignments, ticket_history, tickets
from hq_server.ticket_rules import TicketBatch, change_status, hq_stamp
from sync_protocol.errors import InvalidField
from sync_protocol.hlc import HybridClock
from sync_protocol.messages import ReferenceItem
from sync_protocol.ops import TicketStatus, new_id
from sync_protocol.tickets import OPEN_STATUSES, TicketState, validate_text

Strategy = Literal["round_robin", "least_open"]
STRATEGIES: tuple[str, ...] = ("round_robin", "least_open")
DEFAULT_TIMEOUT_MIN = 120
AGENT_ID_LENGTH = 40
#: The actor of HQ's assignment events in ticket histories.
ASSIGNER = "总部分派"


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    departments: tuple[str, ...]
    lead_of: tuple[str, ...] = ()
    cap: int = 20
    shift: Calendar | None = None
    active: bool = True

    def on_shift(self, now_ms: int) -> bool:
        if not self.active:
            return False
        return self.shift is None or business_ms_between(self.shift, now_ms, now_ms + 1) == 1


@dataclass(frozen=True)
class DepartmentSettings:
    strategy: str = "round_robin"
    timeout_min: int = DEFAULT_TIMEOUT_MIN
    last_assigned: str = ""


def pick(
    candidates: Sequence[Agent],
    open_counts: dict[str, int],
    settings: DepartmentSettings,
    now_ms: int,
    *,
    exclude: Iterable[str] = (),
) -> Agent | None:
    """The agent who gets the next ticket of a department, or None when nobody can take it."""
    skip = set(exclude)
    able = [
        a
        for a in sorted(candidates, key=lambda a: a.id)
        if a.id not in skip and a.on_shift(now_ms) and open_counts.get(a.id, 0) < a.cap
    ]
    if not able:
        return None
    # Round-robin order: those after the last one assigned first, then the rest from the start.
    rotation = [a for a in able if a.id > settings.last_assigned] + [a for a in able if a.id <= settings.last_assigned]
    if settings.strategy == "least_open":
        return min(rotation, key=lambda a: open_counts.get(a.id, 0))
    return rotation[0]


# -- storage -------------------------------------------------------------------------------------


class AgentInput(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    departments: list[str]
    lead_of: list[str] = []
    cap: int = 20
    shift: dict[str, object] | None = None
    active: bool = True


def put_agent(conn: Connection, clock: HybridClock, agent_id: str, data: object, now_ms: int) -> Agent:
    """Create or change an agent from JSON-like ``data``; :class:`InvalidField` names the field.

    The agent's name reaches every store (reference data ``agent``), so a store shows who has
    its ticket.
    """
    validate_text("id", agent_id, required=True)
    if len(agent_id) > AGENT_ID_LENGTH or not agent_id.replace("-", "").replace("_", "").isalnum():
        raise InvalidField("id", "invalid agent id", code="invalid_code", limit=AGENT_ID_LENGTH)
    try:
        given = msgspec.convert(data, AgentInput)
    except msgspec.ValidationError as exc:
        from hq_server.validation import field_error

        raise field_error(exc, root="agent") from exc
    name = validate_text("name", given.name, required=True)
    known = reference.department_codes(conn)
    for index, code in enumerate([*given.departments, *given.lead_of]):
        if code not in known:
            where = "departments" if index < len(given.departments) else "lead_of"
            raise InvalidField(where, "unknown department", code="unknown_department", value=code)
    if not given.departments:
        raise InvalidField("departments", "an agent works in at least one department", code="required")
    if not 1 <= given.cap <= 1000:
        raise InvalidField("cap", "cap out of range", code="invalid_choice")
    shift = None
    if given.shift is not None:
        from hq_server.business_hours import InvalidCalendar

        try:
            shift = parse_calendar(given.shift)
        except InvalidCalendar as exc:
            raise InvalidField(f"shift.{exc.field}", exc.reason, code="invalid_calendar", reason=exc.reason) from exc
    agent = Agent(
        id=agent_id,
        name=name,
        departments=tuple(given.departments),
        lead_of=tuple(given.lead_of),
        cap=given.cap,
        shift=shift,
        active=given.active,
    )
    values = {
        "name": agent.name,
        "departments": list(agent.departments),
        "lead_of": list(agent.lead_of),
        "cap": agent.cap,
        "shift": msgspec.to_builtins(shift) if shift is not None else None,
        "active": agent.active,
        "updated_at": now_ms,
    }
    if conn.execute(agents.update().where(agents.c.id == agent_id).values(values)).rowcount == 0:
        conn.execute(agents.insert().values(id=agent_id, **values))
    item = ReferenceItem(id=agent.id, code=agent.id, name_zh=agent.name, attrs={"departments": list(agent.departments)})
    reference.log_item(conn, clock, "agent", item)
    return agent


def load_agents(conn: Connection) -> list[Agent]:
    found = []
    for row in conn.execute(sa.select(agents).order_by(agents.c.id)).mappings():
        found.append(
            Agent(
                id=str(row["id"]),
                name=str(row["name"]),
                departments=tuple(row["departments"]),
                lead_of=tuple(row["lead_of"]),
                cap=int(row["cap"]),
                shift=parse_calendar(row["shift"]) if row["shift"] is not None else None,
                active=bool(row["active"]),
            )
        )
    return found


def load_settings(conn: Connection) -> dict[str, DepartmentSettings]:
    d = department_settings.c
    return {
        str(code): DepartmentSettings(str(strategy), int(timeout), str(last))
        for code, strategy, timeout, last in conn.execute(
            sa.select(d.department, d.strategy, d.assignment_timeout_min, d.last_assigned)
        )
    }


def put_settings(conn: Connection, department: str, *, strategy: object, timeout_min: object, now_ms: int) -> None:
    if department not in reference.department_codes(conn):
        raise InvalidField("department", "unknown department", code="unknown_department", value=department)
    if strategy not in STRATEGIES:
        raise InvalidField("strategy", "unknown strategy", code="invalid_choice", value=str(strategy))
    if not isinstance(timeout_min, int) or isinstance(timeout_min, bool) or not 1 <= timeout_min <= 7 * 24 * 60:
        raise InvalidField("assignment_timeout_min", "timeout out of range", code="invalid_choice")
    _save_settings(conn, department, now_ms, strategy=str(strategy), assignment_timeout_min=timeout_min)


def _save_settings(conn: Connection, department: str, now_ms: int, **values: object) -> None:
    d = department_settings.c
    updated = conn.execute(
        department_settings.update().where(d.department == department).values(updated_at=now_ms, **values)
    )
    if updated.rowcount == 0:
        conn.execute(department_settings.insert().values(department=department, updated_at=now_ms, **values))


def open_counts(conn: Connection, agent_ids: Iterable[str] | None = None) -> dict[str, int]:
    """Open tickets per assignee (of ``agent_ids`` only, when given)."""
    t = tickets.c
    conditions = [t.status.in_(sorted(OPEN_STATUSES)), t.assignee != ""]
    if agent_ids is not None:
        wanted = sorted(set(agent_ids))
        if not wanted:
            return {}
        conditions.append(t.assignee.in_(wanted))
    query = sa.select(t.assignee, sa.func.count()).where(*conditions).group_by(t.assignee)
    return {str(assignee): int(count) for assignee, count in conn.execute(query)}


# -- assigning -----------------------------------------------------------------------------------


@dataclass
class Team:
    """Agents, settings and open counts, read once per batch and kept current while assigning."""

    agents: list[Agent]
    settings: dict[str, DepartmentSettings]
    counts: dict[str, int]
    moved: dict[str, str] = field(default_factory=dict)

    def of(self, department: str) -> list[Agent]:
        return [a for a in self.agents if department in a.departments]


def load_team(conn: Connection, departments: Iterable[str] | None = None) -> Team:
    """The agents (of ``departments`` only, when given), their open counts and the settings."""
    wanted = set(departments) if departments is not None else None
    found = [a for a in load_agents(conn) if wanted is None or wanted.intersection(a.departments)]
    return Team(found, load_settings(conn) if found else {}, open_counts(conn, [a.id for a in found]))


def assign_pool(
    conn: Connection,
    clock: HybridClock,
    batch: TicketBatch,
    ticket_ids: Iterable[str],
    now_ms: int,
    *,
    team: Team | None = None,
    exclude: dict[str, str] | None = None,
) -> list[str]:
    """Give these pool tickets of the batch (routed, open, no assignee) to agents; returns the ids
    assigned. ``exclude``: ticket id -> an agent who must not get it back."""
    candidates = [
        batch.tickets[i] for i in dict.fromkeys(ticket_ids) if i in batch.tickets and _in_pool(batch.tickets[i])
    ]
    if not candidates:
        return []
    team = team or load_team(conn, {t.department for t in candidates})
    if not team.agents:
        return []
    done = []
    for ticket in candidates:
        settings = team.settings.get(ticket.department, DepartmentSettings())
        blocked = [exclude[ticket.id]] if exclude and ticket.id in exclude else []
        agent = pick(team.of(ticket.department), team.counts, settings, now_ms, exclude=blocked)
        if agent is None:
            continue
        _give(batch, clock, ticket, agent, now_ms)
        team.counts[agent.id] = team.counts.get(agent.id, 0) + 1
        team.settings[ticket.department] = DepartmentSettings(settings.strategy, settings.timeout_min, agent.id)
        _save_settings(conn, ticket.department, now_ms, last_assigned=agent.id)
        done.append(ticket.id)
    return done


def _in_pool(ticket: TicketState) -> bool:
    return ticket.routed_at is not None and not ticket.assignee and ticket.status in ("new", "assigned")


def _give(batch: TicketBatch, clock: HybridClock, ticket: TicketState, agent: Agent, now_ms: int) -> None:
    ticket.assignee = agent.id
    batch.assigned[ticket.id] = now_ms
    batch.mark(ticket, hq_stamp(clock, ticket))
    if ticket.status == "new":
        event = TicketStatus(
            ticket_id=ticket.id, event_id=new_id(), status="assigned", note=agent.name, actor=ASSIGNER, at=now_ms
        )
        change_status(batch, event, store_id=None, hlc=hq_stamp(clock, ticket), origin=None)


def check_assignee(conn: Connection, department: str, assignee: object) -> None:
    """A lead's reassignment: the assignee must be an active agent of the department ("" = pool)."""
    if assignee == "":
        return
    found = [a for a in load_agents(conn) if a.id == assignee]
    if not found or not found[0].active or department not in found[0].departments:
        raise InvalidField("assignee", "not an agent of the department", code="unknown_agent", value=str(assignee))


def waiting_in_pool(conn: Connection) -> list[str]:
    t = tickets.c
    query = sa.select(t.id).where(t.routed_at.is_not(None), t.assignee == "", t.status.in_(("new", "assigned")))
    return [str(i) for i in conn.execute(query).scalars()]


def untouched(conn: Connection, settings: dict[str, DepartmentSettings], now_ms: int) -> dict[str, str]:
    """Assigned tickets their agent has not touched within the department's timeout: id -> agent."""
    t, h, c, a = tickets.c, ticket_history.c, comments.c, ticket_assignments.c
    last_status = sa.select(sa.func.max(h.at)).where(h.ticket_id == t.id).scalar_subquery()
    last_reply = sa.select(sa.func.max(c.created_at)).where(c.ticket_id == t.id, c.source == "hq").scalar_subquery()
    handed = sa.select(a.assigned_at).where(a.ticket_id == t.id).scalar_subquery()
    query = sa.select(t.id, t.department, t.assignee, t.routed_at, last_status, last_reply, handed).where(
        t.status == "assigned", t.assignee != ""
    )
    found: dict[str, str] = {}
    for ticket_id, department, assignee, routed_at, status_at, reply_at, handed_at in conn.execute(query):
        touched = max(int(v) for v in (routed_at, status_at, reply_at, handed_at) if v is not None)
        timeout = settings.get(str(department), DepartmentSettings()).timeout_min
        if now_ms - touched >= timeout * 60_000:
            found[str(ticket_id)] = str(assignee)
    return found


def return_untouched(conn: Connection, clock: HybridClock, now_ms: int) -> tuple[list[str], list[str]]:
    """The sweep's assignment work: untouched assignments back to the pool (and on to another
    agent when one can take them), and pool tickets to agents who became free or came on shift.
    Returns (ids returned to the pool, ids assigned)."""
    from hq_server import dispatch

    team = load_team(conn)
    stale = untouched(conn, team.settings, now_ms)
    ids = list(dict.fromkeys([*stale, *waiting_in_pool(conn)]))
    if not ids:
        return [], []
    batch = TicketBatch(
        tickets=ticket_store.load_tickets(conn, ids),
        type_codes=reference.ticket_type_codes(conn),
        department_codes=reference.department_codes(conn),
    )
    for ticket_id, agent_id in stale.items():
        ticket = batch.tickets[ticket_id]
        ticket.assignee = ""
        batch.assigned[ticket_id] = now_ms
        team.counts[agent_id] = max(0, team.counts.get(agent_id, 0) - 1)
        event = TicketStatus(ticket_id=ticket_id, event_id=new_id(), status="new", note="", actor=ASSIGNER, at=now_ms)
        change_status(batch, event, store_id=None, hlc=hq_stamp(clock, ticket), origin=None)
        batch.mark(ticket, hq_stamp(clock, ticket))
    assigned = assign_pool(conn, clock, batch, ids, now_ms, team=team, exclude=stale)
    dispatch.decide(conn, clock, batch, now_ms)
    ticket_store.flush(conn, clock, batch)
    return list(stale), assigned
