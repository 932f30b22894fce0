"""SLA state worked out of a ticket's status history (hq_server.sla)."""

from __future__ import annotations

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hq_server.business_hours import Calendar, add_business_ms, parse_calendar
from hq_server.sla import (
    MAX_TARGET_MIN,
    InvalidPolicy,
    SlaPolicy,
    SlaState,
    StatusEvent,
    parse_policy,
    phase_timeline,
    sla_state,
)

MINUTE = 60_000
HOUR = 60 * MINUTE
WORKWEEK = ("mon", "tue", "wed", "thu", "fri")


def at(text: str) -> int:
    """Ms since the epoch of a Shanghai local time ``YYYY-MM-DDTHH:MM``."""
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Asia/Shanghai")).timestamp() * 1000)


def local(ms: int | None) -> str | None:
    """The Shanghai local time of an instant, ``YYYY-MM-DDTHH:MM``."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")


def ev(text: str, status: str) -> StatusEvent:
    return StatusEvent(at_ms=at(text), to_status=status)


# 2026-10-12 is a Monday. Open Mon-Fri 09:00-18:00 in Shanghai.
NINE_TO_SIX = parse_calendar({"weekly": {day: [["09:00", "18:00"]] for day in WORKWEEK}})
NINE_TO_NINE = parse_calendar({"weekly": {day: [["09:00", "21:00"]] for day in WORKWEEK}})
#: Answer within 1 business hour, resolve within 8.
POLICY = parse_policy({"first_response_min": 60, "resolution_min": 8 * 60})
CREATED = at("2026-10-12T10:00")


def state(
    *events: StatusEvent,
    now: str,
    created_ms: int = CREATED,
    first_response: str | None = None,
    policy: SlaPolicy = POLICY,
    calendar: Calendar = NINE_TO_SIX,
) -> SlaState:
    return sla_state(
        policy,
        calendar,
        created_ms=created_ms,
        events=list(events),
        first_response_ms=at(first_response) if first_response else None,
        now_ms=at(now),
    )


def test_without_pauses_the_resolution_due_is_the_target_added_to_the_creation() -> None:
    s = state(ev("2026-10-12T10:10", "assigned"), ev("2026-10-12T10:30", "in_progress"), now="2026-10-12T11:00")
    assert s.resolution_due == add_business_ms(NINE_TO_SIX, CREATED, 8 * HOUR)
    assert local(s.resolution_due) == "2026-10-12T18:00"
    assert local(s.first_response_due) == "2026-10-12T11:00"
    assert (s.business_ms_used, s.remaining_ms) == (HOUR, 7 * HOUR)
    assert not (s.paused or s.resolution_breached or s.first_response_breached)
    assert s.resolved_at is None


def test_a_two_hour_wait_on_the_customer_in_business_hours_pushes_the_due_by_two_business_hours() -> None:
    s = state(
        ev("2026-10-12T11:00", "waiting_customer"),
        ev("2026-10-12T13:00", "in_progress"),
        now="2026-10-12T14:00",
    )
    assert local(s.resolution_due) == "2026-10-13T11:00"  # instead of 2026-10-12T18:00
    assert s.business_ms_used == 2 * HOUR


def test_a_wait_over_the_night_pushes_the_due_only_by_the_business_time_it_covered() -> None:
    # Waiting from 17:00 to 10:00 the next day: 17 wall-clock hours, 2 business hours (17-18, 9-10).
    s = state(
        ev("2026-10-12T17:00", "waiting_store"),
        ev("2026-10-13T10:00", "in_progress"),
        now="2026-10-13T10:30",
    )
    assert local(s.resolution_due) == "2026-10-13T11:00"  # instead of 2026-10-12T18:00
    assert s.business_ms_used == 7 * HOUR + 30 * MINUTE


def test_while_waiting_the_clock_is_paused_with_no_due() -> None:
    s = state(ev("2026-10-12T11:00", "waiting_customer"), now="2026-10-14T16:00")
    assert s.paused
    assert s.resolution_due is None
    assert (s.business_ms_used, s.remaining_ms) == (HOUR, 7 * HOUR)
    assert not s.resolution_breached


def test_a_ticket_synced_late_is_counted_from_its_creation_not_from_its_arrival() -> None:
    # Made offline at the store at 09:00, worked on there, HQ hears of it at 14:00.
    created = at("2026-10-12T09:00")
    events = (ev("2026-10-12T09:30", "assigned"), ev("2026-10-12T10:00", "in_progress"))
    s = state(*events, created_ms=created, now="2026-10-12T14:00")
    assert s.resolution_due == add_business_ms(NINE_TO_SIX, created, 8 * HOUR)
    assert local(s.resolution_due) == "2026-10-12T17:00"
    assert (s.business_ms_used, s.remaining_ms) == (5 * HOUR, 3 * HOUR)
    # A wait at the store, reported only now, still pushes the due by the time it lasted.
    waited = state(
        *events,
        ev("2026-10-12T11:00", "waiting_customer"),
        ev("2026-10-12T12:00", "in_progress"),
        created_ms=created,
        now="2026-10-12T14:00",
    )
    assert local(waited.resolution_due) == "2026-10-12T18:00"


def test_events_in_any_order_give_the_same_state() -> None:
    events = [
        ev("2026-10-12T10:10", "assigned"),
        ev("2026-10-12T11:00", "waiting_customer"),
        ev("2026-10-12T15:00", "in_progress"),
        ev("2026-10-13T09:30", "resolved"),
        ev("2026-10-13T11:00", "in_progress"),
    ]
    expected = state(*events, now="2026-10-13T12:00")
    for order in itertools.permutations(events):
        assert state(*order, now="2026-10-13T12:00") == expected


def test_events_dated_before_the_creation_count_from_the_creation() -> None:
    # A store clock behind: the wait began "before" the ticket existed, so it waited from creation.
    s = state(ev("2026-10-12T09:00", "waiting_customer"), ev("2026-10-12T12:00", "in_progress"), now="2026-10-12T13:00")
    assert s.business_ms_used == HOUR
    assert local(s.resolution_due) == "2026-10-13T11:00"


def test_a_resolution_stops_the_clock_and_a_reopen_starts_it_again() -> None:
    resolved = ev("2026-10-12T12:00", "resolved")
    reopened = ev("2026-10-12T15:00", "in_progress")
    s = state(resolved, now="2026-10-12T16:00")
    assert (local(s.resolved_at), s.resolution_due, s.business_ms_used) == ("2026-10-12T12:00", None, 2 * HOUR)
    assert not s.paused

    s = state(resolved, reopened, now="2026-10-12T16:00")
    assert s.resolved_at is None
    assert local(s.resolution_due) == "2026-10-13T12:00"  # the three resolved hours do not count
    assert s.business_ms_used == 3 * HOUR

    s = state(resolved, reopened, ev("2026-10-12T17:00", "resolved"), now="2026-10-14T10:00")
    assert local(s.resolved_at) == "2026-10-12T17:00"
    assert (s.business_ms_used, s.remaining_ms, s.resolution_due) == (4 * HOUR, 4 * HOUR, None)
    assert not s.resolution_breached


def test_closing_a_resolved_ticket_keeps_the_time_of_its_resolution() -> None:
    s = state(ev("2026-10-12T12:00", "resolved"), ev("2026-10-13T12:00", "closed"), now="2026-10-14T10:00")
    assert local(s.resolved_at) == "2026-10-12T12:00"
    assert s.business_ms_used == 2 * HOUR


@pytest.mark.parametrize(
    ("first_response", "now", "breached"),
    [
        pytest.param(None, "2026-10-12T10:59", False, id="none-yet-before-due"),
        pytest.param(None, "2026-10-12T11:00", False, id="none-yet-at-due"),
        pytest.param(None, "2026-10-12T11:01", True, id="none-after-due"),
        pytest.param("2026-10-12T10:45", "2026-10-15T10:00", False, id="in-time"),
        pytest.param("2026-10-12T11:00", "2026-10-15T10:00", False, id="at-due"),
        pytest.param("2026-10-12T11:30", "2026-10-15T10:00", True, id="late"),
    ],
)
def test_the_first_response_is_breached_when_it_comes_after_its_due(
    first_response: str | None, now: str, breached: bool
) -> None:
    s = state(now=now, first_response=first_response)
    assert local(s.first_response_due) == "2026-10-12T11:00"
    assert local(s.first_responded_at) == (first_response and local(at(first_response)))
    assert s.first_response_breached is breached


def test_the_first_response_target_does_not_pause() -> None:
    s = state(ev("2026-10-12T10:15", "waiting_customer"), now="2026-10-12T12:00")
    assert local(s.first_response_due) == "2026-10-12T11:00"
    assert s.first_response_breached


def test_a_ticket_open_past_its_due_is_breached_with_negative_time_left() -> None:
    s = state(now="2026-10-13T11:00")
    assert local(s.resolution_due) == "2026-10-12T18:00"
    assert s.resolution_breached
    assert s.remaining_ms == -2 * HOUR


def test_a_resolution_after_the_due_stays_breached_and_one_at_the_due_is_not() -> None:
    late = state(ev("2026-10-13T09:30", "resolved"), now="2026-10-20T10:00")
    assert late.resolution_breached
    assert local(late.resolved_at) == "2026-10-13T09:30"
    assert late.remaining_ms == -30 * MINUTE
    on_time = state(ev("2026-10-12T18:00", "resolved"), now="2026-10-20T10:00")
    assert not on_time.resolution_breached
    assert on_time.remaining_ms == 0


def test_a_target_running_out_at_closing_time_is_breached_after_it_with_no_business_time_left() -> None:
    # Due Friday 18:00; on Saturday no business time has passed since, but the due has.
    created = at("2026-10-16T10:00")
    s = state(created_ms=created, now="2026-10-17T10:00", policy=SlaPolicy(resolution_min=8 * 60))
    assert local(s.resolution_due) == "2026-10-16T18:00"
    assert s.resolution_breached
    assert s.remaining_ms == 0


def test_a_due_missed_before_a_wait_stays_the_due_after_it() -> None:
    events = (ev("2026-10-13T11:00", "waiting_customer"), ev("2026-10-14T10:00", "in_progress"))
    s = state(*events, now="2026-10-14T11:00")
    assert s.resolution_breached
    assert local(s.resolution_due) == "2026-10-12T18:00"
    assert s.remaining_ms == -3 * HOUR  # Tuesday 09:00-11:00 and Wednesday 10:00-11:00


def test_a_changed_calendar_gives_a_new_due_for_the_same_history() -> None:
    events = (ev("2026-10-12T11:00", "waiting_customer"), ev("2026-10-12T13:00", "in_progress"))
    before = state(*events, now="2026-10-12T14:00", calendar=NINE_TO_SIX)
    after = state(*events, now="2026-10-12T14:00", calendar=NINE_TO_NINE)
    assert local(before.resolution_due) == "2026-10-13T11:00"
    assert local(after.resolution_due) == "2026-10-12T20:00"


def test_without_targets_there_are_no_dues_and_no_breaches() -> None:
    s = state(ev("2026-10-12T11:00", "in_progress"), now="2026-10-30T10:00", policy=SlaPolicy())
    assert (s.first_response_due, s.resolution_due, s.remaining_ms) == (None, None, None)
    assert not (s.first_response_breached or s.resolution_breached)
    assert s.business_ms_used > 0  # the clock is still measured


def test_the_policy_chooses_which_statuses_pause() -> None:
    policy = parse_policy({"resolution_min": 8 * 60, "pausing_statuses": ["waiting_customer"]})
    events = (ev("2026-10-12T11:00", "waiting_store"), ev("2026-10-12T13:00", "in_progress"))
    s = state(*events, now="2026-10-12T14:00", policy=policy)
    assert local(s.resolution_due) == "2026-10-12T18:00"
    assert s.business_ms_used == 4 * HOUR


def test_a_ticket_dated_after_now_has_used_nothing() -> None:
    s = state(created_ms=at("2026-10-12T10:05"), now="2026-10-12T10:00")
    assert (s.business_ms_used, s.remaining_ms) == (0, 8 * HOUR)
    assert not (s.resolution_breached or s.first_response_breached)


def test_events_at_the_same_instant_apply_in_the_order_given() -> None:
    same = "2026-10-12T11:00"
    s = state(ev(same, "waiting_customer"), ev(same, "in_progress"), now="2026-10-12T12:00")
    assert not s.paused
    assert len(phase_timeline(POLICY, CREATED, [ev(same, "waiting_customer"), ev(same, "in_progress")], at(same))) == 1
    assert state(ev(same, "in_progress"), ev(same, "waiting_customer"), now="2026-10-12T12:00").paused


def test_parse_policy_accepts_a_valid_policy() -> None:
    assert parse_policy({}) == SlaPolicy()
    policy = parse_policy({"first_response_min": 30, "resolution_min": 480, "pausing_statuses": ["waiting_store"]})
    assert policy.pausing_statuses == frozenset({"waiting_store"})
    assert parse_policy(policy) is policy


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({"first_response_min": 0}, "first_response_min", id="zero"),
        pytest.param({"first_response_min": -30}, "first_response_min", id="negative"),
        pytest.param({"resolution_min": 0}, "resolution_min", id="zero-resolution"),
        pytest.param({"resolution_min": MAX_TARGET_MIN + 1}, "resolution_min", id="too-long"),
        pytest.param({"resolution_min": "480"}, "resolution_min", id="text"),
        pytest.param({"first_response_min": True}, "first_response_min", id="bool"),
        pytest.param({"pausing_statuses": ["waiting_forever"]}, "pausing_statuses", id="unknown-status"),
        pytest.param({"pausing_statuses": ["resolved"]}, "pausing_statuses", id="stopping-status"),
        pytest.param({"pausing_statuses": "waiting_store"}, "pausing_statuses", id="not-a-list"),
        pytest.param({"pausing_statuses": [1]}, "pausing_statuses[0]", id="status-not-text"),
        pytest.param({"resolution_hours": 8}, "resolution_hours", id="unknown-field"),
        pytest.param([480], "policy", id="not-an-object"),
    ],
)
def test_parse_policy_refuses_a_bad_value_naming_its_field(data: object, field: str) -> None:
    with pytest.raises(InvalidPolicy) as raised:
        parse_policy(data)
    assert raised.value.field == field
    assert raised.value.reason
    assert isinstance(raised.value, ValueError)
