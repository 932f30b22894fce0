"""Fixtures for store-node tests: a replica folder, an enrolled node, and an in-process HQ."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hq_server.app import create_app as create_hq_app
from store_node.node import Node
from tests.hq.helpers import ADMIN_TOKEN, Hq
from tests.store.helpers import Store, enrolled_node

StoreFactory = Callable[..., Store]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def node(data_dir: Path) -> Iterator[Node]:
    """A store node that has adopted an identity (no HQ involved)."""
    made = enrolled_node(data_dir)
    yield made
    made.close()


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[Hq]:
    """HQ on a fresh SQLite file, served in-process."""
    app = create_hq_app(str(tmp_path / "hq.db"), ADMIN_TOKEN)
    with TestClient(app) as client:
        yield Hq(app, client)


@pytest.fixture
def make_store(tmp_path: Path, hq: Hq) -> Iterator[StoreFactory]:
    """Enroll a store PC at HQ and give it an (empty) replica; it learns its identity on first sync."""
    made: list[Store] = []

    def factory(code: str = "SH001", *, wall_ms: Callable[[], int] | None = None) -> Store:
        enrollment = hq.enroll(code).enrollment
        store = Store(hq, tmp_path / f"{code}-{len(made)}", enrollment, wall_ms=wall_ms)
        made.append(store)
        return store

    yield factory
    for store in made:
        store.node.close()
