"""A department's business calendar, and time counted in its open hours.

SLA targets ("answer within 4 business hours") count only the time a department is open. A
:class:`Calendar` says when that is, in the department's local time:

* ``weekly``: open intervals per weekday (``"mon"`` .. ``"sun"``), ``["HH:MM", "HH:MM"]``, the
  end exclusive and allowed to be ``"24:00"``; a day may have several (a lunch break);
* ``holidays``: dates closed all day;
* ``workdays``: make-up working days (China's 调休), worked with the hours of the weekday named by
  ``workday_hours`` whatever their own weekday;
* ``always_open``: 24/7, every other field then only validated.

Every instant is an int of milliseconds since the Unix epoch (UTC); no function reads a clock.
Each local day's intervals are converted to UTC with :mod:`zoneinfo`, so a day has 23 or 25
hours across a DST change. A local time skipped by a spring-forward gap is read as the same
wall-clock reading before the jump (``02:30`` becomes ``03:30`` summer time), and an ambiguous
one at fall-back as its first occurrence; intervals that then overlap are united.

:func:`parse_calendar` checks a calendar from JSON and raises :class:`InvalidCalendar` naming
the field at fault. The other functions take a :class:`Calendar` as it is (checking it again,
once per distinct calendar) and work day by day, never minute by minute.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec

#: Weekday keys of :attr:`Calendar.weekly`, Monday first (as :meth:`date.weekday` counts).
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: :func:`add_business_ms` gives up after this many days in a row without open time.
MAX_CLOSED_DAYS = 366

_MINUTES_PER_DAY = 24 * 60
_MAX_CONVERTED_DAYS = 4096
_QUARTER_MS = 15 * 60 * 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_ONE_DAY = timedelta(days=1)
_CLOCK_TIME = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d|24:00")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: Where msgspec says the fault is: `` - at `$.weekly` `` (or `` - at `key` in `$.weekly` ``).
_ERROR_AT = re.compile(r" - at `(?:key` in `)?\$(?P<path>[^`]*)`$")
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(?P<name>[^`]*)`")

#: Open intervals of one day, in minutes since local midnight: ``((540, 1080),)`` is 09:00-18:00.
DayMinutes = tuple[tuple[int, int], ...]


class Calendar(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """When a department is open; see the module docstring. Check one with :func:`parse_calendar`."""

    #: IANA time zone the hours and dates are in.
    tz: str = "Asia/Shanghai"
    #: Weekday key -> open intervals ``("HH:MM", "HH:MM")`` in local time, end exclusive.
    weekly: dict[str, list[tuple[str, str]]] = {}
    #: ISO dates (``YYYY-MM-DD``) closed all day.
    holidays: list[str] = []
    #: ISO dates worked although their weekday is closed (make-up working days).
    workdays: list[str] = []
    #: The weekday whose hours the make-up working days are worked with.
    workday_hours: str = "mon"
    #: Open 24/7; the other fields are then only validated.
    always_open: bool = False


class InvalidCalendar(ValueError):
    """A calendar breaks a rule. ``field`` names the value at fault (``"weekly.sat[1]"``,
    ``"holidays[0]"``, ``"tz"``); ``reason`` says what is wrong with it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def parse_calendar(data: object) -> Calendar:
    """A checked :class:`Calendar` from JSON-like data (or a :class:`Calendar`).

    Raises :class:`InvalidCalendar` for a wrong type or an unknown field, an unknown time zone,
    a weekday key other than ``mon`` .. ``sun``, a time that is not ``HH:MM``, an interval that
    does not end after it starts, overlapping intervals in one day, a date that is not
    ``YYYY-MM-DD``, a date both a holiday and a workday, and a calendar with no open hours in
    its week that is not ``always_open``.
    """
    if isinstance(data, Calendar):
        calendar = data
    else:
        try:
            calendar = msgspec.convert(data, Calendar)
        except msgspec.ValidationError as exc:
            raise _invalid_structure(data, exc) from None
    _compile(calendar)
    return calendar


