"""The console's service settings (issue 8, Admin): ticket type forms, routing rules, SLA policies
and calendars, the return policy and stock thresholds. An admin signs in for real and posts the
forms a browser would; what is saved is read back through the settings API."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from tests.hq.helpers import Hq, import_catalogue

PASSWORD = "Spring-2025!"
SKU = "JN-2041-蓝-M"
CSV = "product_code,name_zh,name_en,colour,size\nJN-2041,修身牛仔裤,Slim jeans,蓝,M\n"

pytestmark = pytest.mark.usefixtures("fast_hashing")

PAGES = (
    "/console/admin/ticket-types",
    "/console/admin/ticket-types/quality",
    "/console/admin/routing",
    "/console/admin/sla",
    "/console/admin/sla/calendars/*",
    "/console/admin/sla/calendars/qc",
    "/console/admin/return-policy",
    "/console/admin/thresholds",
)
POSTS = (
    "/console/admin/ticket-types/quality/form",
    "/console/admin/routing",
    "/console/admin/routing/any",
    "/console/admin/sla/policies",
    "/console/admin/sla/calendars/qc",
    "/console/admin/return-policy",
    "/console/admin/thresholds",
)


@dataclass
class Console:
    client: TestClient
    csrf: str

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def post(self, path: str, data: dict[str, Any], *, csrf: bool = True) -> Any:
        form = {**data, "csrf_token": self.csrf} if csrf else data
        return self.client.post(path, data=form, follow_redirects=False)


def _user(hq: Hq, username: str, **fields: Any) -> Console:
    created = hq.api("POST", "/api/v1/users", json={"username": username, "password": PASSWORD, **fields})
    assert created.status_code == 201, created.text
    client = TestClient(hq.app)
    response = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return Console(client, response.json()["csrf_token"])


@pytest.fixture
def admin(hq: Hq) -> Console:
    return _user(hq, "root", role="admin", display_name="管理员")


@pytest.fixture
def agent(hq: Hq) -> Console:
    return _user(hq, "agent", role="agent", departments=["qc"], display_name="李坐席")


def _form_of(hq: Hq, code: str) -> dict[str, Any]:
    items = hq.api("GET", "/api/v1/ticket-types").json()["items"]
    found: dict[str, Any] = next(item for item in items if item["code"] == code)["form"]
    return found


def test_admin_edits_a_ticket_types_form_and_the_api_shows_it(hq: Hq, admin: Console) -> None:
    page = admin.get("/console/admin/ticket-types")
    assert page.status_code == 200 and "/console/admin/ticket-types/quality" in page.text
    saved = admin.post(
        "/console/admin/ticket-types/quality/form",
        {
            "f0_name": "defect",
            "f0_label_zh": "问题类型",
            "f0_label_en": "Defect",
            "f0_kind": "choice",
            "f0_required": "1",
            "f0_choices": "开线\n掉色, 破洞",
            "f1_name": "photos",
            "f1_label_zh": "照片",
            "f1_kind": "photo",
            "f7_name": "",  # the blank row the page always offers
            "f7_kind": "text",
        },
    )
    assert saved.status_code == 303, saved.text
    assert _form_of(hq, "quality") == {
        "fields": [
            {"name": "defect", "label_zh": "问题类型", "label_en": "Defect", "kind": "choice", "required": True,
             "choices": ["开线", "掉色", "破洞"]},
            {"name": "photos", "label_zh": "照片", "kind": "photo"},
        ]
    }  # fmt: skip
    editor = admin.get(saved.headers["location"])
    assert 'value="defect"' in editor.text and "掉色" in editor.text
    # Removing a row keeps the other.
    removed = admin.post(
        "/console/admin/ticket-types/quality/form",
        {"f0_name": "defect", "f0_label_zh": "问题类型", "f0_kind": "text", "f0_remove": "1",
         "f1_name": "photos", "f1_label_zh": "照片", "f1_kind": "photo"},
    )  # fmt: skip
    assert removed.status_code == 303
    assert [f["name"] for f in _form_of(hq, "quality")["fields"]] == ["photos"]


def test_a_bad_form_field_shows_the_error_and_keeps_the_input(hq: Hq, admin: Console) -> None:
    refused = admin.post(
        "/console/admin/ticket-types/quality/form",
        {"f0_name": "size", "f0_label_zh": "尺码", "f0_kind": "choice", "f0_choices": "",
         "f1_name": "bad name!", "f1_label_zh": "备注", "f1_kind": "text"},
    )  # fmt: skip
    assert refused.status_code == 422
    assert "fields[0].choices" in refused.text
    assert 'value="bad name!"' in refused.text and 'value="尺码"' in refused.text
    assert _form_of(hq, "quality") == {}
    wrong_name = admin.post(
        "/console/admin/ticket-types/quality/form",
        {"f0_name": "size", "f0_label_zh": "尺码", "f0_kind": "text",
         "f1_name": "bad name!", "f1_label_zh": "备注", "f1_kind": "text"},
    )  # fmt: skip
    assert wrong_name.status_code == 422 and "fields[1].name" in wrong_name.text
    assert 'aria-invalid="true"' in wrong_name.text


RULES = """[
  {"id": "vip", "name": "VIP 优先", "when": {"customer_levels": ["vip"]}, "then": {"priority": "high"}},
  {"id": "breakage", "name": "破损转质检", "when": {"keywords": ["破损"]},
   "then": {"department": "qc", "tags": ["破损"]}}
]"""


def _rule_ids(hq: Hq) -> list[str]:
    return [rule["id"] for rule in hq.api("GET", "/api/v1/routing-rules").json()["rules"]]


def test_routing_rules_json_saved_and_an_error_names_the_path(hq: Hq, admin: Console) -> None:
    assert admin.post("/console/admin/routing", {"rules_json": RULES}).status_code == 303
    assert _rule_ids(hq) == ["vip", "breakage"]
    page = admin.get("/console/admin/routing")
    assert "标题或描述包含 破损" in page.text and "优先级设为 高" in page.text
    english = admin.get("/console/admin/routing?lang=en")
    assert "customer level is vip" in english.text and "send to" in english.text

    broken = RULES.replace('"department": "qc"', '"department": "nowhere"')
    refused = admin.post("/console/admin/routing", {"rules_json": broken})
    assert refused.status_code == 422
    assert "rules[1].then.department" in refused.text and "nowhere" in refused.text
    assert _rule_ids(hq) == ["vip", "breakage"]
    not_json = admin.post("/console/admin/routing", {"rules_json": "[{"})
    assert not_json.status_code == 422 and "[{" in not_json.text
    assert _rule_ids(hq) == ["vip", "breakage"]

    assert admin.post("/console/admin/routing/breakage", {"action": "up"}).status_code == 303
    assert _rule_ids(hq) == ["breakage", "vip"]
    assert admin.post("/console/admin/routing/vip", {"action": "delete"}).status_code == 303
    assert _rule_ids(hq) == ["breakage"]


def _policy(hq: Hq, ticket_type: str, priority: str) -> dict[str, Any] | None:
    for policy in hq.api("GET", "/api/v1/sla-policies").json()["policies"]:
        if (policy["ticket_type"], policy["priority"]) == (ticket_type, priority):
            return dict(policy)
    return None


def _sla_rows(html: str) -> dict[str, str]:
    """The table's inputs as posted by a browser (checked boxes only)."""
    form = html.split('action="/console/admin/sla/policies"')[1].split("</form>")[0]
    values: dict[str, str] = {}
    for tag in re.findall(r"<input [^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name is None or name[1] == "csrf_token" or ('type="checkbox"' in tag and "checked" not in tag):
            continue
        key = name[1] + (f"#{value[1] if value else ''}" if 'type="checkbox"' in tag else "")
        values[key] = value[1] if value else ""
    return values


def _post_table(admin: Console, values: dict[str, str], extra: list[tuple[str, str]]) -> Any:
    pairs = [(key.split("#")[0], value) for key, value in values.items()] + extra
    pairs.append(("csrf_token", admin.csrf))
    body = urlencode(pairs)
    headers = {"content-type": "application/x-www-form-urlencoded"}
    return admin.client.post(
        "/console/admin/sla/policies", content=body.encode(), headers=headers, follow_redirects=False
    )


def test_sla_policy_and_calendar_edits_take_effect(hq: Hq, admin: Console) -> None:
    values = _sla_rows(admin.get("/console/admin/sla").text)
    index = next(k.split("_")[0] for k, v in values.items() if k.endswith("_priority") and v == "urgent")
    values[f"{index}_first_response_min"] = "20"
    new = len([k for k in values if k.endswith("_first_response_min")]) - 1
    extra = [(f"p{new}_ticket_type", "quality"), (f"p{new}_priority", "high"), (f"p{new}_resolution_min", "120")]
    for key in [k for k in values if k.startswith(f"p{new}_")]:
        del values[key]
    saved = _post_table(admin, values, extra)
    assert saved.status_code == 303, saved.text
    urgent = _policy(hq, "*", "urgent")
    assert urgent is not None and (urgent["first_response_min"], urgent["resolution_min"]) == (20, 240)
    assert sorted(urgent["pausing_statuses"]) == ["waiting_customer", "waiting_store"]
    added = _policy(hq, "quality", "high")
    assert added is not None and added["resolution_min"] == 120 and added["pausing_statuses"] == []

    values[f"{index}_resolution_min"] = "-5"
    refused = _post_table(admin, values, [])
    assert refused.status_code == 422 and f"policies[{index[1:]}].resolution_min" in refused.text
    assert _policy(hq, "*", "urgent")["resolution_min"] == 240  # type: ignore[index]

    calendar = {f"w_{day}": "" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    calendar.update(tz="Asia/Shanghai", w_mon="08:00-12:00, 13:00-17:00", w_sat="10:00-16:00", holidays="2026-10-01")
    assert admin.post("/console/admin/sla/calendars/qc", {**calendar, "workday_hours": "mon"}).status_code == 303
    shown = hq.api("GET", "/api/v1/departments/qc/calendar").json()
    assert shown["inherited"] is False and shown["weekly"] == {"mon": [["08:00", "12:00"], ["13:00", "17:00"]],
                                                                "sat": [["10:00", "16:00"]]}  # fmt: skip
    assert shown["holidays"] == ["2026-10-01"]
    bad = admin.post("/console/admin/sla/calendars/qc", {**calendar, "w_tue": "18:00-09:00", "workday_hours": "mon"})
    assert bad.status_code == 422 and "weekly.tue" in bad.text and 'value="18:00-09:00"' in bad.text
    assert "tue" not in hq.api("GET", "/api/v1/departments/qc/calendar").json()["weekly"]


POLICY = {"no_reason_days": "15", "quality_days": "180", "exchange_days": "30", "excluded_categories": "内衣\n袜子",
          "require_unworn": "1", "allow_refund": "1", "allow_exchange": "1", "tz": "Asia/Shanghai"}  # fmt: skip


def test_return_policy_form_saves_and_shows_the_summary(hq: Hq, admin: Console) -> None:
    saved = admin.post("/console/admin/return-policy", POLICY)
    assert saved.status_code == 303, saved.text
    api = hq.api("GET", "/api/v1/return-policy").json()
    assert (api["no_reason_days"], api["quality_days"], api["exchange_days"]) == (15, 180, 30)
    assert api["excluded_categories"] == ["内衣", "袜子"] and api["source"] == "hq"
    page = admin.get("/console/admin/return-policy")
    assert api["summary"] in page.text  # the API's summary is in Chinese
    english = hq.api("GET", "/api/v1/return-policy", headers={"accept-language": "en"}).json()["summary"]
    assert english in admin.get("/console/admin/return-policy?lang=en").text


def test_an_invalid_return_window_shows_the_field_error(hq: Hq, admin: Console) -> None:
    refused = admin.post("/console/admin/return-policy", {**POLICY, "quality_days": "10"})
    assert refused.status_code == 422
    assert 'id="err-quality_days"' in refused.text and 'value="10"' in refused.text
    assert hq.api("GET", "/api/v1/return-policy").json()["source"] == "default"
    nothing = admin.post("/console/admin/return-policy", {**POLICY, "allow_refund": "", "allow_exchange": ""})
    assert nothing.status_code == 422 and 'id="err-allow_refund"' in nothing.text


def test_thresholds_are_set_listed_by_store_and_removed(hq: Hq, admin: Console) -> None:
    import_catalogue(hq, CSV)
    hq.enroll("SH001")
    hq.enroll("BJ001", region="north")
    for store, value in (("SH001", "5"), ("BJ001", "2")):
        set_one = admin.post("/console/admin/thresholds", {"store": store, "sku": SKU, "threshold": value})
        assert set_one.status_code == 303, set_one.text
    listed = admin.get("/console/admin/thresholds?store=SH001")
    assert listed.text.count(f"<code>{SKU}</code>") == 1 and "SH001" in listed.text
    assert admin.get("/console/admin/thresholds").text.count(f"<code>{SKU}</code>") == 2
    unknown = admin.post("/console/admin/thresholds", {"store": "SH001", "sku": "NO-SUCH", "threshold": "3"})
    assert unknown.status_code == 422 and "NO-SUCH" in unknown.text
    negative = admin.post("/console/admin/thresholds", {"store": "SH001", "sku": SKU, "threshold": "-1"})
    assert negative.status_code == 422 and 'value="-1"' in negative.text
    removed = admin.post("/console/admin/thresholds", {"store": "SH001", "sku": SKU, "remove": "1"})
    assert removed.status_code == 303
    assert f"<code>{SKU}</code>" not in admin.get("/console/admin/thresholds?store=SH001").text
    assert admin.get("/console/admin/thresholds").text.count(f"<code>{SKU}</code>") == 1


def test_an_agent_gets_403_on_every_page_and_post(hq: Hq, agent: Console) -> None:
    for path in PAGES:
        assert agent.get(path).status_code == 403, path
    for path in POSTS:
        assert agent.post(path, {"action": "delete"}).status_code == 403, path
    assert hq.api("GET", "/api/v1/return-policy").json()["source"] == "default"


def test_a_post_without_csrf_token_is_refused(hq: Hq, admin: Console) -> None:
    for path in POSTS:
        response = admin.post(path, {"rules_json": "[]", "store": "SH001", "sku": SKU, "threshold": "1"}, csrf=False)
        assert response.status_code == 403, path
    assert hq.api("GET", "/api/v1/return-policy").json()["source"] == "default"


def test_every_page_renders_in_both_languages(hq: Hq, admin: Console) -> None:
    admin.post("/console/admin/routing", {"rules_json": RULES})
    for path in PAGES:
        for lang in ("zh", "en"):
            response = admin.get(f"{path}?lang={lang}")
            assert response.status_code == 200, (path, lang)
            assert "⟦" not in response.text, (path, lang, re.findall(r"⟦[^⟧]*⟧", response.text))
    assert "Ticket types and forms" in admin.get("/console/admin/sla?lang=en").text
    anonymous = TestClient(hq.app).get("/console/admin/sla", follow_redirects=False)
    assert anonymous.status_code == 303 and "/console/login" in anonymous.headers["location"]
