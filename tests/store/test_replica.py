"""The replica file: migrations, pragmas, transactions and meta state (store_node.replica, .migrations)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from store_node import migrations
from store_node.replica import DB_FILE, Replica
from tests.store.helpers import scalar

LATEST = max(version for version, _, _ in migrations.MIGRATIONS)


def recorded_versions(replica: Replica) -> list[int]:
    return [row[0] for row in replica.query("SELECT version FROM schema_migrations ORDER BY version")]


def test_fresh_data_dir_reaches_the_latest_schema_version(tmp_path: Path) -> None:
    data_dir = tmp_path / "does" / "not" / "exist" / "yet"
    replica = Replica(data_dir)
    try:
        assert (data_dir / DB_FILE).is_file()
        assert recorded_versions(replica) == [version for version, _, _ in migrations.MIGRATIONS]
        assert recorded_versions(replica)[-1] == LATEST
        tables = {row[0] for row in replica.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"meta", "tickets", "comments", "history", "outbox", "reference"} <= tables
        indexes = {row[0] for row in replica.query("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "reference_code" in indexes  # migration 2
    finally:
        replica.close()


def test_reopening_a_replica_applies_nothing_and_keeps_its_data(tmp_path: Path) -> None:
    first = Replica(tmp_path)
    first.set(store_code="SH012")
    applied_at = first.query("SELECT version, applied_at FROM schema_migrations ORDER BY version")
    first.close()

    second = Replica(tmp_path)
    try:
        assert migrations.apply_migrations(second.conn) == []
        assert second.query("SELECT version, applied_at FROM schema_migrations ORDER BY version") == applied_at
        assert second.get("store_code") == "SH012"
    finally:
        second.close()


def test_a_replica_from_an_older_version_is_upgraded_in_place(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at INTEGER)")
    version, name, script = migrations.MIGRATIONS[0]
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 0)", (version, name))
    conn.execute("INSERT INTO reference (entity, id, code, name_zh) VALUES ('ticket_type', 't1', 'quality', '质量')")
    conn.close()

    replica = Replica(tmp_path)
    try:
        assert recorded_versions(replica)[-1] == LATEST
        assert scalar(replica, "SELECT name_zh FROM reference WHERE code = 'quality'") == "质量"
    finally:
        replica.close()


def test_a_failing_migration_leaves_no_trace_and_is_retried_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = (LATEST + 1, "broken", "CREATE TABLE half_done (a INTEGER); INSERT INTO no_such_table VALUES (1)")
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, broken])
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        Replica(tmp_path)

    conn = sqlite3.connect(tmp_path / DB_FILE)
    try:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions[-1] == LATEST  # the good ones stay applied, the broken one is not recorded
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0
    finally:
        conn.close()

    fixed = (LATEST + 1, "fixed", "CREATE TABLE half_done (a INTEGER)")
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS[:-1], fixed])
    replica = Replica(tmp_path)
    try:
        assert recorded_versions(replica)[-1] == LATEST + 1
    finally:
        replica.close()


def test_wal_mode_and_safe_pragmas_are_on(tmp_path: Path) -> None:
    replica = Replica(tmp_path)
    try:
        assert scalar(replica, "PRAGMA journal_mode") == "wal"
        assert scalar(replica, "PRAGMA busy_timeout") == 5000
        assert scalar(replica, "PRAGMA foreign_keys") == 1
    finally:
        replica.close()
    # WAL is persistent: a plain connection to the file sees it too.
    conn = sqlite3.connect(tmp_path / DB_FILE)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_transaction_commits_all_or_nothing(tmp_path: Path) -> None:
    replica = Replica(tmp_path)
    try:
        with replica.tx():
            replica.set(a=1)
        with pytest.raises(RuntimeError), replica.tx():
            replica.set(a=2, b=2)
            raise RuntimeError("power cut")
        assert (replica.get("a"), replica.get("b", "unset")) == ("1", "unset")
    finally:
        replica.close()


def test_a_failed_nested_transaction_rolls_back_only_its_own_part(tmp_path: Path) -> None:
    replica = Replica(tmp_path)
    try:
        with replica.tx():
            replica.set(outer=1)
            with pytest.raises(ValueError), replica.tx():
                replica.set(inner=1)
                raise ValueError("inner step fails")
            replica.set(after=1)
        assert replica.get("outer") == "1"
        assert replica.get("inner", "unset") == "unset"
        assert replica.get("after") == "1"
        assert not replica.conn.in_transaction
    finally:
        replica.close()


def test_meta_values_read_back_as_text_and_int_with_defaults(tmp_path: Path) -> None:
    replica = Replica(tmp_path)
    try:
        assert replica.get("cursor", "0") == "0"
        assert replica.get_int("next_seq", 1) == 1
        replica.set(next_seq=42, store_name="徐汇店", empty=None)
        replica.set(next_seq=43)
        assert replica.get_int("next_seq", 1) == 43
        assert replica.get("store_name") == "徐汇店"
        assert replica.get_int("empty", 7) == 7
    finally:
        replica.close()
