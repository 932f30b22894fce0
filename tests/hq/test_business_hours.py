"""Business calendars and time counted in open hours (hq_server.business_hours)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hq_server.business_hours import (
    MAX_CLOSED_DAYS,
    Calendar,
    InvalidCalendar,
    add_business_ms,
    business_ms_between,
    open_intervals,
    parse_calendar,
)

SHANGHAI = "Asia/Shanghai"
BERLIN = "Europe/Berlin"
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WORKWEEK = ("mon", "tue", "wed", "thu", "fri")


def at(text: str, tz: str = SHANGHAI) -> int:
    """Ms since the epoch of a local time ``YYYY-MM-DDTHH:MM`` in ``tz``."""
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def local(ms: int, tz: str = SHANGHAI) -> str:
    """The local time of an instant, ``YYYY-MM-DDTHH:MM`` (the inverse of :func:`at`)."""
    return datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M")


def office(
    *intervals: tuple[str, str], tz: str = SHANGHAI, days: tuple[str, ...] = WORKWEEK, **extra: object
) -> Calendar:
    """A calendar open ``intervals`` (default 09:00-18:00) on ``days``."""
    hours = [list(i) for i in intervals or (("09:00", "18:00"),)]
    return parse_calendar({"tz": tz, "weekly": dict.fromkeys(days, hours), **extra})


# 2026-10-02 is a Friday, 2026-10-05 a Monday, 2026-10-10 a Saturday.
NINE_TO_SIX = office()
WITH_HOLIDAY = office(holidays=["2026-10-05"])
LUNCH_BREAK = office(("09:00", "12:00"), ("13:00", "18:00"))
ALWAYS_OPEN = parse_calendar({"always_open": True})


def test_four_business_hours_from_friday_16_00_land_monday_11_00() -> None:
    due = add_business_ms(NINE_TO_SIX, at("2026-10-02T16:00"), 4 * HOUR)
    assert local(due) == "2026-10-05T11:00"


def test_a_weekend_and_a_monday_holiday_push_the_target_to_tuesday() -> None:
    due = add_business_ms(WITH_HOLIDAY, at("2026-10-02T16:00"), 4 * HOUR)
    assert local(due) == "2026-10-06T11:00"


def test_a_make_up_workday_on_saturday_is_worked_with_mondays_hours() -> None:
    cal = parse_calendar(
        {
            "weekly": {"mon": [["10:00", "16:00"]], **{d: [["09:00", "18:00"]] for d in WORKWEEK[1:]}},
            "workdays": ["2026-10-10"],
        }
    )
    saturday = list(open_intervals(cal, at("2026-10-10T00:00"), at("2026-10-11T00:00")))
    assert [(local(s), local(e)) for s, e in saturday] == [("2026-10-10T10:00", "2026-10-10T16:00")]
    assert local(add_business_ms(cal, at("2026-10-09T16:00"), 4 * HOUR)) == "2026-10-10T12:00"
    assert business_ms_between(cal, at("2026-10-11T00:00"), at("2026-10-12T00:00")) == 0  # Sunday stays closed


def test_make_up_workdays_take_the_hours_of_the_weekday_named_by_workday_hours() -> None:
    cal = parse_calendar(
        {"weekly": {"mon": [["10:00", "16:00"]], "fri": [["09:00", "12:00"]]}, "workdays": ["2026-10-10"]}
        | {"workday_hours": "fri"}
    )
    assert business_ms_between(cal, at("2026-10-10T00:00"), at("2026-10-11T00:00")) == 3 * HOUR


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        pytest.param("2026-10-06T07:00", "2026-10-06T10:00", id="before-opening"),
        pytest.param("2026-10-06T23:00", "2026-10-07T10:00", id="at-night"),
        pytest.param("2026-10-06T18:00", "2026-10-07T10:00", id="at-closing-time"),
        pytest.param("2026-10-05T10:00", "2026-10-06T10:00", id="on-a-holiday"),
        pytest.param("2026-10-03T12:00", "2026-10-06T10:00", id="on-a-weekend-before-a-holiday"),
    ],
)
def test_a_start_outside_hours_counts_from_the_next_opening(start: str, expected: str) -> None:
    assert local(add_business_ms(WITH_HOLIDAY, at(start), HOUR)) == expected
    assert business_ms_between(WITH_HOLIDAY, at(start), at(expected)) == HOUR


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        pytest.param("2026-10-06T11:00", 2 * HOUR, "2026-10-06T14:00", id="across-lunch"),
        pytest.param("2026-10-06T12:30", 30 * MINUTE, "2026-10-06T13:30", id="start-in-lunch"),
        pytest.param("2026-10-06T11:00", HOUR, "2026-10-06T12:00", id="due-at-lunch-not-after-it"),
        pytest.param("2026-10-06T09:00", 8 * HOUR, "2026-10-06T18:00", id="whole-day"),
        pytest.param("2026-10-06T17:00", 4 * HOUR, "2026-10-07T12:00", id="next-morning"),
    ],
)
def test_a_day_split_by_a_lunch_break_skips_the_break(start: str, duration: int, expected: str) -> None:
    assert local(add_business_ms(LUNCH_BREAK, at(start), duration)) == expected


def test_a_day_split_by_a_lunch_break_has_two_intervals() -> None:
    day = list(open_intervals(LUNCH_BREAK, at("2026-10-06T00:00"), at("2026-10-07T00:00")))
    assert [(local(s), local(e)) for s, e in day] == [
        ("2026-10-06T09:00", "2026-10-06T12:00"),
        ("2026-10-06T13:00", "2026-10-06T18:00"),
    ]


@pytest.mark.parametrize("start", [at("2026-10-03T03:17"), at("2026-03-29T01:00", BERLIN), 0])
@pytest.mark.parametrize("duration", [0, 1, 45 * MINUTE, 4 * HOUR, 3 * DAY + 7])
def test_always_open_is_wall_clock_arithmetic(start: int, duration: int) -> None:
    assert add_business_ms(ALWAYS_OPEN, start, duration) == start + duration
    assert business_ms_between(ALWAYS_OPEN, start, start + duration) == duration
    assert list(open_intervals(ALWAYS_OPEN, start, start + duration)) == (
        [(start, start + duration)] if duration else []
    )


@pytest.mark.parametrize(
    ("cal", "week", "weekly_hours"),
    [
        pytest.param(NINE_TO_SIX, "2026-10-12", 5 * 9 * HOUR, id="nine-to-six"),
        pytest.param(LUNCH_BREAK, "2026-10-12", 5 * 8 * HOUR, id="lunch-break"),
        pytest.param(
            office(("20:00", "24:00"), ("00:00", "02:00"), days=("sat", "sun")), "2026-10-12", 2 * 6 * HOUR, id="nights"
        ),
        pytest.param(office(tz=BERLIN), "2026-03-26", 5 * 9 * HOUR, id="berlin-across-spring-forward"),
    ],
)
def test_business_time_over_any_week_equals_the_weekly_open_hours(cal: Calendar, week: str, weekly_hours: int) -> None:
    zone = ZoneInfo(cal.tz)
    first = at(f"{week}T00:00", cal.tz)
    for start in range(first, first + 7 * DAY, 97 * MINUTE):
        # A week later by the local calendar (168 hours give or take the DST hour).
        end = (datetime.fromtimestamp(start / 1000, zone) + timedelta(days=7)).timestamp() * 1000
        assert business_ms_between(cal, start, int(end)) == weekly_hours


#: Starts every 7 h 13 min over four weeks around a holiday (Shanghai) and DST changes (Berlin).
SPREAD_STARTS = [
    *range(at("2026-10-01T00:00"), at("2026-10-29T00:00"), 7 * HOUR + 13 * MINUTE),
    *range(at("2026-03-23T00:00"), at("2026-04-02T00:00"), 7 * HOUR + 13 * MINUTE),
]


@pytest.mark.parametrize(
    "cal",
    [
        pytest.param(WITH_HOLIDAY, id="holiday"),
        pytest.param(LUNCH_BREAK, id="lunch-break"),
        pytest.param(office(tz=BERLIN), id="berlin"),
        pytest.param(
            office(("00:00", "03:00"), ("22:00", "24:00"), tz=BERLIN, days=("sat", "sun")), id="berlin-nights"
        ),
    ],
)
def test_business_ms_between_is_the_inverse_of_add_business_ms(cal: Calendar) -> None:
    for start in SPREAD_STARTS:
        for duration in (0, 1, 30 * MINUTE, 4 * HOUR, 9 * HOUR, 40 * HOUR):
            due = add_business_ms(cal, start, duration)
            assert due >= start
            assert business_ms_between(cal, start, due) == duration
            if duration:
                assert business_ms_between(cal, start, due - 1) == duration - 1  # the earliest such instant


def test_business_ms_between_is_zero_when_the_end_is_not_after_the_start() -> None:
    start = at("2026-10-06T10:00")
    assert business_ms_between(NINE_TO_SIX, start, start) == 0
    assert business_ms_between(NINE_TO_SIX, start, start - HOUR) == 0
    assert list(open_intervals(NINE_TO_SIX, start, start - HOUR)) == []


def test_a_zero_duration_is_due_at_the_start_even_when_closed() -> None:
    assert add_business_ms(NINE_TO_SIX, at("2026-10-03T12:00"), 0) == at("2026-10-03T12:00")


def test_a_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_ms(NINE_TO_SIX, at("2026-10-06T10:00"), -1)


def test_open_intervals_are_clipped_to_the_range_and_in_order() -> None:
    intervals = list(open_intervals(NINE_TO_SIX, at("2026-10-06T10:30"), at("2026-10-08T12:00")))
    assert [(local(s), local(e)) for s, e in intervals] == [
        ("2026-10-06T10:30", "2026-10-06T18:00"),
        ("2026-10-07T09:00", "2026-10-07T18:00"),
        ("2026-10-08T09:00", "2026-10-08T12:00"),
    ]


def test_open_intervals_that_touch_across_midnight_are_one_interval() -> None:
    cal = office(("00:00", "06:00"), ("22:00", "24:00"), days=("mon", "tue"))
    intervals = list(open_intervals(cal, at("2026-10-05T00:00"), at("2026-10-08T00:00")))
    assert [(local(s), local(e)) for s, e in intervals] == [
        ("2026-10-05T00:00", "2026-10-05T06:00"),
        ("2026-10-05T22:00", "2026-10-06T06:00"),
        ("2026-10-06T22:00", "2026-10-07T00:00"),
    ]


def test_intervals_that_touch_within_a_day_are_one_interval() -> None:
    cal = office(("09:00", "12:00"), ("12:00", "18:00"))
    intervals = list(open_intervals(cal, at("2026-10-06T00:00"), at("2026-10-07T00:00")))
    assert intervals == [(at("2026-10-06T09:00"), at("2026-10-06T18:00"))]


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        pytest.param("2026-03-29", 23, id="spring-forward"),
        pytest.param("2026-10-25", 25, id="fall-back"),
        pytest.param("2026-03-22", 24, id="ordinary-sunday"),
    ],
)
def test_a_24_hour_sunday_in_berlin_is_open_as_long_as_the_day_lasts(day: str, hours: int) -> None:
    cal = office(("00:00", "24:00"), tz=BERLIN, days=("sun",))
    start = at(f"{day}T00:00", BERLIN)
    end = start + 2 * DAY
    assert business_ms_between(cal, start, end) == hours * HOUR
    assert len(list(open_intervals(cal, start, end))) == 1


def test_a_target_across_a_dst_change_lands_on_the_same_local_time() -> None:
    cal = office(tz=BERLIN)
    # Friday before the spring change to Monday after it: two wall-clock hours fewer, same local hour.
    assert local(add_business_ms(cal, at("2026-03-27T16:00", BERLIN), 4 * HOUR), BERLIN) == "2026-03-30T11:00"
    assert local(add_business_ms(cal, at("2026-10-23T16:00", BERLIN), 4 * HOUR), BERLIN) == "2026-10-26T11:00"


def test_hours_in_the_spring_forward_gap_count_from_the_jump() -> None:
    # 02:00-03:00 does not exist on 2026-03-29 in Berlin: 02:00-04:00 is open 03:00-04:00, one hour.
    cal = office(("02:00", "04:00"), tz=BERLIN, days=("sun",))
    intervals = list(open_intervals(cal, at("2026-03-29T00:00", BERLIN), at("2026-03-30T00:00", BERLIN)))
    assert [(local(s, BERLIN), local(e, BERLIN)) for s, e in intervals] == [("2026-03-29T03:00", "2026-03-29T04:00")]


def test_a_calendar_closed_for_a_whole_year_stops_add_business_ms() -> None:
    mondays = [date(2026, 10, 5) + timedelta(weeks=i) for i in range(60)]
    cal = office(days=("mon",), holidays=[d.isoformat() for d in mondays])
    with pytest.raises(InvalidCalendar) as raised:
        add_business_ms(cal, at("2026-10-05T08:00"), HOUR)
    assert raised.value.field == "weekly"
    assert str(MAX_CLOSED_DAYS) in raised.value.reason
    assert business_ms_between(cal, at("2026-10-05T08:00"), at("2027-11-23T00:00")) == 0  # a range just ends


def test_parse_calendar_accepts_a_valid_calendar_and_keeps_it_as_given() -> None:
    data = {
        "tz": BERLIN,
        "weekly": {"mon": [["13:00", "24:00"], ["08:00", "12:00"]], "sat": [["10:00", "14:00"]]},
        "holidays": ["2026-12-25"],
        "workdays": ["2026-12-27"],
        "workday_hours": "sat",
    }
    cal = parse_calendar(data)
    assert cal.weekly["mon"] == [("13:00", "24:00"), ("08:00", "12:00")]
    assert parse_calendar(cal) is cal
    assert parse_calendar({"always_open": True}) == Calendar(always_open=True)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({"tz": "Mars/Olympus_Mons"}, "tz", id="unknown-tz"),
        pytest.param({"tz": "../etc/passwd"}, "tz", id="path-as-tz"),
        pytest.param({"tz": "Asia"}, "tz", id="tz-directory"),
        pytest.param({"weekly": {"mon": [["9:00", "18:00"]]}}, "weekly.mon[0]", id="time-without-leading-zero"),
        pytest.param({"weekly": {"mon": [["09:00", "24:30"]]}}, "weekly.mon[0]", id="time-past-24"),
        pytest.param({"weekly": {"mon": [["09:60", "18:00"]]}}, "weekly.mon[0]", id="minute-60"),
        pytest.param({"weekly": {"tue": [["18:00", "09:00"]]}}, "weekly.tue[0]", id="end-before-start"),
        pytest.param({"weekly": {"tue": [["09:00", "09:00"]]}}, "weekly.tue[0]", id="empty-interval"),
        pytest.param(
            {"weekly": {"mon": [["09:00", "18:00"]], "sat": [["09:00", "12:00"], ["11:00", "18:00"]]}},
            "weekly.sat[1]",
            id="overlap",
        ),
        pytest.param({"weekly": {"monday": [["09:00", "18:00"]]}}, "weekly.monday", id="unknown-weekday"),
        pytest.param({"weekly": {"mon": [["09:00"]]}}, "weekly.mon[0]", id="interval-of-one-time"),
        pytest.param({"weekly": {"mon": [["09:00", 18]]}}, "weekly.mon[0][1]", id="time-not-text"),
        pytest.param({"weekly": {"mon": "09:00-18:00"}}, "weekly.mon", id="day-not-a-list"),
        pytest.param({"weekly": {}}, "weekly", id="no-open-time"),
        pytest.param({"weekly": {"mon": []}}, "weekly", id="no-open-time-with-empty-day"),
        pytest.param(
            {"weekly": {"mon": [["09:00", "18:00"]]}, "holidays": ["2026-13-01"]}, "holidays[0]", id="bad-month"
        ),
        pytest.param(
            {"weekly": {"mon": [["09:00", "18:00"]]}, "holidays": ["2026-10-01", "2026/10/05"]},
            "holidays[1]",
            id="slashes",
        ),
        pytest.param(
            {"weekly": {"mon": [["09:00", "18:00"]]}, "holidays": ["20261005"]}, "holidays[0]", id="basic-iso"
        ),
        pytest.param(
            {"weekly": {"mon": [["09:00", "18:00"]]}, "holidays": "2026-10-05"}, "holidays", id="holidays-not-a-list"
        ),
        pytest.param({"weekly": {"mon": [["09:00", "18:00"]]}, "workdays": ["soon"]}, "workdays[0]", id="bad-workday"),
        pytest.param(
            {"weekly": {"mon": [["09:00", "18:00"]]}, "holidays": ["2026-10-10"], "workdays": ["2026-10-10"]},
            "workdays[0]",
            id="holiday-and-workday",
        ),
        pytest.param(
            {"weekly": {"mon": [["09:00", "18:00"]]}, "workday_hours": "monday"},
            "workday_hours",
            id="bad-workday-hours",
        ),
        pytest.param(
            {"weekly": {"mon": [["09:00", "18:00"]]}, "workdays": ["2026-10-10"], "workday_hours": "sat"},
            "workday_hours",
            id="workday-hours-closed",
        ),
        pytest.param(
            {"weekly": {"mon": [["09:00", "18:00"]]}, "always_open": "yes"}, "always_open", id="always-open-not-bool"
        ),
        pytest.param({"weekly": {"mon": [["09:00", "18:00"]]}, "timezone": "UTC"}, "timezone", id="unknown-field"),
        pytest.param([["09:00", "18:00"]], "calendar", id="not-an-object"),
    ],
)
def test_parse_calendar_refuses_a_bad_value_naming_its_field(data: object, field: str) -> None:
    with pytest.raises(InvalidCalendar) as raised:
        parse_calendar(data)
    assert raised.value.field == field
    assert raised.value.reason
    assert str(raised.value).startswith(f"{field}: ")
    assert isinstance(raised.value, ValueError)


def test_functions_check_a_calendar_built_without_parse_calendar() -> None:
    with pytest.raises(InvalidCalendar) as raised:
        business_ms_between(Calendar(tz="Nowhere/Land", always_open=True), 0, HOUR)
    assert raised.value.field == "tz"


@pytest.mark.parametrize("tz", [BERLIN, "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe", SHANGHAI])
def test_remembered_local_dates_agree_with_the_zone_around_dst_changes(tz: str) -> None:
    """The per-quarter-hour memory of local dates gives what the zone gives, also on the days
    clocks change (Lord Howe moves by half an hour, Kathmandu is 5:45 ahead of UTC)."""
    from hq_server.business_hours import _hours

    hours = _hours(office(("09:00", "18:00"), tz=tz))
    zone = ZoneInfo(tz)
    for start in (
        at("2026-03-07T20:00", tz),
        at("2026-03-28T20:00", tz),
        at("2026-10-03T20:00", tz),
        at("2026-10-24T20:00", tz),
        at("2026-11-01T00:00", tz),
    ):
        for step in range(0, 3 * DAY, 7 * MINUTE + 13_000):
            instant = start + step
            expected = datetime.fromtimestamp(instant / 1000, zone).date()
            assert hours.local_date(instant) == expected, (tz, instant)
            assert hours.local_date(instant) == expected  # and again, from memory
