"""Versioned schema migrations, applied at start, each in its own transaction.

A migration is ``(version, name, function)``; :data:`MIGRATIONS` lists them in order and
``schema_migrations`` records the ones a database has. :func:`migrate` applies the missing ones,
each in one write transaction that also records it, so a crash leaves a database at a version
boundary. Write transactions hold the change-log lock, which also keeps two HQ processes starting
at once from applying the same migration twice (each re-checks under the lock).

Rule for later migrations: ``0001`` builds the tables from :mod:`hq_server.schema` as it stood at
version 1. Before a later migration changes a table, copy that table's version-1 definition into
``_initial_schema`` (freeze it), then change ``schema.py`` and add the migration that alters it.
``tests/hq/test_migrations.py`` checks that a migrated database has the columns the code queries.
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


def _initial_schema(conn: Connection, clock: HybridClock) -> None:
    tables = [table for name, table in metadata.tables.items() if name != "schema_migrations"]
    metadata.create_all(conn, tables=tables)


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
