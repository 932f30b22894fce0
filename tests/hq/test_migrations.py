"""Versioned migrations (hq_server.migrations): a migrated database is the schema the code queries."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hq_server import migrations, nodes
from hq_server.app import open_database
from hq_server.enrollment import enroll_store
from hq_server.migrations import MIGRATIONS, applied_versions, migrate
from hq_server.schema import metadata
from sync_protocol.hlc import HybridClock
from sync_protocol.messages import OpResult


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


def test_results_kept_per_op_before_version_4_are_answered_again_after_it(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database of version 3 kept one row per op; after migrating, a resent batch still gets them."""
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:3])
    db = open_database(db_url)
    clock = HybridClock("hq")
    try:
        enrollment = enroll_store(db, clock, "SH001", region="east")
        op_results = sa.Table("op_results", sa.MetaData(), autoload_with=db.engine)
        with db.write() as conn:
            conn.execute(
                op_results.insert(),
                [
                    {
                        "node_id": enrollment.node_id,
                        "seq": seq,
                        "op_id": f"op-{seq}",
                        "kind": "ticket.set",
                        "entity_id": "t-1",
                        "status": "merged",
                        "code": "superseded",
                        "reason": "已被更新的修改覆盖：标题",
                        "hlc": f"000001732000000000.00000{seq}.n",
                        "superseded": '["title"]',
                        "created_at": 1,
                    }
                    for seq in (1, 2)
                ],
            )
        monkeypatch.undo()
        assert migrate(db, clock)[0] == "0004_push_results"
        with db.read() as conn:
            assert not sa.inspect(conn).has_table("op_results")
            kept = nodes.stored_results(conn, enrollment.node_id, [1, 2, 3])
        assert sorted(kept) == [1, 2]
        assert kept[2] == OpResult(
            seq=2,
            op_id="op-2",
            status="merged",
            code="superseded",
            reason="已被更新的修改覆盖：标题",
            hlc="000001732000000000.000002.n",
            superseded=["title"],
        )
    finally:
        db.close()
