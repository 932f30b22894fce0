"""Versioned migrations (hq_server.migrations): a migrated database is the schema the code queries."""

from __future__ import annotations

import sqlalchemy as sa

from hq_server.app import open_database
from hq_server.migrations import MIGRATIONS, applied_versions, migrate
from hq_server.schema import metadata
from sync_protocol.hlc import HybridClock


def test_migrated_database_has_every_table_and_column_the_schema_declares(db_url: str) -> None:
    db = open_database(db_url)
    try:
        with db.read() as conn:
            inspector = sa.inspect(conn)
            for name, table in metadata.tables.items():
                assert inspector.has_table(name), name
                columns = {c["name"] for c in inspector.get_columns(name)}
                assert columns == {c.name for c in table.columns}, name
        assert applied_versions(db) == [version for version, _, _ in MIGRATIONS]
    finally:
        db.close()


def test_migrating_again_applies_nothing(db_url: str) -> None:
    db = open_database(db_url)
    try:
        assert migrate(db, HybridClock("hq")) == []
    finally:
        db.close()