def open_intervals(cal: Calendar, start_ms: int, end_ms: int) -> Iterator[tuple[int, int]]:
    """The calendar's open intervals clipped to ``[start_ms, end_ms)``, as ``(start, end)`` UTC ms.

    In order, none empty, and adjacent ones merged: Monday 22:00-24:00 followed by Tuesday
    00:00-06:00 is one interval.
    """
    if end_ms <= start_ms:
        return
    hours = _hours(cal)
    if hours.always_open:
        yield start_ms, end_ms
        return
    yield from _merge_adjacent(_open_time(hours, start_ms, end_ms))


def business_ms_between(cal: Calendar, start_ms: int, end_ms: int) -> int:
    """Open time in ``[start_ms, end_ms)``, in ms; 0 when ``end_ms <= start_ms``."""
    if end_ms <= start_ms:
        return 0
    hours = _hours(cal)
    if hours.always_open:
        return end_ms - start_ms
    # The pieces never overlap (each starts where the last ended or later): no need to merge them.
    return sum(end - start for start, end in _open_time(hours, start_ms, end_ms))


def add_business_ms(cal: Calendar, start_ms: int, duration_ms: int) -> int:
    """The earliest instant ``t >= start_ms`` with ``business_ms_between(cal, start_ms, t) == duration_ms``.

    A duration of 0 gives ``start_ms`` itself, even when closed; otherwise the result is never
    after hours: a target running out at closing time is due at closing time, not at the next
    opening. Raises :class:`InvalidCalendar` (field ``weekly``) when the calendar stays closed for
    :data:`MAX_CLOSED_DAYS` days in a row, and :class:`ValueError` for a negative duration.
    """
    if duration_ms < 0:
        raise ValueError(f"duration_ms must not be negative, got {duration_ms}")
    if duration_ms == 0:
        return start_ms
    hours = _hours(cal)
    if hours.always_open:
        return start_ms + duration_ms
    remaining = duration_ms
    for start, end in _open_time(hours, start_ms, None):
        if end - start >= remaining:
            return start + remaining
        remaining -= end - start
    raise AssertionError("unreachable: _open_time without an end runs until it finds the time")


def describe_validation_error(exc: msgspec.ValidationError) -> tuple[str, str]:
    """``(field, reason)`` of a msgspec validation error: the path of the value at fault without
    the leading ``$.`` (``"holidays[0]"``; msgspec writes a dict key as ``[...]``), or the name of
    an unknown field; ``""`` when the whole value is at fault."""
    message = str(exc)
    unknown = _UNKNOWN_FIELD.fullmatch(message)
    if unknown:
        return unknown["name"], "unknown field"
    at = _ERROR_AT.search(message)
    if at is None:
        return "", message
    return at["path"].removeprefix("."), message[: at.start()]


