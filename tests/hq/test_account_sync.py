"""Store accounts reach their store node (issue 8): every write of a store manager's or clerk's
account appends an ``account`` entry scoped to its store, with argon2id hashes and never a
secret; a deactivated or moved account reaches its (old) store as inactive; HQ roles never reach
a store; the sign-in counter logs nothing."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher

from hq_server import changelog
from sync_protocol.accounts import StoreAccount
from tests.hq.helpers import Hq, WireNode, entities_in

PASSWORD = "Spring-2025!"
NEW_PASSWORD = "Autumn-2025?"
PIN = "4711"

pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.fixture
def stores(hq: Hq) -> tuple[WireNode, WireNode]:
    """SH001 (region east) and HZ001 (east too) and their nodes."""
    return hq.enroll("SH001", region="east"), hq.enroll("HZ001", region="east")


def create(hq: Hq, username: str, role: str, **fields: Any) -> dict[str, Any]:
    body = {"username": username, "role": role, "password": PASSWORD, **fields}
    response = hq.api("POST", "/api/v1/users", json=body)
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


def patch(hq: Hq, user_id: str, **changes: Any) -> None:
    response = hq.api("PATCH", f"/api/v1/users/{user_id}", json=changes)
    assert response.status_code == 200, response.text


def accounts_at(node: WireNode) -> dict[str, StoreAccount]:
    changes, _ = node.pull_all()
    return entities_in(changes, "account")


def raw_pull(node: WireNode) -> bytes:
    """Every byte of the node's pull (to look for a secret in it)."""
    changes, _ = node.pull_all()
    return b"".join(bytes(change.data) for change in changes)


def test_a_new_clerk_reaches_only_its_store_with_hashes_and_no_secret(
    hq: Hq, stores: tuple[WireNode, WireNode]
) -> None:
    sh, hz = stores
    user = create(hq, "sh.clerk", "clerk", display_name="店员 小王", store="SH001", pin=PIN)
    found = accounts_at(sh)
    assert list(found) == [user["id"]]
    account = found[user["id"]]
    assert (account.username, account.display_name, account.role, account.active) == (
        "sh.clerk",
        "店员 小王",
        "clerk",
        True,
    )
    assert account.password_hash.startswith("$argon2id$") and account.pin_hash.startswith("$argon2id$")
    checker = PasswordHasher()
    assert checker.verify(account.password_hash, PASSWORD)
    assert checker.verify(account.pin_hash, PIN)
    assert account.updated_at > 0
    assert accounts_at(hz) == {}
    pulled = raw_pull(sh)
    assert PASSWORD.encode() not in pulled and f'"{PIN}"'.encode() not in pulled


def test_a_store_manager_without_pin_goes_with_an_empty_pin_hash(hq: Hq, stores: tuple[WireNode, WireNode]) -> None:
    sh, _ = stores
    user = create(hq, "sh.manager", "store_manager", store="SH001")
    account = accounts_at(sh)[user["id"]]
    assert account.role == "store_manager" and account.pin_hash == "" and account.password_hash


def test_hq_roles_never_reach_a_store(hq: Hq, stores: tuple[WireNode, WireNode]) -> None:
    create(hq, "admin.two", "admin")
    create(hq, "cs.super", "cs_supervisor")
    agent = create(hq, "qc.agent", "agent", departments=["qc"])
    create(hq, "east.rm", "regional_manager", regions=["east"])
    patch(hq, agent["id"], display_name="坐席 李娜")
    response = hq.api("POST", f"/api/v1/users/{agent['id']}/password", json={"password": NEW_PASSWORD})
    assert response.status_code == 204, response.text
    for node in stores:
        assert accounts_at(node) == {}


def test_password_and_pin_changes_reach_the_store(hq: Hq, stores: tuple[WireNode, WireNode]) -> None:
    sh, _ = stores
    user = create(hq, "sh.clerk", "clerk", store="SH001")
    assert accounts_at(sh)[user["id"]].pin_hash == ""
    response = hq.api("POST", f"/api/v1/users/{user['id']}/password", json={"password": NEW_PASSWORD})
    assert response.status_code == 204, response.text
    account = accounts_at(sh)[user["id"]]
    assert PasswordHasher().verify(account.password_hash, NEW_PASSWORD)
    patch(hq, user["id"], pin="90210")
    account = accounts_at(sh)[user["id"]]
    assert PasswordHasher().verify(account.pin_hash, "90210")
    patch(hq, user["id"], pin=None)
    assert accounts_at(sh)[user["id"]].pin_hash == ""
    patch(hq, user["id"], display_name="店员 小李")
    assert accounts_at(sh)[user["id"]].display_name == "店员 小李"
    assert NEW_PASSWORD.encode() not in raw_pull(sh)


def test_deactivation_reaches_the_store_without_hashes(hq: Hq, stores: tuple[WireNode, WireNode]) -> None:
    sh, _ = stores
    user = create(hq, "sh.clerk", "clerk", store="SH001", pin=PIN)
    patch(hq, user["id"], active=False)
    account = accounts_at(sh)[user["id"]]
    assert (account.active, account.password_hash, account.pin_hash) == (False, "", "")
    patch(hq, user["id"], active=True)
    account = accounts_at(sh)[user["id"]]
    assert account.active and account.password_hash.startswith("$argon2id$")


def test_a_move_to_another_store_deactivates_it_at_the_old_one(hq: Hq, stores: tuple[WireNode, WireNode]) -> None:
    sh, hz = stores
    user = create(hq, "sh.clerk", "clerk", store="SH001", pin=PIN)
    patch(hq, user["id"], store="HZ001")
    old = accounts_at(sh)[user["id"]]
    assert (old.active, old.password_hash, old.pin_hash, old.role) == (False, "", "", "clerk")
    new = accounts_at(hz)[user["id"]]
    assert new.active and PasswordHasher().verify(new.pin_hash, PIN)


def test_a_role_leaving_the_store_roles_deactivates_it_at_its_store(hq: Hq, stores: tuple[WireNode, WireNode]) -> None:
    sh, hz = stores
    user = create(hq, "sh.clerk", "clerk", store="SH001", pin=PIN)
    patch(hq, user["id"], role="agent", departments=["qc"])
    gone = accounts_at(sh)[user["id"]]
    assert (gone.active, gone.password_hash, gone.role) == (False, "", "clerk")
    assert accounts_at(hz) == {}
    # Later changes of the (now HQ) account reach no store.
    _, cursor = sh.pull_all()
    patch(hq, user["id"], display_name="坐席")
    assert all(change.entity != "account" for change in sh.pull_all(cursor)[0])
    assert all(change.entity != "account" for change in hz.pull_all()[0])


def test_sign_in_attempts_log_nothing(hq: Hq, stores: tuple[WireNode, WireNode]) -> None:
    create(hq, "sh.clerk", "clerk", store="SH001")
    with hq.ctx.db.read() as conn:
        before = changelog.count(conn)
    for password in ("wrong-password-1", PASSWORD):
        hq.client.post("/api/v1/session", json={"username": "sh.clerk", "password": password})
    with hq.ctx.db.read() as conn:
        assert changelog.count(conn) == before
