"""Who may see what at HQ (issue 8): every staff endpoint enforces the caller's scope on the server.

Users of each HQ role sign in for real (``POST /api/v1/session``: the session cookie, and the CSRF
token in ``X-CSRF-Token`` on every unsafe call) and call the real app. :data:`TABLE` lists, per
endpoint, the roles allowed; every other role must get 403. Around it, the named cases of the issue:
a regional manager asking for another region's store by id, an agent opening a ticket of another
department by id, a ticket shared with the agent's department, lists filtered to the scope, store
roles and node tokens refused, settings for administrators only.

The world: departments ``qc`` (department A) and ``finance`` (B); regions ``east`` (stores SH001,
HZ001) and ``north`` (BJ001); tickets ``qc_east`` (qc, SH001), ``fin_north`` (finance, BJ001),
``fin_shared`` (finance, BJ001, shared with qc) and ``fin_east`` (finance, HZ001).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest
from starlette.testclient import TestClient

from hq_server.enrollment import Enrollment, enroll_store
from hq_server.schema import stock_levels
from tests.hq.helpers import ADMIN, Hq, import_catalogue, now_ms

PASSWORD = "Spring-2025!"

pytestmark = pytest.mark.usefixtures("fast_hashing")


class Response(Protocol):
    """What the tests read of a response (TestClient's httpx and httpx2 responses alike)."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


ROLES = ("admin", "supervisor", "lead", "agent", "manager")
USERS: dict[str, dict[str, Any]] = {
    "admin": {"role": "admin"},
    "supervisor": {"role": "cs_supervisor"},
    "lead": {"role": "group_lead", "departments": ["qc"]},
    "agent": {"role": "agent", "departments": ["qc"]},
    "manager": {"role": "regional_manager", "regions": ["east"]},
}
EVERYONE = frozenset(ROLES)
WORKERS = frozenset({"admin", "supervisor", "lead", "agent"})
ALL_TICKETS = frozenset({"admin", "supervisor"})
ADMINS = frozenset({"admin"})
REPORTS = frozenset({"admin", "supervisor", "lead", "manager"})
NOT_MANAGER = EVERYONE - {"manager"}
CATALOGUE = """product_code,name_zh,name_en,category,colour,size
JN-2041,修身牛仔裤,Slim jeans,jeans,蓝,M
"""
SKU = "JN-2041-蓝-M"


@dataclass
class World:
    hq: Hq
    #: Ticket name -> {"id", "number"}.
    tickets: dict[str, dict[str, str]]
    stores: dict[str, Enrollment]
    order: str
    sessions: dict[str, TestClient] = field(default_factory=dict)

    def values(self) -> dict[str, str]:
        found = {name: t["id"] for name, t in self.tickets.items()}
        found.update({f"{name}_number": t["number"] for name, t in self.tickets.items()})
        found["north_order"] = self.order
        return found

    def as_role(self, role: str) -> TestClient:
        return self.sessions[role]

    def call(self, role: str, method: str, path: str, body: Any = None, **kwargs: Any) -> Response:
        client = self.as_role(role)
        if body is None:
            return client.request(method, path, **kwargs)
        return client.request(method, path, json=body, **kwargs)


def signed_in(hq: Hq, username: str) -> TestClient:
    """A client of ``username``'s session: its cookie, and the CSRF token on every request."""
    client = TestClient(hq.app)
    response = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return client


def _ticket(hq: Hq, title: str, type_: str, department: str, store: str) -> dict[str, str]:
    body = {"type": type_, "title": title, "department": department, "store": store}
    response = hq.api("POST", "/api/v1/tickets", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["department"] == department
    return {"id": created["id"], "number": created["number"]}


@pytest.fixture
def world(hq: Hq) -> World:
    stores = {
        code: enroll_store(hq.ctx.db, hq.ctx.clock, code, name=f"{code} 门店", region=region)
        for code, region in (("SH001", "east"), ("HZ001", "east"), ("BJ001", "north"))
    }
    tickets = {
        "qc_east": _ticket(hq, "开线", "quality", "qc", "SH001"),
        "fin_north": _ticket(hq, "退款未到账", "refund", "finance", "BJ001"),
        "fin_shared": _ticket(hq, "退款与质检", "refund", "finance", "BJ001"),
        "fin_east": _ticket(hq, "发票", "refund", "finance", "HZ001"),
    }
    shared = hq.api("POST", f"/api/v1/tickets/{tickets['fin_shared']['id']}/shares", json={"department": "qc"})
    assert shared.status_code == 201, shared.text
    import_catalogue(hq, CATALOGUE)
    with hq.ctx.db.write() as conn:
        for enrollment in stores.values():
            conn.execute(
                stock_levels.insert().values(
                    store_id=enrollment.store_id, sku=SKU, product_code="JN-2041", on_hand=3, updated_at=now_ms()
                )
            )
    order = {
        "number": "BJ001-S-0001",
        "channel": "store",
        "store": "BJ001",
        "customer_phone": "13800138000",
        "paid_at": "2025-01-31T18:00:00+08:00",
        "lines": [{"sku": SKU, "qty": 1, "unit_price": "299.00"}],
    }
    posted = hq.api("POST", "/api/v1/orders", json=order)
    assert posted.status_code == 201, posted.text
    found = World(hq, tickets, stores, posted.json()["id"])
    for name, fields in USERS.items():
        body = {"username": name, "password": PASSWORD, **fields}
        created = hq.api("POST", "/api/v1/users", json=body)
        assert created.status_code == 201, created.text
        found.sessions[name] = signed_in(hq, name)
    return found


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    allowed: frozenset[str]
    body: Any = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


#: Every staff route group (staff_api, collaboration_api, settings_api, webhooks_api, intake_api,
#: surveys_api, stock_api, orders_api, returns_api, accounts_api): who may call it. The merge is
#: last: it closes a ticket.
TABLE: tuple[Case, ...] = (
    # staff_api: tickets and reference data
    Case("GET", "/api/v1/tickets", EVERYONE),
    Case("GET", "/api/v1/tickets/{qc_east}", EVERYONE),
    Case("GET", "/api/v1/tickets/{qc_east_number}", EVERYONE),
    Case("GET", "/api/v1/tickets/{fin_north}", ALL_TICKETS),
    Case("GET", "/api/v1/tickets/{fin_north_number}", ALL_TICKETS),
    Case("GET", "/api/v1/tickets/{fin_shared}", WORKERS),
    Case("GET", "/api/v1/tickets/{fin_east}", ALL_TICKETS | {"manager"}),
    Case("POST", "/api/v1/tickets", WORKERS, {"type": "quality", "title": "新单", "department": "qc"}),
    Case("POST", "/api/v1/tickets", ALL_TICKETS, {"type": "refund", "title": "新单", "department": "finance"}),
    Case("PATCH", "/api/v1/tickets/{qc_east}", WORKERS, {"title": "开线（已核实）"}),
    Case("PATCH", "/api/v1/tickets/{fin_north}", ALL_TICKETS, {"title": "改"}),
    Case("PATCH", "/api/v1/tickets/{fin_east}", ALL_TICKETS, {"title": "改"}),
    Case("POST", "/api/v1/tickets/{qc_east}/comments", EVERYONE, {"body": "已联系顾客"}),
    Case("POST", "/api/v1/tickets/{fin_north}/comments", ALL_TICKETS, {"body": "看看"}),
    Case("GET", "/api/v1/stores", EVERYONE),
    Case("GET", "/api/v1/ticket-types", EVERYONE),
    Case("GET", "/api/v1/departments", EVERYONE),
    Case("GET", "/api/v1/products", EVERYONE),
    Case("GET", "/api/v1/products/JN-2041", EVERYONE),
    # reports_api: roles that see reports; a regional manager only their regions
    Case("GET", "/api/v1/reports", REPORTS),
    Case("GET", "/api/v1/reports/volume", REPORTS),
    Case("GET", "/api/v1/reports/volume?region=north", REPORTS - {"manager"}),
    Case("GET", "/api/v1/reports/response-times?format=csv", REPORTS),
    # collaboration_api: notes, shares, links (merge at the end)
    Case("POST", "/api/v1/tickets/{qc_east}/notes", WORKERS, {"body": "内部备注"}),
    Case("POST", "/api/v1/tickets/{fin_north}/notes", ALL_TICKETS, {"body": "内部备注"}),
    Case("POST", "/api/v1/tickets/{fin_shared}/notes", WORKERS, {"body": "质检意见"}),
    Case("POST", "/api/v1/tickets/{qc_east}/shares", WORKERS, {"department": "cs"}),
    Case("POST", "/api/v1/tickets/{fin_north}/shares", ALL_TICKETS, {"department": "cs"}),
    Case("PATCH", "/api/v1/tickets/{fin_shared}/shares/qc", WORKERS, {"status": "in_progress"}),
    Case("POST", "/api/v1/tickets/{qc_east}/links", ALL_TICKETS, {"ticket": "{fin_north}"}),
    # settings_api: administrators only; notifications within one's departments
    Case("GET", "/api/v1/routing-rules", ADMINS),
    Case("PUT", "/api/v1/routing-rules", ADMINS, []),
    Case("GET", "/api/v1/sla-policies", ADMINS),
    Case("PUT", "/api/v1/sla-policies/quality/high", ADMINS, {}),
    Case("GET", "/api/v1/departments/qc/calendar", ADMINS),
    Case("PUT", "/api/v1/departments/qc/calendar", ADMINS, {}),
    Case("GET", "/api/v1/escalation-steps", ADMINS),
    Case("PUT", "/api/v1/escalation-steps", ADMINS, []),
    Case("PUT", "/api/v1/ticket-types/quality/form", ADMINS, {"fields": []}),
    Case("GET", "/api/v1/agents", ADMINS),
    Case("PUT", "/api/v1/agents/a1", ADMINS, {"name": "小王", "departments": ["qc"]}),
    Case("GET", "/api/v1/departments/qc/assignment", ADMINS),
    Case("PUT", "/api/v1/departments/qc/assignment", ADMINS, {}),
    Case("GET", "/api/v1/notifications?role=lead&department=qc", WORKERS - {"agent"}),
    Case("GET", "/api/v1/notifications?role=agent&department=qc", WORKERS),
    Case("GET", "/api/v1/notifications?role=lead&department=finance", ALL_TICKETS),
    # webhooks_api
    Case("GET", "/api/v1/webhooks", ADMINS),
    Case("POST", "/api/v1/webhooks", ADMINS, {"url": "https://example.com/hook", "events": ["ticket.created"]}),
    Case("GET", "/api/v1/webhooks/nope/deliveries", ADMINS),
    Case("DELETE", "/api/v1/webhooks/nope", ADMINS),
    # intake_api
    Case("POST", "/api/v1/intake/sms", ADMINS, {"sms_id": "s1", "from": "13800000013", "text": "我要退款"}),
    Case("GET", "/api/v1/customers/nope", EVERYONE),
    # surveys_api
    Case("GET", "/api/v1/surveys/results", REPORTS),
    Case("GET", "/api/v1/surveys/results?department=finance", ALL_TICKETS | {"manager"}),
    # stock_api
    Case("GET", "/api/v1/stock?product=JN-2041", EVERYONE),
    Case("GET", "/api/v1/stock?product=JN-2041&near=SH001", EVERYONE),
    Case("GET", "/api/v1/stock?product=JN-2041&near=BJ001", NOT_MANAGER),
    Case("PUT", "/api/v1/stock/thresholds", ADMINS, []),
    Case("GET", "/api/v1/transfers", EVERYONE),
    Case("GET", "/api/v1/transfers?store=SH001", EVERYONE),
    Case("GET", "/api/v1/transfers?store=BJ001", NOT_MANAGER),
    Case("PUT", "/api/v1/stores/SH001", ADMINS, {"contact": "李店长"}),
    # orders_api
    Case("POST", "/api/v1/orders", ADMINS, {}),
    Case("GET", "/api/v1/orders?number=BJ001-S-0001", EVERYONE),
    Case("GET", "/api/v1/orders/{north_order}", NOT_MANAGER),
    # returns_api
    Case("GET", "/api/v1/return-policy", EVERYONE),
    Case("PUT", "/api/v1/return-policy", ADMINS, {}),
    Case("GET", "/api/v1/returns", EVERYONE),
    Case("GET", "/api/v1/returns?store=HZ001", EVERYONE),
    Case("GET", "/api/v1/returns?store=BJ001", NOT_MANAGER),
    Case("GET", "/api/v1/returns/reasons", EVERYONE),
    Case("GET", "/api/v1/returns/reasons?store=BJ001", NOT_MANAGER),
    # accounts_api
    Case("GET", "/api/v1/session", EVERYONE),
    Case("GET", "/api/v1/users", ADMINS),
    Case("POST", "/api/v1/users", ADMINS, {"username": "new.user", "role": "agent", "password": PASSWORD}),
    # last: merging closes the duplicate
    Case("POST", "/api/v1/tickets/{fin_east}/merge", ALL_TICKETS, {"into": "{fin_north}"}),
)


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**values)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


@pytest.mark.parametrize("role", ROLES)
def test_role_by_endpoint_table(world: World, role: str) -> None:
    """Each role against every row: allowed is neither 401 nor 403 (nor a 5xx), denied is 403."""
    values = world.values()
    wrong: list[str] = []
    for case in TABLE:
        path = _fill(case.path, values)
        response = world.call(role, case.method, path, _fill(case.body, values))
        allowed = role in case.allowed
        ok = (
            response.status_code not in (401, 403) and response.status_code < 500
            if allowed
            else response.status_code == 403
        )
        if not ok:
            wrong.append(
                f"{case} -> {response.status_code} {response.text[:160]} (expected {'allowed' if allowed else '403'})"
            )
    assert wrong == []


def test_the_table_covers_every_staff_route_module() -> None:
    modules = {
        "/api/v1/tickets": "staff_api",
        "/notes": "collaboration_api",
        "/api/v1/routing-rules": "settings_api",
        "/api/v1/webhooks": "webhooks_api",
        "/api/v1/intake": "intake_api",
        "/api/v1/surveys": "surveys_api",
        "/api/v1/stock": "stock_api",
        "/api/v1/orders": "orders_api",
        "/api/v1/returns": "returns_api",
        "/api/v1/users": "accounts_api",
        "/api/v1/reports": "reports_api",
    }
    assert {module for part, module in modules.items() if any(part in c.path for c in TABLE)} == set(modules.values())
    assert len(TABLE) * len(ROLES) >= 300


def _code(response: Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def test_regional_manager_asking_for_another_regions_store_by_id_is_403(world: World) -> None:
    north = world.stores["BJ001"]
    fin_north = world.tickets["fin_north"]
    asks = [
        f"/api/v1/tickets/{fin_north['id']}",
        f"/api/v1/tickets/{fin_north['number']}",
        f"/api/v1/returns?store={north.store_id}",
        "/api/v1/returns?store=BJ001",
        f"/api/v1/transfers?store={north.store_id}",
        f"/api/v1/stock?product=JN-2041&near={north.store_id}",
        f"/api/v1/orders/{world.order}",
        "/api/v1/orders/BJ001-S-0001",
    ]
    for path in asks:
        response = world.call("manager", "GET", path)
        assert (response.status_code, _code(response)) == (403, "out_of_scope"), path
    # Their own region's stores answer, and lists leave the other region out.
    assert world.call("manager", "GET", f"/api/v1/tickets/{world.tickets['fin_east']['id']}").status_code == 200
    assert world.call("manager", "GET", "/api/v1/returns?store=SH001").status_code == 200
    stores = world.call("manager", "GET", "/api/v1/stores").json()["items"]
    assert sorted(s["code"] for s in stores) == ["HZ001", "SH001"]
    stock = world.call("manager", "GET", "/api/v1/stock?product=JN-2041").json()
    assert sorted(s["code"] for s in stock["stores"]) == ["HZ001", "SH001"]
    everywhere = world.call("lead", "GET", "/api/v1/stock?product=JN-2041").json()
    assert sorted(s["code"] for s in everywhere["stores"]) == ["BJ001", "HZ001", "SH001"]
    assert world.call("manager", "GET", "/api/v1/orders?phone=13800138000").json()["items"] == []
    assert len(world.call("admin", "GET", "/api/v1/orders?phone=13800138000").json()["items"]) == 1
    # A regional manager reads and comments, but does not change tickets.
    own = world.tickets["qc_east"]["id"]
    assert world.call("manager", "POST", f"/api/v1/tickets/{own}/comments", {"body": "请尽快处理"}).status_code == 201
    refused = world.call("manager", "PATCH", f"/api/v1/tickets/{own}", {"status": "resolved"})
    assert (refused.status_code, _code(refused)) == (403, "read_only")


def test_agent_opening_a_ticket_of_another_department_by_id_is_403(world: World) -> None:
    other = world.tickets["fin_north"]
    own = world.tickets["qc_east"]["id"]
    attempts: list[tuple[str, str, Any]] = [
        ("GET", f"/api/v1/tickets/{other['id']}", None),
        ("GET", f"/api/v1/tickets/{other['number']}", None),
        ("PATCH", f"/api/v1/tickets/{other['id']}", {"status": "resolved"}),
        ("PATCH", f"/api/v1/tickets/{other['id']}", {"assignee": "agent"}),
        ("POST", f"/api/v1/tickets/{other['id']}/comments", {"body": "x"}),
        ("POST", f"/api/v1/tickets/{other['id']}/notes", {"body": "x"}),
        ("POST", f"/api/v1/tickets/{other['id']}/shares", {"department": "qc"}),
        ("PATCH", f"/api/v1/tickets/{other['id']}/shares/qc", {"status": "done"}),
        ("POST", f"/api/v1/tickets/{other['id']}/links", {"ticket": own}),
        ("POST", f"/api/v1/tickets/{own}/links", {"ticket": other["id"]}),
        ("POST", f"/api/v1/tickets/{other['id']}/merge", {"into": own}),
        ("POST", f"/api/v1/tickets/{own}/merge", {"into": other["number"]}),
        # A guessed id that does not exist is refused the same way: no probing.
        ("GET", "/api/v1/tickets/HQ-999999", None),
    ]
    for method, path, body in attempts:
        response = world.call("agent", method, path, body)
        assert (response.status_code, _code(response)) == (403, "out_of_scope"), (method, path, response.text)
    # Nothing changed; an administrator still gets 404 for an unknown ticket.
    ticket = world.hq.ticket(other["id"])
    assert (ticket["status"], ticket["assignee"], ticket["comments"]) == ("new", "", [])
    missing = world.call("admin", "GET", "/api/v1/tickets/HQ-999999")
    assert (missing.status_code, _code(missing)) == (404, "ticket_not_found")


def test_agent_sees_a_ticket_shared_with_their_department(world: World) -> None:
    shared = world.tickets["fin_shared"]
    response = world.call("agent", "GET", f"/api/v1/tickets/{shared['number']}")
    assert response.status_code == 200, response.text
    assert [s["department"] for s in response.json()["shares"]] == ["qc"]
    listed = world.call("agent", "GET", "/api/v1/tickets?department=finance").json()
    assert [t["id"] for t in listed["items"]] == [shared["id"]]
    # The agent works qc's task on it and writes notes, but the owner's fields stay finance's.
    task = world.call("agent", "PATCH", f"/api/v1/tickets/{shared['id']}/shares/qc", {"status": "done"})
    assert (task.status_code, task.json()["status"]) == (200, "done")
    assert world.call("agent", "POST", f"/api/v1/tickets/{shared['id']}/notes", {"body": "质检完成"}).status_code == 201
    refused = world.call("agent", "PATCH", f"/api/v1/tickets/{shared['id']}", {"status": "resolved"})
    assert (refused.status_code, _code(refused)) == (403, "not_owner")
    # The department header must be one of the agent's.
    foreign = world.call(
        "agent",
        "PATCH",
        f"/api/v1/tickets/{shared['id']}",
        {"title": "x"},
        headers={"X-StoreDesk-Department": "finance"},
    )
    assert (foreign.status_code, _code(foreign)) == (403, "not_your_department")


def test_ticket_lists_are_filtered_to_the_callers_scope(world: World) -> None:
    names = {t["id"]: name for name, t in world.tickets.items()}
    expected = {
        "admin": {"qc_east", "fin_north", "fin_shared", "fin_east"},
        "supervisor": {"qc_east", "fin_north", "fin_shared", "fin_east"},
        "lead": {"qc_east", "fin_shared"},
        "agent": {"qc_east", "fin_shared"},
        "manager": {"qc_east", "fin_east"},
    }
    for role, wanted in expected.items():
        body = world.call(role, "GET", "/api/v1/tickets").json()
        assert {names[t["id"]] for t in body["items"]} == wanted, role
        assert body["total"] == len(wanted), role
        page = world.call(role, "GET", "/api/v1/tickets?limit=1&offset=1").json()
        assert page["total"] == len(wanted) and len(page["items"]) == 1, role
    # Filters narrow the scope, never widen it.
    north = world.call("manager", "GET", "/api/v1/tickets?store=BJ001").json()
    assert (north["items"], north["total"]) == ([], 0)
    finance = world.call("agent", "GET", "/api/v1/tickets?status=new&department=finance").json()
    assert {names[t["id"]] for t in finance["items"]} == {"fin_shared"}


def test_store_roles_and_node_tokens_cannot_use_the_staff_api(world: World) -> None:
    hq = world.hq
    for name, role in (("clerk.sh", "clerk"), ("manager.sh", "store_manager")):
        body = {"username": name, "role": role, "password": PASSWORD, "store": "SH001", "pin": "2468"}
        assert hq.api("POST", "/api/v1/users", json=body).status_code == 201
        response = TestClient(hq.app).post("/api/v1/session", json={"username": name, "password": PASSWORD})
        assert (response.status_code, _code(response)) == (403, "wrong_role")
    node = {"Authorization": f"Bearer {world.stores['SH001'].token}"}
    for method, path in (
        ("GET", "/api/v1/tickets"),
        ("GET", f"/api/v1/tickets/{world.tickets['qc_east']['id']}"),
        ("GET", "/api/v1/stock?product=JN-2041"),
        ("GET", "/api/v1/returns"),
        ("GET", "/api/v1/routing-rules"),
        ("GET", "/api/v1/session"),
    ):
        response = hq.client.request(method, path, headers=node)
        assert (response.status_code, _code(response)) == (401, "unauthorized"), path
    # A node token never mixes with a session: a signed-in client sending it is still refused.
    mixed = world.as_role("admin").get("/api/v1/tickets", headers=node)
    assert mixed.status_code == 401
    # And no credential at all.
    assert hq.client.get("/api/v1/tickets").status_code == 401


def test_settings_are_admin_only(world: World) -> None:
    settings = [c for c in TABLE if c.allowed == ADMINS]
    assert len(settings) >= 20
    values = world.values()
    for role in ("supervisor", "lead", "agent", "manager"):
        for case in settings:
            response = world.call(role, case.method, _fill(case.path, values), _fill(case.body, values))
            assert (response.status_code, _code(response)) == (403, "admin_only"), (role, str(case))
    # The administrator's session and the admin token get through.
    assert world.call("admin", "GET", "/api/v1/routing-rules").status_code == 200
    assert world.hq.client.get("/api/v1/routing-rules", headers=ADMIN).status_code == 200


def test_a_session_without_the_csrf_token_cannot_change_anything(world: World) -> None:
    client = world.as_role("agent")
    own = world.tickets["qc_east"]["id"]
    response = client.post(f"/api/v1/tickets/{own}/comments", json={"body": "x"}, headers={"X-CSRF-Token": "forged"})
    assert (response.status_code, _code(response)) == (403, "csrf_failed")
