"""Versioned schema migrations, applied at start, each in its own transaction.

A migration is ``(version, name, function)``; :data:`MIGRATIONS` lists them in order and
``schema_migrations`` records the ones a database has. :func:`migrate` applies the missing ones,
each in one write transaction that also records it, so a crash leaves a database at a version
boundary. Write transactions hold the change-log lock, which also keeps two HQ processes starting
at once from applying the same migration twice (each re-checks under the lock).

Rule for later migrations: each migration creates the tables it introduces from
:mod:`hq_server.schema` by name (``0001`` the version-1 tables, ``0003`` products and SKUs).
Before a later migration changes a table, copy that table's current definition into the
migration that created it (freeze it), then change ``schema.py`` and add the migration that
alters it. ``tests/hq/test_migrations.py`` checks that a migrated database has every table and
column :mod:`hq_server.schema` declares.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import escalation_sweep, nodes, reference, service_levels
from hq_server.db import Database
from hq_server.schema import JsonText, meta, metadata, schema_migrations
from sync_protocol.hlc import HybridClock
from sync_protocol.messages import OpResult
from sync_protocol.tickets import DEFAULT_TICKET_TYPES, RETURN_TICKET_TYPES, STOCK_TICKET_TYPES
from sync_protocol.version import MAX_HLC_LENGTH, MAX_ID_LENGTH

MigrationFn = Callable[[Connection, HybridClock], None]

#: ``meta`` key of the secret that signs survey links (made by migration 7).
SURVEY_SECRET_KEY = "survey_secret"


#: The tables version 1 made that :mod:`hq_server.schema` still defines as they were.
_VERSION_1_TABLES = (
    "meta",
    "regions",
    # (stores and nodes, frozen below, come here)
    "departments",
    "ticket_types",
    # (tickets, frozen below, comes here: the tables after it refer to it)
    "comments",
    "ticket_history",
    "changes",
)

#: Tables as an earlier version made them, frozen here when a later migration changed or dropped them.
_frozen = sa.MetaData()

#: Version 1 kept one row per op answered (replaced by ``push_results`` in version 4).
_op_results_v1 = sa.Table(
    "op_results",
    _frozen,
    sa.Column("node_id", sa.String(MAX_ID_LENGTH), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("op_id", sa.String(MAX_ID_LENGTH), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("entity_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("code", sa.String(40), nullable=False, server_default=""),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("hlc", sa.String(MAX_HLC_LENGTH), nullable=False),
    sa.Column("superseded", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)


#: Stands for the referenced table in the frozen definitions' foreign keys; never created here.
_regions_ref = sa.Table("regions", _frozen, sa.Column("id", sa.String(MAX_ID_LENGTH), primary_key=True))

#: Version 1's stores (version 10 added contact and phone).
_stores_v1 = sa.Table(
    "stores",
    _frozen,
    sa.Column("id", sa.String(MAX_ID_LENGTH), primary_key=True),
    sa.Column("code", sa.String(40), nullable=False, unique=True),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("region_id", sa.String(MAX_ID_LENGTH), sa.ForeignKey("regions.id"), nullable=True),
    sa.Column("address", sa.Text, nullable=False, server_default=""),
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("lon", sa.Float, nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

#: Version 1's nodes (version 15 added what a node reports of itself).
_nodes_v1 = sa.Table(
    "nodes",
    _frozen,
    sa.Column("id", sa.String(MAX_ID_LENGTH), primary_key=True),
    sa.Column("store_id", sa.String(MAX_ID_LENGTH), sa.ForeignKey("stores.id"), nullable=False),
    sa.Column("node_no", sa.Integer, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("high_water", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("ticket_counter", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_seen_at", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("store_id", "node_no", name="uq_nodes_store_node_no"),
)

#: Version 3's products (version 10 added min_stock).
_products_v3 = sa.Table(
    "products",
    _frozen,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("name_zh", sa.String(120), nullable=False),
    sa.Column("name_en", sa.String(120), nullable=False, server_default=""),
    sa.Column("category", sa.String(40), nullable=False, server_default=""),
    sa.Column("price_cents", sa.BigInteger, nullable=True),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Index("ix_products_category", "category"),
)

#: Version 1's tickets (version 5 added the routing and SLA columns).
_tickets_v1 = sa.Table(
    "tickets",
    _frozen,
    sa.Column("id", sa.String(MAX_ID_LENGTH), primary_key=True),
    sa.Column("number", sa.String(64), nullable=False),
    sa.Column("store_id", sa.String(MAX_ID_LENGTH), sa.ForeignKey("stores.id"), nullable=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("category", sa.String(80), nullable=False, server_default=""),
    sa.Column("product_code", sa.String(64), nullable=False, server_default=""),
    sa.Column("customer_phone", sa.String(32), nullable=False, server_default=""),
    sa.Column("customer_name", sa.String(80), nullable=False, server_default=""),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("department", sa.String(40), nullable=False, server_default=""),
    sa.Column("assignee", sa.String(80), nullable=False, server_default=""),
    sa.Column("priority", sa.String(16), nullable=False, server_default="normal"),
    sa.Column("first_response_due", sa.BigInteger, nullable=True),
    sa.Column("resolution_due", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("hlc", sa.String(MAX_HLC_LENGTH), nullable=False),
    sa.Column("field_hlcs", JsonText, nullable=False),
    sa.Column("extra", JsonText, nullable=False),
    sa.Column("origin_node_id", sa.String(MAX_ID_LENGTH), nullable=True),
    sa.Index("ix_tickets_store_created", "store_id", "created_at"),
    sa.Index("ix_tickets_number", "number"),
    sa.Index("ix_tickets_status", "status"),
    sa.Index("ix_tickets_department", "department"),
    sa.Index("ix_tickets_created", "created_at"),
)


def _create(conn: Connection, *names: str) -> None:
    metadata.create_all(conn, tables=[metadata.tables[name] for name in names])


def _initial_schema(conn: Connection, clock: HybridClock) -> None:
    _create(conn, *_VERSION_1_TABLES[:2])
    _stores_v1.create(conn)
    _nodes_v1.create(conn)
    before = _VERSION_1_TABLES.index("comments")
    _create(conn, *_VERSION_1_TABLES[2:before])
    _tickets_v1.create(conn)
    _create(conn, *_VERSION_1_TABLES[before:])
    _op_results_v1.create(conn)


def _products(conn: Connection, clock: HybridClock) -> None:
    _products_v3.create(conn)
    _create(conn, "skus")


def _default_reference_data(conn: Connection, clock: HybridClock) -> None:
    for sort, (code, (name_zh, name_en)) in enumerate(reference.DEFAULT_DEPARTMENTS.items()):
        reference.put_department(conn, clock, code, name_zh, name_en, sort=sort)
    for sort, (code, (name_zh, name_en)) in enumerate(DEFAULT_TICKET_TYPES.items()):
        reference.put_ticket_type(
            conn,
            clock,
            code,
            name_zh,
            name_en,
            default_department=reference.DEFAULT_TYPE_DEPARTMENTS.get(code),
            sort=sort,
        )


def _push_results(conn: Connection, clock: HybridClock) -> None:
    """One row per pushed batch instead of one per op (a thousand inserts were a tenth of a push).

    Each kept per-op row becomes a batch of one, so duplicates of old ops still get their answers.
    """
    _create(conn, "push_results")
    c = _op_results_v1.c
    rows = conn.execute(
        sa.select(
            c.node_id,
            c.seq,
            c.op_id,
            c.kind,
            c.entity_id,
            c.status,
            c.code,
            c.reason,
            c.hlc,
            c.superseded,
            c.created_at,
        )
    )
    for node_id, seq, op_id, kind, entity_id, status, code, reason, hlc, superseded, created_at in rows:
        result = OpResult(
            seq=seq,
            op_id=op_id,
            status=status,
            code=code,
            reason=reason,
            hlc=hlc,
            superseded=msgspec.json.decode(superseded, type=list[str]),
        )
        nodes.store_results(conn, node_id, [nodes.KeptResult(result, kind, entity_id)], created_at)
    _op_results_v1.drop(conn)


#: Version 5's new ticket columns, as portable DDL (the same text runs on SQLite and PostgreSQL).
_TICKET_COLUMNS_V5 = (
    "channel VARCHAR(40) NOT NULL DEFAULT 'store'",
    "routed_at BIGINT",
    "tags TEXT NOT NULL DEFAULT '[]'",
    "first_responded_at BIGINT",
    "sla_paused BOOLEAN NOT NULL DEFAULT FALSE",
)


def _routing_and_sla(conn: Connection, clock: HybridClock) -> None:
    """Routing rules, SLA policies and business calendars; the tickets' routing and SLA columns.

    Tickets that existed before count as routed when they were made (they already have their
    department), so the stores do not show them as awaiting routing.
    """
    for column in _TICKET_COLUMNS_V5:
        conn.execute(sa.text(f"ALTER TABLE tickets ADD COLUMN {column}"))
    conn.execute(sa.text("UPDATE tickets SET routed_at = created_at"))
    _create(conn, "routing_rules", "sla_policies", "department_calendars")
    service_levels.put_defaults(conn, time.time_ns() // 1_000_000)


def _escalation(conn: Connection, clock: HybridClock) -> None:
    """The escalation ladder (seeded with the default), the record of fired steps, in-app
    notifications and the webhook outbox."""
    _create(conn, "escalation_steps", "escalation_firings", "notifications", "webhook_events")
    escalation_sweep.put_default_ladder(conn, time.time_ns() // 1_000_000)


def _teams_and_surveys(conn: Connection, clock: HybridClock) -> None:
    """Agents and their departments' assignment settings, webhook endpoints and deliveries,
    satisfaction surveys, and the secret that signs survey links."""
    _create(conn, "agents", "department_settings", "webhooks", "webhook_deliveries", "surveys")
    conn.execute(meta.insert().values(key=SURVEY_SECRET_KEY, value=secrets.token_urlsafe(32)))


def _ticket_forms(conn: Connection, clock: HybridClock) -> None:
    """Ticket type forms (a chain defines its own through the API; none by default)."""
    _create(conn, "ticket_forms")


def _intake_and_collaboration(conn: Connection, clock: HybridClock) -> None:
    """Customers and intake messages (multi-channel intake); shares, internal notes and links."""
    _create(
        conn, "customers", "intake_messages", "ticket_shares", "internal_notes", "ticket_links", "ticket_assignments"
    )
    conn.execute(sa.text("CREATE INDEX ix_tickets_customer_phone ON tickets (customer_phone)"))
    conn.execute(sa.text("CREATE INDEX ix_tickets_assignee_status ON tickets (assignee, status)"))


def _stock_and_transfers(conn: Connection, clock: HybridClock) -> None:
    """Stock movements and levels, thresholds, transfers, the stock alert record; store contacts,
    product thresholds; the replenishment and stock exception ticket types."""
    for column in ("contact VARCHAR(80) NOT NULL DEFAULT ''", "phone VARCHAR(32) NOT NULL DEFAULT ''"):
        conn.execute(sa.text(f"ALTER TABLE stores ADD COLUMN {column}"))
    conn.execute(sa.text("ALTER TABLE products ADD COLUMN min_stock INTEGER"))
    _create(conn, "stock_moves", "stock_levels", "stock_thresholds", "transfers", "stock_alerts")
    for sort, code in enumerate(STOCK_TICKET_TYPES, start=len(DEFAULT_TICKET_TYPES)):
        name_zh, name_en = STOCK_TICKET_TYPES[code]
        reference.put_ticket_type(
            conn,
            clock,
            code,
            name_zh,
            name_en,
            default_department=reference.DEFAULT_TYPE_DEPARTMENTS[code],
            sort=sort,
        )


def _orders(conn: Connection, clock: HybridClock) -> None:
    """Orders and their lines (returns are checked against them)."""
    _create(conn, "orders", "order_lines")


def _returns(conn: Connection, clock: HybridClock) -> None:
    """Returns with their lines; the refund and return exception ticket types (finance)."""
    _create(conn, "returns", "return_lines")
    first = len(DEFAULT_TICKET_TYPES) + len(STOCK_TICKET_TYPES)
    for sort, (code, (name_zh, name_en)) in enumerate(RETURN_TICKET_TYPES.items(), start=first):
        reference.put_ticket_type(
            conn, clock, code, name_zh, name_en, default_department=reference.DEFAULT_TYPE_DEPARTMENTS[code], sort=sort
        )


def _accounts(conn: Connection, clock: HybridClock) -> None:
    """Staff accounts (roles, scope, password and PIN hashes, lockout) and their sign-in sessions."""
    _create(conn, "users", "sessions")


def _saved_views(conn: Connection, clock: HybridClock) -> None:
    """The console's saved queue views, per user."""
    _create(conn, "saved_views")


