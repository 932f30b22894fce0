"""The clerk's ticket screens (store_node.ui.tickets): the new-ticket form driven by the type's form,
photos from disk, the lookups made while typing, and the ticket page with its comment and status
forms."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from store_node import outbox, ticket_actions
from store_node.node import Node
from store_node.ui import photos, ticket_lookups
from store_node.ui.render import when
from sync_protocol import forms
from sync_protocol.messages import OpResult
from tests.ui.conftest import node_of
from tests.ui.test_shell import UNTRANSLATED

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(40)
NOT_AN_IMAGE = b"MZ\x90\x00 this is a program, named like a photo"
#: The quality type's form: a choice, photos, the product code (required) and a free text.
QUALITY_FORM = {
    "fields": [
        {"name": "defect", "label_zh": "问题类型", "label_en": "Defect", "kind": "choice", "required": True,
         "choices": ["开线", "褪色", "破洞"]},
        {"name": "photos", "label_zh": "问题照片", "label_en": "Defect photos", "kind": "photo", "required": True},
        {"name": "product_code", "label_zh": "商品编码", "label_en": "Product code", "kind": "product_code",
         "required": True},
        {"name": "size", "label_zh": "尺码", "label_en": "Size", "kind": "text"},
    ]
}  # fmt: skip


@pytest.fixture
def typed(clerk: TestClient) -> TestClient:
    """The signed-in app with two ticket types synced (``quality`` with a form, ``equipment``
    without), a department, an agent and a product, written as the pull writes reference rows."""
    forms.parse_form(QUALITY_FORM)  # the form is one HQ would publish
    node = node_of(clerk)
    with node.replica.tx() as conn:
        conn.executemany(
            "INSERT INTO reference (entity, id, code, name_zh, name_en, attrs) VALUES (?, ?, ?, ?, ?, ?)",
            [
                ("ticket_type", "t1", "quality", "质量反馈", "Quality feedback", json.dumps({"form": QUALITY_FORM})),
                ("ticket_type", "t2", "equipment", "设备故障", "Equipment fault", "{}"),
                ("department", "d1", "qa", "品质部", "Quality dept.", "{}"),
                ("agent", "a1", "zhang", "张工", "Zhang", "{}"),
                ("product", "p1", "JN-2041", "修身牛仔裤", "Slim jeans", json.dumps({"category": "jeans"})),
            ],
        )
    return clerk


def quality_fields(**changes: str) -> dict[str, str]:
    fields = {
        "type": "quality",
        "title": "牛仔裤裤脚开线",
        "description": "顾客穿了两次就开线",
        "product_code": "JN-2041",
        "customer_phone": "138-0013-8000",
        "customer_name": "李女士",
        "defect": "开线",
        "size": "M",
    }
    fields.update(changes)
    return fields


def stored_photos(node: Node) -> list[Path]:
    folder = photos.photos_dir(node)
    return sorted(folder.iterdir()) if folder.exists() else []


def ticket_rows(node: Node) -> list[dict[str, Any]]:
    return [dict(r) for r in node.replica.query("SELECT * FROM tickets ORDER BY created_at")]


def field_error(html: str, field: str) -> str:
    """The inline error shown next to ``field`` ('' when there is none)."""
    found = re.search(rf'<p class="err" id="err-{field}" role="alert">([^<]*)</p>', html)
    return found.group(1) if found else ""


def test_new_ticket_pages_need_a_signed_in_clerk(ui: TestClient) -> None:
    response = ui.get("/tickets/new", params={"type": "quality"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Ftickets%2Fnew%3Ftype%3Dquality"
    assert ui.post("/tickets/new", data={"type": "x"}, follow_redirects=False).status_code == 303
    assert ui.get("/ui/tickets/similar", params={"q": "冷柜"}).status_code == 401


def test_new_ticket_form_shows_the_type_fields_with_required_marks(typed: TestClient) -> None:
    picker = typed.get("/tickets/new")
    assert picker.status_code == 200
    assert 'href="/tickets/new?type=quality"' in picker.text and "设备故障" in picker.text
    assert 'action="/tickets/new"' not in picker.text  # the type comes first

    page = typed.get("/tickets/new", params={"type": "quality"}).text
    assert 'enctype="multipart/form-data"' in page and 'name="type" value="quality"' in page
    label = re.search(r'<label for="f-defect">(.*?)</label>', page, re.S)
    assert label and "问题类型" in label.group(1) and 'class="req"' in label.group(1)
    size_label = re.search(r'<label for="f-size">(.*?)</label>', page, re.S)
    assert size_label and 'class="req"' not in size_label.group(1)
    product_label = re.search(r'<label for="f-product_code">(.*?)</label>', page, re.S)
    assert product_label and 'class="req"' in product_label.group(1)  # required by this type's form
    assert re.search(r'<select id="f-defect" name="defect"[^>]*>', page)
    assert "<option>开线</option>" in page and "<option>破洞</option>" in page
    photo_input = re.search(r'<input type="file" id="f-photos" name="photos"[^>]*>', page)
    assert photo_input and "multiple" in photo_input.group(0) and 'accept="image/jpeg' in photo_input.group(0)
    assert page.count('name="product_code"') == 1  # the form's product code is the common field
    assert 'role="combobox"' in page and 'data-products="tk-products"' in page
    assert 'data-similar="tk-similar"' in page and 'data-customer="tk-customer"' in page

    plain = typed.get("/tickets/new", params={"type": "equipment"}).text
    plain_label = re.search(r'<label for="f-product_code">(.*?)</label>', plain, re.S)
    assert plain_label and 'class="req"' not in plain_label.group(1)
    assert 'type="file"' not in plain


def test_filing_a_ticket_with_a_photo_stores_the_image_and_queues_one_op(typed: TestClient) -> None:
    node = node_of(typed)
    response = typed.post(
        "/tickets/new",
        data=quality_fields(),
        files=[("photos", ("裤脚.png", PNG, "image/png")), ("photos", ("IMG_1.JPG", JPEG, "application/octet-stream"))],
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    [ticket] = ticket_rows(node)
    assert response.headers["location"] == f"/tickets/{ticket['id']}?created=1"
    assert (ticket["title"], ticket["customer_name"], ticket["product_code"]) == ("牛仔裤裤脚开线", "李女士", "JN-2041")
    extra = json.loads(ticket["extra"])
    assert extra["defect"] == "开线" and extra["size"] == "M" and "product_code" not in extra
    refs = extra["photos"]
    assert len(refs) == 2 and all(re.fullmatch(r"photo:[0-9a-f]{32}\.(png|jpg)", r) for r in refs)
    assert [r.rsplit(".", 1)[1] for r in refs] == ["png", "jpg"]  # by the bytes, not the file name
    names = [r.removeprefix("photo:") for r in refs]
    assert sorted(p.name for p in stored_photos(node)) == sorted(names)
    assert (photos.photos_dir(node) / names[0]).read_bytes() == PNG

    [op] = outbox.pending_ops(node, 10)
    assert op.kind == "ticket.create" and outbox.count(node) == 1
    served = typed.get(f"/photos/{names[0]}")
    assert served.status_code == 200 and served.headers["content-type"] == "image/png" and served.content == PNG
    page = typed.get(response.headers["location"]).text
    assert f"工单 {ticket['number']} 已保存在本机" in page and f'src="/photos/{names[1]}"' in page


def test_non_image_upload_is_refused_and_the_typed_fields_are_kept(typed: TestClient) -> None:
    node = node_of(typed)
    response = typed.post(
        "/tickets/new",
        data=quality_fields(title="裤子褪色 <严重>"),
        files=[("photos", ("ok.png", PNG, "image/png")), ("photos", ("fake.jpg", NOT_AN_IMAGE, "image/jpeg"))],
    )
    assert response.status_code == 422
    assert "「fake.jpg」不是图片" in field_error(response.text, "photos")
    page = response.text
    assert 'value="裤子褪色 &lt;严重&gt;"' in page and "顾客穿了两次就开线</textarea>" in page
    assert 'value="138-0013-8000"' in page and 'value="李女士"' in page and 'value="JN-2041"' in page
    assert "<option selected>开线</option>" in page and 'name="size" value="M"' in page
    # Nothing was written: no ticket, no op, and not even the good photo of the refused batch.
    assert ticket_rows(node) == [] and outbox.count(node) == 0 and stored_photos(node) == []


def test_an_oversized_photo_is_refused_naming_the_file(typed: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(photos, "MAX_BYTES", 32)
    response = typed.post(
        "/tickets/new", data=quality_fields(), files=[("photos", ("big.png", PNG + bytes(64), "image/png"))]
    )
    assert response.status_code == 422 and "「big.png」超过" in field_error(response.text, "photos")
    assert ticket_rows(node_of(typed)) == []


def test_missing_required_field_is_shown_next_to_it(typed: TestClient) -> None:
    node = node_of(typed)
    no_defect = typed.post(
        "/tickets/new", data=quality_fields(defect=""), files=[("photos", ("a.png", PNG, "image/png"))]
    )
    assert no_defect.status_code == 422
    assert field_error(no_defect.text, "defect") == "请填写「问题类型」"
    assert re.search(r'<select id="f-defect" name="defect" aria-required="true" aria-invalid="true"', no_defect.text)
    assert field_error(no_defect.text, "title") == ""
    # The photo already sent is kept for the next try: the clerk does not choose it again.
    [kept] = re.findall(r'name="kept_photos" value="(photo:[0-9a-f]{32}\.png)"', no_defect.text)
    assert "已上传 1 张" in no_defect.text and ticket_rows(node) == []

    no_title = typed.post("/tickets/new", data={**quality_fields(title="  "), "kept_photos": kept})
    assert no_title.status_code == 422 and field_error(no_title.text, "title") == "标题为必填项"
    assert f'value="{kept}"' in no_title.text

    english = typed.post("/tickets/new", data=quality_fields(defect=""), params={"lang": "en"})
    assert english.status_code == 422 and field_error(english.text, "defect") == "Please fill in &#39;Defect&#39;"

    forged = "photo:" + "0" * 32 + ".png"  # a reference to no photo stored here is dropped
    done = typed.post("/tickets/new", data={**quality_fields(), "kept_photos": [kept, forged]}, follow_redirects=False)
    assert done.status_code == 303
    [ticket] = ticket_rows(node)
    assert json.loads(ticket["extra"])["photos"] == [kept]


def test_similar_tickets_match_chinese_titles(typed: TestClient) -> None:
    node = node_of(typed)
    fridge = ticket_actions.create_ticket(node, {"type": "equipment", "title": "冷柜不制冷"})
    ticket_actions.create_ticket(node, {"type": "equipment", "title": "收银机卡纸"})
    repair = ticket_actions.create_ticket(
        node, {"type": "equipment", "title": "设备报修", "description": "冷柜不制冷，温度降不下来"}
    )
    ticket_actions.create_ticket(node, {"type": "equipment", "title": "灯箱不亮", "description": "门口冷柜旁的灯箱"})
    closed = ticket_actions.create_ticket(node, {"type": "equipment", "title": "冷柜不制冷了"})
    ticket_actions.change_status(node, closed, "closed")
    with node.replica.tx() as conn:  # another store's ticket the replica happens to hold
        conn.execute(
            "INSERT INTO tickets (id, number, store_id, type, title, created_at, updated_at, hlc)"
            " VALUES ('other', 'SH099-000001', 'store-SH099', 'equipment', '冷柜不制冷', 1, 1, '')"
        )

    found = typed.get("/ui/tickets/similar", params={"q": "门店冷柜不太制冷"}).json()["items"]
    # Title words weigh more than description ones; one shared pair of a long query is not enough.
    assert [item["id"] for item in found] == [fridge, repair]
    assert found[0]["href"] == f"/tickets/{fridge}" and found[0]["status_label"] == "待分派"
    assert [i["id"] for i in typed.get("/ui/tickets/similar", params={"q": "冷柜"}).json()["items"]][-1] != closed
    assert typed.get("/ui/tickets/similar", params={"q": "打印"}).json()["items"] == []
    assert typed.get("/ui/tickets/similar", params={"q": ""}).json()["items"] == []
    assert ticket_lookups.terms("冷柜 POS机 no.5") == {"冷柜", "pos", "机", "no"}
    assert "/ui/tickets/similar?q=" in typed.get("/static/app.js").text  # what the form's script asks


def test_customer_by_phone_lists_earlier_tickets(typed: TestClient) -> None:
    node = node_of(typed)
    first = ticket_actions.create_ticket(
        node, {"type": "equipment", "title": "第一次", "customer_phone": "138 0013 8000", "customer_name": "李女士"}
    )
    ticket_actions.create_ticket(node, {"type": "equipment", "title": "别人的", "customer_phone": "13900138000"})
    second = ticket_actions.create_ticket(
        node, {"type": "equipment", "title": "第二次", "customer_phone": "+86 138-0013-8000"}
    )
    ticket_actions.change_status(node, first, "closed")

    found = typed.get("/ui/tickets/by-phone", params={"phone": "13800138000"}).json()
    assert [item["id"] for item in found["items"]] == [second, first]  # newest first, closed ones too
    assert found["customer_name"] == "李女士"
    assert found["items"][1]["status_label"] == "已关闭"
    assert typed.get("/ui/tickets/by-phone", params={"phone": "8000"}).json()["items"] == []

    page = typed.get(f"/tickets/{second}").text  # the ticket page lists the customer's other tickets
    assert f'href="/tickets/{first}"' in page and "该顾客在本店的其他工单" in page


def _routed(node: Node, ticket_id: str, *, first_due: int, resolution_due: int) -> None:
    """What a pull from HQ leaves: routed to a department and agent, with SLA due times."""
    with node.replica.tx() as conn:
        conn.execute(
            "UPDATE tickets SET department = 'qa', assignee = 'zhang', routed_at = ?, first_response_due = ?,"
            " resolution_due = ? WHERE id = ?",
            (first_due - 3_600_000, first_due, resolution_due, ticket_id),
        )
        conn.execute(
            "INSERT INTO comments (id, ticket_id, body, author, source, created_at, hlc)"
            " VALUES ('hq-c1', ?, '请拍一张吊牌照片', '品质部 张工', 'hq', ?, '')",
            (ticket_id, node.wall_ms() + 60_000),
        )


def test_ticket_detail_shows_timeline_comments_photos_and_sla(typed: TestClient) -> None:
    node = node_of(typed)
    filed = typed.post(
        "/tickets/new",
        data=quality_fields(),
        files=[("photos", ("a.png", PNG, "image/png"))],
        follow_redirects=False,
    )
    ticket_id = filed.headers["location"].split("/")[2].split("?")[0]
    [ref] = json.loads(ticket_rows(node)[0]["extra"])["photos"]
    ticket_actions.change_status(node, ticket_id, "in_progress", "已联系顾客", actor="王芳 (0012)")
    ticket_actions.add_comment(node, ticket_id, "顾客下午来店", author="王芳 (0012)")
    now = node.wall_ms()
    first_due, resolution_due = now - 600_000, now + 86_400_000
    _routed(node, ticket_id, first_due=first_due, resolution_due=resolution_due)

    page = typed.get(f"/tickets/{ticket_id}").text
    assert "处理中" in page and "质量反馈" in page and "已转至品质部" in page and "张工" in page
    assert f'<a href="/photos/{ref.removeprefix("photo:")}"' in page and "问题照片" in page
    assert "JN-2041 · 修身牛仔裤" in page and "开线" in page
    # SLA in local time: the first response is overdue, the resolution is not.
    sla = page[page.index('id="sla"') : page.index('id="timeline"')]
    assert when(first_due) in sla and when(resolution_due) in sla
    assert re.search(r'tk-sla-overdue"><strong>首次响应</strong>[^<]*<span class="tag">已超时', sla)
    assert re.search(r'tk-sla-due"><strong>解决</strong>[^<]*<span class="tag">未超时', sla)
    # One timeline, oldest first: filed, the status change, this store's comment, HQ's comment.
    timeline = page[page.index('id="timeline"') : page.index('id="comment"')]
    order = [
        timeline.index(s) for s in ("工单创建", "待分派 → 处理中", "已联系顾客", "顾客下午来店", "请拍一张吊牌照片")
    ]
    assert order == sorted(order)
    assert 'class="tk-comment tk-from-hq"' in timeline and '<span class="tag">总部</span>' in timeline
    assert '<span class="tag">本店</span>' in timeline and "待同步" in timeline
    assert '<span class="tag pending">待同步</span></dd>' in page  # the ticket's sync state

    with node.replica.tx() as conn:
        conn.execute("UPDATE tickets SET sla_paused = 1 WHERE id = ?", (ticket_id,))
    paused = typed.get(f"/tickets/{ticket_id}").text
    assert "暂停计时" in paused and "tk-sla-paused" in paused


def test_a_change_hq_refused_is_shown_on_the_ticket_with_its_reason(typed: TestClient) -> None:
    node = node_of(typed)
    ticket_id = ticket_actions.create_ticket(node, {"type": "equipment", "title": "冷柜不制冷"})
    op = outbox.pending_ops(node, 10)[0]
    with node.replica.tx() as conn:
        outbox.record_results(
            conn,
            [OpResult(seq=op.seq, op_id=op.op_id, status="rejected", code="required", reason="标题为必填项", hlc="")],
            node.wall_ms(),
        )
    page = typed.get(f"/tickets/{ticket_id}").text
    assert "总部拒绝了本工单的以下操作" in page and "<li>标题为必填项</li>" in page
    assert '<span class="tag rejected">被拒绝</span>' in page


def test_adding_a_comment_and_changing_status_from_the_detail_page(typed: TestClient) -> None:
    node = node_of(typed)
    ticket_id = ticket_actions.create_ticket(node, {"type": "equipment", "title": "冷柜不制冷"})
    number = ticket_rows(node)[0]["number"]
    page = typed.get(f"/tickets/{number}").text  # by its number too
    assert 'action="/tickets/' + ticket_id + '/comments"' in page
    buttons = re.findall(r'name="status" value="(\w+)"', page)
    assert buttons == ["in_progress", "waiting_customer", "waiting_store", "resolved", "closed"]  # not HQ's routing

    empty = typed.post(f"/tickets/{ticket_id}/comments", data={"body": "   "})
    assert empty.status_code == 422 and "内容为必填项" in field_error(empty.text, "comment")

    said = typed.post(f"/tickets/{number}/comments", data={"body": "已通知维修"}, follow_redirects=False)
    assert said.status_code == 303 and said.headers["location"] == f"/tickets/{ticket_id}#comment"
    [comment] = node.replica.query("SELECT * FROM comments WHERE ticket_id = ?", (ticket_id,))
    assert (comment["body"], comment["author"], comment["source"]) == ("已通知维修", "王芳 (0012)", "store")

    moved = typed.post(
        f"/tickets/{ticket_id}/status", data={"status": "waiting_store", "note": "等配件"}, follow_redirects=False
    )
    assert moved.status_code == 303 and moved.headers["location"] == f"/tickets/{ticket_id}#status"
    [entry] = node.replica.query("SELECT * FROM history WHERE ticket_id = ?", (ticket_id,))
    assert (entry["to_status"], entry["note"], entry["actor"]) == ("waiting_store", "等配件", "王芳 (0012)")
    assert [op.kind for op in outbox.pending_ops(node, 10)] == ["ticket.create", "ticket.comment", "ticket.status"]

    bogus = typed.post(f"/tickets/{ticket_id}/status", data={"status": "done", "note": "修好了"})
    assert bogus.status_code == 422 and field_error(bogus.text, "status") == "状态的取值无效"
    assert '<textarea id="f-note" name="note" aria-invalid="true" aria-describedby="err-status">修好了</textarea>' in (
        bogus.text
    )

    typed.post(f"/tickets/{ticket_id}/status", data={"status": "closed"})
    refused = typed.post(f"/tickets/{ticket_id}/status", data={"status": "in_progress", "note": "顾客又来了"})
    assert refused.status_code == 422
    assert field_error(refused.text, "status") == "工单状态不能从「已关闭」改为「处理中」"
    assert "工单已关闭，不能再更改状态" in refused.text  # a closed ticket offers no status buttons
    assert '<textarea id="f-body" name="body">顾客又来了</textarea>' in refused.text  # the note is not lost
    assert node.replica.one("SELECT status FROM tickets WHERE id = ?", (ticket_id,))[0] == "closed"


def test_photo_route_refuses_path_traversal(typed: TestClient) -> None:
    node = node_of(typed)
    secret = photos.photos_dir(node).parent / "replica.db"
    assert secret.exists()
    for path in (
        "/photos/..%2Freplica.db",
        "/photos/%2E%2E%2Freplica.db",
        "/photos/replica.db",
        "/photos/" + "a" * 32 + ".png",  # a safe name of no stored photo
        "/photos/.." + "a" * 30 + ".png",
    ):
        response = typed.get(path)
        assert response.status_code == 404, path
        assert b"SQLite" not in response.content, path
    typed.cookies.delete("sd_clerk")
    name = photos.save(node, PNG, "png").removeprefix("photo:")
    assert typed.get(f"/photos/{name}", follow_redirects=False).status_code == 303  # clerks only


def test_ticket_pages_answer_200_in_both_languages_with_no_untranslated_key(typed: TestClient) -> None:
    node = node_of(typed)
    ticket_id = ticket_actions.create_ticket(node, {"type": "quality", "title": "裤脚开线", "product_code": "JN-2041",
                                                    "extra": {"defect": "开线", "photos": ["photo:x"]}})  # fmt: skip
    ticket_actions.add_comment(node, ticket_id, "已拍照", author="王芳")
    ticket_actions.change_status(node, ticket_id, "in_progress")
    paths = ["/tickets/new", "/tickets/new?type=quality", "/tickets/new?type=equipment", f"/tickets/{ticket_id}"]
    for path in paths:
        for lang, marker in (("zh", "新建工单"), ("en", "New ticket")):
            page = typed.get(path, params={"lang": lang})
            assert page.status_code == 200, (path, lang)
            assert not UNTRANSLATED.findall(page.text), (path, lang, UNTRANSLATED.findall(page.text))
            assert marker in page.text, (path, lang)
    english = typed.get(f"/tickets/{ticket_id}", params={"lang": "en"}).text
    assert "Quality feedback" in english and "In progress" in english and "Timeline" in english
    for lang in ("zh", "en"):
        refused = typed.post("/tickets/new", data=quality_fields(), params={"lang": lang})
        assert refused.status_code == 422 and not UNTRANSLATED.findall(refused.text), lang
        missing = typed.get("/tickets/SH012-999999", params={"lang": lang})
        assert missing.status_code == 404 and not UNTRANSLATED.findall(missing.text), lang
    assert "找不到工单 SH012-999999" in typed.get("/tickets/SH012-999999").text


def test_types_only_hq_opens_are_not_offered_to_the_clerk(clerk: TestClient) -> None:
    node = node_of(clerk)
    rows = [("replenishment", "补货"), ("refund", "退款"), ("equipment", "设备故障")]
    with node.replica.tx() as conn:
        conn.executemany(
            "INSERT INTO reference (entity, id, code, name_zh, name_en, attrs)"
            " VALUES ('ticket_type', ?, ?, ?, '', '{}') ON CONFLICT(entity, id) DO NOTHING",
            [(code, code, name) for code, name in rows],
        )
    page = clerk.get("/tickets/new")
    assert "设备故障" in page.text and "补货" not in page.text and "退款" not in page.text
