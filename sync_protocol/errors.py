"""Errors raised by the pure protocol code.

ProtocolError                 base; carries a stable ``code``
├── InvalidField              a value breaks a rule; names the ``field``
├── UnknownOpKind             an op kind this side does not know (``upgrade_required``)
└── ClockDriftError           a remote HLC is further ahead of our wall clock than allowed
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class. ``code`` is stable and machine-readable; ``message`` is for people."""

    code = "protocol_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidField(ProtocolError):
    """A field value breaks a rule (required, too long, unknown status, bad transition...)."""

    code = "invalid_field"

    def __init__(self, field: str, message: str, *, code: str | None = None, **params: object) -> None:
        super().__init__(message, code=code)
        self.field = field
        #: Values for the people-facing text of ``code``.
        self.params = params


class UnknownOpKind(ProtocolError):
    """The op kind is not one this side knows: the sender is newer than the receiver."""

    code = "upgrade_required"

    def __init__(self, kind: str) -> None:
        super().__init__(f"unknown op kind {kind!r}")
        self.kind = kind


class ClockDriftError(ProtocolError):
    """A remote timestamp is too far ahead of the local wall clock."""

    code = "clock_drift"

    def __init__(self, remote_wall_ms: int, local_wall_ms: int, max_drift_ms: int) -> None:
        ahead = remote_wall_ms - local_wall_ms
        super().__init__(f"remote clock is {ahead} ms ahead (limit {max_drift_ms} ms)")
        self.ahead_ms = ahead
