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

import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import reference
from hq_server.db import Database
from hq_server.schema import metadata, schema_migrations
from sync_protocol.hlc import HybridClock
from sync_protocol.tickets import DEFAULT_TICKET_TYPES

MigrationFn = Callable[[Connection, HybridClock], None]


#: The tables version 1 made (each still as :mod:`hq_server.schema` defines it).
_VERSION_1_TABLES = (
    "meta",
    "regions",
    "stores",
    "nodes",
    "departments",
    "ticket_types",
    "tickets",
    "comments",
    "ticket_history",
    "op_results",
    "changes",
)


def _create(conn: Connection, *names: str) -> None:
    metadata.create_all(conn, tables=[metadata.tables[name] for name in names])


def _initial_schema(conn: Connection, clock: HybridClock) -> None:
    _create(conn, *_VERSION_1_TABLES)


def _products(conn: Connection, clock: HybridClock) -> None:
    _create(conn, "products", "skus")


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


MIGRATIONS: list[tuple[int, str, MigrationFn]] = [
    (1, "initial_schema", _initial_schema),
    (2, "default_reference_data", _default_reference_data),
    (3, "products", _products),
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
