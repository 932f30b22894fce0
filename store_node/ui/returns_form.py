"""The returns form as the clerk typed it: reading it, turning it into the request
:mod:`store_node.return_actions` checks, placing the backend's errors next to the field they name,
and the photos the clerk uploads with it.

Nothing here decides whether goods can be taken back: that is :func:`return_actions.prepare`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData, UploadFile

from store_node.errors import StoreNodeError
from store_node.node import Node
from store_node.ui import photos
from store_node.ui.texts import t
from sync_protocol import i18n
from sync_protocol.orders import MAX_LINE_QTY
from sync_protocol.returns import MAX_PHOTOS

#: Exchange rows the form offers (more are kept when the clerk sent more).
EXCHANGE_ROWS = 3
MAX_EXCHANGE_ROWS = 20
_INDEXED = re.compile(r"^(?P<list>lines|exchange|photos)\[(?P<index>\d+)\]")


# -- the form -------------------------------------------------------------------------------------------


@dataclass
class ExchangeRow:
    sku: str = ""
    qty: str = ""
    price: str = ""

    @property
    def blank(self) -> bool:
        return not (self.sku or self.qty or self.price)


@dataclass
class ReturnForm:
    """What the clerk typed, as typed (so a refused form shows it again)."""

    order: str
    qty: dict[int, str] = field(default_factory=dict)
    unworn: dict[int, bool] = field(default_factory=dict)
    reason: str = ""
    kind: str = "refund"
    method: str = "original"
    exchange: list[ExchangeRow] = field(default_factory=lambda: [ExchangeRow() for _ in range(EXCHANGE_ROWS)])
    photos: list[str] = field(default_factory=list)
    note: str = ""
    #: Form location -> message (see :func:`place_error`).
    errors: dict[str, str] = field(default_factory=dict)
    #: The line numbers and exchange rows of the request last built, in its order.
    sent_lines: list[int] = field(default_factory=list)
    sent_rows: list[int] = field(default_factory=list)

    def unworn_of(self, line_no: int) -> bool:
        return self.unworn.get(line_no, True)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def read_form(node: Node, form: FormData) -> ReturnForm:
    """The submitted form; photos it keeps from an earlier submission are checked to exist."""
    state = ReturnForm(
        order=_text(form, "order"),
        reason=_text(form, "reason"),
        kind=_text(form, "kind") or "refund",
        method=_text(form, "method") or "original",
        note=_text(form, "note"),
    )
    for name, value in form.multi_items():
        if name.startswith("qty_") and name[4:].isdigit() and isinstance(value, str):
            line_no = int(name[4:])
            state.qty[line_no] = value.strip()
            state.unworn[line_no] = form.get(f"unworn_{line_no}") is not None
    rows = []
    for index in range(MAX_EXCHANGE_ROWS):
        if f"ex_sku_{index}" not in form:
            break
        rows.append(
            ExchangeRow(
                _text(form, f"ex_sku_{index}"), _text(form, f"ex_qty_{index}"), _text(form, f"ex_price_{index}")
            )
        )
    state.exchange = rows + [ExchangeRow() for _ in range(EXCHANGE_ROWS - len(rows))]
    refs = [v for v in form.getlist("photo_ref") if isinstance(v, str)]
    state.photos = [ref for ref in dict.fromkeys(refs) if photos.kept(node, ref)]
    return state


async def take_photos(node: Node, form: FormData, state: ReturnForm, lang: str) -> None:
    """Keep the images uploaded with the form (their references join ``state.photos``); a file
    that is not an image, or too large, is an error on the photos field."""
    for upload in form.getlist("photos"):
        if not isinstance(upload, UploadFile) or not upload.filename:
            continue
        content = await upload.read(photos.MAX_BYTES + 1)
        if not content:
            continue
        if len(content) > photos.MAX_BYTES:
            state.errors["photos"] = t("rt_photo_too_big", lang, name=upload.filename, limit=photos.MAX_BYTES >> 20)
            continue
        if len(state.photos) >= MAX_PHOTOS:
            state.errors["photos"] = t("rt_photo_too_many", lang, limit=MAX_PHOTOS)
            break
        ext = photos.sniff(content[:16])
        if ext is None:
            state.errors["photos"] = t("rt_photo_not_image", lang, name=upload.filename)
        else:
            state.photos.append(photos.save(node, content, ext))


def request_data(state: ReturnForm, actor: str, lang: str) -> dict[str, Any]:
    """The request :func:`return_actions.prepare` reads; quantities that are not whole numbers are
    errors on their line (``state.errors``). Exchange rows are sent for an exchange only."""
    lines = []
    state.sent_lines, state.sent_rows = [], []
    for line_no, typed in state.qty.items():
        if typed in ("", "0"):
            continue
        if not typed.isdigit() or not 0 < int(typed) <= MAX_LINE_QTY:
            state.errors[f"line_{line_no}"] = t("rt_qty_whole", lang, max=MAX_LINE_QTY)
            continue
        lines.append({"line_no": line_no, "qty": int(typed), "unworn": state.unworn_of(line_no)})
        state.sent_lines.append(line_no)
    items = []
    if state.kind == "exchange":
        for index, row in enumerate(state.exchange):
            if row.blank:
                continue
            qty = row.qty or "1"
            if not qty.isdigit() or not 0 < int(qty) <= MAX_LINE_QTY:
                state.errors[f"exchange_{index}"] = t("rt_qty_whole", lang, max=MAX_LINE_QTY)
                continue
            items.append({"sku": row.sku, "qty": int(qty), "unit_price": row.price or None})
            state.sent_rows.append(index)
    return {
        "order": state.order,
        "kind": state.kind,
        "reason": state.reason,
        "lines": lines,
        "exchange": items,
        "method": state.method,
        "photos": list(state.photos),
        "note": state.note,
        "actor": actor,
    }


def place_error(state: ReturnForm, exc: StoreNodeError, lang: str) -> str:
    """Put the backend's error next to the field it names (``line_<no>``, ``exchange_<row>``,
    ``photos``, ``reason``, ...; ``form`` when it names none). Returns the message."""
    name = exc.field or ""
    short = re.sub(r"\[\d+\]", "", name).split(".")[-1] if name else None
    message = i18n.render(exc.code, lang, field=short, **exc.params)
    if message == exc.code:
        message = exc.message
    where = "form"
    indexed = _INDEXED.match(name)
    if indexed:
        index = int(indexed["index"])
        if indexed["list"] == "lines" and index < len(state.sent_lines):
            where = f"line_{state.sent_lines[index]}"
        elif indexed["list"] == "exchange" and index < len(state.sent_rows):
            where = f"exchange_{state.sent_rows[index]}"
        elif indexed["list"] == "photos":
            where = "photos"
    elif name in ("lines", "reason", "kind", "method", "photos", "exchange", "note", "order"):
        where = name
    state.errors[where] = message
    return message
