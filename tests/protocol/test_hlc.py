"""The hybrid logical clock."""

from __future__ import annotations

import pytest

from sync_protocol.errors import ClockDriftError
from sync_protocol.hlc import DEFAULT_MAX_DRIFT_MS, Hlc, HybridClock, is_valid

DAY_MS = 24 * 3600 * 1000
YEAR_MS = 365 * DAY_MS


class FakeWall:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_now_is_strictly_increasing_when_the_wall_clock_stands_still() -> None:
    clock = HybridClock("a", wall_ms=FakeWall(1000))
    stamps = [clock.now() for _ in range(5)]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 5
    assert stamps[-1] == Hlc(1000, 4, "a")


def test_now_never_goes_backwards_when_the_wall_clock_does() -> None:
    wall = FakeWall(5000)
    clock = HybridClock("a", wall_ms=wall)
    first = clock.now()
    wall.ms = 1000
    assert clock.now() > first


def test_store_with_clock_a_day_behind_orders_its_edits_after_what_it_has_seen() -> None:
    hq = HybridClock("hq", wall_ms=FakeWall(10 * DAY_MS))
    store = HybridClock("store", wall_ms=FakeWall(9 * DAY_MS))
    seen = hq.now()
    store.observe(seen)
    assert store.now() > seen


def test_encoded_timestamps_sort_like_the_timestamps() -> None:
    stamps = [Hlc(9, 0, "b"), Hlc(10, 0, "a"), Hlc(10, 1, "a"), Hlc(10, 1, "b"), Hlc(100000, 0, "a")]
    assert sorted(s.encode() for s in stamps) == [s.encode() for s in sorted(stamps)]
    for s in stamps:
        assert Hlc.parse(s.encode()) == s


def test_ties_between_nodes_break_on_node_id() -> None:
    assert Hlc(10, 0, "node-a") < Hlc(10, 0, "node-b")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "12.3.a",
        "000000000001000.000000.",
        "x" * 30,
        "00000000000_100.000000.a",  # int() would take these; they would not encode back the same
        "+00000000001000.000000.a",
        " 00000000001000.000000.a",
        "00000000000100٣.000000.a",
    ],
)
def test_malformed_hlc_text_is_refused(text: str) -> None:
    assert not is_valid(text)
    with pytest.raises(ValueError):
        Hlc.parse(text)


def test_clock_a_year_ahead_cannot_drag_hq_clock_forward() -> None:
    now = 100 * YEAR_MS
    hq = HybridClock("hq", wall_ms=FakeWall(now), max_drift_ms=DEFAULT_MAX_DRIFT_MS)
    before = hq.now()
    with pytest.raises(ClockDriftError):
        hq.observe(Hlc(now + YEAR_MS, 0, "store"))
    after = hq.now()
    assert after.wall_ms == now
    assert after > before


def test_remote_time_within_the_drift_bound_is_observed() -> None:
    now = 100 * YEAR_MS
    hq = HybridClock("hq", wall_ms=FakeWall(now), max_drift_ms=DEFAULT_MAX_DRIFT_MS)
    remote = Hlc(now + 1000, 7, "store")
    hq.observe(remote)
    assert hq.now() > remote


def test_counter_overflow_moves_to_the_next_millisecond() -> None:
    clock = HybridClock("a", wall_ms=FakeWall(10), last=Hlc(10, 999_999, "a"))
    assert clock.now() == Hlc(11, 0, "a")


def test_stamps_are_what_now_would_give_one_after_another() -> None:
    wall = FakeWall(1000)
    batch, single = HybridClock("a", wall_ms=wall), HybridClock("a", wall_ms=wall)
    batch.now()
    single.now()
    assert batch.stamps(4) == [single.now().encode() for _ in range(4)]
    assert batch.now() == single.now()
    assert batch.stamps(0) == []


def test_stamps_move_to_the_next_millisecond_when_the_counter_overflows() -> None:
    clock = HybridClock("a", wall_ms=FakeWall(10), last=Hlc(10, 999_998, "a"))
    assert [Hlc.parse(s) for s in clock.stamps(3)] == [Hlc(10, 999_999, "a"), Hlc(11, 0, "a"), Hlc(11, 1, "a")]
    assert clock.last == Hlc(11, 1, "a")
