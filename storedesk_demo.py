"""``storedesk demo``: HQ on embedded SQLite plus three store nodes of a demo clothing chain.

Each runs as its own process on its own port, exactly as in production. The first run enrolls
the stores and fills the chain with tickets in different states; later runs reuse the folder.
Ctrl-C stops everything cleanly (stores first, so their outboxes are flushed to disk).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

STORES: list[dict[str, str]] = [
    {"code": "SH001", "name": "上海南京东路店", "region": "east"},
    {"code": "HZ001", "name": "杭州湖滨银泰店", "region": "east"},
    {"code": "BJ001", "name": "北京三里屯店", "region": "north"},
]
#: Where the demo stores are and whom to call (transfer orders carry both sides).
STORE_PROFILES: dict[str, dict[str, Any]] = {
    "SH001": {
        "address": "上海市黄浦区南京东路 300 号",
        "lat": 31.2363,
        "lon": 121.4803,
        "contact": "店长 张婷",
        "phone": "021-63510001",
    },
    "HZ001": {
        "address": "杭州市上城区延安路 258 号湖滨银泰 B1",
        "lat": 30.2591,
        "lon": 120.1636,
        "contact": "店长 陈静",
        "phone": "0571-87010002",
    },
    "BJ001": {
        "address": "北京市朝阳区三里屯路 19 号",
        "lat": 39.9334,
        "lon": 116.4551,
        "contact": "店长 刘伟",
        "phone": "010-64170003",
    },
}
#: Products every demo store stocks (all colours and sizes), and the replenishment threshold.
STOCKED_PRODUCTS = ("JN-2041", "TS-2041", "DR-2042", "KN-2041", "CT-2041")
MIN_STOCK = 2

#: (type, title, description) of tickets clerks file.
TICKETS: list[tuple[str, str, str]] = [
    ("quality", "牛仔裤拉链频繁损坏", "款号 JN-2041，本周第三次有顾客反馈拉链卡住，附图"),
    ("quality", "针织衫起球严重", "KN-1180 灰色 M 码，顾客穿两次即起球"),
    ("equipment", "收银机打印机卡纸", "2 号收银台小票打印机每天卡纸数次"),
    ("equipment", "试衣间灯不亮", "3 号试衣间顶灯不亮，已报物业"),
    ("display", "新品陈列道具不足", "春季新品上市，缺少模特道具 2 个"),
    ("display", "橱窗海报需要更换", "活动已结束，橱窗海报仍为旧活动"),
    ("complaint", "顾客投诉店员态度", "顾客称周六下午试衣时店员态度冷淡"),
    ("complaint", "会员积分未到账", "会员 138****2201 消费后积分未到账"),
    ("after_sales", "线上订单到店退货", "顾客持天猫订单要求到店退货，尺码不合适"),
    ("stock", "爆款连衣裙断码", "DR-3302 白色 S 码断货，需调货"),
    ("other", "门店网络不稳定", "下午经常断网，收银改用离线模式"),
]

#: (code prefix, category, Chinese name, English name, price in yuan, colours, sizes) of the catalogue.
PRODUCT_LINES: list[tuple[str, str, str, str, int, list[str], list[str]]] = [
    ("JN", "jeans", "修身牛仔裤", "Slim jeans", 299, ["浅蓝", "深蓝", "黑"], ["26", "27", "28", "29", "30", "31"]),
    ("TS", "tshirt", "纯棉圆领T恤", "Cotton crew T-shirt", 79, ["白", "黑", "灰"], ["S", "M", "L", "XL"]),
    ("KN", "knitwear", "羊毛混纺针织衫", "Wool-blend sweater", 399, ["燕麦", "藏青"], ["S", "M", "L", "XL"]),
    ("DR", "dress", "碎花连衣裙", "Floral dress", 459, ["白", "蓝"], ["XS", "S", "M", "L"]),
    ("CT", "coat", "双面呢大衣", "Double-faced wool coat", 1299, ["驼色", "黑"], ["S", "M", "L"]),
    ("SK", "skirt", "百褶半身裙", "Pleated skirt", 259, ["黑", "卡其"], ["S", "M", "L"]),
    ("SH", "shirt", "牛津纺衬衫", "Oxford shirt", 199, ["白", "浅蓝"], ["S", "M", "L", "XL"]),
]
#: Styles per product line (each style is one product with every colour and size).
STYLES_PER_LINE = 6

DEPARTMENT_OF_TYPE = {
    "quality": "qc",
    "equipment": "it",
    "display": "operations",
    "complaint": "cs",
    "after_sales": "claims",
    "stock": "warehouse",
    "other": "cs",
}
#: The demo's agents: id -> (name, departments, lead of).
AGENTS: dict[str, tuple[str, list[str], list[str]]] = {
    "wangmin": ("质检-王敏", ["qc"], ["qc"]),
    "lina": ("质检-李娜", ["qc"], []),
    "chentao": ("IT-陈涛", ["it"], ["it"]),
    "liuyang": ("运营-刘洋", ["operations"], ["operations"]),
    "zhaoli": ("客服-赵丽", ["cs"], ["cs"]),
    "huanglei": ("客服-黄磊", ["cs"], []),
    "sunjie": ("售后-孙杰", ["claims"], ["claims"]),
    "zhouqiang": ("仓储-周强", ["warehouse"], ["warehouse"]),
    "wufang": ("财务-吴芳", ["finance"], ["finance"]),
}
#: The forms the demo chain asks for: quality feedback names the product; equipment damage comes
#: with a photo and where it is; after-sales says how to refund.
FORMS: dict[str, list[dict[str, Any]]] = {
    "quality": [
        {
            "name": "product_code",
            "label_zh": "商品编码",
            "label_en": "Product code",
            "kind": "product_code",
            "required": True,
        }
    ],
    "equipment": [
        {"name": "photos", "label_zh": "照片", "label_en": "Photos", "kind": "photo", "required": True},
        {"name": "location", "label_zh": "位置", "label_en": "Location", "required": True},
    ],
    "after_sales": [
        {
            "name": "refund_method",
            "label_zh": "退款方式",
            "label_en": "Refund method",
            "kind": "choice",
            "required": True,
            "choices": ["original", "cash", "voucher", "exchange"],
        }
    ],
}
#: What the demo's clerks fill in on those forms.
FORM_VALUES: dict[str, dict[str, Any]] = {
    "quality": {"product_code": "JN-2041"},
    "equipment": {"extra": {"photos": ["demo-photo-1.jpg"], "location": "收银台"}},
    "after_sales": {"extra": {"refund_method": "original"}},
}
#: The demo's routing rules (on top of each type's default department).
RULES: list[dict[str, Any]] = [
    {
        "id": "vip-complaints",
        "name": "VIP 会员投诉：客服加急",
        "when": {"types": ["complaint"], "keywords": ["VIP", "会员"]},
        "then": {"department": "cs", "priority": "urgent", "tags": ["vip"]},
    },
    {
        "id": "refunds",
        "name": "退款相关：财务",
        "when": {"keywords": ["退款", "refund"]},
        "then": {"department": "finance", "tags": ["refund"]},
    },
]


def _storedesk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "storedesk_cli", *args], capture_output=True, text=True, check=False)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"demo: a process exited early (code {proc.returncode}); see the logs in the data folder")
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"demo: {url} did not come up within {timeout:.0f} s")


def _enroll(data: Path, db: str) -> dict[str, Any]:
    state_file = data / "demo.json"
    if state_file.exists():
        state: dict[str, Any] = json.loads(state_file.read_text())
        return state
    init = _storedesk("hq", "init-db", "--db", db)
    if init.returncode != 0:
        raise SystemExit(f"demo: could not create the HQ database:\n{init.stderr}")
    tokens = {}
    for store in STORES:
        done = _storedesk(
            "hq",
            "enroll-store",
            store["code"],
            "--db",
            db,
            "--name",
            store["name"],
            "--region",
            store["region"],
        )
        if done.returncode != 0:
            raise SystemExit(f"demo: could not enroll {store['code']}:\n{done.stderr}")
        tokens[store["code"]] = done.stdout.strip().splitlines()[-1]
    _import_catalogue(data, db)
    state = {"admin_token": secrets.token_urlsafe(24), "tokens": tokens, "seeded": False}
    state_file.write_text(json.dumps(state, indent=2))
    return state


def _catalogue_csv() -> str:
    """The demo chain's catalogue: 42 products, a few hundred SKUs by colour and size."""
    rows = ["product_code,name_zh,name_en,category,price,colour,size,sku_code,barcode,min_stock"]
    for prefix, category, name_zh, name_en, price, colours, sizes in PRODUCT_LINES:
        for style in range(1, STYLES_PER_LINE + 1):
            code = f"{prefix}-{2040 + style}"
            for colour in colours:
                for size in sizes:
                    names = f"{name_zh} {style}号款,{name_en} #{style}"
                    rows.append(f"{code},{names},{category},{price + 10 * style},{colour},{size},,,{MIN_STOCK}")
    return "\n".join(rows) + "\n"


