"""SLA state of a ticket, worked out of its status history.

An :class:`SlaPolicy` sets two targets in business minutes of the department's
:class:`~hq_server.business_hours.Calendar`:

* **first response**: due that many business minutes after the ticket was created; it never
  pauses. Breached when the first response came after the due, or has not come and the due has
  passed.
* **resolution**: a clock of business time that runs from creation, stops while the status is a
  pausing one (waiting on the customer or on the store, by default), runs again when the status
  leaves it, and stops at the moment the ticket becomes ``resolved`` or ``closed``. A reopen
  (``resolved -> in_progress``) starts it running again.

Everything is computed from the times events *happened* (``at`` of the history entries), not
when HQ learned of them: a store that syncs hours late still gets the SLA its ticket had, and a
changed calendar or policy is applied to open tickets by calling :func:`sla_state` again. No
clock is read: ``now_ms`` is passed in. Times before creation count as creation and times after
``now_ms`` as ``now_ms`` (a store clock ahead of HQ's).

Due times and breaches compare instants: a target that runs out at Friday's closing time is due
then, and a ticket resolved on Saturday morning breached it, although no business time passed
in between (``remaining_ms`` is then 0, not negative).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import msgspec

from hq_server.business_hours import Calendar, add_business_ms, business_ms_between, describe_validation_error
from sync_protocol.tickets import OPEN_STATUSES, STATUSES

#: The status a ticket is created in.
INITIAL_STATUS = STATUSES[0]
#: Statuses that stop the resolution clock for good (until a reopen).
STOPPING_STATUSES: frozenset[str] = frozenset({"resolved", "closed"})
#: Longest target a policy takes, in minutes (one year), so a due time is always found quickly.
MAX_TARGET_MIN = 366 * 24 * 60
_MINUTE_MS = 60_000

Phase = Literal["running", "paused", "stopped"]


class SlaPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """SLA targets in business minutes (``None``: no target). Check one with :func:`parse_policy`."""

    first_response_min: int | None = None
    resolution_min: int | None = None
    #: Statuses in which the resolution clock does not run.
    pausing_statuses: frozenset[str] = frozenset({"waiting_customer", "waiting_store"})


class InvalidPolicy(ValueError):
    """A policy breaks a rule; ``field`` names the value at fault, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class StatusEvent(msgspec.Struct, frozen=True):
    """A status change of a ticket, at the time it happened (ms since the epoch)."""

    at_ms: int
    to_status: str


class SlaState(msgspec.Struct, frozen=True, kw_only=True):
    """A ticket's SLA at ``now_ms``. Times are ms since the epoch; durations are business ms."""

    #: When the first response is due; ``None`` without a first-response target.
    first_response_due: int | None
    #: When the resolution clock runs out while it runs; ``None`` while paused, once resolved or
    #: closed, and without a resolution target. Once breached, the due that was missed.
    resolution_due: int | None
    first_responded_at: int | None
    #: When the ticket became resolved (or closed), if it is now; ``None`` while open.
    resolved_at: int | None
    first_response_breached: bool
    #: The resolution clock ran past its due at some point; stays true after a resolution.
    resolution_breached: bool
    #: The status now is a pausing one.
    paused: bool
    #: Resolution clock consumed up to ``now_ms`` (or up to the resolution).
    business_ms_used: int
    #: Resolution target left (target minus used); negative when overrun; ``None`` without a target.
    remaining_ms: int | None


def parse_policy(data: object) -> SlaPolicy:
    """A checked :class:`SlaPolicy` from JSON-like data (or an :class:`SlaPolicy`).

    Raises :class:`InvalidPolicy` for a wrong type or unknown field, a target that is not a
    positive number of minutes up to :data:`MAX_TARGET_MIN`, and a pausing status that is not an
    open status of :data:`~sync_protocol.tickets.STATUSES`.
    """
    if isinstance(data, SlaPolicy):
        policy = data
    else:
        try:
            policy = msgspec.convert(data, SlaPolicy)
        except msgspec.ValidationError as exc:
            raise _invalid_structure(exc) from None
    for field in ("first_response_min", "resolution_min"):
        minutes = getattr(policy, field)
        if minutes is not None and not 0 < minutes <= MAX_TARGET_MIN:
            raise InvalidPolicy(field, f"must be between 1 and {MAX_TARGET_MIN} minutes, got {minutes}")
    for status in sorted(policy.pausing_statuses):
        if status not in STATUSES:
            raise InvalidPolicy("pausing_statuses", f"unknown status {status!r}")
        if status not in OPEN_STATUSES:
            raise InvalidPolicy("pausing_statuses", f"{status} stops the clock; it cannot pause it")
    return policy


