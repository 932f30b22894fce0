"""The HQ Starlette application: sync endpoints, staff API, OpenAPI document, health check.

``create_app`` opens the database, applies missing migrations, and starts HQ's clock after the
newest change-log entry. The app holds no state another HQ process would need.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette

from hq_server import (
    accounts_api,
    changelog,
    collaboration_api,
    intake_api,
    orders_api,
    pull,
    reports_api,
    returns_api,
    scheduler,
    settings_api,
    staff_api,
    stock_api,
    surveys_api,
    sync_api,
    webhooks_api,
)
from hq_server.clock import new_hq_clock
from hq_server.console import admin_org as console_admin_org
from hq_server.console import admin_service as console_admin_service
from hq_server.console import home as console_home
from hq_server.console import queue as console_queue
from hq_server.console import reports as console_reports
from hq_server.context import HqContext
from hq_server.db import Database
from hq_server.migrations import migrate
from hq_server.notify import ChangeNotifier
from hq_server.responses import EXCEPTION_HANDLERS
from sync_protocol.hlc import HybridClock


def open_database(db_url: str, *, wall_ms: Callable[[], int] | None = None) -> Database:
    """The database at ``db_url`` (file path or URL), migrated to the current schema."""
    db = Database(db_url)
    try:
        migrate(db, new_hq_clock(wall_ms))
    except BaseException:
        db.close()
        raise
    return db


def open_hq(db_url: str, *, wall_ms: Callable[[], int] | None = None) -> tuple[Database, HybridClock]:
    """The migrated database and this process's clock, resumed after the newest log entry."""
    db = open_database(db_url, wall_ms=wall_ms)
    with db.read() as conn:
        _, head_hlc = changelog.head(conn)
    return db, new_hq_clock(wall_ms, resume_after=head_hlc)


def create_app(
    db_url: str,
    admin_token: str,
    *,
    wall_ms: Callable[[], int] | None = None,
    sweep_interval_s: float | None = scheduler.SWEEP_INTERVAL_S,
) -> Starlette:
    """HQ on the database ``db_url`` (a file path for SQLite, or a SQLAlchemy URL).

    ``admin_token`` guards the staff API (empty: the staff API refuses everyone). ``wall_ms``
    replaces the wall clock (tests); by default it is the system clock shifted by
    ``STOREDESK_CLOCK_OFFSET_MS``. ``sweep_interval_s`` paces the background jobs (None: no
    background jobs, for tests that run them by hand).
    """
    db, clock = open_hq(db_url, wall_ms=wall_ms)
    notifier = ChangeNotifier(lambda: pull.head_pos(db))
    db.on_commit(notifier.notify)
    hq = HqContext(db=db, clock=clock, notifier=notifier, admin_token=admin_token)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        jobs = scheduler.start(db, clock, sweep_interval_s=sweep_interval_s) if sweep_interval_s else None
        try:
            yield
        finally:
            if jobs is not None:
                jobs.shutdown(wait=True)
            notifier.close()
            db.close()

    app = Starlette(
        routes=[
            *sync_api.routes,
            *staff_api.routes,
            *settings_api.routes,
            *collaboration_api.routes,
            *intake_api.routes,
            *webhooks_api.routes,
            *surveys_api.routes,
            *stock_api.routes,
            *orders_api.routes,
            *returns_api.routes,
            *reports_api.routes,
            *accounts_api.routes,
            *console_home.routes,
            *console_queue.routes,
            *console_reports.routes,
            *console_admin_org.routes,
            *console_admin_service.routes,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.hq = hq
    return app


def context(app: Starlette) -> HqContext:
    """The shared state of an app made by :func:`create_app` (tests reach the database with it)."""
    hq = app.state.hq
    assert isinstance(hq, HqContext)
    return hq
