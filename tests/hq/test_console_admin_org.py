"""The console's administration screens (org): users, stores, regions, departments, node
enrolment and sync health (issue 8). Users sign in for real and post forms as a browser would."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from hq_server.enrollment import Enrollment, enroll_store
from sync_protocol.messages import hello_decoder
from tests.hq.helpers import Hq, WireNode

PASSWORD = "Spring-2025!"

pytestmark = pytest.mark.usefixtures("fast_hashing")


@dataclass
class Console:
    client: TestClient
    csrf: str

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any], *, csrf: bool = True) -> Any:
        form = {**data, "csrf_token": self.csrf} if csrf else data
        return self.client.post(path, data=form, follow_redirects=False)


def sign_in(hq: Hq, username: str, password: str = PASSWORD) -> Console:
    client = TestClient(hq.app)
    response = client.post("/api/v1/session", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return Console(client, response.json()["csrf_token"])


@dataclass
class World:
    hq: Hq
    admin: Console
    agent: Console


@pytest.fixture
def world(hq: Hq) -> World:
    enroll_store(hq.ctx.db, hq.ctx.clock, "SH001", name="SH001 门店", region="east")
    accounts: dict[str, dict[str, Any]] = {
        "boss": {"role": "admin", "display_name": "管理员"},
        "agent": {"role": "agent", "departments": ["qc"], "display_name": "李坐席"},
    }
    for name, fields in accounts.items():
        created = hq.api("POST", "/api/v1/users", json={"username": name, "password": PASSWORD, **fields})
        assert created.status_code == 201, created.text
    return World(hq, sign_in(hq, "boss"), sign_in(hq, "agent"))


def field_error(page: str, field: str) -> str:
    found = re.search(rf'<span class="ao-error" id="err-{field}"[^>]*>([^<]*)</span>', page)
    return html.unescape(found.group(1)) if found else ""


def user_id(hq: Hq, username: str) -> str:
    users = hq.api("GET", "/api/v1/users").json()["items"]
    return str(next(u["id"] for u in users if u["username"] == username))


ADMIN_GETS = [
    "/console/admin",
    "/console/admin/users",
    "/console/admin/users/new",
    "/console/admin/stores",
    "/console/admin/stores/SH001",
    "/console/admin/regions",
    "/console/admin/departments",
    "/console/admin/enroll",
    "/console/admin/sync",
]


def test_every_admin_page_renders_in_chinese_and_english(world: World) -> None:
    pages = [*ADMIN_GETS, f"/console/admin/users/{user_id(world.hq, 'agent')}"]
    for lang in ("zh", "en"):
        for path in pages:
            page = world.admin.get(f"{path}?lang={lang}")
            assert page.status_code == 200, (path, page.text)
            assert "⟦" not in page.text, (path, lang, re.findall(r"⟦[^⟧]*⟧", page.text))
    index = world.admin.get("/console/admin").text
    for path in (
        "/console/admin/users",
        "/console/admin/stores",
        "/console/admin/regions",
        "/console/admin/departments",
        "/console/admin/enroll",
        "/console/admin/sync",
        "/console/admin/ticket-types",
        "/console/admin/routing",
        "/console/admin/sla",
        "/console/admin/return-policy",
        "/console/admin/thresholds",
    ):
        assert f'href="{path}"' in index
    assert "Administration" in world.admin.get("/console/admin?lang=en").text


def test_an_agent_gets_403_on_every_admin_page_and_form(world: World) -> None:
    agent_id = user_id(world.hq, "agent")
    for path in [*ADMIN_GETS, f"/console/admin/users/{agent_id}"]:
        assert world.agent.get(path).status_code == 403, path
    posts: dict[str, dict[str, Any]] = {
        "/console/admin/users/new": {"username": "mallory", "role": "admin", "password": PASSWORD},
        f"/console/admin/users/{agent_id}": {"display_name": "x", "role": "admin", "active": "1"},
        f"/console/admin/users/{agent_id}/password": {"password": "Another-2025!"},
        "/console/admin/stores/SH001": {"name": "被改了"},
        "/console/admin/regions": {"code": "west"},
        "/console/admin/departments": {"code": "evil", "name_zh": "坏"},
        "/console/admin/enroll": {"code": "SH001"},
    }
    for path, data in posts.items():
        response = world.agent.post(path, data)
        assert response.status_code == 403, path
        assert "sdn_" not in response.text
    assert world.hq.api("GET", f"/api/v1/users/{agent_id}").json()["role"] == "agent"
    assert "mallory" not in {u["username"] for u in world.hq.api("GET", "/api/v1/users").json()["items"]}


def test_not_signed_in_goes_to_the_sign_in_page(hq: Hq) -> None:
    response = TestClient(hq.app).get("/console/admin/users", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login?next=")


def test_a_form_without_the_csrf_token_is_refused(world: World) -> None:
    response = world.admin.post("/console/admin/regions", {"code": "west"}, csrf=False)
    assert response.status_code == 403
    wrong = world.admin.client.post("/console/admin/regions", data={"code": "west", "csrf_token": "nope"})
    assert wrong.status_code == 403
    assert "west" not in world.admin.get("/console/admin/regions").text


def test_admin_creates_a_user_who_then_signs_in(world: World) -> None:
    created = world.admin.post(
        "/console/admin/users/new",
        {
            "username": "Lead.Wang",
            "display_name": "王组长",
            "role": "group_lead",
            "departments": ["qc", "it"],
            "password": "Summer-2025!",
        },
    )
    assert created.status_code == 303, created.text
    page = world.admin.get(created.headers["location"])
    assert page.status_code == 200 and "lead.wang" in page.text
    listing = world.admin.get("/console/admin/users").text
    assert "王组长" in listing and "组长" in listing and "qc, it" in listing
    signed_in = TestClient(world.hq.app).post(
        "/api/v1/session", json={"username": "lead.wang", "password": "Summer-2025!"}
    )
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["user"]["departments"] == ["qc", "it"]


def test_a_bad_scope_shows_the_field_error_and_keeps_what_was_typed(world: World) -> None:
    page = world.admin.post(
        "/console/admin/users/new",
        {
            "username": "zhao",
            "display_name": "赵经理",
            "role": "agent",
            "regions": ["east"],
            "departments": ["qc"],
            "password": "Summer-2025!",
        },
    )
    assert page.status_code == 422
    assert field_error(page.text, "regions") == "该角色不设区域"
    assert 'value="zhao"' in page.text and 'value="赵经理"' in page.text
    assert re.search(r'value="qc"\s+checked', page.text)
    assert "Summer-2025!" not in page.text
    no_region = world.admin.post(
        "/console/admin/users/new",
        {"username": "zhao", "role": "regional_manager", "password": "Summer-2025!"},
    )
    assert no_region.status_code == 422 and field_error(no_region.text, "regions")
    short = world.admin.post("/console/admin/users/new", {"username": "zhao", "role": "cs_supervisor", "password": "x"})
    assert short.status_code == 422 and field_error(short.text, "password")
    assert "zhao" not in {u["username"] for u in world.hq.api("GET", "/api/v1/users").json()["items"]}


def test_admin_edits_a_user_and_resets_their_password(world: World) -> None:
    agent_id = user_id(world.hq, "agent")
    edited = world.admin.post(
        f"/console/admin/users/{agent_id}",
        {"display_name": "李组长", "role": "group_lead", "departments": ["qc", "cs"], "active": "1"},
    )
    assert edited.status_code == 303, edited.text
    user = world.hq.api("GET", f"/api/v1/users/{agent_id}").json()
    assert (user["display_name"], user["role"], user["departments"]) == ("李组长", "group_lead", ["qc", "cs"])
    reset = world.admin.post(f"/console/admin/users/{agent_id}/password", {"password": "Autumn-2025!"})
    assert reset.status_code == 303
    assert world.agent.get("/console/queue", follow_redirects=False).status_code == 303  # session ended
    sign_in(world.hq, "agent", "Autumn-2025!")
    weak = world.admin.post(f"/console/admin/users/{agent_id}/password", {"password": "123"})
    assert weak.status_code == 422 and field_error(weak.text, "new_password")
    off = world.admin.post(
        f"/console/admin/users/{agent_id}", {"display_name": "李组长", "role": "group_lead", "departments": ["qc"]}
    )
    assert off.status_code == 303
    assert world.hq.api("GET", f"/api/v1/users/{agent_id}").json()["active"] is False


def test_store_edit_changes_the_store(world: World) -> None:
    assert world.admin.post("/console/admin/regions", {"code": "north", "name": "华北"}).status_code == 303
    regions = world.admin.get("/console/admin/regions").text
    assert "north" in regions and "华北" in regions
    page = world.admin.get("/console/admin/stores/SH001").text
    north_id = re.search(r'<option value="([^"]+)"\s*>north', page)
    assert north_id is not None
    saved = world.admin.post(
        "/console/admin/stores/SH001",
        {
            "name": "上海一店",
            "region_id": north_id.group(1),
            "address": "南京东路 1 号",
            "lat": "31.23",
            "lon": "121.47",
            "contact": "王店长",
            "phone": "021-12345678",
        },
    )
    assert saved.status_code == 303, saved.text
    store = next(s for s in world.hq.api("GET", "/api/v1/stores").json()["items"] if s["code"] == "SH001")
    assert (store["name"], store["region_code"], store["address"]) == ("上海一店", "north", "南京东路 1 号")
    assert (store["lat"], store["lon"]) == (31.23, 121.47)
    listing = world.admin.get("/console/admin/stores").text
    assert "南京东路 1 号" in listing and "31.23, 121.47" in listing and "王店长" in listing
    bad = world.admin.post("/console/admin/stores/SH001", {"name": "上海一店", "lat": "95", "address": "留着"})
    assert bad.status_code == 422 and field_error(bad.text, "lat")
    assert 'value="留着"' in bad.text


def test_region_and_department_creation(world: World) -> None:
    assert world.admin.post("/console/admin/regions", {"code": "west", "name": "西部"}).status_code == 303
    again = world.admin.post("/console/admin/regions", {"code": "west"})
    assert again.status_code == 409 and field_error(again.text, "code")
    bad = world.admin.post("/console/admin/regions", {"code": "no spaces"})
    assert bad.status_code == 422 and 'value="no spaces"' in bad.text
    made = world.admin.post("/console/admin/departments", {"code": "legal", "name_zh": "法务", "name_en": "Legal"})
    assert made.status_code == 303, made.text
    renamed = world.admin.post(
        "/console/admin/departments", {"code": "legal", "name_zh": "法务部", "name_en": "Legal", "rename": "1"}
    )
    assert renamed.status_code == 303
    assert "法务部" in world.admin.get("/console/admin/departments").text
    taken = world.admin.post("/console/admin/departments", {"code": "legal", "name_zh": "又一个"})
    assert taken.status_code == 409 and field_error(taken.text, "code")
    nameless = world.admin.post("/console/admin/departments", {"code": "pr", "name_zh": ""})
    assert nameless.status_code == 422 and field_error(nameless.text, "name_zh")
    assert (
        world.admin.post(
            "/console/admin/users/new",
            {"username": "lawyer", "role": "agent", "departments": ["legal"], "password": "Summer-2025!"},
        ).status_code
        == 303
    )


def test_enrolment_shows_the_token_once_and_the_node_syncs_with_it(world: World, caplog: Any) -> None:
    caplog.set_level("DEBUG")
    issued = world.admin.post("/console/admin/enroll", {"code": "BJ001", "name": "北京一店", "region": "north"})
    assert issued.status_code == 200, issued.text
    assert issued.headers["cache-control"] == "no-store"
    token = re.search(r'value="(sdn_[^"]+)"', issued.text)
    assert token is not None
    secret = html.unescape(token.group(1))
    assert secret not in caplog.text
    for path in (
        "/console/admin/stores/BJ001",
        "/console/admin/sync",
        "/console/admin/enroll",
        "/console/admin/stores",
    ):
        assert secret not in world.admin.get(path).text
    headers = {"Authorization": f"Bearer {secret}", "X-StoreDesk-Protocol": "1"}
    hello = world.hq.client.get("/sync/v1/hello", headers=headers)
    assert hello.status_code == 200
    info = hello_decoder.decode(hello.content)
    assert (info.store_code, info.node_no) == ("BJ001", 1)
    node = WireNode(world.hq.client, Enrollment(info.node_id, info.node_no, info.store_id, "BJ001", secret))
    node.pull()
    sync = world.admin.get("/console/admin/sync").text
    row = re.search(r'<tr class="ao-health-(\w+)" data-store="BJ001" data-node="1">', sync)
    assert row is not None and row.group(1) == "ok"
    store_page = world.admin.get("/console/admin/stores/BJ001").text
    assert "北京一店" in store_page
    # SH001's node never reached HQ: red.
    assert re.search(r'<tr class="ao-health-overdue" data-store="SH001"', sync)
    second = world.admin.post("/console/admin/enroll", {"code": "BJ001"})
    assert second.status_code == 200 and "sdn_" in second.text
    bad = world.admin.post("/console/admin/enroll", {"code": "BJ-01"})
    assert bad.status_code == 422 and field_error(bad.text, "code") and "sdn_" not in bad.text


def test_sync_health_age_classes() -> None:
    from hq_server.console.admin_org_nodes import health

    now = 10 * 3600_000
    assert health(now - 60_000, now) == "ok"
    assert health(now - 10 * 60_000, now) == "soon"
    assert health(now - 2 * 3600_000, now) == "overdue"
    assert health(None, now) == "overdue"