def _node_reports(conn: Connection, clock: HybridClock) -> None:
    """What a node says of itself at each contact: ops not yet acknowledged, protocol, software."""
    for column in ("pending_ops INTEGER", "protocol INTEGER", "client_version VARCHAR(40)"):
        conn.execute(sa.text(f"ALTER TABLE nodes ADD COLUMN {column}"))


MIGRATIONS: list[tuple[int, str, MigrationFn]] = [
    (1, "initial_schema", _initial_schema),
    (2, "default_reference_data", _default_reference_data),
    (3, "products", _products),
    (4, "push_results", _push_results),
    (5, "routing_and_sla", _routing_and_sla),
    (6, "escalation", _escalation),
    (7, "teams_and_surveys", _teams_and_surveys),
    (8, "ticket_forms", _ticket_forms),
    (9, "intake_and_collaboration", _intake_and_collaboration),
    (10, "stock_and_transfers", _stock_and_transfers),
    (11, "orders", _orders),
    (12, "returns", _returns),
    (13, "accounts", _accounts),
    (14, "saved_views", _saved_views),
    (15, "node_reports", _node_reports),
]


def applied_versions(db: Database) -> list[int]:
    """Versions recorded in ``schema_migrations`` (empty for a new database)."""
    with db.read() as conn:
        if not sa.inspect(conn).has_table("schema_migrations"):
            return []
        query = sa.select(schema_migrations.c.version).order_by(schema_migrations.c.version)
        return [int(v) for v in conn.execute(query).scalars()]


def migrate(db: Database, clock: HybridClock) -> list[str]:
    """Apply the missing migrations in order; returns the names applied."""
    with db.write() as conn:
        schema_migrations.create(conn, checkfirst=True)
    done: list[str] = []
    for version, name, apply in MIGRATIONS:
        with db.write() as conn:
            query = sa.select(schema_migrations.c.version).where(schema_migrations.c.version == version)
            if conn.execute(query).first() is not None:
                continue
            apply(conn, clock)
            conn.execute(
                schema_migrations.insert().values(version=version, name=name, applied_at=time.time_ns() // 1_000_000)
            )
        done.append(f"{version:04d}_{name}")
    return done
