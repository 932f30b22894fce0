"""Turning msgspec's validation errors into :class:`~sync_protocol.errors.InvalidField` errors
that name the value at fault by its path in the document (``rules[2].then.department``); reading
the times staff send as ISO 8601 text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import msgspec

from sync_protocol.errors import InvalidField

#: The location msgspec appends to its messages: `` - at `$[2].then` `` (or `` `key` in `$...` ``).
_MSGSPEC_AT = re.compile(r" - at `(?:key` in `)?\$(?P<path>[^`]*)`$")
_MSGSPEC_NAMED = re.compile(r"Object (?P<what>contains unknown|missing required) field `(?P<name>.*)`")


def field_error(exc: msgspec.ValidationError, *, root: str) -> InvalidField:
    """msgspec's error as an :class:`InvalidField` whose field is the path, ``$`` read as ``root``:
    ``required`` for a missing field, ``unknown_field`` for an unknown one, else ``invalid_type``
    (with msgspec's message as ``detail``)."""
    detail = str(exc)
    field = root
    at = _MSGSPEC_AT.search(detail)
    if at is not None:
        field += at["path"]
        detail = detail[: at.start()]
    named = _MSGSPEC_NAMED.fullmatch(detail)
    if named is None:
        return InvalidField(field, f"{field}: {detail}", code="invalid_type", detail=detail)
    field = f"{field}.{named['name']}"
    if named["what"] == "missing required":
        return InvalidField(field, f"{field} is required", code="required")
    return InvalidField(field, f"unknown field {field}", code="unknown_field", name=named["name"])


def iso_ms(text: str, *, naive_as_utc: bool) -> int | None:
    """Ms since the epoch of an ISO 8601 time (``Z`` for UTC); None when it cannot be read, or
    when it has no offset and ``naive_as_utc`` is false (a time HQ will not guess the zone of)."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        if not naive_as_utc:
            return None
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