def _import_catalogue(data: Path, db: str) -> None:
    path = data / "products.csv"
    path.write_text(_catalogue_csv(), encoding="utf-8")
    done = _storedesk("hq", "import-products", str(path), "--db", db)
    if done.returncode != 0:
        raise SystemExit(f"demo: could not import the catalogue:\n{done.stderr}")


def _setup_service(hq: httpx.Client) -> None:
    """Agents of every department, routing rules and a least-open customer-service desk."""
    for agent_id, (name, departments, lead_of) in AGENTS.items():
        body = {"name": name, "departments": departments, "lead_of": lead_of, "cap": 15}
        hq.put(f"/api/v1/agents/{agent_id}", json=body).raise_for_status()
    hq.put("/api/v1/routing-rules", json={"rules": RULES}).raise_for_status()
    for code, fields in FORMS.items():
        hq.put(f"/api/v1/ticket-types/{code}/form", json={"fields": fields}).raise_for_status()
    desk = {"strategy": "least_open", "assignment_timeout_min": 60}
    hq.put("/api/v1/departments/cs/assignment", json=desk).raise_for_status()


def _seed(hq_url: str, admin_token: str, store_urls: dict[str, str], db: str) -> None:
    """A few dozen tickets, routed and assigned by HQ, in different states, with comments from
    both sides; one of them escalated."""
    hq = httpx.Client(base_url=hq_url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=10)
    _setup_service(hq)
    made: list[dict[str, Any]] = []
    for index, (code, url) in enumerate(store_urls.items()):
        with httpx.Client(base_url=url, timeout=10) as store:
            for offset, (type_, title, description) in enumerate(TICKETS):
                if (offset + index) % 4 == 3:
                    continue
                body = {"type": type_, "title": title, "description": description, **FORM_VALUES.get(type_, {})}
                response = store.post("/api/v1/tickets", json=body)
                response.raise_for_status()
                made.append({**response.json(), "store_code": code, "store_url": url})
    # Wait for HQ to have routed them all.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [hq.get(f"/api/v1/tickets/{t['id']}") for t in made]
        if all(r.status_code == 200 and r.json()["routed_at"] for r in found):
            break
        time.sleep(0.3)
    for n, ticket in enumerate(made):
        stage = n % 6
        if stage <= 1:
            continue  # assigned, not started yet
        hq.patch(f"/api/v1/tickets/{ticket['id']}", json={"status": "in_progress"}).raise_for_status()
        hq.post(
            f"/api/v1/tickets/{ticket['id']}/comments", json={"body": "已收到，正在与供应商沟通"}
        ).raise_for_status()
        if stage == 3:
            hq.patch(f"/api/v1/tickets/{ticket['id']}", json={"status": "waiting_store"}).raise_for_status()
            with httpx.Client(base_url=ticket["store_url"], timeout=10) as store:
                store.post(f"/api/v1/tickets/{ticket['id']}/comments", json={"body": "已补拍照片，请查收"})
        if stage >= 4:
            hq.patch(f"/api/v1/tickets/{ticket['id']}", json={"status": "resolved"}).raise_for_status()
        if stage == 5:
            hq.patch(f"/api/v1/tickets/{ticket['id']}", json={"status": "closed"}).raise_for_status()
    _share_one(hq, made)
    _answer_one_survey(hq, db)
    _stock_and_transfers(hq, store_urls)
    _orders(hq)
    _returns(hq, store_urls)
    _users(hq)
    hq.close()
    _escalate_one(db, made[0]["id"])