@dataclass(frozen=True)
class _Hours:
    """A checked calendar in the form the arithmetic uses."""

    zone: ZoneInfo
    weekly: tuple[DayMinutes, ...]
    holidays: frozenset[date]
    workdays: frozenset[date]
    workday_minutes: DayMinutes
    always_open: bool
    #: :meth:`day_intervals` already worked out, by local date (a sweep asks for the same days).
    converted_days: dict[date, tuple[tuple[int, int], ...]] = field(default_factory=dict, compare=False, repr=False)
    #: Local midnights already worked out (UTC ms), and local dates by quarter hour of UTC time.
    midnights: dict[date, int] = field(default_factory=dict, compare=False, repr=False)
    quarter_dates: dict[int, date] = field(default_factory=dict, compare=False, repr=False)

    def minutes_on(self, day: date) -> DayMinutes:
        """The open intervals of a local date: a holiday is closed, a make-up workday has the
        ``workday_hours`` hours, any other day those of its weekday."""
        if day in self.holidays:
            return ()
        if day in self.workdays:
            return self.workday_minutes
        return self.weekly[day.weekday()]

    def utc_ms(self, day: date, minute: int) -> int:
        """The instant of a local date and minute of that day (``1440`` is the next midnight)."""
        if minute >= _MINUTES_PER_DAY:
            day, minute = day + _ONE_DAY, minute - _MINUTES_PER_DAY
        local = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=self.zone)
        return (local - _EPOCH) // _ONE_MS

    def midnight(self, day: date) -> int:
        """:meth:`utc_ms` of a local date's start, remembered."""
        found = self.midnights.get(day)
        if found is None:
            if len(self.midnights) >= _MAX_CONVERTED_DAYS:
                self.midnights.clear()
            found = self.midnights[day] = self.utc_ms(day, 0)
        return found

    def local_date(self, instant_ms: int) -> date:
        """The local date at an instant.

        Remembered per quarter hour of UTC time when the quarter's first and last millisecond
        fall on the same local date (every offset in use is a whole number of quarter hours, so
        a date changes only on a quarter's edge; a quarter where that does not hold is never
        remembered and is worked out each time).
        """
        quarter = instant_ms // _QUARTER_MS
        found = self.quarter_dates.get(quarter)
        if found is not None:
            return found
        first = self._date_at(quarter * _QUARTER_MS)
        if first == self._date_at(quarter * _QUARTER_MS + _QUARTER_MS - 1):
            if len(self.quarter_dates) >= _MAX_CONVERTED_DAYS:
                self.quarter_dates.clear()
            self.quarter_dates[quarter] = first
            return first
        return self._date_at(instant_ms)

    def _date_at(self, instant_ms: int) -> date:
        return (_EPOCH + timedelta(milliseconds=instant_ms)).astimezone(self.zone).date()

    def day_intervals(self, day: date) -> tuple[tuple[int, int], ...]:
        """A local date's open intervals as UTC ms, in order, overlaps (from a DST gap) united."""
        found = self.converted_days.get(day)
        if found is None:
            if len(self.converted_days) >= _MAX_CONVERTED_DAYS:
                self.converted_days.clear()
            found = self.converted_days[day] = tuple(self._convert_day(day))
        return found

    def _convert_day(self, day: date) -> list[tuple[int, int]]:
        converted = sorted((self.utc_ms(day, start), self.utc_ms(day, end)) for start, end in self.minutes_on(day))
        united: list[tuple[int, int]] = []
        for start, end in converted:
            if united and start <= united[-1][1]:
                united[-1] = (united[-1][0], max(united[-1][1], end))
            elif end > start:
                united.append((start, end))
        return united


def _open_time(hours: _Hours, start_ms: int, end_ms: int | None) -> Iterator[tuple[int, int]]:
    """Open intervals from ``start_ms`` on, clipped to ``end_ms`` when given, in order, not merged.

    Without an end it runs until the caller stops, and raises :class:`InvalidCalendar` after
    :data:`MAX_CLOSED_DAYS` closed days in a row.
    """
    # Start a day early: a local day's intervals never reach before its own midnight, but the
    # day of an instant is only known after converting it, and this costs one empty day at most.
    day = hours.local_date(start_ms) - _ONE_DAY
    last_open_day = day
    reached = start_ms
    while True:
        if end_ms is not None and hours.midnight(day) >= end_ms:
            return
        for opens, closes in hours.day_intervals(day):
            start = max(opens, reached)
            end = closes if end_ms is None else min(closes, end_ms)
            if end > start:
                yield start, end
                reached = end
                last_open_day = day
        if end_ms is None and (day - last_open_day).days >= MAX_CLOSED_DAYS:
            raise InvalidCalendar("weekly", f"no open time in the {MAX_CLOSED_DAYS} days after {last_open_day}")
        day += _ONE_DAY


