"""Numbered, named migrations of the store replica, recorded in ``schema_migrations``.

Each runs in its own transaction at start; a migration is never edited once shipped.
"""

from __future__ import annotations

import sqlite3
import time

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "initial",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE tickets (
            id TEXT PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,
            store_id TEXT NOT NULL,
            type TEXT NOT NULL,
            title TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            category TEXT NOT NULL DEFAULT '',
            product_code TEXT NOT NULL DEFAULT '',
            customer_phone TEXT NOT NULL DEFAULT '',
            customer_name TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'new',
            department TEXT NOT NULL DEFAULT '',
            assignee TEXT NOT NULL DEFAULT '',
            priority TEXT NOT NULL DEFAULT 'normal',
            first_response_due INTEGER,
            resolution_due INTEGER,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            hlc TEXT NOT NULL,
            extra TEXT NOT NULL DEFAULT '{}',
            origin TEXT NOT NULL DEFAULT 'store',
            gen INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX tickets_updated ON tickets(updated_at);
        CREATE INDEX tickets_status ON tickets(status);
        CREATE TABLE comments (
            id TEXT PRIMARY KEY,
            ticket_id TEXT NOT NULL,
            body TEXT NOT NULL,
            author TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT 'store',
            created_at INTEGER NOT NULL,
            hlc TEXT NOT NULL,
            gen INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX comments_ticket ON comments(ticket_id, created_at);
        CREATE TABLE history (
            id TEXT PRIMARY KEY,
            ticket_id TEXT NOT NULL,
            from_status TEXT NOT NULL,
            to_status TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            actor TEXT NOT NULL DEFAULT '',
            at INTEGER NOT NULL,
            hlc TEXT NOT NULL,
            gen INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX history_ticket ON history(ticket_id, at);
        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY,
            op_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            record_id TEXT NOT NULL,
            hlc TEXT NOT NULL,
            payload BLOB NOT NULL,
            fields TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL DEFAULT 'pending',
            code TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            created_at INTEGER NOT NULL,
            done_at INTEGER
        );
        CREATE INDEX outbox_state ON outbox(state, seq);
        CREATE INDEX outbox_entity ON outbox(entity_id, state);
        CREATE INDEX outbox_record ON outbox(record_id, state);
        CREATE TABLE reference (
            entity TEXT NOT NULL,
            id TEXT NOT NULL,
            code TEXT NOT NULL,
            name_zh TEXT NOT NULL,
            name_en TEXT NOT NULL DEFAULT '',
            attrs TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (entity, id)
        );
        """,
    ),
    (
        2,
        "reference_by_code",
        """
        CREATE INDEX reference_code ON reference(entity, code);
        """,
    ),
    (
        3,
        "routing_and_sla",
        """
        ALTER TABLE tickets ADD COLUMN channel TEXT NOT NULL DEFAULT 'store';
        ALTER TABLE tickets ADD COLUMN routed_at INTEGER;
        ALTER TABLE tickets ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE tickets ADD COLUMN first_responded_at INTEGER;
        ALTER TABLE tickets ADD COLUMN sla_paused INTEGER NOT NULL DEFAULT 0
        """,
    ),
    (
        4,
        "stock_and_transfers",
        """
        CREATE TABLE stock_moves (
            id TEXT PRIMARY KEY,
            sku TEXT NOT NULL,
            qty INTEGER NOT NULL,
            reason TEXT NOT NULL,
            at INTEGER NOT NULL,
            ref TEXT NOT NULL DEFAULT '',
            note TEXT NOT NULL DEFAULT '',
            origin TEXT NOT NULL DEFAULT 'store',
            hlc TEXT NOT NULL DEFAULT '',
            gen INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX stock_moves_sku ON stock_moves(sku, at);
        CREATE INDEX stock_moves_ref ON stock_moves(ref);
        CREATE TABLE stock_on_hand (
            sku TEXT PRIMARY KEY,
            qty INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE stock_levels (
            store_id TEXT NOT NULL,
            sku TEXT NOT NULL,
            product_code TEXT NOT NULL,
            on_hand INTEGER NOT NULL DEFAULT 0,
            reserved INTEGER NOT NULL DEFAULT 0,
            as_of INTEGER NOT NULL DEFAULT 0,
            gen INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (store_id, sku)
        );
        CREATE INDEX stock_levels_product ON stock_levels(product_code, store_id, sku, on_hand, reserved, as_of);
        CREATE TABLE transfers (
            id TEXT PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,
            from_store_id TEXT NOT NULL DEFAULT '',
            to_store_id TEXT NOT NULL,
            sku TEXT NOT NULL,
            qty INTEGER NOT NULL,
            status TEXT NOT NULL,
            code TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            data TEXT NOT NULL DEFAULT '{}',
            updated_at INTEGER NOT NULL,
            origin TEXT NOT NULL DEFAULT 'store',
            gen INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX transfers_from ON transfers(from_store_id, status);
        CREATE INDEX transfers_to ON transfers(to_store_id, status);
        CREATE TABLE catalogue_skus (
            sku TEXT PRIMARY KEY,
            product_code TEXT NOT NULL,
            colour TEXT NOT NULL DEFAULT '',
            size TEXT NOT NULL DEFAULT '',
            barcode TEXT NOT NULL DEFAULT '',
            sort INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX catalogue_skus_product ON catalogue_skus(product_code, sort);
        CREATE INDEX catalogue_skus_barcode ON catalogue_skus(barcode);
        INSERT OR REPLACE INTO catalogue_skus (sku, product_code, colour, size, barcode, sort)
            SELECT json_extract(s.value, '$.code'), p.code,
                   coalesce(json_extract(s.value, '$.colour'), ''), coalesce(json_extract(s.value, '$.size'), ''),
                   coalesce(json_extract(s.value, '$.barcode'), ''), s.key
            FROM reference AS p, json_each(p.attrs, '$.skus') AS s
            WHERE p.entity = 'product' AND json_extract(s.value, '$.code') IS NOT NULL
        """,
    ),
    (
        5,
        "orders",
        """
        CREATE TABLE orders (
            id TEXT PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,
            channel TEXT NOT NULL,
            store_id TEXT NOT NULL DEFAULT '',
            store_code TEXT NOT NULL DEFAULT '',
            store_name TEXT NOT NULL DEFAULT '',
            customer_phone TEXT NOT NULL DEFAULT '',
            customer_name TEXT NOT NULL DEFAULT '',
            paid_at INTEGER NOT NULL,
            total_cents INTEGER NOT NULL,
            data TEXT NOT NULL,
            hlc TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT 'own',
            seen_at INTEGER NOT NULL DEFAULT 0,
            gen INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX orders_phone ON orders(customer_phone, paid_at);
        CREATE INDEX orders_seen ON orders(source, seen_at)
        """,
    ),
    (
        6,
        "returns",
        """
        CREATE TABLE returns (
            id TEXT PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,
            order_id TEXT NOT NULL,
            order_number TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL,
            reason TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            code TEXT NOT NULL DEFAULT '',
            refund_cents INTEGER NOT NULL DEFAULT 0,
            payable_cents INTEGER NOT NULL DEFAULT 0,
            at INTEGER NOT NULL,
            data TEXT NOT NULL,
            hlc TEXT NOT NULL DEFAULT '',
            origin TEXT NOT NULL DEFAULT 'store',
            gen INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX returns_at ON returns(at);
        CREATE INDEX returns_status ON returns(status, at);
        CREATE INDEX returns_order ON returns(order_id, status);
        CREATE TABLE return_policy (
            id TEXT PRIMARY KEY,
            data TEXT NOT NULL,
            hlc TEXT NOT NULL DEFAULT '',
            gen INTEGER NOT NULL DEFAULT 0
        )
        """,
    ),
    (
        7,
        "accounts",
        """
        CREATE TABLE accounts (
            id TEXT PRIMARY KEY,
            username TEXT NOT NULL UNIQUE,
            display_name TEXT NOT NULL,
            role TEXT NOT NULL,
            password_hash TEXT NOT NULL DEFAULT '',
            pin_hash TEXT NOT NULL DEFAULT '',
            active INTEGER NOT NULL DEFAULT 1,
            updated_at INTEGER NOT NULL DEFAULT 0,
            gen INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE signin_failures (
            username TEXT PRIMARY KEY,
            failures INTEGER NOT NULL DEFAULT 0,
            locked_until INTEGER NOT NULL DEFAULT 0
        )
        """,
    ),
]


def apply_migrations(conn: sqlite3.Connection) -> list[int]:
    """Apply every migration not yet recorded; returns the numbers applied now."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at INTEGER)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    applied: list[int] = []
    for version, name, script in MIGRATIONS:
        if version in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, name, int(time.time() * 1000)))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied
