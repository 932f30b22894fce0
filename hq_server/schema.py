"""HQ's tables, as SQLAlchemy Core ``Table`` objects: the current schema the queries use.

The schema a database actually has is built by :mod:`hq_server.migrations`; a test checks that
the two agree. Times are integers (ms since the Unix epoch, UTC); ids are text (UUIDv7 for
records, codes for reference data); JSON is stored as text so both engines hold the same bytes.
"""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from sync_protocol.version import MAX_HLC_LENGTH, MAX_ID_LENGTH

metadata = sa.MetaData()

_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder()


class JsonText(sa.TypeDecorator[Any]):
    """JSON kept as text (msgspec): identical on SQLite and PostgreSQL."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return _json_encoder.encode(value).decode()

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return _json_decoder.decode(value)


#: A BIGINT that is SQLite's rowid alias when it is the primary key (so it autoincrements there).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

ID = MAX_ID_LENGTH  # UUID text
HLC = MAX_HLC_LENGTH
CODE = 40

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("applied_at", sa.BigInteger, nullable=False),
)

regions = sa.Table(
    "regions",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("code", sa.String(CODE), nullable=False, unique=True),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

stores = sa.Table(
    "stores",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("code", sa.String(CODE), nullable=False, unique=True),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("region_id", sa.String(ID), sa.ForeignKey("regions.id"), nullable=True),
    sa.Column("address", sa.Text, nullable=False, server_default=""),
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("lon", sa.Float, nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    # Version 10: who to call about a transfer.
    sa.Column("contact", sa.String(80), nullable=False, server_default=""),
    sa.Column("phone", sa.String(32), nullable=False, server_default=""),
)

nodes = sa.Table(
    "nodes",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("store_id", sa.String(ID), sa.ForeignKey("stores.id"), nullable=False),
    sa.Column("node_no", sa.Integer, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("high_water", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("ticket_counter", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_seen_at", sa.BigInteger, nullable=True),
    # What the node said of itself at its last recorded contact (version 15).
    sa.Column("pending_ops", sa.Integer, nullable=True),
    sa.Column("protocol", sa.Integer, nullable=True),
    sa.Column("client_version", sa.String(40), nullable=True),
    sa.UniqueConstraint("store_id", "node_no", name="uq_nodes_store_node_no"),
)

departments = sa.Table(
    "departments",
    metadata,
    sa.Column("code", sa.String(CODE), primary_key=True),
    sa.Column("name_zh", sa.String(80), nullable=False),
    sa.Column("name_en", sa.String(80), nullable=False, server_default=""),
    sa.Column("sort", sa.Integer, nullable=False, server_default="0"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
)

ticket_types = sa.Table(
    "ticket_types",
    metadata,
    sa.Column("code", sa.String(CODE), primary_key=True),
    sa.Column("name_zh", sa.String(80), nullable=False),
    sa.Column("name_en", sa.String(80), nullable=False, server_default=""),
    sa.Column("default_department", sa.String(CODE), sa.ForeignKey("departments.code"), nullable=True),
    sa.Column("sort", sa.Integer, nullable=False, server_default="0"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
)

products = sa.Table(
    "products",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("name_zh", sa.String(120), nullable=False),
    sa.Column("name_en", sa.String(120), nullable=False, server_default=""),
    sa.Column("category", sa.String(CODE), nullable=False, server_default=""),
    sa.Column("price_cents", sa.BigInteger, nullable=True),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    # Version 10: the replenishment threshold of every SKU of the product, unless a store sets its own.
    sa.Column("min_stock", sa.Integer, nullable=True),
    sa.Index("ix_products_category", "category"),
)

skus = sa.Table(
    "skus",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("product_code", sa.String(64), sa.ForeignKey("products.code"), nullable=False),
    sa.Column("colour", sa.String(CODE), nullable=False),
    sa.Column("size", sa.String(CODE), nullable=False),
    sa.Column("barcode", sa.String(64), nullable=False, server_default=""),
    sa.Column("sort", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("product_code", "colour", "size", name="uq_skus_product_colour_size"),
)

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("number", sa.String(64), nullable=False),
    sa.Column("store_id", sa.String(ID), sa.ForeignKey("stores.id"), nullable=True),
    sa.Column("type", sa.String(CODE), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("category", sa.String(80), nullable=False, server_default=""),
    sa.Column("product_code", sa.String(64), nullable=False, server_default=""),
    sa.Column("customer_phone", sa.String(32), nullable=False, server_default=""),
    sa.Column("customer_name", sa.String(80), nullable=False, server_default=""),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("department", sa.String(CODE), nullable=False, server_default=""),
    sa.Column("assignee", sa.String(80), nullable=False, server_default=""),
    sa.Column("priority", sa.String(16), nullable=False, server_default="normal"),
    sa.Column("first_response_due", sa.BigInteger, nullable=True),
    sa.Column("resolution_due", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("hlc", sa.String(HLC), nullable=False),
    sa.Column("field_hlcs", JsonText, nullable=False),
    sa.Column("extra", JsonText, nullable=False),
    sa.Column("origin_node_id", sa.String(ID), nullable=True),
    # Version 5: routing and SLA.
    sa.Column("channel", sa.String(CODE), nullable=False, server_default="store"),
    sa.Column("routed_at", sa.BigInteger, nullable=True),
    sa.Column("tags", JsonText, nullable=False, server_default="[]"),
    sa.Column("first_responded_at", sa.BigInteger, nullable=True),
    sa.Column("sla_paused", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_tickets_store_created", "store_id", "created_at"),
    sa.Index("ix_tickets_number", "number"),
    sa.Index("ix_tickets_status", "status"),
    sa.Index("ix_tickets_department", "department"),
    sa.Index("ix_tickets_created", "created_at"),
    # Version 9: a customer's past tickets.
    sa.Index("ix_tickets_customer_phone", "customer_phone"),
    sa.Index("ix_tickets_assignee_status", "assignee", "status"),
)

comments = sa.Table(
    "comments",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("ticket_id", sa.String(ID), sa.ForeignKey("tickets.id"), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("author", sa.String(80), nullable=False, server_default=""),
    sa.Column("source", sa.String(10), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("hlc", sa.String(HLC), nullable=False),
    sa.Column("origin_node_id", sa.String(ID), nullable=True),
    sa.Index("ix_comments_ticket", "ticket_id", "created_at"),
)

ticket_history = sa.Table(
    "ticket_history",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("ticket_id", sa.String(ID), sa.ForeignKey("tickets.id"), nullable=False),
    sa.Column("from_status", sa.String(20), nullable=False),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("actor", sa.String(80), nullable=False, server_default=""),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("hlc", sa.String(HLC), nullable=False),
    sa.Column("origin_node_id", sa.String(ID), nullable=True),
    sa.Index("ix_ticket_history_ticket", "ticket_id", "hlc"),
)

push_results = sa.Table(
    "push_results",
    metadata,
    # The answers to one pushed batch of a node (ops first_seq..last_seq, consecutive), kept so a
    # batch sent again gets the same answers: msgpack of list[sync_protocol.messages.KeptResult].
    sa.Column("node_id", sa.String(ID), sa.ForeignKey("nodes.id"), primary_key=True),
    sa.Column("first_seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("results", sa.LargeBinary, nullable=False),
    sa.Column("rejected", sa.Integer, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index("ix_push_results_node_last", "node_id", "last_seq"),
)

changes = sa.Table(
    "changes",
    metadata,
    sa.Column("pos", BigId, sa.Identity(), primary_key=True),
    sa.Column("entity", sa.String(CODE), nullable=False),
    sa.Column("entity_id", sa.String(64), nullable=False),
    sa.Column("scope_store", sa.String(ID), nullable=True),
    sa.Column("scope_region", sa.String(ID), nullable=True),
    sa.Column("hlc", sa.String(HLC), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    # Partial indexes, so the global scan (both NULL) can only use ix_changes_global.
    sa.Index(
        "ix_changes_store",
        "scope_store",
        "pos",
        sqlite_where=sa.text("scope_store IS NOT NULL"),
        postgresql_where=sa.text("scope_store IS NOT NULL"),
    ),
    sa.Index(
        "ix_changes_region",
        "scope_region",
        "pos",
        sqlite_where=sa.text("scope_region IS NOT NULL"),
        postgresql_where=sa.text("scope_region IS NOT NULL"),
    ),
    sa.Index(
        "ix_changes_global",
        "pos",
        sqlite_where=sa.text("scope_store IS NULL AND scope_region IS NULL"),
        postgresql_where=sa.text("scope_store IS NULL AND scope_region IS NULL"),
    ),
    sqlite_autoincrement=True,
)


routing_rules = sa.Table(
    "routing_rules",
    metadata,
    # One row per rule; ``position`` orders them (first match wins). ``rule`` is the JSON of a
    # hq_server.routing_rules.Rule, so a rule's shape can grow without a migration.
    sa.Column("id", sa.String(CODE), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("rule", JsonText, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

sla_policies = sa.Table(
    "sla_policies",
    metadata,
    # Targets per ticket type and priority; "*" matches any (the most specific row wins).
    sa.Column("ticket_type", sa.String(CODE), primary_key=True),
    sa.Column("priority", sa.String(16), primary_key=True),
    sa.Column("policy", JsonText, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

department_calendars = sa.Table(
    "department_calendars",
    metadata,
    # A department's business hours (hq_server.business_hours.Calendar as JSON); "*" is the default.
    sa.Column("department", sa.String(CODE), primary_key=True),
    sa.Column("calendar", JsonText, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

escalation_steps = sa.Table(
    "escalation_steps",
    metadata,
    # The escalation ladder, one row per step in ``position`` order; ``step`` is the JSON of a
    # hq_server.escalation.Step.
    sa.Column("id", sa.String(CODE), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("step", JsonText, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

escalation_firings = sa.Table(
    "escalation_firings",
    metadata,
    # A step that fired for a ticket. The primary key is the promise that a step fires once per
    # ticket, across restarts and concurrent sweeps.
    sa.Column("ticket_id", sa.String(ID), sa.ForeignKey("tickets.id"), primary_key=True),
    sa.Column("step_id", sa.String(CODE), primary_key=True),
    sa.Column("fired_at", sa.BigInteger, nullable=False),
)

notifications = sa.Table(
    "notifications",
    metadata,
    # In-app notifications, addressed to a role (in a department, or chain-wide when "").
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("role", sa.String(CODE), nullable=False),
    sa.Column("department", sa.String(CODE), nullable=False, server_default=""),
    sa.Column("ticket_id", sa.String(ID), nullable=True),
    sa.Column("kind", sa.String(CODE), nullable=False),
    sa.Column("params", JsonText, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("read_at", sa.BigInteger, nullable=True),
    sa.Index("ix_notifications_to", "role", "department", "created_at"),
)

webhook_events = sa.Table(
    "webhook_events",
    metadata,
    # Events for the configured webhooks (an outbox: written in the transaction that caused the
    # event, delivered and retried by the scheduler).
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("event", sa.String(CODE), nullable=False),
    sa.Column("payload", JsonText, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    sa.Column("delivered_at", sa.BigInteger, nullable=True),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_webhook_events_due", "delivered_at", "next_attempt_at"),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    # Where HQ posts its events (WeCom, SMS gateways...): each delivery is signed with ``secret``.
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("url", sa.String(500), nullable=False),
    sa.Column("secret", sa.String(200), nullable=False),
    # JSON list of event names it wants; empty: every event.
    sa.Column("events", JsonText, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    # One event to one webhook: attempts, the next try (exponential backoff), the outcome.
    sa.Column("event_id", sa.String(ID), sa.ForeignKey("webhook_events.id"), primary_key=True),
    sa.Column("webhook_id", sa.String(ID), sa.ForeignKey("webhooks.id"), primary_key=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    sa.Column("delivered_at", sa.BigInteger, nullable=True),
    sa.Column("failed_at", sa.BigInteger, nullable=True),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_webhook_deliveries_due", "delivered_at", "failed_at", "next_attempt_at"),
)

surveys = sa.Table(
    "surveys",
    metadata,
    # The satisfaction survey sent when a ticket is resolved: one per ticket, one answer each.
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("ticket_id", sa.String(ID), sa.ForeignKey("tickets.id"), nullable=False, unique=True),
    sa.Column("department", sa.String(CODE), nullable=False),
    sa.Column("assignee", sa.String(80), nullable=False, server_default=""),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("answered_at", sa.BigInteger, nullable=True),
    sa.Column("score", sa.Integer, nullable=True),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
)

agents = sa.Table(
    "agents",
    metadata,
    # HQ staff who work tickets. ``departments`` and ``lead_of`` are JSON lists of department
    # codes; ``shift`` a business_hours.Calendar as JSON (null: on shift whenever active).
    sa.Column("id", sa.String(CODE), primary_key=True),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("departments", JsonText, nullable=False),
    sa.Column("lead_of", JsonText, nullable=False),
    sa.Column("cap", sa.Integer, nullable=False, server_default="20"),
    sa.Column("shift", JsonText, nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

department_settings = sa.Table(
    "department_settings",
    metadata,
    # How a department hands out its tickets: ``round_robin`` or ``least_open``; after how many
    # minutes an untouched assignment goes back to the pool; where round robin stands.
    sa.Column("department", sa.String(CODE), primary_key=True),
    sa.Column("strategy", sa.String(20), nullable=False, server_default="round_robin"),
    sa.Column("assignment_timeout_min", sa.Integer, nullable=False, server_default="120"),
    sa.Column("last_assigned", sa.String(CODE), nullable=False, server_default=""),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

ticket_forms = sa.Table(
    "ticket_forms",
    metadata,
    # The form of a ticket type (sync_protocol.forms.Form as JSON): the fields it asks for.
    sa.Column("ticket_type", sa.String(CODE), sa.ForeignKey("ticket_types.code"), primary_key=True),
    sa.Column("form", JsonText, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

customers = sa.Table(
    "customers",
    metadata,
    # The chain's customers as the intake channels name them: by phone, member id or both.
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("phone", sa.String(32), nullable=True, unique=True),
    sa.Column("member_id", sa.String(64), nullable=True, unique=True),
    sa.Column("name", sa.String(80), nullable=False, server_default=""),
    # "vip", "gold", "regular"...: routing rules look at it.
    sa.Column("level", sa.String(CODE), nullable=False, server_default=""),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

intake_messages = sa.Table(
    "intake_messages",
    metadata,
    # Each message an intake channel delivered, by the channel's own message id: a second
    # delivery of one message finds its ticket here instead of making another.
    sa.Column("channel", sa.String(CODE), primary_key=True),
    sa.Column("message_id", sa.String(128), primary_key=True),
    sa.Column("ticket_id", sa.String(ID), sa.ForeignKey("tickets.id"), nullable=False),
    sa.Column("customer_id", sa.String(ID), sa.ForeignKey("customers.id"), nullable=True),
    sa.Column("received_at", sa.BigInteger, nullable=False),
    sa.Index("ix_intake_messages_customer", "customer_id"),
)

ticket_shares = sa.Table(
    "ticket_shares",
    metadata,
    # A ticket shared with another department: that department's own task on it.
    sa.Column("ticket_id", sa.String(ID), sa.ForeignKey("tickets.id"), primary_key=True),
    sa.Column("department", sa.String(CODE), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False, server_default="open"),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("shared_by", sa.String(CODE), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Index("ix_ticket_shares_department", "department", "status"),
)

internal_notes = sa.Table(
    "internal_notes",
    metadata,
    # Notes for HQ only: never in the change log, so no store ever receives them.
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("ticket_id", sa.String(ID), sa.ForeignKey("tickets.id"), nullable=False),
    sa.Column("department", sa.String(CODE), nullable=False, server_default=""),
    sa.Column("author", sa.String(80), nullable=False, server_default=""),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index("ix_internal_notes_ticket", "ticket_id", "created_at"),
)

ticket_links = sa.Table(
    "ticket_links",
    metadata,
    # Tickets linked to one another: ``related``, or ``duplicate`` (``ticket_id`` merged into
    # ``other_id``).
    sa.Column("ticket_id", sa.String(ID), sa.ForeignKey("tickets.id"), primary_key=True),
    sa.Column("other_id", sa.String(ID), sa.ForeignKey("tickets.id"), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

ticket_assignments = sa.Table(
    "ticket_assignments",
    metadata,
    # When a ticket last changed hands (any assignee change, also one that writes no status
    # event, such as a lead moving it between agents): the assignment timeout counts from it.
    sa.Column("ticket_id", sa.String(ID), sa.ForeignKey("tickets.id"), primary_key=True),
    sa.Column("assignee", sa.String(80), nullable=False),
    sa.Column("assigned_at", sa.BigInteger, nullable=False),
)


# Version 10: stock and transfers.

stock_moves = sa.Table(
    "stock_moves",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("store_id", sa.String(ID), sa.ForeignKey("stores.id"), nullable=False),
    sa.Column("sku", sa.String(64), nullable=False),
    sa.Column("qty", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.String(20), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("ref", sa.String(ID), nullable=False, server_default=""),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("hlc", sa.String(HLC), nullable=False),
    sa.Column("origin_node_id", sa.String(ID), nullable=True),
    sa.Index("ix_stock_moves_store_sku", "store_id", "sku", "at"),
)

stock_levels = sa.Table(
    "stock_levels",
    metadata,
    sa.Column("store_id", sa.String(ID), sa.ForeignKey("stores.id"), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("product_code", sa.String(64), nullable=False),
    sa.Column("on_hand", sa.BigInteger, nullable=False),
    sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    # Covering the lookup: a product's rows of every store without touching the table.
    sa.Index("ix_stock_levels_product", "product_code", "store_id", "sku", "on_hand", "reserved", "updated_at"),
    sa.Index("ix_stock_levels_sku", "sku"),
)

stock_thresholds = sa.Table(
    "stock_thresholds",
    metadata,
    sa.Column("store_id", sa.String(ID), sa.ForeignKey("stores.id"), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("threshold", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

transfers = sa.Table(
    "transfers",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("number", sa.String(64), nullable=False),
    sa.Column("from_store_id", sa.String(ID), sa.ForeignKey("stores.id"), nullable=False),
    sa.Column("to_store_id", sa.String(ID), sa.ForeignKey("stores.id"), nullable=False),
    sa.Column("sku", sa.String(64), nullable=False),
    sa.Column("qty", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("requested_at", sa.BigInteger, nullable=False),
    # Lead times (reports): when each step was taken.
    sa.Column("approved_at", sa.BigInteger, nullable=True),
    sa.Column("shipped_at", sa.BigInteger, nullable=True),
    sa.Column("received_at", sa.BigInteger, nullable=True),
    sa.Column("closed_at", sa.BigInteger, nullable=True),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("hlc", sa.String(HLC), nullable=False),
    #: The whole :class:`~sync_protocol.stock.TransferState`, msgpack.
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Index("ix_transfers_number", "number", unique=True),
    sa.Index("ix_transfers_from", "from_store_id", "status"),
    sa.Index("ix_transfers_to", "to_store_id", "status"),
)

#: The exception or replenishment ticket open for a store's SKU (one per kind while it is open).
stock_alerts = sa.Table(
    "stock_alerts",
    metadata,
    sa.Column("store_id", sa.String(ID), sa.ForeignKey("stores.id"), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("ticket_id", sa.String(ID), sa.ForeignKey("tickets.id"), nullable=False),
    sa.Column("opened_at", sa.BigInteger, nullable=False),
)


# Version 11: orders (store sales and online orders), the records returns are checked against.

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("number", sa.String(64), nullable=False, unique=True),
    sa.Column("channel", sa.String(CODE), nullable=False),
    sa.Column("store_id", sa.String(ID), sa.ForeignKey("stores.id"), nullable=True),
    sa.Column("customer_phone", sa.String(32), nullable=False, server_default=""),
    sa.Column("customer_name", sa.String(80), nullable=False, server_default=""),
    sa.Column("paid_at", sa.BigInteger, nullable=False),
    sa.Column("total_cents", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("hlc", sa.String(HLC), nullable=False),
    sa.Index("ix_orders_phone_paid", "customer_phone", "paid_at"),
    sa.Index("ix_orders_store_paid", "store_id", "paid_at"),
)

order_lines = sa.Table(
    "order_lines",
    metadata,
    sa.Column("order_id", sa.String(ID), sa.ForeignKey("orders.id"), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("sku", sa.String(64), nullable=False),
    sa.Column("product_code", sa.String(64), nullable=False, server_default=""),
    sa.Column("name", sa.String(120), nullable=False, server_default=""),
    sa.Column("category", sa.String(CODE), nullable=False, server_default=""),
    sa.Column("colour", sa.String(CODE), nullable=False, server_default=""),
    sa.Column("size", sa.String(CODE), nullable=False, server_default=""),
    sa.Column("qty", sa.Integer, nullable=False),
    sa.Column("unit_price_cents", sa.BigInteger, nullable=False),
    sa.Column("returned_qty", sa.Integer, nullable=False, server_default="0"),
)


# Version 12: returns and exchanges decided at HQ (sync_protocol.returns).

returns = sa.Table(
    "returns",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("number", sa.String(64), nullable=False, unique=True),
    sa.Column("order_id", sa.String(ID), sa.ForeignKey("orders.id"), nullable=False),
    # The store that took the goods back, and the one that sold them (None: online).
    sa.Column("store_id", sa.String(ID), sa.ForeignKey("stores.id"), nullable=False),
    sa.Column("selling_store_id", sa.String(ID), nullable=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(CODE), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("code", sa.String(CODE), nullable=False, server_default=""),
    sa.Column("method", sa.String(CODE), nullable=False),
    sa.Column("returned_cents", sa.BigInteger, nullable=False),
    sa.Column("refund_cents", sa.BigInteger, nullable=False),
    sa.Column("payable_cents", sa.BigInteger, nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("decided_at", sa.BigInteger, nullable=False),
    sa.Column("hlc", sa.String(HLC), nullable=False),
    # The whole ReturnState as JSON (lines, decisions, refusal texts, ticket numbers).
    sa.Column("data", JsonText, nullable=False),
    sa.Index("ix_returns_order", "order_id"),
    sa.Index("ix_returns_store_at", "store_id", "at"),
    sa.Index("ix_returns_at", "at"),
)

return_lines = sa.Table(
    "return_lines",
    metadata,
    # The lines of accepted returns, for reports (reasons by category, SKU, store).
    sa.Column("return_id", sa.String(ID), sa.ForeignKey("returns.id"), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("sku", sa.String(64), nullable=False),
    sa.Column("product_code", sa.String(64), nullable=False, server_default=""),
    sa.Column("category", sa.String(CODE), nullable=False, server_default=""),
    sa.Column("qty", sa.Integer, nullable=False),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
)


# Version 13: staff accounts and their sign-in sessions (hq_server.accounts, hq_server.sessions).

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    # Lowercased: sign-in is case-insensitive.
    sa.Column("username", sa.String(40), nullable=False, unique=True),
    sa.Column("display_name", sa.String(80), nullable=False),
    sa.Column("role", sa.String(CODE), nullable=False),
    # argon2id hashes (hq_server.passwords); never answered or logged.
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("pin_hash", sa.String(255), nullable=True),
    # Scope (hq_server.principals): department codes, region ids, the store of store staff.
    sa.Column("departments", JsonText, nullable=False),
    sa.Column("regions", JsonText, nullable=False),
    sa.Column("store_id", sa.String(ID), sa.ForeignKey("stores.id"), nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    # Consecutive failed sign-ins, and the end of a lockout.
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("password_changed_at", sa.BigInteger, nullable=False),
    sa.Index("ix_users_role", "role"),
)

sessions = sa.Table(
    "sessions",
    metadata,
    # sha256 (hex) of the cookie's token: the token itself is never stored.
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(ID), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_seen_at", sa.BigInteger, nullable=False),
    # Absolute end (created_at + 12 h); the idle limit is counted from last_seen_at.
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("user_agent", sa.String(200), nullable=False, server_default=""),
    sa.Index("ix_sessions_user", "user_id"),
    sa.Index("ix_sessions_expires", "expires_at"),
)


# Version 14: the console's saved queue views (hq_server.console.queue_inbox), one set per user.

saved_views = sa.Table(
    "saved_views",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("user_id", sa.String(ID), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("name", sa.String(80), nullable=False),
    # The queue's filters as a URL query string (status=new&mine=1...).
    sa.Column("query", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("user_id", "name", name="uq_saved_views_user_name"),
)