def _stock_and_transfers(hq: httpx.Client, store_urls: dict[str, str]) -> None:
    """Addresses and contacts of the stores, their stock (receipts and some sales through each
    store's local API, as a POS would send them; a best-seller sold down to below its threshold,
    which opens a replenishment ticket), and transfers between them: one received, one shipped and
    on its way, one waiting for the source's approval."""
    for code, profile in STORE_PROFILES.items():
        hq.put(f"/api/v1/stores/{code}", json=profile).raise_for_status()
    rng = random.Random(2041)
    for url in store_urls.values():
        moves: list[dict[str, Any]] = []
        for product in STOCKED_PRODUCTS:
            for sku in hq.get(f"/api/v1/products/{product}").json()["skus"]:
                count = rng.choice((0, 4, 5, 6, 8))
                if count:
                    moves.append({"sku": sku["code"], "qty": count, "reason": "receipt", "note": "开业备货"})
                    sold = rng.randint(0, 2)
                    if sold:
                        moves.append({"sku": sku["code"], "qty": sold, "reason": "sale"})
        if url == store_urls["BJ001"]:  # sold down to one left, below the threshold
            best_seller = "TS-2041-黑-L"
            left = sum(m["qty"] * (1 if m["reason"] == "receipt" else -1) for m in moves if m["sku"] == best_seller)
            moves.append({"sku": best_seller, "qty": 6, "reason": "receipt", "note": "补充备货"})
            moves.append({"sku": best_seller, "qty": left + 5, "reason": "sale", "note": "周末促销"})
        with httpx.Client(base_url=url, timeout=10) as store:
            store.post("/api/v1/stock/moves", json={"moves": moves}).raise_for_status()
    _wait(lambda: hq.get("/api/v1/stock", params={"product": STOCKED_PRODUCTS[2]}).json()["stores"])
    sh, hz = store_urls["SH001"], store_urls["HZ001"]
    with httpx.Client(base_url=sh, timeout=10) as shop, httpx.Client(base_url=hz, timeout=10) as source:
        for sku, stop_after in (("DR-2042-白-S", "receive"), ("JN-2041-深蓝-28", "ship"), ("TS-2041-白-M", "request")):
            receipt = {"sku": sku, "qty": 3, "reason": "receipt", "note": "调货演示备货"}
            source.post("/api/v1/stock/moves", json=receipt).raise_for_status()
            _wait(lambda sku=sku: _hq_available(hq, sku, "HZ001") >= 3)
            body = {
                "sku": sku,
                "qty": 1,
                "source_store": "HZ001",
                "note": "顾客预订，明天到店试穿",
                "actor": "店员 小王",
            }
            transfer = shop.post("/api/v1/transfers", json=body).json()
            if stop_after == "request":
                continue
            _wait(lambda t=transfer: source.get(f"/api/v1/transfers/{t['id']}").status_code == 200)
            source.post(f"/api/v1/transfers/{transfer['id']}/approve", json={"actor": "店长 陈静"}).raise_for_status()
            source.post(f"/api/v1/transfers/{transfer['id']}/ship", json={"actor": "店员 小李"}).raise_for_status()
            if stop_after == "receive":
                _wait(lambda t=transfer: shop.get(f"/api/v1/transfers/{t['id']}").json()["status"] == "shipped")
                shop.post(f"/api/v1/transfers/{transfer['id']}/receive", json={"actor": "店员 小王"}).raise_for_status()


