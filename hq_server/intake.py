"""Multi-channel intake: a customer's message from any channel becomes one HQ ticket, linked to
the customer.

:func:`receive` takes an :class:`~hq_server.intake_channels.IntakeMessage` (the channel adapters
make them) and, in one write transaction:

1. looks the message up in ``intake_messages`` by (channel, the channel's message id): a message
   delivered again answers with the ticket it made the first time (``created`` False);
2. finds the customer by member id, else by phone, or creates them; a name or level the message
   gives updates the record, a member id or phone it adds is attached when no one else has it;
3. makes the ticket as HQ makes one (``HQ-000123``, no store) with the channel, the customer's
   phone and name, and ``extra`` holding ``order_no``, ``member_id``, ``customer_level`` (the
   customer's level: routing rules on customer level read it), ``attachments``,
   ``source_message_id`` and ``channel_details``; routes and assigns it
   (:func:`hq_server.dispatch.decide`) and flushes it with its change-log entry;
4. records the message with an insert that does nothing when the row exists.

Two deliveries of one message racing each other make one ticket: writers are serialized (the
change-log lock; SQLite's single writer), so the second sees the first's row in step 1; should
the insert of step 4 still find the row, the transaction is rolled back and run again, and then
answers with the ticket already there.

:func:`customer_history` lists a customer's tickets: those intake made for them, and any whose
customer phone is theirs (stores' tickets included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from hq_server import dispatch, reference, ticket_store
from hq_server.db import Database
from hq_server.errors import InvalidInput
from hq_server.intake_channels import IntakeMessage, first_line, normalize_phone
from hq_server.schema import customers, intake_messages, tickets
from hq_server.ticket_rules import TicketBatch, create_ticket
from sync_protocol.hlc import HybridClock
from sync_protocol.ops import TicketCreate, new_id
from sync_protocol.tickets import TicketState

#: Most past tickets :func:`customer_history` lists (newest first).
HISTORY_LIMIT = 50
#: How often :func:`receive` runs its transaction again after losing a race on the message.
RETRIES = 3


@dataclass(frozen=True)
class Customer:
    id: str
    phone: str | None
    member_id: str | None
    name: str
    level: str
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class PastTicket:
    id: str
    number: str
    title: str
    status: str
    channel: str
    created_at: int


@dataclass(frozen=True)
class IntakeResult:
    """What :func:`receive` did: the ticket (as it is now), whether this delivery made it, and
    the customer it is linked to (None when the message named no phone or member id)."""

    ticket: TicketState
    created: bool
    customer: Customer | None

    @property
    def ticket_id(self) -> str:
        return self.ticket.id

    @property
    def number(self) -> str:
        return self.ticket.number

    @property
    def customer_id(self) -> str | None:
        return self.customer.id if self.customer is not None else None


class _LostRace(Exception):
    """Another transaction recorded the message first: roll back and look again."""


def receive(db: Database, clock: HybridClock, channel: str, message: IntakeMessage, now_ms: int) -> IntakeResult:
    """Make the ticket of ``message`` from ``channel`` (or find the one it already made); see the
    module docstring. Raises :class:`~hq_server.errors.InvalidInput` when the ticket breaks a rule
    (an unknown ticket type, a required form field the message does not fill...)."""
    for _ in range(RETRIES):
        try:
            with db.write() as conn:
                return _receive(conn, clock, channel, message, now_ms)
        except _LostRace:
            continue
    raise RuntimeError(f"intake of {channel} message {message.message_id} kept losing races")


def _receive(conn: Connection, clock: HybridClock, channel: str, message: IntakeMessage, now_ms: int) -> IntakeResult:
    known = conn.execute(
        sa.select(intake_messages.c.ticket_id, intake_messages.c.customer_id).where(
            intake_messages.c.channel == channel, intake_messages.c.message_id == message.message_id
        )
    ).first()
    if known is not None:
        ticket = ticket_store.load_tickets(conn, [str(known[0])])[str(known[0])]
        customer = get_customer(conn, str(known[1])) if known[1] is not None else None
        return IntakeResult(ticket, False, customer)

    customer = find_or_create_customer(
        conn,
        phone=message.customer_phone,
        member_id=message.member_id,
        name=message.customer_name,
        level=message.customer_level,
        now_ms=now_ms,
    )
    ticket = _make_ticket(conn, clock, channel, message, customer, now_ms)
    if not _record(conn, channel, message.message_id, ticket.id, customer, now_ms):
        raise _LostRace()
    return IntakeResult(ticket, True, customer)


def _make_ticket(
    conn: Connection, clock: HybridClock, channel: str, message: IntakeMessage, customer: Customer | None, now_ms: int
) -> TicketState:
    batch = TicketBatch(
        tickets={},
        type_codes=reference.ticket_type_codes(conn),
        department_codes=reference.department_codes(conn),
        # No forms: a customer's message cannot fill them in; the agent completes the ticket.
    )
    phone = message.customer_phone or (customer.phone if customer is not None else None) or ""
    name = message.customer_name or (customer.name if customer is not None else "")
    level = customer.level if customer is not None else message.customer_level
    extra: dict[str, Any] = {
        "order_no": message.order_no,
        "member_id": message.member_id or (customer.member_id if customer is not None else None) or "",
        "customer_level": level,
        "attachments": list(message.attachments),
        "source_message_id": message.message_id,
        "channel_details": dict(message.details),
    }
    if message.received_at is not None:
        extra["sent_at"] = message.received_at
    payload = TicketCreate(
        ticket_id=new_id(),
        number=ticket_store.next_hq_number(conn),
        type=message.ticket_type,
        title=message.title or first_line(message.text),
        description=message.text,
        product_code=message.product_code,
        customer_phone=phone,
        customer_name=name,
        # When the customer sent it (the SLA runs from then), never later than now.
        created_at=min(message.received_at, now_ms) if message.received_at is not None else now_ms,
        extra=extra,
    )
    outcome = create_ticket(batch, payload, store_id="", hlc=clock.now().encode(), origin=None)
    if outcome.status == "rejected":
        raise InvalidInput(outcome.code, field=outcome.field, **outcome.params)
    ticket = batch.tickets[payload.ticket_id]
    ticket.channel = channel
    dispatch.decide(conn, clock, batch, now_ms)
    ticket_store.flush(conn, clock, batch)
    dispatch.after_flush(conn, batch, now_ms)
    return ticket


def _record(
    conn: Connection, channel: str, message_id: str, ticket_id: str, customer: Customer | None, now_ms: int
) -> bool:
    """Record the message; False when its row is already there (another delivery was first)."""
    insert = postgres_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(intake_messages).values(
        channel=channel,
        message_id=message_id,
        ticket_id=ticket_id,
        customer_id=customer.id if customer is not None else None,
        received_at=now_ms,
    )
    # RETURNING rather than rowcount: psycopg reports no usable rowcount for this statement.
    return conn.execute(stmt.on_conflict_do_nothing().returning(intake_messages.c.ticket_id)).first() is not None


# -- customers ---------------------------------------------------------------------------------------


def _customer_where(conn: Connection, condition: sa.ColumnElement[bool]) -> Customer | None:
    row = conn.execute(sa.select(customers).where(condition)).mappings().first()
    if row is None:
        return None
    return Customer(
        id=str(row["id"]),
        phone=row["phone"],
        member_id=row["member_id"],
        name=str(row["name"]),
        level=str(row["level"]),
        created_at=int(row["created_at"]),
        updated_at=int(row["updated_at"]),
    )


def get_customer(conn: Connection, customer_id: str) -> Customer | None:
    return _customer_where(conn, customers.c.id == customer_id)


def find_or_create_customer(
    conn: Connection, *, phone: str, member_id: str, name: str, level: str, now_ms: int
) -> Customer | None:
    """The customer with ``member_id``, else with ``phone`` (created when neither is known; None
    when both are empty). A given name or level replaces the stored one; a member id or phone
    the record lacks is added unless another customer holds it."""
    phone = normalize_phone(phone)
    member_id = member_id.strip()
    if not phone and not member_id:
        return None
    by_member = _customer_where(conn, customers.c.member_id == member_id) if member_id else None
    by_phone = _customer_where(conn, customers.c.phone == phone) if phone else None
    found = by_member
    if found is None and by_phone is not None and (not member_id or by_phone.member_id is None):
        found = by_phone  # the same person, now also known by their member id
    if found is None:
        values: dict[str, Any] = {
            "id": new_id(),
            # A phone another member holds stays theirs: this customer is known by member id only.
            "phone": phone if phone and by_phone is None else None,
            "member_id": member_id or None,
            "name": name,
            "level": level,
            "created_at": now_ms,
            "updated_at": now_ms,
        }
        conn.execute(customers.insert().values(**values))
        return Customer(**values)
    changes: dict[str, Any] = {}
    if name and name != found.name:
        changes["name"] = name
    if level and level != found.level:
        changes["level"] = level
    if member_id and found.member_id is None:
        changes["member_id"] = member_id
    if phone and found.phone is None and by_phone is None:
        changes["phone"] = phone
    if not changes:
        return found
    changes["updated_at"] = now_ms
    conn.execute(customers.update().where(customers.c.id == found.id).values(**changes))
    return Customer(**{**found.__dict__, **changes})


def customer_history(
    conn: Connection, customer_id: str, *, exclude: str | None = None, limit: int = HISTORY_LIMIT
) -> list[PastTicket]:
    """The customer's tickets, newest first (``exclude``: a ticket to leave out, the one just made)."""
    customer = get_customer(conn, customer_id)
    if customer is None:
        return []
    linked = sa.select(intake_messages.c.ticket_id).where(intake_messages.c.customer_id == customer_id)
    condition: sa.ColumnElement[bool] = tickets.c.id.in_(linked.scalar_subquery())
    if customer.phone:
        condition = sa.or_(condition, tickets.c.customer_phone == customer.phone)
    if exclude:
        condition = sa.and_(condition, tickets.c.id != exclude)
    t = tickets.c
    query = (
        sa.select(t.id, t.number, t.title, t.status, t.channel, t.created_at)
        .where(condition)
        .order_by(t.created_at.desc(), t.id.desc())
        .limit(limit)
    )
    return [
        PastTicket(
            id=str(row.id),
            number=str(row.number),
            title=str(row.title),
            status=str(row.status),
            channel=str(row.channel),
            created_at=int(row.created_at),
        )
        for row in conn.execute(query)
    ]
