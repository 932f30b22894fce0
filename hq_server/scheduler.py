"""HQ's background jobs, driven by apscheduler 3.x: the escalation sweep (and, as they come, the
other periodic work). Each job takes the time from HQ's clock, whose wall clock is injectable,
so tests call the job functions directly with any time they like."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from hq_server import escalation_sweep
from hq_server.db import Database
from sync_protocol.hlc import HybridClock

log = logging.getLogger("storedesk.hq.scheduler")

#: Seconds between two escalation sweeps.
SWEEP_INTERVAL_S = 60.0


def start(db: Database, clock: HybridClock, *, sweep_interval_s: float = SWEEP_INTERVAL_S) -> BackgroundScheduler:
    """Start the background jobs; stop them with ``scheduler.shutdown()``."""
    scheduler = BackgroundScheduler(daemon=True)

    def sweep() -> None:
        try:
            escalation_sweep.sweep(db, clock, clock.wall())
        except Exception:  # one failed sweep must not stop the next ones
            log.exception("escalation sweep failed")

    scheduler.add_job(
        sweep, "interval", seconds=sweep_interval_s, id="escalation-sweep", max_instances=1, coalesce=True
    )
    scheduler.start()
    return scheduler