#: A customer who bought in two stores and online: (number, channel, store, days ago, lines).
DEMO_PHONE = "13800138000"
ORDERS: list[tuple[str, str, str | None, int, list[tuple[str, int, str]]]] = [
    ("SH001-S20261118-0007", "store", "SH001", 2, [("JN-2041-深蓝-28", 1, "309.00"), ("TS-2041-白-M", 2, "89.00")]),
    ("HZ001-S20261110-0031", "store", "HZ001", 8, [("DR-2042-白-S", 1, "479.00")]),
    ("TM2026102600019", "tmall", None, 30, [("KN-2041-燕麦-M", 1, "409.00")]),
]


def _orders(hq: httpx.Client) -> None:
    """Orders of one customer (phone 13800138000) from two stores and Tmall, paid 2, 8 and 30 days
    ago: any store finds them by the phone number."""
    now = time.time()
    for number, channel, store, days_ago, lines in ORDERS:
        paid = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - days_ago * 86_400))
        body: dict[str, Any] = {
            "number": number,
            "channel": channel,
            "customer_phone": DEMO_PHONE,
            "customer_name": "李女士",
            "paid_at": paid,
            "lines": [{"sku": sku, "qty": qty, "unit_price": price} for sku, qty, price in lines],
        }
        if store is not None:
            body["store"] = store
        hq.post("/api/v1/orders", json=body).raise_for_status()


