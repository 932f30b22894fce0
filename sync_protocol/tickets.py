"""Tickets: their fields, statuses and the rules both sides apply to them.

Field ownership (DESIGN.md, "Data ownership"):

* ``CLERK_FIELDS`` may be edited at a store or at HQ; concurrent edits merge last-writer-wins
  per field by HLC (:func:`merge_fields`).
* ``HQ_FIELDS`` (routing, department, assignee, priority, SLA due times) are written only by HQ.
* ``status`` changes are events: each accepted change is appended to the ticket's history; the
  current status is the one of the latest event by HLC (:func:`decide_status`).
* Comments and history entries are append-only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from sync_protocol.errors import InvalidField
from sync_protocol.version import MAX_EPOCH_MS

#: Fields a clerk may edit; merged last-writer-wins per field.
CLERK_FIELDS: tuple[str, ...] = (
    "type",
    "title",
    "description",
    "category",
    "product_code",
    "customer_phone",
    "customer_name",
)
#: Fields only HQ writes.
HQ_FIELDS: tuple[str, ...] = (
    "department",
    "assignee",
    "priority",
    "first_response_due",
    "resolution_due",
)

MAX_LENGTH: dict[str, int] = {
    "type": 40,
    "title": 200,
    "description": 10_000,
    "category": 80,
    "product_code": 64,
    "customer_phone": 32,
    "customer_name": 80,
    "department": 40,
    "assignee": 80,
    "priority": 16,
    "number": 64,
    "body": 10_000,
    "note": 10_000,
    "author": 80,
    "actor": 80,
    "reason": 500,
}
MAX_COMMENT_LENGTH = MAX_LENGTH["body"]

PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")

#: Ticket statuses, in their usual order of life.
STATUSES: tuple[str, ...] = (
    "new",
    "assigned",
    "in_progress",
    "waiting_customer",
    "waiting_store",
    "resolved",
    "closed",
)
OPEN_STATUSES = frozenset(STATUSES) - {"resolved", "closed"}

#: Allowed status transitions (from -> to). ``closed`` is final except for a reopen to
#: ``in_progress`` from ``resolved``; a closed ticket stays closed.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"assigned", "in_progress", "waiting_customer", "waiting_store", "resolved", "closed"}),
    "assigned": frozenset({"new", "in_progress", "waiting_customer", "waiting_store", "resolved", "closed"}),
    "in_progress": frozenset({"assigned", "waiting_customer", "waiting_store", "resolved", "closed"}),
    "waiting_customer": frozenset({"in_progress", "assigned", "resolved", "closed"}),
    "waiting_store": frozenset({"in_progress", "assigned", "resolved", "closed"}),
    "resolved": frozenset({"in_progress", "closed"}),
    "closed": frozenset(),
}

#: Default ticket types HQ seeds: code -> (Chinese name, English name).
DEFAULT_TICKET_TYPES: dict[str, tuple[str, str]] = {
    "quality": ("质量反馈", "Quality feedback"),
    "equipment": ("设备故障", "Equipment fault"),
    "display": ("陈列需求", "Display request"),
    "complaint": ("顾客投诉", "Customer complaint"),
    "after_sales": ("售后", "After-sales"),
    "stock": ("库存调货", "Stock transfer"),
    "other": ("其他", "Other"),
}

#: Ticket types HQ opens itself when stock needs attention (version 10).
STOCK_TICKET_TYPES: dict[str, tuple[str, str]] = {
    "replenishment": ("补货", "Replenishment"),
    "stock_exception": ("库存异常", "Stock exception"),
}

#: Ticket types HQ opens itself for returns (version 12): finance's refund task and the exception
#: a refused return (its goods already back at a store) leaves.
RETURN_TICKET_TYPES: dict[str, tuple[str, str]] = {
    "refund": ("退款", "Refund"),
    "return_exception": ("退货异常", "Return exception"),
}

#: Types only HQ opens (a clerk is not offered them): replenishment, stock exceptions, refund tasks
#: and return exceptions.
HQ_OPENED_TYPES = frozenset(STOCK_TICKET_TYPES) | frozenset(RETURN_TICKET_TYPES)

#: Status labels for people: code -> (Chinese, English).
STATUS_LABELS: dict[str, tuple[str, str]] = {
    "new": ("待分派", "Awaiting routing"),
    "assigned": ("已分派", "Assigned"),
    "in_progress": ("处理中", "In progress"),
    "waiting_customer": ("等待顾客", "Waiting on customer"),
    "waiting_store": ("等待门店", "Waiting on store"),
    "resolved": ("已解决", "Resolved"),
    "closed": ("已关闭", "Closed"),
}


class TicketState(msgspec.Struct, kw_only=True):
    """A ticket as HQ holds it; the data of a ``ticket`` change and of push acks."""

    id: str
    number: str
    store_id: str
    type: str
    title: str
    description: str = ""
    category: str = ""
    product_code: str = ""
    customer_phone: str = ""
    customer_name: str = ""
    status: str = "new"
    department: str = ""
    assignee: str = ""
    priority: str = "normal"
    first_response_due: int | None = None
    resolution_due: int | None = None
    created_at: int
    updated_at: int
    #: Encoded HLC of the latest change to this ticket.
    hlc: str
    #: Per-field HLC of the value now held (clerk fields and status).
    field_hlcs: dict[str, str] = {}
    extra: dict[str, Any] = {}
    #: Where the ticket came from: ``store``, ``hq`` or an intake channel (``wechat``, ``phone``...).
    channel: str = "store"
    #: Set by HQ's routing: when it routed the ticket (None: "awaiting routing"), and its tags.
    routed_at: int | None = None
    tags: list[str] = []
    #: SLA facts HQ keeps with the due times: the first response, and whether the clock is paused.
    first_responded_at: int | None = None
    sla_paused: bool = False


class CommentState(msgspec.Struct, kw_only=True):
    """A comment; append-only. ``source`` is ``store`` or ``hq``."""

    id: str
    ticket_id: str
    body: str
    author: str = ""
    source: str = "store"
    created_at: int
    hlc: str


class HistoryEntry(msgspec.Struct, kw_only=True):
    """One accepted status change; append-only."""

    id: str
    ticket_id: str
    from_status: str
    to_status: str
    note: str = ""
    actor: str = ""
    at: int
    hlc: str


#: Characters no database column takes: NUL (PostgreSQL text refuses it) and unpaired UTF-16
#: surrogates (not encodable as UTF-8), which a JSON body can still carry as ``\u0000``/``\ud800``.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def validate_text(field: str, value: object, *, required: bool = False) -> str:
    """Check a text field's type and length; returns it stripped of outer whitespace."""
    if not isinstance(value, str):
        raise InvalidField(field, f"{field} must be text", code="invalid_type")
    if _UNSTORABLE.search(value):
        raise InvalidField(field, f"{field} holds a NUL or an unpaired surrogate", code="invalid_text")
    text = value.strip()
    if required and not text:
        raise InvalidField(field, f"{field} is required", code="required")
    limit = MAX_LENGTH.get(field)
    if limit is not None and len(text) > limit:
        raise InvalidField(field, f"{field} is longer than {limit} characters", code="too_long")
    return text


