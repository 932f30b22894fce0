"""HQ's hybrid logical clock.

Every HQ process has its own clock with a per-process node id (``hq-<hex>``), so two workers
never issue equal timestamps. It bounds drift (:data:`~sync_protocol.hlc.DEFAULT_MAX_DRIFT_MS`):
a store op stamped further ahead is re-stamped with HQ's own time instead of dragging the clock
forward. On start it resumes after the newest change-log entry, so a restart on a machine whose
clock stepped back still issues later timestamps.

``STOREDESK_CLOCK_OFFSET_MS`` shifts the wall clock (tests simulate a wrong clock with it).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable

from sync_protocol.hlc import DEFAULT_MAX_DRIFT_MS, Hlc, HybridClock, system_wall_ms

OFFSET_ENV = "STOREDESK_CLOCK_OFFSET_MS"


def wall_clock_from_env() -> Callable[[], int]:
    """The system wall clock, shifted by ``STOREDESK_CLOCK_OFFSET_MS`` when it is set."""
    raw = os.environ.get(OFFSET_ENV, "").strip()
    offset = int(raw) if raw else 0
    if not offset:
        return system_wall_ms
    return lambda: system_wall_ms() + offset


def new_hq_clock(wall_ms: Callable[[], int] | None = None, *, resume_after: str = "") -> HybridClock:
    """A clock for this HQ process, later than ``resume_after`` (an encoded HLC) if given."""
    node = f"hq-{secrets.token_hex(4)}"
    last = None
    if resume_after:
        seen = Hlc.parse(resume_after)
        last = Hlc(seen.wall_ms, seen.counter, node)
    return HybridClock(
        node,
        wall_ms=wall_ms or wall_clock_from_env(),
        max_drift_ms=DEFAULT_MAX_DRIFT_MS,
        last=last,
    )
