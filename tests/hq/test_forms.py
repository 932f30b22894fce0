"""Ticket type forms (sync_protocol.forms): defined at HQ, published with the ticket type, checked
at HQ when a ticket arrives, with a message that names the missing field."""

from __future__ import annotations

from typing import Any

import pytest

from sync_protocol.entities import decode_entity
from sync_protocol.errors import InvalidField
from sync_protocol.forms import Form, FormField, check, parse_form
from tests.hq.helpers import Hq
from tests.hq.test_sync_boundary import assert_error

DAMAGE_FORM: dict[str, Any] = {
    "fields": [
        {"name": "photos", "label_zh": "照片", "label_en": "Photos", "kind": "photo", "required": True},
        {"name": "location", "label_zh": "位置", "label_en": "Location", "required": True},
    ]
}
REFUND = Form(
    [
        FormField(
            name="refund_method",
            label_zh="退款方式",
            label_en="Refund method",
            kind="choice",
            required=True,
            choices=["original", "cash"],
        )
    ]
)
QUALITY = Form([FormField(name="product_code", label_zh="商品编码", kind="product_code", required=True)])


@pytest.mark.parametrize(
    ("form", "product_code", "extra", "field", "code"),
    [
        (QUALITY, "", {}, "product_code", "missing_field"),
        (REFUND, "", {}, "refund_method", "missing_field"),
        (REFUND, "", {"refund_method": "bitcoin"}, "refund_method", "invalid_choice"),
        (REFUND, "", {"refund_method": 3}, "refund_method", "invalid_type"),
        (parse_form(DAMAGE_FORM), "", {"location": "收银台"}, "photos", "missing_field"),
        (parse_form(DAMAGE_FORM), "", {"photos": "a.jpg", "location": "x"}, "photos", "invalid_type"),
    ],
)
def test_form_check_names_the_field_at_fault(
    form: Form, product_code: str, extra: dict[str, Any], field: str, code: str
) -> None:
    with pytest.raises(InvalidField) as refused:
        check(form, product_code=product_code, extra=extra)
    assert (refused.value.field, refused.value.code) == (field, code)
    assert refused.value.params["label_zh"]


def test_a_filled_form_passes() -> None:
    check(QUALITY, product_code="JN-2041", extra={})
    check(REFUND, product_code="", extra={"refund_method": "cash"})
    check(parse_form(DAMAGE_FORM), product_code="", extra={"photos": ["a.jpg"], "location": "收银台"})


def test_form_reaches_the_stores_with_its_ticket_type(hq: Hq) -> None:
    assert hq.api("PUT", "/api/v1/ticket-types/equipment/form", json=DAMAGE_FORM).status_code == 200
    node = hq.enroll()
    changes, _ = node.pull_all()
    [equipment] = [
        decode_entity("ticket_type", c.data)
        for c in changes
        if c.entity == "ticket_type" and c.entity_id == "equipment"
    ][-1:]
    assert [f["name"] for f in equipment.attrs["form"]["fields"]] == ["photos", "location"]
    [listed] = [t for t in hq.api("GET", "/api/v1/ticket-types").json()["items"] if t["code"] == "equipment"]
    assert listed["form"] == DAMAGE_FORM


def test_a_store_ticket_missing_a_required_field_is_rejected_naming_it(hq: Hq) -> None:
    assert hq.api("PUT", "/api/v1/ticket-types/equipment/form", json=DAMAGE_FORM).status_code == 200
    node = hq.enroll()
    bare = node.create("冷柜坏了", type="equipment")
    filled = node.create("冷柜坏了", type="equipment", extra={"photos": ["p1.jpg"], "location": "冷柜区"})
    answer = node.push([node.op(bare), node.op(filled)])
    refused, applied = answer.results
    assert (refused.status, refused.code) == ("rejected", "missing_field")
    assert "照片" in refused.reason
    assert applied.status == "applied"
    assert hq.ticket(filled.ticket_id)["type"] == "equipment"


def test_hq_staff_create_is_checked_against_the_form_too(hq: Hq) -> None:
    assert (
        hq.api(
            "PUT",
            "/api/v1/ticket-types/quality/form",
            json={
                "fields": [{"name": "product_code", "label_zh": "商品编码", "kind": "product_code", "required": True}]
            },
        ).status_code
        == 200
    )
    error = assert_error(
        hq.api("POST", "/api/v1/tickets", json={"type": "quality", "title": "掉色"}), 422, "missing_field"
    )
    assert error["field"] == "product_code"
    made = hq.api("POST", "/api/v1/tickets", json={"type": "quality", "title": "掉色", "product_code": "JN-2041"})
    assert made.status_code == 201, made.text


@pytest.mark.parametrize(
    ("form", "field", "code"),
    [
        ({"fields": [{"name": "a b", "label_zh": "x"}]}, "fields[0].name", "invalid_code"),
        ({"fields": [{"name": "a", "label_zh": ""}]}, "fields[0].label_zh", "required"),
        ({"fields": [{"name": "a", "label_zh": "x", "kind": "choice"}]}, "fields[0].choices", "required"),
        (
            {"fields": [{"name": "a", "label_zh": "x"}, {"name": "a", "label_zh": "y"}]},
            "fields[1].name",
            "duplicate_rule",
        ),
    ],
)
def test_bad_forms_are_refused_naming_the_field(hq: Hq, form: dict[str, Any], field: str, code: str) -> None:
    error = assert_error(hq.api("PUT", "/api/v1/ticket-types/equipment/form", json=form), 422, code)
    assert error["field"] == field