def sla_state(
    policy: SlaPolicy,
    calendar: Calendar,
    *,
    created_ms: int,
    events: Sequence[StatusEvent],
    first_response_ms: int | None,
    now_ms: int,
) -> SlaState:
    """The SLA of a ticket created at ``created_ms`` with status changes ``events`` (in any order),
    as it stands at ``now_ms``."""
    now_ms = max(now_ms, created_ms)
    stretches = phase_timeline(policy, created_ms, events, now_ms)
    current = stretches[-1]
    first_due = _first_response_due(policy, calendar, created_ms)
    if first_response_ms is not None:
        first_response_ms = min(max(first_response_ms, created_ms), now_ms)
    clock = _resolution_clock(policy, calendar, stretches)
    return SlaState(
        first_response_due=first_due,
        resolution_due=clock.due if current.phase == "running" else None,
        first_responded_at=first_response_ms,
        resolved_at=current.start if current.phase == "stopped" else None,
        first_response_breached=_first_response_breached(first_due, first_response_ms, now_ms),
        resolution_breached=clock.breached,
        paused=current.phase == "paused",
        business_ms_used=clock.used,
        remaining_ms=None if policy.resolution_min is None else policy.resolution_min * _MINUTE_MS - clock.used,
    )


class Stretch(NamedTuple):
    """A span of time ``[start, end)`` in one phase of the resolution clock."""

    start: int
    end: int
    phase: Phase


def phase_of(policy: SlaPolicy, status: str) -> Phase:
    """What a status does to the resolution clock."""
    if status in STOPPING_STATUSES:
        return "stopped"
    if status in policy.pausing_statuses:
        return "paused"
    return "running"


def phase_timeline(policy: SlaPolicy, created_ms: int, events: Sequence[StatusEvent], now_ms: int) -> list[Stretch]:
    """The phases of the resolution clock from ``created_ms`` to ``now_ms``, in order.

    Events are sorted by time (stably: of two at the same time the one listed later wins) and
    their times clamped into ``[created_ms, now_ms]``. Successive stretches have different phases
    and none is empty, except the last: it is the phase now, and always there.
    """
    stretches = [Stretch(created_ms, now_ms, phase_of(policy, INITIAL_STATUS))]
    for event in sorted(events, key=lambda event: event.at_ms):
        at = min(max(event.at_ms, created_ms), now_ms)
        phase = phase_of(policy, event.to_status)
        current = stretches.pop()
        if current.start < at:
            stretches.append(current._replace(end=at))
        if stretches and stretches[-1].phase == phase:
            # An empty stretch in between (two events at one instant) joins its neighbours.
            stretches[-1] = stretches[-1]._replace(end=now_ms)
        else:
            stretches.append(Stretch(at, now_ms, phase))
    return stretches


class _ResolutionClock(NamedTuple):
    used: int
    due: int | None
    breached: bool


def _resolution_clock(policy: SlaPolicy, calendar: Calendar, stretches: Sequence[Stretch]) -> _ResolutionClock:
    """Business time the resolution clock ran, its due in the latest running stretch, and whether
    it ever ran past a due.

    In each running stretch the due is what is left of the target counted from the stretch's
    start, so without pauses it is ``add_business_ms(created, target)``; once a due is missed it
    stays the due.
    """
    used = 0
    due: int | None = None
    missed: int | None = None
    target = None if policy.resolution_min is None else policy.resolution_min * _MINUTE_MS
    for stretch in stretches:
        if stretch.phase != "running":
            continue
        if target is not None and missed is None:
            due = add_business_ms(calendar, stretch.start, target - used)
            if stretch.end > due:
                missed = due
        used += business_ms_between(calendar, stretch.start, stretch.end)
    return _ResolutionClock(used, missed if missed is not None else due, missed is not None)


def _first_response_due(policy: SlaPolicy, calendar: Calendar, created_ms: int) -> int | None:
    if policy.first_response_min is None:
        return None
    return add_business_ms(calendar, created_ms, policy.first_response_min * _MINUTE_MS)


def _first_response_breached(due: int | None, responded_ms: int | None, now_ms: int) -> bool:
    if due is None:
        return False
    return (responded_ms if responded_ms is not None else now_ms) > due


def _invalid_structure(exc: msgspec.ValidationError) -> InvalidPolicy:
    """An :class:`InvalidPolicy` for a msgspec type error, naming the field it found it at."""
    field, reason = describe_validation_error(exc)
    return InvalidPolicy(field or "policy", reason)
