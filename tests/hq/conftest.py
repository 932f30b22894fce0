"""Fixtures for HQ tests: the database (SQLite file, and PostgreSQL when reachable) and an HQ app.

PostgreSQL comes from ``STOREDESK_TEST_PG`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/
test``). The run creates its own database there and drops it at the end; each test gets a fresh
schema in it. Unreachable PostgreSQL skips its tests with the reason, except under ``CI=true``,
where it fails them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from hq_server.app import create_app
from tests.hq.helpers import ADMIN_TOKEN, Hq

PG_ENV = "STOREDESK_TEST_PG"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _admin_engine(url: sa.URL) -> sa.Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[sa.URL]:
    """A PostgreSQL database of this test run, dropped afterwards."""
    base = sa.make_url(os.environ.get(PG_ENV, PG_DEFAULT))
    name = f"storedesk_hq_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = _admin_engine(base)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        reason = f"PostgreSQL not reachable at {base.render_as_string(hide_password=True)}: {exc.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the PostgreSQL tests must run)")
        pytest.skip(reason)
    try:
        yield base.set(database=name)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def pg_url(pg_database: sa.URL) -> Iterator[str]:
    """A fresh, empty schema in the run's PostgreSQL database, as a URL whose search_path is it."""
    schema = f"t_{secrets.token_hex(6)}"
    admin = _admin_engine(pg_database)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        url = pg_database.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty HQ database: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return str(tmp_path / "hq.db")
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def hq(db_url: str) -> Iterator[Hq]:
    """HQ on a fresh database, served in-process."""
    app = create_app(db_url, ADMIN_TOKEN)
    with TestClient(app) as client:
        yield Hq(app, client)