#: The chain's return policy in the demo (HQ sets it; every store decides offline with it).
RETURN_POLICY: dict[str, Any] = {"no_reason_days": 7, "quality_days": 90, "excluded_categories": ["underwear"]}


def _returns(hq: httpx.Client, store_urls: dict[str, str]) -> None:
    """The chain's return policy, and one return at a store other than the selling one: at
    BJ001, one of the two T-shirts the customer bought at SH001 two days ago (HQ accepts it and
    opens a refund task for finance). The jeans and the other T-shirt are left for a visitor to
    return at any store."""
    hq.put("/api/v1/return-policy", json=RETURN_POLICY).raise_for_status()
    with httpx.Client(base_url=store_urls["BJ001"], timeout=10) as store:
        _wait(lambda: store.get("/api/v1/orders", params={"phone": DEMO_PHONE}).json()["source"] == "hq")
        body = {
            "order": ORDERS[0][0],
            "kind": "refund",
            "reason": "size",
            "lines": [{"line_no": 2, "qty": 1}],
            "method": "wechat",
            "note": "顾客出差途经北京，尺码偏小",
            "actor": "店员 小赵",
        }
        taken = store.post("/api/v1/returns", json=body)
        taken.raise_for_status()
        key = taken.json()["id"]
        _wait(lambda: store.get(f"/api/v1/returns/{key}").json()["status"] == "accepted")


#: One demo account per role, and a clerk at every demo store: username -> (display name, role,
#: scope, password). Store staff sign in at their store's node (password, or the PIN in ``scope``);
#: their accounts reach it by sync. Demo passwords only; `make demo` prints them.
USERS: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "admin": ("管理员 周宁", "admin", {}, "Admin-2026!"),
    "supervisor": ("客服主管 马丽", "cs_supervisor", {}, "Super-2026!"),
    # Agents sign in under their agent id, so the queue's "mine" finds what assignment gave them.
    "wangmin": ("质检组长 王敏", "group_lead", {"departments": ["qc"]}, "Lead-2026!"),
    "lina": ("质检坐席 李娜", "agent", {"departments": ["qc"]}, "Agent-2026!"),
    "east.manager": ("华东区域经理 孙涛", "regional_manager", {"regions": ["east"]}, "East-2026!"),
    "sh001.manager": ("上海店长 张婷", "store_manager", {"store": "SH001"}, "Store-2026!"),
    "sh001.clerk": ("上海店员 小王", "clerk", {"store": "SH001", "pin": "2026"}, "Clerk-2026!"),
    "hz001.clerk": ("杭州店员 小陈", "clerk", {"store": "HZ001", "pin": "2026"}, "Clerk-2026!"),
    "bj001.clerk": ("北京店员 小刘", "clerk", {"store": "BJ001", "pin": "2026"}, "Clerk-2026!"),
}


