"""Ticket type forms: the fields a type of ticket asks for, and which of them are required.

HQ defines a form per ticket type; it travels to every store inside the ticket type's reference
item (``attrs["form"]``), and both sides check a new ticket against it with :func:`check` (the
store before it writes anything, HQ when the ticket arrives), so a missing field is named to the
clerk at once and a ticket made with an older form is still judged by the same rule at HQ.

A field's value lives in the ticket's ``product_code`` column for kind ``product_code``, and in
``extra[name]`` otherwise: text, one of ``choices``, or for ``photo`` a list of photo references.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from sync_protocol.errors import InvalidField

FieldKind = Literal["text", "choice", "photo", "product_code"]
MAX_FORM_FIELDS = 30
MAX_TEXT = 200
MAX_PHOTOS = 10


class FormField(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    name: str
    label_zh: str
    label_en: str = ""
    kind: FieldKind = "text"
    required: bool = False
    choices: list[str] = []


class Form(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    fields: list[FormField] = []


def form_of(attrs: Mapping[str, Any]) -> Form:
    """The form carried in a ticket type's reference attributes (none: an empty form)."""
    raw = attrs.get("form")
    if not raw:
        return Form()
    try:
        return msgspec.convert(raw, Form)
    except msgspec.ValidationError:
        return Form()  # a form this version cannot read: HQ judges the ticket


def label(field: FormField, lang: str) -> str:
    return (field.label_en or field.label_zh) if lang == "en" else field.label_zh


def check(form: Form, *, product_code: str, extra: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidField` for the first required field that is empty (``missing_field``)
    or a value of the wrong shape (``invalid_choice``, ``invalid_type``, ``too_long``); the
    field's labels travel as parameters so either side can name it in the clerk's language."""
    for field in form.fields:
        value: Any = product_code if field.kind == "product_code" else extra.get(field.name)
        labels = {"label_zh": field.label_zh, "label_en": field.label_en or field.label_zh}
        if value in (None, "", []):
            if field.required:
                raise InvalidField(field.name, f"{field.name} is required", code="missing_field", **labels)
            continue
        if field.kind == "photo":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise InvalidField(field.name, "photos must be a list of references", code="invalid_type", **labels)
            if len(value) > MAX_PHOTOS:
                raise InvalidField(field.name, "too many photos", code="too_long", **labels)
            continue
        if not isinstance(value, str):
            raise InvalidField(field.name, f"{field.name} must be text", code="invalid_type", **labels)
        if len(value) > MAX_TEXT:
            raise InvalidField(field.name, f"{field.name} is too long", code="too_long", **labels)
        if field.kind == "choice" and value not in field.choices:
            raise InvalidField(field.name, f"{field.name} has an invalid value", code="invalid_choice", **labels)


def parse_form(data: object) -> Form:
    """Validate a form an admin sends (JSON-like); :class:`InvalidField` names ``fields[i]...``."""
    try:
        form = msgspec.convert(data, Form)
    except msgspec.ValidationError as exc:
        raise InvalidField("form", str(exc), code="invalid_type", detail=str(exc)) from exc
    if len(form.fields) > MAX_FORM_FIELDS:
        raise InvalidField("fields", "too many fields", code="too_long", limit=MAX_FORM_FIELDS)
    names: set[str] = set()
    for index, field in enumerate(form.fields):
        at = f"fields[{index}]"
        if not field.name or not field.name.replace("_", "").isalnum() or len(field.name) > 40:
            raise InvalidField(f"{at}.name", "invalid field name", code="invalid_code", limit=40)
        if field.name in names:
            raise InvalidField(f"{at}.name", "duplicate field", code="duplicate_rule", value=field.name)
        names.add(field.name)
        if not field.label_zh.strip():
            raise InvalidField(f"{at}.label_zh", "a field needs a label", code="required")
        if field.kind == "choice" and not field.choices:
            raise InvalidField(f"{at}.choices", "a choice field needs choices", code="required")
        if field.kind == "product_code" and field.name != "product_code":
            raise InvalidField(f"{at}.name", "the product code field is named product_code", code="invalid_choice")
    return form
