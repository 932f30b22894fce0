"""HQ's background jobs, driven by apscheduler 3.x: the assignment and escalation sweep, and the
delivery of webhook events. Each job takes the time from HQ's clock, whose wall clock is injectable,
so tests call the job functions directly with any time they like."""

from __future__ import annotations

import logging

import httpx
from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.schedulers.background import BackgroundScheduler

from hq_server import assignment, escalation_sweep, webhooks
from hq_server.db import Database
from sync_protocol.hlc import HybridClock

log = logging.getLogger("storedesk.hq.scheduler")

#: Seconds between two sweeps (assignment, escalation).
SWEEP_INTERVAL_S = 60.0
#: Seconds between two rounds of webhook deliveries.
WEBHOOK_INTERVAL_S = 10.0


def run_sweeps(db: Database, clock: HybridClock, now_ms: int) -> None:
    """One round of the periodic work, each part in its own transaction: untouched assignments
    back to the pool and pool tickets to free agents, then the escalation ladder."""
    with db.write() as conn:
        assignment.return_untouched(conn, clock, now_ms)
    escalation_sweep.sweep(db, clock, now_ms)


def start(db: Database, clock: HybridClock, *, sweep_interval_s: float = SWEEP_INTERVAL_S) -> BackgroundScheduler:
    """Start the background jobs; stop them with ``scheduler.shutdown()``."""
    scheduler = BackgroundScheduler(daemon=True)

    def sweep() -> None:
        try:
            run_sweeps(db, clock, clock.wall())
        except Exception:  # one failed sweep must not stop the next ones
            log.exception("sweep failed")

    client = httpx.Client(follow_redirects=False)

    def deliver() -> None:
        try:
            webhooks.deliver_due(db, clock.wall(), client=client)
        except Exception:
            log.exception("webhook delivery failed")

    scheduler.add_job(sweep, "interval", seconds=sweep_interval_s, id="sweep", max_instances=1, coalesce=True)
    scheduler.add_job(deliver, "interval", seconds=WEBHOOK_INTERVAL_S, id="webhooks", max_instances=1, coalesce=True)
    scheduler.add_listener(
        lambda event: client.close() if event.code == EVENT_SCHEDULER_SHUTDOWN else None, EVENT_SCHEDULER_SHUTDOWN
    )
    scheduler.start()
    return scheduler