def store_account(code: str) -> tuple[str, str] | None:
    """(username, password) of the demo clerk of store ``code``, if it has one."""
    for username, (_, role, scope, password) in USERS.items():
        if role == "clerk" and scope.get("store") == code:
            return username, password
    return None


def _users(hq: httpx.Client) -> None:
    """One account per role (HQ's console for the HQ roles; store staff sign in at their store)."""
    for username, (name, role, scope, password) in USERS.items():
        body = {"username": username, "display_name": name, "role": role, "password": password, **scope}
        hq.post("/api/v1/users", json=body).raise_for_status()


def _hq_available(hq: httpx.Client, sku: str, store_code: str) -> int:
    product = "-".join(sku.split("-")[:2])  # the demo's SKU codes are PRODUCT-colour-size
    lookup = hq.get("/api/v1/stock", params={"product": product}).json()
    for store in lookup["stores"]:
        if store["code"] == store_code:
            return sum(s["on_hand"] - s["reserved"] for s in store["skus"] if s["sku"] == sku)
    return 0


def _wait(ready: Any, timeout: float = 20.0) -> None:
    """Poll ``ready()`` until it is true (the stores sync within a second or two)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.3)
    raise SystemExit("demo: the stores did not sync in time; see the logs")


def _share_one(hq: httpx.Client, made: list[dict[str, Any]]) -> None:
    """A return with a freight claim: after-sales shares it with finance, both work on it."""
    returns = [t for t in made if t["type"] == "after_sales"]
    if not returns:
        return
    ticket = hq.get(f"/api/v1/tickets/{returns[0]['id']}").json()
    owner = {"X-StoreDesk-Department": ticket["department"]}
    body = {"department": "finance", "note": "顾客退货，请核退运费 12 元"}
    hq.post(f"/api/v1/tickets/{ticket['id']}/shares", json=body, headers=owner).raise_for_status()
    hq.post(
        f"/api/v1/tickets/{ticket['id']}/notes",
        json={"body": "快递单号已核实，运费由我方承担", "author": "售后-孙杰"},
        headers=owner,
    ).raise_for_status()
    progress = {"status": "in_progress", "note": "财务已受理"}
    finance = {"X-StoreDesk-Department": "finance"}
    hq.patch(f"/api/v1/tickets/{ticket['id']}/shares/finance", json=progress, headers=finance).raise_for_status()


def _answer_one_survey(hq: httpx.Client, db_url: str) -> None:
    """A customer answers one survey: the link is the one HQ sent out (its survey.created event)."""
    from hq_server.db import Database
    from hq_server.schema import webhook_events

    db = Database(db_url)
    try:
        with db.read() as conn:
            query = sa.select(webhook_events.c.payload).where(webhook_events.c.event == "survey.created")
            links = [payload["url"] for payload in conn.execute(query.order_by(webhook_events.c.created_at)).scalars()]
    finally:
        db.close()
    if links:
        path = "/survey/" + links[0].rsplit("/survey/", 1)[1]
        hq.post(path, json={"score": 5, "comment": "处理很及时，谢谢"}).raise_for_status()


def _escalate_one(db_url: str, ticket_id: str) -> None:
    """Show an escalated ticket without waiting a day: run the escalation sweep for one untouched
    ticket as if 25 hours had passed (the ladder's first step: remind the lead, raise priority).
    The demo works on HQ's database file directly, as a second HQ process would."""
    from hq_server.db import Database
    from hq_server.escalation_sweep import sweep
    from sync_protocol.hlc import HybridClock, system_wall_ms

    db = Database(db_url)
    try:
        sweep(db, HybridClock("hq-demo"), system_wall_ms() + 25 * 3600 * 1000, only=[ticket_id])
    finally:
        db.close()


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.CTRL_C_EVENT if os.name == "nt" else signal.SIGTERM)  # type: ignore[attr-defined]
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # stop the children on SIGTERM as on Ctrl-C
    data = Path(args.data).resolve()
    if args.fresh and data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True, exist_ok=True)
    db = str(data / "hq.db")
    state = _enroll(data, db)
    host = args.host
    hq_url = f"http://{host}:{args.hq_port}"
    procs: list[subprocess.Popen[bytes]] = []
    env = {**os.environ, "STOREDESK_ADMIN_TOKEN": state["admin_token"]}
    try:
        with (data / "hq.log").open("ab") as log:
            hq = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "storedesk_cli",
                    "hq",
                    "serve",
                    "--db",
                    db,
                    "--host",
                    host,
                    "--port",
                    str(args.hq_port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        procs.append(hq)
        _wait_healthy(hq_url, hq)
        store_urls: dict[str, str] = {}
        for n, store in enumerate(STORES, start=1):
            port = args.hq_port + n
            url = f"http://{host}:{port}"
            with (data / f"store-{store['code']}.log").open("ab") as log:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "storedesk_cli",
                        "store",
                        "serve",
                        "--hq",
                        hq_url,
                        "--token",
                        state["tokens"][store["code"]],
                        "--data",
                        str(data / store["code"]),
                        "--host",
                        host,
                        "--port",
                        str(port),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            procs.append(proc)
            store_urls[store["code"]] = url
        for proc, url in zip(procs[1:], store_urls.values(), strict=True):
            _wait_healthy(url, proc)
        if not state.get("seeded"):
            print("demo: filling the chain with tickets ...", flush=True)
            _seed(hq_url, state["admin_token"], store_urls, db)
            state["seeded"] = True
            (data / "demo.json").write_text(json.dumps(state, indent=2))

        print("\nStoreDesk demo is running:\n")
        print(f"  HQ API        {hq_url}/api/v1/tickets   (Authorization: Bearer {state['admin_token']})")
        print(f"  HQ OpenAPI    {hq_url}/openapi.json")
        for store in STORES:
            print(f"  {store['code']} {store['name']:<10} {store_urls[store['code']]}/")
        print(f"\n  a customer's orders (two stores and Tmall): GET /api/v1/orders?phone={DEMO_PHONE} at any store")
        print(f"  return one at another store: {store_urls['HZ001']}/returns?q={DEMO_PHONE} (sign in as hz001.clerk)")
        voucher = f"{store_urls['BJ001']}/returns/BJ001-T000001/voucher"
        print(f"  a return already made at BJ001 (bought at SH001), its voucher: {voucher}")
        print(f"\n  HQ console sign-in: {hq_url}/console/login")
        for username, (name, role, scope, password) in USERS.items():
            pin = f"PIN {scope['pin']}" if scope.get("pin") else ""
            print(f"    {role:<17} {username:<14} {password:<12} {name} {pin}".rstrip())
        print("  (store staff sign in at their store's node with the password or the PIN)")
        print(f"\n  data and logs: {data}\n  Ctrl-C stops everything.\n", flush=True)
        while all(proc.poll() is None for proc in procs):
            time.sleep(0.5)
        print("demo: a process stopped unexpectedly; see the logs. Stopping the rest.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndemo: stopping ...", flush=True)
        return 0
    finally:
        _stop(procs[1:])
        _stop(procs[:1])
