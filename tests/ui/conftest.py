"""Fixtures for the clerk UI's page tests: the store node's real app, enrolled, its sync loop off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from argon2 import PasswordHasher, Type
from starlette.testclient import TestClient

from store_node import apply
from store_node.app import create_app
from store_node.node import Node
from sync_protocol.accounts import StoreAccount
from sync_protocol.entities import encode_entity
from sync_protocol.hlc import Hlc, system_wall_ms
from sync_protocol.messages import Change
from tests.store.helpers import fake_hello

#: The store account :func:`account_clerk` signs in with (as the demo's SH001 clerk).
CLERK_USERNAME = "sh001.clerk"
CLERK_DISPLAY_NAME = "上海店员 小王"
CLERK_PASSWORD = "Clerk-2026!"
CLERK_PIN = "2026"
#: Cheap argon2id parameters (a store verifies with the parameters of the stored hash).
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[TestClient]:
    """The node's app (HQ never contacted), not signed in."""
    app = create_app(tmp_path / "store", "http://127.0.0.1:9", "token", start_sync=False)
    app.state.node.adopt(fake_hello())
    with TestClient(app) as client:
        yield client


@pytest.fixture
def clerk(ui: TestClient) -> TestClient:
    """The same app with a clerk signed in by name (the store has no accounts from HQ)."""
    response = ui.post("/signin", data={"name": "王芳", "staff_no": "0012"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return ui


def node_of(client: TestClient) -> Node:
    node: Node = client.app.state.node  # type: ignore[attr-defined]
    return node


def store_account(
    username: str = CLERK_USERNAME,
    *,
    display_name: str = CLERK_DISPLAY_NAME,
    password: str = CLERK_PASSWORD,
    pin: str = CLERK_PIN,
    role: str = "clerk",
    active: bool = True,
    updated_at: int = 1,
    account_id: str | None = None,
) -> StoreAccount:
    """A store account as HQ publishes it (hashed with cheap parameters; no hashes when inactive)."""
    return StoreAccount(
        id=account_id or f"acct-{username}",
        username=username,
        display_name=display_name,
        role=role,
        password_hash=CHEAP_HASHER.hash(password) if active else "",
        pin_hash=CHEAP_HASHER.hash(pin) if active and pin else "",
        active=active,
        updated_at=updated_at,
    )


def publish_accounts(node: Node, *accounts: StoreAccount) -> None:
    """Apply ``accounts`` to the replica as a pull from HQ would."""
    hlc = Hlc(system_wall_ms(), 0, "hq").encode()
    changes = [
        Change(pos=0, entity="account", entity_id=a.id, hlc=hlc, data=msgspec.Raw(encode_entity(a))) for a in accounts
    ]
    with node.replica.tx() as conn:
        apply.apply_changes(node, conn, changes)


@pytest.fixture
def account_clerk(ui: TestClient) -> TestClient:
    """The app of a store with an account from HQ, its clerk signed in with the password."""
    publish_accounts(node_of(ui), store_account())
    response = ui.post("/signin", data={"username": CLERK_USERNAME, "secret": CLERK_PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return ui
