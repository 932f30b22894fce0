"""The escalation ladder: which steps are due for an open ticket, and what each step does.

A step fires when its trigger is reached: ``idle`` (the ticket has been in its group for
``minutes`` without progress) or ``due`` (``minutes`` after, or before when negative, its
first-response or resolution due time). Its actions: ``remind_lead`` (an in-app notification to
the lead of the ticket's department), ``raise_priority`` (one step up, to ``urgent`` at most),
``reassign`` (the ticket goes back to its department's pool), ``notify_role`` (an in-app
notification to every holder of ``role``) and ``webhook`` (an event to the configured webhooks).

Progress is what the group does with a ticket: its routing, a status change, HQ's reply. An
escalation is not progress, so the default ladder's second step (48 h) comes 48 h after the
last progress, not 48 h after the first step. Each step fires at most once per ticket; the
sweep (:mod:`hq_server.escalation_sweep`) keeps that promise with a persisted record.
No SQL here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal

import msgspec

from hq_server.routing_rules import RULE_ID
from hq_server.validation import field_error
from sync_protocol.errors import InvalidField
from sync_protocol.tickets import PRIORITIES, validate_text

Trigger = Literal["idle", "due"]
Action = Literal["remind_lead", "raise_priority", "reassign", "notify_role", "webhook"]
MAX_STEPS = 50
#: The longest offset a step may have: 90 days.
MAX_MINUTES = 90 * 24 * 60
CS_SUPERVISOR = "cs_supervisor"


class Step(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    id: str
    name: str
    trigger: Trigger
    #: ``idle``: minutes without progress (> 0); ``due``: minutes after the due time (< 0: before).
    minutes: int
    #: For ``due`` steps: which due time.
    due: Literal["first_response", "resolution"] = "resolution"
    actions: list[Action]
    #: For ``notify_role``: the role to notify.
    role: str = ""


DEFAULT_LADDER: tuple[Step, ...] = (
    Step(
        id="idle-24h",
        name="24 小时无进展：提醒组长并提升优先级",
        trigger="idle",
        minutes=24 * 60,
        actions=["remind_lead", "raise_priority"],
    ),
    Step(
        id="idle-48h",
        name="48 小时无进展：通知客服主管",
        trigger="idle",
        minutes=48 * 60,
        actions=["notify_role"],
        role=CS_SUPERVISOR,
    ),
)


class TicketClock(msgspec.Struct, frozen=True, kw_only=True):
    """What the ladder looks at in an open, routed ticket."""

    last_progress_ms: int
    first_response_due: int | None
    resolution_due: int | None
    responded: bool
    paused: bool


def fire_at(step: Step, ticket: TicketClock) -> int | None:
    """When ``step`` becomes due for ``ticket``; None when it does not apply to it (now)."""
    if step.trigger == "idle":
        return ticket.last_progress_ms + step.minutes * 60_000
    if step.due == "first_response":
        if ticket.responded or ticket.first_response_due is None:
            return None
        return ticket.first_response_due + step.minutes * 60_000
    if ticket.paused or ticket.resolution_due is None:
        return None
    return ticket.resolution_due + step.minutes * 60_000


def due_steps(ladder: Sequence[Step], ticket: TicketClock, now_ms: int, fired: Collection[str]) -> list[Step]:
    """The steps of ``ladder`` due at ``now_ms`` that have not fired yet, in ladder order."""
    found = []
    for step in ladder:
        if step.id in fired:
            continue
        at = fire_at(step, ticket)
        if at is not None and at <= now_ms:
            found.append(step)
    return found


def raised(priority: str) -> str:
    """The next priority up (``urgent`` stays ``urgent``)."""
    index = PRIORITIES.index(priority) if priority in PRIORITIES else PRIORITIES.index("normal")
    return PRIORITIES[min(index + 1, len(PRIORITIES) - 1)]


def parse_ladder(data: object, *, roles: Collection[str] = ()) -> list[Step]:
    """Validate a JSON-like list of steps; :class:`InvalidField` names ``steps[i].field``."""
    if not isinstance(data, list):
        raise InvalidField("steps", "steps must be a list", code="invalid_steps")
    if len(data) > MAX_STEPS:
        raise InvalidField("steps", f"more than {MAX_STEPS} steps", code="too_long", limit=MAX_STEPS)
    try:
        steps = msgspec.convert(data, list[Step])
    except msgspec.ValidationError as exc:
        raise field_error(exc, root="steps") from exc
    seen: set[str] = set()
    for index, step in enumerate(steps):
        at = f"steps[{index}]"
        validate_text(f"{at}.id", step.id, required=True)
        if not RULE_ID.fullmatch(step.id):
            raise InvalidField(f"{at}.id", "invalid step id", code="invalid_code", value=step.id)
        if step.id in seen:
            raise InvalidField(f"{at}.id", "duplicate step id", code="duplicate_rule", value=step.id)
        seen.add(step.id)
        validate_text(f"{at}.name", step.name, required=True)
        if step.trigger == "idle" and not 0 < step.minutes <= MAX_MINUTES:
            raise InvalidField(f"{at}.minutes", "idle minutes out of range", code="invalid_choice")
        if step.trigger == "due" and not -MAX_MINUTES <= step.minutes <= MAX_MINUTES:
            raise InvalidField(f"{at}.minutes", "offset out of range", code="invalid_choice")
        if not step.actions:
            raise InvalidField(f"{at}.actions", "a step needs an action", code="required")
        if "notify_role" in step.actions and not step.role:
            raise InvalidField(f"{at}.role", "notify_role needs a role", code="required")
        if roles and step.role and step.role not in roles:
            raise InvalidField(f"{at}.role", "unknown role", code="invalid_choice", value=step.role)
    return steps
