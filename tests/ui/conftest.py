"""Fixtures for the clerk UI's page tests: the store node's real app, enrolled, its sync loop off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from store_node.app import create_app
from store_node.node import Node
from tests.store.helpers import fake_hello


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[TestClient]:
    """The node's app (HQ never contacted), not signed in."""
    app = create_app(tmp_path / "store", "http://127.0.0.1:9", "token", start_sync=False)
    app.state.node.adopt(fake_hello())
    with TestClient(app) as client:
        yield client


@pytest.fixture
def clerk(ui: TestClient) -> TestClient:
    """The same app with a clerk signed in."""
    response = ui.post("/signin", data={"name": "王芳", "staff_no": "0012"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return ui


def node_of(client: TestClient) -> Node:
    node: Node = client.app.state.node  # type: ignore[attr-defined]
    return node
