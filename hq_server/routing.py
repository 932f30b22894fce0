"""Routing at HQ: the stored rules, and routing the tickets of a batch when they reach HQ.

The rules themselves (conditions, first match wins, the file format) are
:mod:`hq_server.routing_rules`; this module keeps them in ``routing_rules`` (one row per rule,
ordered by ``position``), gathers the facts a rule looks at (store and region codes, the product's
category) in one query per kind for a whole batch, and writes the decision into the tickets:
department, priority, tags and ``routed_at``. A ticket is routed once, the first time HQ holds
it; until then its store shows it as awaiting routing. With no matching rule a ticket goes to its
type's default department (customer service when the type has none).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import bulk, reference
from hq_server.routing_rules import Rule, TicketFacts, decide, load_rules_file, parse_rules
from hq_server.schema import products, regions, routing_rules, stores, ticket_types
from sync_protocol.tickets import TicketState

#: Where a ticket goes when neither a rule nor its type names a department.
FALLBACK_DEPARTMENT = "cs"


def load_rules(conn: Connection) -> list[Rule]:
    """The stored rules in order."""
    query = sa.select(routing_rules.c.rule).order_by(routing_rules.c.position, routing_rules.c.id)
    return [msgspec.convert(value, Rule) for value in conn.execute(query).scalars()]


def replace_rules(conn: Connection, data: object, now_ms: int) -> list[Rule]:
    """Validate ``data`` (a JSON-like list of rules) and make it the rule set, in its order.

    Raises :class:`~sync_protocol.errors.InvalidField` naming the rule and field at fault;
    nothing is changed then.
    """
    rules = parse_rules(
        data, departments=reference.department_codes(conn), ticket_types=reference.ticket_type_codes(conn)
    )
    store_rules(conn, rules, now_ms)
    return rules


def import_file(conn: Connection, raw: bytes, now_ms: int) -> list[Rule]:
    """:func:`replace_rules` from the bytes of a rules file (as ``storedesk hq rules export`` writes)."""
    rules = load_rules_file(
        raw, departments=reference.department_codes(conn), ticket_types=reference.ticket_type_codes(conn)
    )
    store_rules(conn, rules, now_ms)
    return rules


def store_rules(conn: Connection, rules: Sequence[Rule], now_ms: int) -> None:
    """Make ``rules`` (already validated) the rule set, in their order."""
    conn.execute(routing_rules.delete())
    if rules:
        conn.execute(
            routing_rules.insert(),
            [
                {"id": rule.id, "position": position, "rule": msgspec.to_builtins(rule), "updated_at": now_ms}
                for position, rule in enumerate(rules)
            ],
        )


@dataclass
class RoutingContext:
    """What routing a batch of tickets needs, read once per batch."""

    rules: list[Rule]
    type_departments: dict[str, str]
    #: store id -> (store code, region code)
    stores: dict[str, tuple[str, str]]
    #: product code -> category
    categories: dict[str, str]


def load_context(conn: Connection, tickets: Sequence[TicketState]) -> RoutingContext:
    store_ids = sorted({t.store_id for t in tickets if t.store_id})
    codes = sorted({t.product_code for t in tickets if t.product_code})
    found_stores: dict[str, tuple[str, str]] = {}
    if store_ids:
        query = (
            sa.select(stores.c.id, stores.c.code, regions.c.code)
            .select_from(stores.outerjoin(regions, stores.c.region_id == regions.c.id))
            .where(stores.c.id.in_(store_ids))
        )
        found_stores = {str(i): (str(code), str(region or "")) for i, code, region in conn.execute(query)}
    # Straight through the driver: a push's new tickets name a thousand products or more, and
    # SQLAlchemy compiling that IN list cost more than the query.
    categories = {
        str(code): str(category)
        for code, category in bulk.select_in(conn, products, ("code", "category"), "code", codes)
    }
    type_departments = {
        str(code): str(department or "")
        for code, department in conn.execute(sa.select(ticket_types.c.code, ticket_types.c.default_department))
    }
    return RoutingContext(load_rules(conn), type_departments, found_stores, categories)


def facts_of(ticket: TicketState, context: RoutingContext) -> TicketFacts:
    store_code, region_code = context.stores.get(ticket.store_id, ("", ""))
    return TicketFacts(
        type=ticket.type,
        channel=ticket.channel,
        store=store_code,
        region=region_code,
        # Set by HQ's intake from its customer record; a store's extra cannot claim a level.
        customer_level="" if ticket.channel == "store" else str(ticket.extra.get("customer_level", "") or ""),
        product_category=context.categories.get(ticket.product_code, ""),
        title=ticket.title,
        description=ticket.description,
    )


def route(ticket: TicketState, context: RoutingContext, now_ms: int) -> str:
    """Route ``ticket`` in place; returns the id of the rule that decided ("" for the default).

    A department HQ staff already gave the ticket (made at HQ with one) is kept; tags from the
    rule are added to those the ticket has.
    """
    default = context.type_departments.get(ticket.type) or FALLBACK_DEPARTMENT
    decision = decide(
        context.rules, facts_of(ticket, context), default_department=default, current_priority=ticket.priority
    )
    ticket.department = ticket.department or decision.department
    ticket.priority = decision.priority
    ticket.tags = list(dict.fromkeys([*ticket.tags, *decision.tags]))
    ticket.routed_at = now_ms
    return decision.rule_id


def unrouted(tickets: Iterable[TicketState]) -> list[TicketState]:
    return [ticket for ticket in tickets if ticket.routed_at is None]