def validate_clerk_changes(changes: Mapping[str, object]) -> dict[str, str]:
    """Validate a clerk edit: only clerk fields, each a valid text. Returns cleaned values."""
    if not changes:
        raise InvalidField("changes", "no fields to change", code="required")
    cleaned: dict[str, str] = {}
    for field, value in changes.items():
        if field in HQ_FIELDS:
            raise InvalidField(field, f"{field} is set by HQ only", code="hq_only_field")
        if field not in CLERK_FIELDS:
            raise InvalidField(field, f"unknown field {field}", code="unknown_field")
        cleaned[field] = validate_text(field, value, required=field in ("title", "type"))
    return cleaned


def validate_hq_changes(changes: Mapping[str, object]) -> dict[str, Any]:
    """Validate an HQ edit: clerk fields plus HQ-only fields."""
    cleaned: dict[str, Any] = {}
    clerk = {k: v for k, v in changes.items() if k in CLERK_FIELDS}
    if clerk:
        cleaned.update(validate_clerk_changes(clerk))
    for field, value in changes.items():
        if field in CLERK_FIELDS:
            continue
        if field not in HQ_FIELDS:
            raise InvalidField(field, f"unknown field {field}", code="unknown_field")
        if field in ("first_response_due", "resolution_due"):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise InvalidField(field, f"{field} must be a time in ms or null", code="invalid_type")
            if value is not None and not 0 <= value <= MAX_EPOCH_MS:
                raise InvalidField(field, f"{field} is out of range", code="invalid_time")
            cleaned[field] = value
        elif field == "priority":
            text = validate_text(field, value, required=True)
            if text not in PRIORITIES:
                raise InvalidField(field, f"priority must be one of {', '.join(PRIORITIES)}", code="invalid_choice")
            cleaned[field] = text
        else:
            cleaned[field] = validate_text(field, value)
    if not cleaned:
        raise InvalidField("changes", "no fields to change", code="required")
    return cleaned


def validate_status(status: object) -> str:
    """The status must be one of :data:`STATUSES`."""
    if not isinstance(status, str) or status not in STATUSES:
        raise InvalidField("status", f"status must be one of {', '.join(STATUSES)}", code="invalid_choice")
    return status


def check_transition(current: str, target: str) -> None:
    """Raise :class:`InvalidField` (code ``invalid_transition``) if ``current -> target`` is not allowed."""
    validate_status(target)
    if target not in TRANSITIONS.get(current, frozenset()):
        raise InvalidField(
            "status",
            f"cannot change status from {current} to {target}",
            code="invalid_transition",
            from_status=current,
            to_status=target,
        )


def merge_fields(
    field_hlcs: Mapping[str, str], changes: Mapping[str, Any], hlc: str
) -> tuple[dict[str, Any], list[str]]:
    """Last-writer-wins per field.

    Returns ``(winners, losers)``: the changes whose HLC is later than the HLC of the value now
    held (those are applied), and the names of the fields where a later value is already held.
    A field with no recorded HLC is taken to have been written at ``ZERO``.
    """
    winners: dict[str, Any] = {}
    losers: list[str] = []
    for field, value in changes.items():
        if hlc > field_hlcs.get(field, ""):
            winners[field] = value
        else:
            losers.append(field)
    return winners, losers


def decide_status(current_status: str, current_hlc: str, target: str, hlc: str) -> str:
    """Decide a status change event.

    Returns ``"apply"`` when ``target`` becomes the status, ``"superseded"`` when a later status
    change is already held or the status is already ``target`` (the event is not added to the
    history, and the store drops its local row), and raises
    :class:`InvalidField` when the transition is not allowed from the current status.
    """
    if hlc <= current_hlc:
        return "superseded"
    if target == current_status:
        return "superseded"
    check_transition(current_status, target)
    return "apply"


def ticket_number(store_code: str, node_no: int, counter: int) -> str:
    """The permanent human number of a ticket made at a store node: ``SH012-000123``.

    A store's first node numbers plainly; further nodes at the same store add their node number
    (``SH012-2-000045``) so two PCs in one store never hand out the same number.
    """
    if node_no <= 1:
        return f"{store_code}-{counter:06d}"
    return f"{store_code}-{node_no}-{counter:06d}"