def _merge_adjacent(intervals: Iterable[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """Ordered intervals with those that touch joined into one."""
    pending: tuple[int, int] | None = None
    for start, end in intervals:
        if pending is not None and start <= pending[1]:
            pending = (pending[0], max(pending[1], end))
            continue
        if pending is not None:
            yield pending
        pending = (start, end)
    if pending is not None:
        yield pending


def _hours(cal: Calendar) -> _Hours:
    """The checked form of a calendar, worked out once per distinct calendar."""
    return _compile_encoded(msgspec.json.encode(cal))


@functools.lru_cache(maxsize=256)
def _compile_encoded(encoded: bytes) -> _Hours:
    return _compile(msgspec.json.decode(encoded, type=Calendar))


def _compile(cal: Calendar) -> _Hours:
    """Check every rule of a calendar (the one place they live) and convert it."""
    zone = _zone(cal.tz)
    weekly = _weekly(cal.weekly)
    holidays = _dates("holidays", cal.holidays)
    workdays = _dates("workdays", cal.workdays)
    for index, text in enumerate(cal.workdays):
        if workdays[index] in holidays:
            raise InvalidCalendar(f"workdays[{index}]", f"{text} is also listed as a holiday")
    if cal.workday_hours not in WEEKDAYS:
        raise InvalidCalendar("workday_hours", f"must be one of {', '.join(WEEKDAYS)}, got {cal.workday_hours!r}")
    workday_minutes = weekly[WEEKDAYS.index(cal.workday_hours)]
    if not cal.always_open:
        if not any(weekly):
            raise InvalidCalendar("weekly", "no open hours in the week and not always_open")
        if workdays and not workday_minutes:
            raise InvalidCalendar("workday_hours", f"{cal.workday_hours} has no hours for the make-up workdays")
    return _Hours(
        zone=zone,
        weekly=weekly,
        holidays=frozenset(holidays),
        workdays=frozenset(workdays),
        workday_minutes=workday_minutes,
        always_open=cal.always_open,
    )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        raise InvalidCalendar("tz", f"unknown time zone {name!r}") from None


def _weekly(weekly: Mapping[str, Sequence[tuple[str, str]]]) -> tuple[DayMinutes, ...]:
    for key in weekly:
        if key not in WEEKDAYS:
            raise InvalidCalendar(f"weekly.{key}", f"unknown weekday; use one of {', '.join(WEEKDAYS)}")
    return tuple(_day_minutes(f"weekly.{key}", weekly.get(key, ())) for key in WEEKDAYS)


def _day_minutes(field: str, intervals: Sequence[tuple[str, str]]) -> DayMinutes:
    """One day's intervals in minutes, sorted; refuses bad times, empty and overlapping intervals."""
    parsed: list[tuple[int, int, int]] = []
    for index, (start_text, end_text) in enumerate(intervals):
        start = _minute_of_day(f"{field}[{index}]", start_text)
        end = _minute_of_day(f"{field}[{index}]", end_text)
        if end <= start:
            raise InvalidCalendar(f"{field}[{index}]", f"{end_text} is not after {start_text}")
        parsed.append((start, end, index))
    parsed.sort()
    for (_, previous_end, previous), (start, _, index) in itertools.pairwise(parsed):
        if start < previous_end:
            raise InvalidCalendar(f"{field}[{index}]", f"overlaps {field}[{previous}]")
    return tuple((start, end) for start, end, _ in parsed)


def _minute_of_day(field: str, text: str) -> int:
    if not _CLOCK_TIME.fullmatch(text):
        raise InvalidCalendar(field, f"{text!r} is not a time HH:MM (00:00 to 24:00)")
    hour, minute = text.split(":")
    return int(hour) * 60 + int(minute)


def _dates(field: str, texts: Sequence[str]) -> list[date]:
    found: list[date] = []
    for index, text in enumerate(texts):
        try:
            if not _ISO_DATE.fullmatch(text):
                raise ValueError(text)
            found.append(date.fromisoformat(text))
        except ValueError:
            raise InvalidCalendar(f"{field}[{index}]", f"{text!r} is not a date YYYY-MM-DD") from None
    return found


def _invalid_structure(data: object, exc: msgspec.ValidationError) -> InvalidCalendar:
    """An :class:`InvalidCalendar` for a msgspec type error, naming the field it found it at."""
    field, reason = describe_validation_error(exc)
    if field.startswith("weekly[...]"):
        # msgspec does not name dict keys; find the weekday whose value is at fault.
        field = _weekly_field(data) or field
    return InvalidCalendar(field or "calendar", reason)


def _weekly_field(data: object) -> str | None:
    weekly = data.get("weekly") if isinstance(data, Mapping) else None
    if not isinstance(weekly, Mapping):
        return None
    for key, intervals in weekly.items():
        try:
            msgspec.convert(intervals, list[tuple[str, str]])
        except msgspec.ValidationError as exc:
            return f"weekly.{key}{describe_validation_error(exc)[0]}"
    return None
