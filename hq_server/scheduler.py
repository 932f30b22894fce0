"""HQ's background jobs, driven by apscheduler 3.x: the escalation sweep (and, as they come, the
other periodic work). Each job takes the time from HQ's clock, whose wall clock is injectable,
so tests call the job functions directly with any time they like."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from hq_server import assignment, escalation_sweep
from hq_server.db import Database
from sync_protocol.hlc import HybridClock

log = logging.getLogger("storedesk.hq.scheduler")

#: Seconds between two escalation sweeps.
SWEEP_INTERVAL_S = 60.0


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

    scheduler.add_job(sweep, "interval", seconds=sweep_interval_s, id="sweep", max_instances=1, coalesce=True)
    scheduler.start()
    return scheduler
