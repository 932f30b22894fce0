"""Clerks sign in at the store node against the accounts HQ synced to it (issue 8): password or
PIN verified locally (so HQ may be unreachable), the same answer for an unknown username and a
wrong secret, a lockout on this PC after 5 failures, deactivated accounts refused (their open
cookies too), and the name-only sign-in with a notice while the store has no accounts."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from store_node import accounts, apply, ticket_actions
from store_node.app import create_app
from tests.hq.helpers import Hq
from tests.store.conftest import StoreFactory, hq, make_store  # noqa: F401 - fixtures
from tests.store.helpers import sync_recorded
from tests.ui.conftest import (
    CLERK_DISPLAY_NAME,
    CLERK_PASSWORD,
    CLERK_PIN,
    CLERK_USERNAME,
    node_of,
    publish_accounts,
    store_account,
)
from tests.ui.test_shell import UNTRANSLATED

MINUTE_MS = 60_000
ALERT = re.compile(r'<div class="notice bad" role="alert">(.*?)</div>', re.S)


def sign_in(ui: TestClient, username: str, secret: str) -> tuple[int, str]:
    """(status, the error shown or the redirect target)."""
    response = ui.post(
        "/signin", data={"username": username, "secret": secret, "next": "/sync"}, follow_redirects=False
    )
    if response.status_code == 303:
        return 303, response.headers["location"]
    found = ALERT.search(response.text)
    return response.status_code, found.group(1).strip() if found else ""


@pytest.fixture
def with_accounts(ui: TestClient) -> TestClient:
    publish_accounts(
        node_of(ui),
        store_account(),
        store_account(
            "sh001.manager", display_name="上海店长 张婷", password="Store-2026!", pin="", role="store_manager"
        ),
    )
    return ui


def test_the_form_asks_for_username_and_password_or_pin(with_accounts: TestClient) -> None:
    page = with_accounts.get("/signin")
    assert 'name="username"' in page.text and 'name="secret"' in page.text and 'type="password"' in page.text
    assert 'name="name"' not in page.text and "signin-no-accounts" not in page.text
    for lang in ("zh", "en"):
        assert not UNTRANSLATED.findall(with_accounts.get("/signin", params={"lang": lang}).text)


def test_sign_in_with_the_password(with_accounts: TestClient) -> None:
    assert sign_in(with_accounts, CLERK_USERNAME, CLERK_PASSWORD) == (303, "/sync")
    page = with_accounts.get("/sync")
    assert page.status_code == 200 and f"{CLERK_DISPLAY_NAME} ({CLERK_USERNAME})" in page.text


def test_sign_in_with_the_pin_and_any_case_of_the_username(with_accounts: TestClient) -> None:
    assert sign_in(with_accounts, " SH001.Clerk ", CLERK_PIN) == (303, "/sync")
    assert f"{CLERK_DISPLAY_NAME} ({CLERK_USERNAME})" in with_accounts.get("/").text


def test_digits_are_a_password_for_an_account_without_pin(with_accounts: TestClient) -> None:
    assert sign_in(with_accounts, "sh001.manager", CLERK_PIN)[0] == 401
    assert sign_in(with_accounts, "sh001.manager", "Store-2026!") == (303, "/sync")


def test_the_clerk_is_recorded_as_display_name_and_username(account_clerk: TestClient) -> None:
    node = node_of(account_clerk)
    ticket_id = ticket_actions.create_ticket(node, {"type": "equipment", "title": "冷柜不制冷"})
    response = account_clerk.post(f"/tickets/{ticket_id}/comments", data={"body": "已联系维修"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    row = node.replica.one("SELECT author FROM comments WHERE ticket_id = ?", (ticket_id,))
    assert row is not None and row[0] == f"{CLERK_DISPLAY_NAME} ({CLERK_USERNAME})"


def test_an_unknown_username_and_a_wrong_secret_get_the_same_answer(with_accounts: TestClient) -> None:
    unknown = sign_in(with_accounts, "nobody.here", CLERK_PASSWORD)
    wrong = sign_in(with_accounts, CLERK_USERNAME, "Wrong-2026!")
    wrong_pin = sign_in(with_accounts, CLERK_USERNAME, "9999")
    assert unknown == wrong == wrong_pin == (401, "用户名或密码/PIN 不正确")
    missing = with_accounts.post("/signin", data={"username": CLERK_USERNAME, "secret": ""})
    assert missing.status_code == 422 and "请填写用户名和密码或 PIN" in missing.text


def test_five_failures_lock_the_username_on_this_pc_for_15_minutes(with_accounts: TestClient) -> None:
    node = node_of(with_accounts)
    now = node.wall_ms()
    node.wall_ms = lambda: now
    for _ in range(accounts.MAX_FAILED_SIGNINS - 1):
        assert sign_in(with_accounts, CLERK_USERNAME, "Wrong-2026!")[0] == 401
    status, error = sign_in(with_accounts, CLERK_USERNAME, "Wrong-2026!")
    assert status == 423 and "15 分钟" in error
    assert sign_in(with_accounts, CLERK_USERNAME, CLERK_PASSWORD)[0] == 423  # even the right one
    assert sign_in(with_accounts, "sh001.manager", "Store-2026!")[0] == 303  # others are not locked
    node.wall_ms = lambda: now + 14 * MINUTE_MS
    status, error = sign_in(with_accounts, CLERK_USERNAME, CLERK_PIN)
    assert status == 423 and "1 分钟" in error
    node.wall_ms = lambda: now + 15 * MINUTE_MS + 1
    assert sign_in(with_accounts, CLERK_USERNAME, CLERK_PIN)[0] == 303
    # A success starts the count again.
    for _ in range(accounts.MAX_FAILED_SIGNINS - 1):
        assert sign_in(with_accounts, CLERK_USERNAME, "Wrong-2026!")[0] == 401
    assert sign_in(with_accounts, CLERK_USERNAME, CLERK_PASSWORD)[0] == 303


def test_an_unknown_username_locks_too(with_accounts: TestClient) -> None:
    for _ in range(accounts.MAX_FAILED_SIGNINS - 1):
        assert sign_in(with_accounts, "nobody.here", "Wrong-2026!")[0] == 401
    assert sign_in(with_accounts, "nobody.here", "Wrong-2026!")[0] == 423


def test_a_deactivated_account_cannot_sign_in_and_its_cookie_is_refused(account_clerk: TestClient) -> None:
    assert account_clerk.get("/", follow_redirects=False).status_code == 200
    publish_accounts(node_of(account_clerk), store_account(active=False, updated_at=2))
    assert account_clerk.get("/", follow_redirects=False).status_code == 303
    assert sign_in(account_clerk, CLERK_USERNAME, CLERK_PASSWORD) == (401, "用户名或密码/PIN 不正确")
    # An older version arriving later does not bring it back.
    publish_accounts(node_of(account_clerk), store_account(updated_at=1))
    assert sign_in(account_clerk, CLERK_USERNAME, CLERK_PASSWORD)[0] == 401
    publish_accounts(node_of(account_clerk), store_account(updated_at=3))
    assert sign_in(account_clerk, CLERK_USERNAME, CLERK_PASSWORD)[0] == 303


def test_without_accounts_the_name_only_sign_in_stays_with_a_notice(ui: TestClient) -> None:
    page = ui.get("/signin")
    assert 'name="name"' in page.text and 'name="secret"' not in page.text
    assert 'id="signin-no-accounts"' in page.text and "本店尚未收到总部下发的店员账号" in page.text
    assert "no staff accounts from HQ yet" in ui.get("/signin", params={"lang": "en"}).text
    done = ui.post("/signin", data={"name": "王芳", "staff_no": "0012"}, follow_redirects=False)
    assert done.status_code == 303
    assert "王芳 (0012)" in ui.get("/").text
    # Once accounts arrive, the name-only cookie is no longer taken and the form asks for one.
    publish_accounts(node_of(ui), store_account())
    assert ui.get("/", follow_redirects=False).status_code == 303
    assert 'name="secret"' in ui.get("/signin").text
    assert ui.post("/signin", data={"name": "王芳"}).status_code == 422


def test_a_reset_that_no_longer_finds_an_account_disables_it_but_keeps_the_form(with_accounts: TestClient) -> None:
    node = node_of(with_accounts)
    apply.begin_reset(node)
    publish_accounts(node, store_account("sh001.manager", password="Store-2026!", pin="", role="store_manager"))
    with node.replica.tx() as conn:
        apply.finish_reset(node, conn)
    assert sign_in(with_accounts, CLERK_USERNAME, CLERK_PASSWORD)[0] == 401
    assert sign_in(with_accounts, "sh001.manager", "Store-2026!")[0] == 303
    apply.begin_reset(node)
    with node.replica.tx() as conn:
        apply.finish_reset(node, conn)
    assert 'name="secret"' in with_accounts.get("/signin").text


@pytest.mark.usefixtures("fast_hashing")
def test_an_account_made_at_hq_signs_in_at_its_store_with_hq_unreachable(
    hq: Hq,  # noqa: F811
    make_store: StoreFactory,  # noqa: F811
) -> None:
    here = make_store("SH001")
    here.enroll_only()
    body = {
        "username": "sh001.clerk",
        "display_name": CLERK_DISPLAY_NAME,
        "role": "clerk",
        "store": "SH001",
        "pin": CLERK_PIN,
        "password": CLERK_PASSWORD,
    }
    response = hq.api("POST", "/api/v1/users", json=body)
    assert response.status_code == 201, response.text
    sync_recorded(here)
    here.line.up = False
    app = create_app(here.data_dir, "http://hq.test", here.token, start_sync=False)
    with TestClient(app) as client:
        app.state.node = here.node
        assert sign_in(client, CLERK_USERNAME, CLERK_PIN) == (303, "/sync")
        assert f"{CLERK_DISPLAY_NAME} ({CLERK_USERNAME})" in client.get("/sync").text


def test_a_copied_cookie_stops_working_when_the_clerk_signs_out(with_accounts: TestClient) -> None:
    assert sign_in(with_accounts, CLERK_USERNAME, CLERK_PASSWORD)[0] == 303
    copied = with_accounts.cookies.get("sd_clerk")
    assert copied
    with_accounts.post("/signout", follow_redirects=False)
    other = TestClient(with_accounts.app)
    other.cookies.set("sd_clerk", copied)
    assert other.get("/sync", follow_redirects=False).status_code == 303


def test_a_new_password_from_hq_ends_the_clerks_sign_ins(with_accounts: TestClient) -> None:
    assert sign_in(with_accounts, CLERK_USERNAME, CLERK_PASSWORD)[0] == 303
    assert with_accounts.get("/sync", follow_redirects=False).status_code == 200
    publish_accounts(node_of(with_accounts), store_account(password="Brand-new-2027!", updated_at=2))
    assert with_accounts.get("/sync", follow_redirects=False).status_code == 303


def test_a_sign_in_lasts_a_shift_whatever_the_browser_keeps(with_accounts: TestClient) -> None:
    assert sign_in(with_accounts, CLERK_USERNAME, CLERK_PASSWORD)[0] == 303
    node = node_of(with_accounts)
    later = node.wall_ms() + 15 * 3600 * 1000
    node.wall_ms = lambda: later  # type: ignore[method-assign]
    assert with_accounts.get("/sync", follow_redirects=False).status_code == 303
