"""Hybrid logical clock (Kulkarni, Demirbas et al., 2014).

A timestamp is ``(wall_ms, counter, node)``. ``wall_ms`` follows the largest physical time seen,
``counter`` orders events within one millisecond, ``node`` breaks the remaining ties so that no two
nodes ever produce equal timestamps. Timestamps travel as fixed-width strings that sort in the
same order as the tuples, so storage can compare them as text.

HQ bounds drift: a remote time further ahead of HQ's wall clock than ``max_drift_ms`` is refused
by :meth:`HybridClock.observe` (HQ then re-stamps the op with its own time), so a store PC whose
clock is set to next year cannot drag every clock forward. Stores observe without a bound: a store
whose own clock is behind must still order its edits after everything it has seen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import msgspec

from sync_protocol.errors import ClockDriftError

WALL_DIGITS = 15
COUNTER_DIGITS = 6
MAX_COUNTER = 10**COUNTER_DIGITS - 1
#: Default drift bound at HQ: five minutes.
DEFAULT_MAX_DRIFT_MS = 5 * 60 * 1000


def system_wall_ms() -> int:
    """Milliseconds since the Unix epoch from the system clock."""
    return time.time_ns() // 1_000_000


class Hlc(msgspec.Struct, frozen=True, order=True):
    """One HLC timestamp. Ordered by (wall_ms, counter, node)."""

    wall_ms: int
    counter: int
    node: str

    def encode(self) -> str:
        """Fixed-width text that sorts like the tuple: ``000001732000000000.000003.node``."""
        return f"{self.wall_ms:0{WALL_DIGITS}d}.{self.counter:0{COUNTER_DIGITS}d}.{self.node}"

    @classmethod
    def parse(cls, text: str) -> Hlc:
        """Inverse of :meth:`encode`: only its exact output parses, so ``parse(t).encode() == t``
        and a parsed text can be stored as it came. Raises ``ValueError`` on anything else."""
        wall, counter, node = text.split(".", 2) if text.count(".") >= 2 else ("", "", "")
        if (
            len(wall) != WALL_DIGITS
            or len(counter) != COUNTER_DIGITS
            or not node
            or not (wall + counter).isascii()
            or not (wall + counter).isdigit()
        ):
            raise ValueError(f"malformed HLC {text!r}")
        return cls(int(wall), int(counter), node)


#: Sorts before every real timestamp.
ZERO = Hlc(0, 0, "")
ZERO_TEXT = ZERO.encode()


def is_valid(text: str) -> bool:
    """True when ``text`` parses as an encoded HLC."""
    try:
        Hlc.parse(text)
    except ValueError:
        return False
    return True


class HybridClock:
    """A node's clock. Thread-safe.

    ``wall_ms`` is injectable so tests (and a store PC whose clock is wrong) can be simulated.
    """

    def __init__(
        self,
        node: str,
        *,
        wall_ms: Callable[[], int] = system_wall_ms,
        max_drift_ms: int | None = None,
        last: Hlc | None = None,
    ) -> None:
        self.node = node
        self._wall_ms = wall_ms
        self.max_drift_ms = max_drift_ms
        self._last = last if last is not None else Hlc(0, 0, node)
        self._lock = threading.Lock()

    @property
    def last(self) -> Hlc:
        """The latest timestamp issued or observed."""
        return self._last

    def wall(self) -> int:
        """The physical clock reading in ms."""
        return self._wall_ms()

    def now(self) -> Hlc:
        """A new timestamp for a local event or a send, greater than every one seen so far."""
        with self._lock:
            physical = self._wall_ms()
            if physical > self._last.wall_ms:
                stamp = Hlc(physical, 0, self.node)
            else:
                stamp = self._bump(self._last.wall_ms, self._last.counter)
            self._last = stamp
            return stamp

    def stamps(self, count: int) -> list[str]:
        """``count`` new encoded timestamps in increasing order (:meth:`now` ``count`` times)."""
        with self._lock:
            physical = self._wall_ms()
            last = self._last
            if physical > last.wall_ms:
                wall, counter = physical, -1
            else:
                wall, counter = last.wall_ms, last.counter
            found: list[str] = []
            node = self.node
            for _ in range(count):
                counter += 1
                if counter > MAX_COUNTER:
                    wall, counter = wall + 1, 0
                found.append(f"{wall:0{WALL_DIGITS}d}.{counter:0{COUNTER_DIGITS}d}.{node}")
            if count:
                self._last = Hlc(wall, counter, node)
            return found

    def observe(self, remote: Hlc) -> Hlc:
        """Merge a received timestamp; the next :meth:`now` is greater than ``remote``.

        Raises :class:`ClockDriftError` (and changes nothing) when a drift bound is set and
        ``remote`` is further ahead of the wall clock than it allows.
        """
        with self._lock:
            physical = self._wall_ms()
            if self.max_drift_ms is not None and remote.wall_ms - physical > self.max_drift_ms:
                raise ClockDriftError(remote.wall_ms, physical, self.max_drift_ms)
            last = self._last
            wall = max(physical, last.wall_ms, remote.wall_ms)
            if wall == last.wall_ms and wall == remote.wall_ms:
                counter = max(last.counter, remote.counter)
                stamp = self._bump(wall, counter)
            elif wall == last.wall_ms:
                stamp = self._bump(wall, last.counter)
            elif wall == remote.wall_ms:
                stamp = self._bump(wall, remote.counter)
            else:
                stamp = Hlc(wall, 0, self.node)
            self._last = stamp
            return stamp

    def observe_text(self, remote: str) -> Hlc:
        """:meth:`observe` for an encoded timestamp."""
        return self.observe(Hlc.parse(remote))

    def _bump(self, wall: int, counter: int) -> Hlc:
        if counter >= MAX_COUNTER:
            # Counter overflow within one millisecond: borrow the next millisecond.
            return Hlc(wall + 1, 0, self.node)
        return Hlc(wall, counter + 1, self.node)
