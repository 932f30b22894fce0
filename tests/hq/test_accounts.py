"""Accounts, roles and sessions at HQ (issue 8): password rules and hashes, sign-in with lockout,
session cookies and their expiry, CSRF, the users API, the console's sign-in page, and no secret
in any log line or answer."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.testclient import TestClient

from hq_server import accounts, passwords, sessions
from hq_server.app import context, create_app
from hq_server.enrollment import enroll_store
from hq_server.errors import InvalidInput
from hq_server.principals import Principal
from hq_server.schema import sessions as sessions_table
from hq_server.schema import users as users_table
from tests.hq.helpers import ADMIN, ADMIN_TOKEN, now_ms

PASSWORD = "Spring-2025!"
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS

pytestmark = pytest.mark.usefixtures("fast_hashing")


class Wall:
    """HQ's wall clock, moved by hand."""

    def __init__(self) -> None:
        self.ms = now_ms()

    def __call__(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms


@dataclass
class Desk:
    app: Starlette
    admin: TestClient
    wall: Wall

    def client(self, *, https: bool = False) -> TestClient:
        return TestClient(self.app, base_url="https://testserver" if https else "http://testserver")

    def create_user(self, username: str, role: str, password: str = PASSWORD, **fields: Any) -> dict[str, Any]:
        body = {"username": username, "role": role, "password": password, **fields}
        response = self.admin.post("/api/v1/users", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        user: dict[str, Any] = response.json()
        return user

    def signed_in(self, username: str, password: str = PASSWORD) -> tuple[TestClient, dict[str, Any]]:
        client = self.client()
        response = login(client, username, password)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return client, body

    def db_rows(self, table: sa.Table) -> list[dict[str, Any]]:
        with context(self.app).db.read() as conn:
            return [dict(row) for row in conn.execute(sa.select(table)).mappings()]


def login(client: TestClient, username: str, password: str) -> httpx.Response:
    return client.post("/api/v1/session", json={"username": username, "password": password})


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


@pytest.fixture
def desk(db_url: str) -> Iterator[Desk]:
    """HQ with a hand-moved wall clock, two regions with a store each, and its admin-token client."""
    wall = Wall()
    app = create_app(db_url, ADMIN_TOKEN, wall_ms=wall, sweep_interval_s=None)
    with TestClient(app) as client:
        hq = context(app)
        enroll_store(hq.db, hq.clock, "SH001", name="上海一店", region="east")
        enroll_store(hq.db, hq.clock, "BJ001", name="北京一店", region="north")
        yield Desk(app, client, wall)


# -- passwords ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("Short1!", "password_too_short"),
        ("12345678901", "password_all_digits"),
        ("Li.Wei-08", "password_is_username"),
        ("x" * 129, "too_long"),
        (12345678, "invalid_type"),
    ],
)
def test_password_rules_refuse_short_all_digit_and_username_passwords(password: object, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        passwords.check_password(password, username="li.wei-08")
    assert refused.value.code == code
    assert refused.value.field == "password"


def test_password_rules_accept_a_good_password_and_pins_are_four_to_eight_digits() -> None:
    assert passwords.check_password("correct horse", username="li.wei") == "correct horse"
    assert passwords.check_password("12345678a", username="li.wei") == "12345678a"
    for pin in ("0042", "12345678"):
        assert passwords.check_pin(pin) == pin
    for pin in ("123", "123456789", "12a4", 1234, ""):
        with pytest.raises(InvalidInput) as refused:
            passwords.check_pin(pin)
        assert (refused.value.code, refused.value.field) == ("invalid_pin", "pin")


def test_a_weak_password_is_refused_with_a_422_naming_the_field(desk: Desk) -> None:
    body = {"username": "zhang.min", "role": "cs_supervisor", "password": "87654321"}
    response = desk.admin.post("/api/v1/users", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert error_of(response)["code"] == "password_all_digits"
    assert error_of(response)["field"] == "password"
    assert error_of(response)["message"] == "密码不能全部是数字"
    body["password"] = "Zhang.Min"
    response = desk.admin.post("/api/v1/users", json=body, headers={**ADMIN, "Accept-Language": "en"})
    assert error_of(response)["message"] == "password cannot be the username"
    assert desk.db_rows(users_table) == []


def test_hashes_are_argon2id_with_rfc_9106_parameters() -> None:
    previous = passwords.use_hasher(passwords.DEFAULT_HASHER)
    try:
        stored = passwords.hash_secret(PASSWORD)
        assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert passwords.verify(stored, PASSWORD)
        assert not passwords.verify(stored, PASSWORD + "x")
        assert not passwords.verify("not a hash", PASSWORD)
        assert not passwords.needs_rehash(stored)
        cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
        assert passwords.needs_rehash(cheap)
        assert passwords.hash_secret(PASSWORD) != stored  # a new salt each time
    finally:
        passwords.use_hasher(previous)


def test_accounts_store_argon2id_hashes_of_password_and_pin_and_rehash_old_ones(desk: Desk) -> None:
    desk.create_user("clerk.sh", "clerk", store="SH001", pin="0042")
    (row,) = desk.db_rows(users_table)
    assert row["password_hash"].startswith("$argon2id$")
    assert row["pin_hash"].startswith("$argon2id$")
    assert passwords.verify(row["pin_hash"], "0042")
    # A hash made with weaker parameters is replaced at the next sign-in.
    weak = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash("Old-Password-1")
    with context(desk.app).db.write() as conn:
        conn.execute(users_table.update().values(password_hash=weak, role="cs_supervisor", store_id=None))
    assert login(desk.client(), "clerk.sh", "Old-Password-1").status_code == 200
    (row,) = desk.db_rows(users_table)
    assert row["password_hash"] != weak
    assert not passwords.needs_rehash(row["password_hash"])


# -- sign-in and sessions -----------------------------------------------------------------------


def test_login_sets_an_httponly_samesite_strict_cookie_and_stores_only_its_hash(desk: Desk) -> None:
    desk.create_user("wang.fang", "cs_supervisor", display_name="王芳")
    client = desk.client()
    response = login(client, "Wang.Fang", PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["role"] == "cs_supervisor"
    assert body["user"]["username"] == "wang.fang"
    assert body["user"]["display_name"] == "王芳"
    (cookie,) = response.headers.get_list("set-cookie")
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert attributes[0].startswith("sd_session=")
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/" in attributes
    assert "secure" not in attributes
    token = response.cookies["sd_session"]
    assert len(token) >= 43
    (row,) = desk.db_rows(sessions_table)
    assert row["id"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(row)
    assert row["csrf_token"] == body["csrf_token"]
    assert row["expires_at"] - row["created_at"] == 12 * HOUR_MS


def test_the_session_cookie_is_secure_over_https(desk: Desk) -> None:
    desk.create_user("wang.fang", "cs_supervisor")
    response = login(desk.client(https=True), "wang.fang", PASSWORD)
    assert response.status_code == 200
    (cookie,) = response.headers.get_list("set-cookie")
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]


def test_whoami_answers_the_signed_in_user_and_csrf_token(desk: Desk) -> None:
    desk.create_user("chen.jie", "agent", departments=["qc", "it"])
    client, signed_in = desk.signed_in("chen.jie")
    response = client.get("/api/v1/session")
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["username"] == "chen.jie"
    assert body["user"]["departments"] == ["qc", "it"]
    assert body["role"] == "agent"
    assert body["csrf_token"] == signed_in["csrf_token"]
    bearer = desk.admin.get("/api/v1/session", headers=ADMIN).json()
    assert bearer == {"user": None, "role": "integration", "csrf_token": None}
    anonymous = desk.client().get("/api/v1/session")
    assert anonymous.status_code == 401
    assert error_of(anonymous)["code"] == "not_signed_in"
    wrong_bearer = desk.client().get("/api/v1/session", headers={"Authorization": "Bearer nope"})
    assert wrong_bearer.status_code == 401
    assert error_of(wrong_bearer)["code"] == "unauthorized"


def test_principal_of_a_user_carries_role_and_scope(desk: Desk) -> None:
    user = desk.create_user("zhao.lei", "regional_manager", display_name="赵磊", regions=["east"])
    with context(desk.app).db.read() as conn:
        principal = accounts.principal_of_user(accounts.require_user(conn, user["id"]))
    assert principal == Principal(
        role="regional_manager",
        user_id=user["id"],
        username="zhao.lei",
        display_name="赵磊",
        regions=frozenset(user["regions"]),
    )
    assert principal.may_see_store(store_region=user["regions"][0])


def test_logout_deletes_the_session(desk: Desk) -> None:
    desk.create_user("chen.jie", "agent", departments=["qc"])
    client, signed_in = desk.signed_in("chen.jie")
    token = client.cookies["sd_session"]
    response = client.delete("/api/v1/session", headers={"X-CSRF-Token": signed_in["csrf_token"]})
    assert response.status_code == 204
    assert 'sd_session=""' in response.headers["set-cookie"] or "Max-Age=0" in response.headers["set-cookie"]
    assert desk.db_rows(sessions_table) == []
    replay = desk.client()
    replay.cookies.set("sd_session", token)
    response = replay.get("/api/v1/session")
    assert response.status_code == 401
    assert error_of(response)["code"] == "session_expired"


def test_a_session_ends_after_eight_idle_hours(desk: Desk) -> None:
    desk.create_user("chen.jie", "agent", departments=["qc"])
    busy, _ = desk.signed_in("chen.jie")
    idle, _ = desk.signed_in("chen.jie")
    desk.wall.advance(HOUR_MS)
    assert busy.get("/api/v1/session").status_code == 200  # a request keeps it alive
    desk.wall.advance(8 * HOUR_MS - MINUTE_MS)
    assert busy.get("/api/v1/session").status_code == 200  # idle 7 h 59 min
    response = idle.get("/api/v1/session")  # idle 8 h 59 min (and younger than 12 h)
    assert response.status_code == 401
    assert error_of(response)["code"] == "session_expired"
    assert len(desk.db_rows(sessions_table)) == 1


def test_a_session_ends_twelve_hours_after_sign_in_however_active(desk: Desk) -> None:
    desk.create_user("chen.jie", "agent", departments=["qc"])
    client, _ = desk.signed_in("chen.jie")
    for _ in range(11):
        desk.wall.advance(HOUR_MS)
        assert client.get("/api/v1/session").status_code == 200
    desk.wall.advance(HOUR_MS - 1)
    assert client.get("/api/v1/session").status_code == 200
    desk.wall.advance(1)
    assert client.get("/api/v1/session").status_code == 401
    assert desk.db_rows(sessions_table) == []


def test_last_seen_is_written_at_most_once_a_minute(desk: Desk) -> None:
    desk.create_user("chen.jie", "agent", departments=["qc"])
    client, _ = desk.signed_in("chen.jie")
    signed_in_at = desk.wall.ms
    desk.wall.advance(30_000)
    client.get("/api/v1/session")
    assert desk.db_rows(sessions_table)[0]["last_seen_at"] == signed_in_at
    desk.wall.advance(30_000)
    client.get("/api/v1/session")
    assert desk.db_rows(sessions_table)[0]["last_seen_at"] == signed_in_at + MINUTE_MS


def test_five_failures_lock_the_account_for_fifteen_minutes(desk: Desk) -> None:
    desk.create_user("liu.yang", "agent", departments=["cs"])
    client = desk.client()
    for _ in range(4):
        response = login(client, "liu.yang", "wrong-password")
        assert response.status_code == 401
        assert error_of(response)["code"] == "bad_credentials"
    response = login(client, "liu.yang", "wrong-password")
    assert response.status_code == 423
    assert error_of(response)["code"] == "account_locked"
    # Locked: even the right password is refused, with the minutes left.
    desk.wall.advance(5 * MINUTE_MS)
    response = login(client, "liu.yang", PASSWORD)
    assert response.status_code == 423
    assert error_of(response)["message"] == "登录失败次数过多，账号已锁定，请 10 分钟后再试"
    user = desk.admin.get("/api/v1/users", headers=ADMIN).json()["items"][0]
    assert user["locked"] is True
    desk.wall.advance(10 * MINUTE_MS)
    response = login(client, "liu.yang", PASSWORD)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["failed_logins"] == 0
    assert response.json()["user"]["locked"] is False


def test_a_success_resets_the_failure_count(desk: Desk) -> None:
    desk.create_user("liu.yang", "agent", departments=["cs"])
    client = desk.client()
    for _ in range(4):
        assert login(client, "liu.yang", "wrong-password").status_code == 401
    assert login(client, "liu.yang", PASSWORD).status_code == 200
    for _ in range(4):
        assert login(client, "liu.yang", "wrong-password").status_code == 401
    assert login(client, "liu.yang", PASSWORD).status_code == 200


def test_an_admin_password_reset_lifts_a_lockout(desk: Desk) -> None:
    user = desk.create_user("liu.yang", "agent", departments=["cs"])
    for _ in range(5):
        login(desk.client(), "liu.yang", "wrong-password")
    assert login(desk.client(), "liu.yang", PASSWORD).status_code == 423
    reset = desk.admin.post(f"/api/v1/users/{user['id']}/password", json={"password": "New-Pass-42"}, headers=ADMIN)
    assert reset.status_code == 204
    assert login(desk.client(), "liu.yang", "New-Pass-42").status_code == 200


def test_unknown_user_and_wrong_password_give_the_same_error_after_the_same_work(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk.create_user("liu.yang", "agent", departments=["cs"])
    desk.create_user("gone.user", "agent", departments=["cs"])
    gone = desk.admin.get("/api/v1/users", headers=ADMIN).json()["items"][0]
    desk.admin.patch(f"/api/v1/users/{gone['id']}", json={"active": False}, headers=ADMIN)
    verified: list[str] = []
    real_verify = passwords.verify

    def counting_verify(stored_hash: str, secret: str) -> bool:
        verified.append(stored_hash)
        return real_verify(stored_hash, secret)

    monkeypatch.setattr(passwords, "verify", counting_verify)
    answers = []
    for username, password in (
        ("liu.yang", "wrong-password"),
        ("no.such.user", "wrong-password"),
        ("gone.user", PASSWORD),  # deactivated, right password
        ("", "wrong-password"),
    ):
        verified.clear()
        response = login(desk.client(), username, password)
        answers.append((response.status_code, response.json()))
        assert len(verified) == 1, username  # one argon2 verification every time
    assert all(answer == answers[0] for answer in answers)
    assert answers[0][0] == 401
    assert answers[0][1]["error"]["code"] == "bad_credentials"


# -- CSRF ---------------------------------------------------------------------------------------


def test_a_cookie_authenticated_unsafe_request_needs_the_csrf_token(desk: Desk) -> None:
    desk.create_user("root.admin", "admin")
    client, signed_in = desk.signed_in("root.admin")
    new_user = {"username": "xu.na", "role": "cs_supervisor", "password": PASSWORD}
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": ""}):
        response = client.post("/api/v1/users", json=new_user, headers=headers)
        assert response.status_code == 403, headers
        assert error_of(response)["code"] == "csrf_failed"
    assert [row["username"] for row in desk.db_rows(users_table)] == ["root.admin"]
    response = client.post("/api/v1/users", json=new_user, headers={"X-CSRF-Token": signed_in["csrf_token"]})
    assert response.status_code == 201, response.text
    # Logout is an unsafe request too.
    assert client.delete("/api/v1/session").status_code == 403
    assert len(desk.db_rows(sessions_table)) == 1
    # A safe request needs no token.
    assert client.get("/api/v1/users").status_code == 200


def test_bearer_calls_are_exempt_from_csrf(desk: Desk) -> None:
    body = {"username": "xu.na", "role": "cs_supervisor", "password": PASSWORD}
    assert desk.admin.post("/api/v1/users", json=body, headers=ADMIN).status_code == 201


def test_one_users_csrf_token_does_not_pass_for_another_session(desk: Desk) -> None:
    desk.create_user("root.admin", "admin")
    desk.create_user("chen.jie", "agent", departments=["qc"])
    admin_client, _ = desk.signed_in("root.admin")
    _, agent = desk.signed_in("chen.jie")
    response = admin_client.delete("/api/v1/session", headers={"X-CSRF-Token": agent["csrf_token"]})
    assert response.status_code == 403


# -- users API ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["agent", "group_lead", "cs_supervisor", "regional_manager"])
def test_the_users_api_is_for_administrators_only(desk: Desk, role: str) -> None:
    scope = {
        "agent": {"departments": ["qc"]},
        "group_lead": {"departments": ["qc"]},
        "regional_manager": {"regions": ["east"]},
    }.get(role, {})
    someone = desk.create_user("some.one", role, **scope)
    client, signed_in = desk.signed_in("some.one")
    csrf = {"X-CSRF-Token": signed_in["csrf_token"]}
    other = desk.create_user("other.one", "cs_supervisor")
    attempts = [
        client.get("/api/v1/users"),
        client.get(f"/api/v1/users/{other['id']}"),
        client.post("/api/v1/users", json={"username": "x.y.z", "role": "admin", "password": PASSWORD}, headers=csrf),
        client.patch(f"/api/v1/users/{someone['id']}", json={"role": "admin"}, headers=csrf),
        client.post(f"/api/v1/users/{other['id']}/password", json={"password": "Taken-Over-1"}, headers=csrf),
    ]
    for response in attempts:
        assert response.status_code == 403, response.request.url
        assert error_of(response)["code"] == "admin_only"
    assert desk.admin.get(f"/api/v1/users/{someone['id']}", headers=ADMIN).json()["role"] == role
    anonymous = desk.client().get("/api/v1/users")
    assert anonymous.status_code == 401


def test_an_admin_user_manages_accounts(desk: Desk) -> None:
    desk.create_user("root.admin", "admin")
    client, signed_in = desk.signed_in("root.admin")
    csrf = {"X-CSRF-Token": signed_in["csrf_token"]}
    created = client.post(
        "/api/v1/users",
        json={
            "username": "Zhou.Li",
            "role": "agent",
            "display_name": "周丽",
            "password": PASSWORD,
            "departments": ["cs"],
        },
        headers=csrf,
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["username"] == "zhou.li"
    assert client.get(f"/api/v1/users/{user['id']}").json() == user
    changed = client.patch(
        f"/api/v1/users/{user['id']}", json={"role": "group_lead", "display_name": "周丽（组长）"}, headers=csrf
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "group_lead"
    assert changed.json()["departments"] == ["cs"]
    listed = client.get("/api/v1/users", params={"role": "group_lead"}).json()["items"]
    assert [u["username"] for u in listed] == ["zhou.li"]
    duplicate = client.post(
        "/api/v1/users", json={"username": "ZHOU.LI", "role": "cs_supervisor", "password": PASSWORD}, headers=csrf
    )
    assert duplicate.status_code == 409
    assert error_of(duplicate)["code"] == "username_taken"
    assert client.get("/api/v1/users/nope").status_code == 404


@pytest.mark.parametrize(
    ("role", "scope", "code", "field"),
    [
        ("agent", {}, "departments_required", "departments"),
        ("group_lead", {"departments": []}, "departments_required", "departments"),
        ("agent", {"departments": ["qc", "nope"]}, "unknown_department", "departments"),
        ("agent", {"departments": "qc"}, "invalid_type", "departments"),
        ("agent", {"departments": ["qc"], "store": "SH001"}, "scope_not_for_role", "store"),
        ("regional_manager", {}, "regions_required", "regions"),
        ("regional_manager", {"regions": ["atlantis"]}, "unknown_region", "regions"),
        ("regional_manager", {"regions": ["east"], "departments": ["qc"]}, "scope_not_for_role", "departments"),
        ("clerk", {}, "store_required", "store"),
        ("store_manager", {"store": "XX999"}, "unknown_store", "store"),
        ("clerk", {"store": ["SH001", "BJ001"]}, "invalid_type", "store"),
        ("clerk", {"store": "SH001", "regions": ["east"]}, "scope_not_for_role", "regions"),
        ("clerk", {"store": "SH001", "pin": "12a4"}, "invalid_pin", "pin"),
        ("agent", {"departments": ["qc"], "pin": "1234"}, "pin_not_for_role", "pin"),
        ("admin", {"departments": ["qc"]}, "scope_not_for_role", "departments"),
        ("cs_supervisor", {"store": "SH001"}, "scope_not_for_role", "store"),
        ("boss", {}, "invalid_role", "role"),
    ],
)
def test_scope_fields_are_checked_per_role(desk: Desk, role: str, scope: dict[str, Any], code: str, field: str) -> None:
    body = {"username": "new.user", "role": role, "password": PASSWORD, **scope}
    response = desk.admin.post("/api/v1/users", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert (error_of(response)["code"], error_of(response)["field"]) == (code, field)
    assert desk.db_rows(users_table) == []


def test_valid_scopes_are_stored_by_id(desk: Desk) -> None:
    stores = {s["code"]: s for s in desk.admin.get("/api/v1/stores", headers=ADMIN).json()["items"]}
    manager = desk.create_user("zhao.lei", "regional_manager", regions=["east", "north", "east"])
    east, north = stores["SH001"]["region_id"], stores["BJ001"]["region_id"]
    assert manager["regions"] == [east, north]
    by_id = desk.create_user("qian.yu", "regional_manager", regions=[north])
    assert by_id["regions"] == [north]
    clerk = desk.create_user("sun.hao", "clerk", store="SH001", pin="0042")
    assert clerk["store_id"] == stores["SH001"]["id"]
    assert clerk["has_pin"] is True
    store_manager = desk.create_user("he.jing", "store_manager", store=stores["BJ001"]["id"])
    assert store_manager["store_id"] == stores["BJ001"]["id"]
    agent = desk.create_user("chen.jie", "agent", departments=["qc", "it", "qc"])
    assert agent["departments"] == ["qc", "it"]
    assert agent["regions"] == [] and agent["store_id"] is None


def test_a_role_change_drops_the_scope_the_new_role_does_not_take(desk: Desk) -> None:
    clerk = desk.create_user("sun.hao", "clerk", store="SH001", pin="0042")
    response = desk.admin.patch(f"/api/v1/users/{clerk['id']}", json={"role": "agent"}, headers=ADMIN)
    assert response.status_code == 422
    assert error_of(response)["code"] == "departments_required"
    response = desk.admin.patch(
        f"/api/v1/users/{clerk['id']}", json={"role": "agent", "departments": ["cs"]}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    agent = response.json()
    assert (agent["store_id"], agent["has_pin"], agent["departments"]) == (None, False, ["cs"])
    response = desk.admin.patch(f"/api/v1/users/{clerk['id']}", json={"store": "SH001"}, headers=ADMIN)
    assert error_of(response)["code"] == "scope_not_for_role"
    response = desk.admin.patch(f"/api/v1/users/{clerk['id']}", json={"nickname": "x"}, headers=ADMIN)
    assert (response.status_code, error_of(response)["code"]) == (422, "unknown_field")


def test_usernames_are_checked_and_case_insensitive(desk: Desk) -> None:
    for bad in ("ab", "has space", "中文名", "-dash.first", "x" * 41):
        body = {"username": bad, "role": "cs_supervisor", "password": PASSWORD}
        response = desk.admin.post("/api/v1/users", json=body, headers=ADMIN)
        assert (response.status_code, error_of(response)["field"]) == (422, "username"), bad
    desk.create_user("Mixed.Case@HQ", "cs_supervisor")
    assert login(desk.client(), "mixed.case@hq", PASSWORD).status_code == 200
    assert login(desk.client(), " MIXED.CASE@HQ ", PASSWORD).status_code == 200


def test_a_deactivated_user_loses_their_sessions_and_cannot_sign_in(desk: Desk) -> None:
    user = desk.create_user("chen.jie", "agent", departments=["qc"])
    client, _ = desk.signed_in("chen.jie")
    response = desk.admin.patch(f"/api/v1/users/{user['id']}", json={"active": False}, headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["active"] is False
    assert client.get("/api/v1/session").status_code == 401
    assert desk.db_rows(sessions_table) == []
    assert error_of(login(desk.client(), "chen.jie", PASSWORD))["code"] == "bad_credentials"


def test_the_last_administrator_stays_one(desk: Desk) -> None:
    first = desk.create_user("root.admin", "admin")
    for change in ({"active": False}, {"role": "cs_supervisor"}):
        response = desk.admin.patch(f"/api/v1/users/{first['id']}", json=change, headers=ADMIN)
        assert (response.status_code, error_of(response)["code"]) == (409, "last_admin")
    desk.create_user("second.admin", "admin")
    response = desk.admin.patch(f"/api/v1/users/{first['id']}", json={"role": "cs_supervisor"}, headers=ADMIN)
    assert response.status_code == 200


# -- store roles, password changes --------------------------------------------------------------


@pytest.mark.parametrize("role", ["clerk", "store_manager"])
def test_a_store_role_cannot_sign_in_at_hq(desk: Desk, role: str) -> None:
    desk.create_user("sun.hao", role, store="SH001")
    response = login(desk.client(), "sun.hao", PASSWORD)
    assert response.status_code == 403
    assert error_of(response)["code"] == "wrong_role"
    assert "set-cookie" not in response.headers
    assert desk.db_rows(sessions_table) == []
    # A wrong password says nothing about the role.
    assert error_of(login(desk.client(), "sun.hao", "wrong-password"))["code"] == "bad_credentials"
    # Nor through the console's form.
    browser = desk.client()
    page = browser.get("/console/login")
    form = {"csrf_token": _form_token(page.text), "username": "sun.hao", "password": PASSWORD}
    response = browser.post("/console/login", data=form, follow_redirects=False)
    assert response.status_code == 403
    assert "门店账号请在门店终端登录" in response.text
    assert desk.db_rows(sessions_table) == []


def test_a_store_role_session_is_refused_at_hq(desk: Desk) -> None:
    """A session of someone whose role became a store role is refused (403 wrong_role)."""
    user = desk.create_user("chen.jie", "agent", departments=["qc"])
    client, _ = desk.signed_in("chen.jie")
    response = desk.admin.patch(f"/api/v1/users/{user['id']}", json={"role": "clerk", "store": "SH001"}, headers=ADMIN)
    assert response.status_code == 200, response.text
    response = client.get("/api/v1/session")
    assert (response.status_code, error_of(response)["code"]) == (403, "wrong_role")


def test_a_password_change_ends_the_users_other_sessions(desk: Desk) -> None:
    user = desk.create_user("chen.jie", "agent", departments=["qc"])
    laptop, signed_in = desk.signed_in("chen.jie")
    phone, _ = desk.signed_in("chen.jie")
    csrf = {"X-CSRF-Token": signed_in["csrf_token"]}
    path = f"/api/v1/users/{user['id']}/password"
    wrong = laptop.post(path, json={"password": "Brand-New-1", "current_password": "nope"}, headers=csrf)
    assert (wrong.status_code, error_of(wrong)["field"]) == (422, "current_password")
    assert desk.admin.get(f"/api/v1/users/{user['id']}", headers=ADMIN).json()["failed_logins"] == 1
    weak = laptop.post(path, json={"password": "chen.jie", "current_password": PASSWORD}, headers=csrf)
    assert error_of(weak)["code"] == "password_is_username"
    response = laptop.post(path, json={"password": "Brand-New-1", "current_password": PASSWORD}, headers=csrf)
    assert response.status_code == 204, response.text
    assert phone.get("/api/v1/session").status_code == 401
    assert laptop.get("/api/v1/session").status_code == 200
    assert len(desk.db_rows(sessions_table)) == 1
    assert login(desk.client(), "chen.jie", PASSWORD).status_code == 401
    assert login(desk.client(), "chen.jie", "Brand-New-1").status_code == 200
    # An administrator's reset ends all of them.
    reset = desk.admin.post(path, json={"password": "Reset-By-Admin-2"}, headers=ADMIN)
    assert reset.status_code == 204
    assert laptop.get("/api/v1/session").status_code == 401
    assert desk.db_rows(sessions_table) == []


# -- console sign-in page -----------------------------------------------------------------------


def _form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def test_the_console_login_page_signs_in_and_out(desk: Desk) -> None:
    desk.create_user("wang.fang", "cs_supervisor", display_name="王芳")
    browser = desk.client()
    page = browser.get("/console/login")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in page.text and "登录" in page.text
    assert "sd_login_csrf=" in page.headers["set-cookie"]
    assert "samesite=strict" in page.headers["set-cookie"].lower()
    token = _form_token(page.text)
    assert "Sign in" in browser.get("/console/login?lang=en").text

    refused = browser.post(
        "/console/login", data={"csrf_token": token, "username": "Wang.Fang", "password": "secret-guess-1"}
    )
    assert refused.status_code == 401
    assert "用户名或密码错误" in refused.text
    assert 'value="Wang.Fang"' in refused.text
    assert "secret-guess-1" not in refused.text

    signed_in = browser.post(
        "/console/login",
        data={"csrf_token": token, "username": "wang.fang", "password": PASSWORD},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/console/"
    assert "sd_session" in browser.cookies
    home = browser.get("/console/")
    assert home.status_code == 200 and "王芳" in home.text and "客服主管" in home.text
    assert browser.get("/console/login", follow_redirects=False).status_code == 303

    forged = browser.post("/console/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert forged.status_code == 403
    assert len(desk.db_rows(sessions_table)) == 1
    out = browser.post("/console/logout", data={"csrf_token": _form_token(home.text)}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/console/login")
    assert desk.db_rows(sessions_table) == []
    assert browser.get("/console/", follow_redirects=False).headers["location"].startswith("/console/login")


def test_the_console_login_form_needs_its_double_submit_token(desk: Desk) -> None:
    desk.create_user("wang.fang", "cs_supervisor")
    browser = desk.client()
    token = _form_token(browser.get("/console/login").text)
    form = {"username": "wang.fang", "password": PASSWORD}
    for data in (form, {**form, "csrf_token": "forged-" + token}):
        response = browser.post("/console/login", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "页面已过期" in response.text
    # The cookie half is missing (another site's page posting the form).
    stranger = desk.client()
    response = stranger.post("/console/login", data={**form, "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 403
    assert desk.db_rows(sessions_table) == []


def test_the_json_sign_in_must_be_json(desk: Desk) -> None:
    desk.create_user("wang.fang", "cs_supervisor")
    response = desk.client().post("/api/v1/session", data={"username": "wang.fang", "password": PASSWORD})
    assert (response.status_code, error_of(response)["code"]) == (400, "json_required")
    assert desk.db_rows(sessions_table) == []


# -- no secret in logs or responses -------------------------------------------------------------


def test_no_password_hash_or_token_in_any_log_line_or_response(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wrong-Guess-77"
    new_password = "Second-Secret-88"
    answers: list[httpx.Response] = []
    created = desk.admin.post(
        "/api/v1/users",
        json={"username": "li.na", "role": "cs_supervisor", "password": PASSWORD},
        headers=ADMIN,
    )
    answers.append(created)
    answers.append(
        desk.admin.post(
            "/api/v1/users",
            json={"username": "clerk.li", "role": "clerk", "password": PASSWORD, "store": "SH001", "pin": "987654"},
            headers=ADMIN,
        )
    )
    answers.append(login(desk.client(), "li.na", wrong))
    answers.append(login(desk.client(), "nobody.here", wrong))
    answers.append(login(desk.client(), "clerk.li", PASSWORD))
    client = desk.client()
    signed_in = login(client, "li.na", PASSWORD)
    answers.append(signed_in)
    token = signed_in.cookies["sd_session"]
    csrf = {"X-CSRF-Token": signed_in.json()["csrf_token"]}
    answers.append(client.get("/api/v1/session"))
    answers.append(desk.admin.get("/api/v1/users", headers=ADMIN))
    user_id = created.json()["id"]
    answers.append(
        client.post(
            f"/api/v1/users/{user_id}/password",
            json={"password": new_password, "current_password": PASSWORD},
            headers=csrf,
        )
    )
    answers.append(client.delete("/api/v1/session", headers=csrf))
    browser = desk.client()
    page = browser.get("/console/login")
    answers.append(page)
    answers.append(
        browser.post(
            "/console/login", data={"csrf_token": _form_token(page.text), "username": "li.na", "password": wrong}
        )
    )
    hashes = [row["password_hash"] for row in desk.db_rows(users_table)] + [
        row["pin_hash"] for row in desk.db_rows(users_table) if row["pin_hash"]
    ]
    secrets_ = [PASSWORD, wrong, new_password, "987654", token, *hashes]
    for hashed in hashes:
        secrets_.append(hashed.rsplit("$", 1)[1])  # the digest alone
    logged = caplog.text + "\n".join(record.getMessage() for record in caplog.records)
    assert "signed in" in logged and "wrong password" in logged  # the logging did happen
    for secret in secrets_:
        assert secret not in logged
        for answer in answers:
            assert secret not in answer.text, answer.request.url
            assert secret not in str(answer.headers.get("set-cookie", "")) or answer is signed_in
    for answer in answers:
        if answer.headers.get("content-type", "").startswith("application/json") and answer.content:
            assert "_hash" not in answer.text
    for item in desk.admin.get("/api/v1/users", headers=ADMIN).json()["items"]:
        assert not [key for key in item if key.endswith("_hash")]
        assert "password" not in item and "pin" not in item
    assert sessions.token_id(token) not in logged
