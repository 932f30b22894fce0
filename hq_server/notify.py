"""Wake long-polling ``/sync/v1/wait`` requests when the change log grows.

Two sources: this process's own commits (:meth:`ChangeNotifier.notify`, called from the writer's
thread after each commit) and a poll of the log head every :data:`POLL_INTERVAL_S` while anyone
waits, which sees commits of other HQ processes on the same database. One poller per process,
however many requests wait; a waiter re-checks its own scope only when the head moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

POLL_INTERVAL_S = 0.25

log = logging.getLogger("storedesk.hq.notify")


class ChangeNotifier:
    """Tells waiters that the change log may have grown. Lives on one event loop."""

    def __init__(self, read_head: Callable[[], int]) -> None:
        self._read_head = read_head
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed = asyncio.Event()
        self._waiters = 0
        self._poller: asyncio.Task[None] | None = None
        self._head = -1
        self.closed = False

    def notify(self) -> None:
        """Something was committed. Safe to call from any thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake)

    def close(self) -> None:
        """Release every waiter now (server shutdown); later waits return at once."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def snapshot(self) -> asyncio.Event:
        """Take before checking the log; :meth:`wait` on it then misses no commit after the check."""
        self._attach()
        return self._changed

    async def wait(self, snapshot: asyncio.Event, timeout: float) -> bool:
        """Wait until the log may have grown since ``snapshot`` or ``timeout`` seconds pass;
        False on timeout or shutdown."""
        if self.closed:
            return False
        self._attach()
        self._waiters += 1
        try:
            await asyncio.wait_for(snapshot.wait(), timeout)
            return not self.closed
        except TimeoutError:
            return False
        finally:
            self._waiters -= 1

    def _attach(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._changed = asyncio.Event()
            self._poller = None
        if self._poller is None or self._poller.done():
            self._poller = loop.create_task(self._poll())

    async def _poll(self) -> None:
        while not self.closed:
            await asyncio.sleep(POLL_INTERVAL_S)
            if self._waiters == 0:
                break
            try:
                head = await run_in_threadpool(self._read_head)
            except Exception:  # the database may be briefly away; waiters time out on their own
                log.warning("change-log head poll failed", exc_info=True)
                continue
            if head != self._head:  # also on the first poll: a waiter may have checked before it
                self._head = head
                self._wake()
        self._poller = None
