"""Errors HQ raises, each with a stable machine ``code`` and the HTTP status it maps to.

    HqError                        base: ``code``, ``status``, ``field``, text parameters
    ├── Unauthorized         401   missing or unknown node token / admin token
    ├── Forbidden            403   an op for another store or node (``wrong_store``, ``wrong_node``)
    ├── NotFound             404   no such ticket, store, route
    ├── MethodNotAllowed     405   the route exists, the method does not
    ├── BadRequest           400   a body or parameter HQ cannot read (``malformed_body``, ...)
    ├── SeqGap               409   a push whose first new op is not ``high_water + 1``
    ├── PayloadTooLarge      413   too many ops or too many bytes in one push
    ├── InvalidInput         422   a readable request whose values break a rule; names the field
    ├── UnsupportedProtocol  426   a protocol version HQ does not serve
    ├── Unavailable          503   the database cannot be reached
    └── ConfigError          --    an operator error of the ``storedesk hq`` command (exit code 2)

The message is not stored on the error: :func:`hq_server.responses.error_response` renders it from
``code`` and ``params`` through :mod:`sync_protocol.texts` in the caller's language, so one code
always reads the same. Protocol errors from :mod:`sync_protocol` (``InvalidField``) become
:class:`InvalidInput` at the boundary with :func:`from_invalid_field`.
"""

from __future__ import annotations

from sync_protocol.errors import InvalidField
from sync_protocol.messages import SEQ_REUSED


class HqError(Exception):
    """Base class. ``code`` is stable; ``params`` fill the code's text in :mod:`sync_protocol.texts`."""

    status = 500
    code = "internal_error"

    def __init__(self, code: str | None = None, *, field: str | None = None, **params: object) -> None:
        if code is not None:
            self.code = code
        self.field = field
        self.params: dict[str, object] = params
        super().__init__(f"{self.code}" + (f" ({field})" if field else "") + (f": {params}" if params else ""))


class Unauthorized(HqError):
    """No bearer token, or one HQ does not know."""

    status = 401
    code = "unauthorized"


class Forbidden(HqError):
    """The caller is known but may not do this (an op for another store or node)."""

    status = 403
    code = "wrong_store"


class NotFound(HqError):
    """The thing named in the path does not exist."""

    status = 404
    code = "not_found"


class Conflict(HqError):
    """The request clashes with the thing's current state (already closed, already answered)."""

    status = 409
    code = "conflict"


class MethodNotAllowed(HqError):
    """The path exists but not with this method."""

    status = 405
    code = "method_not_allowed"


class BadRequest(HqError):
    """A body or parameter HQ cannot read at all."""

    status = 400
    code = "malformed_body"


class SeqGap(HqError):
    """The first new op of a push is not the node's ``high_water + 1``; nothing was applied."""

    status = 409
    code = "seq_gap"

    def __init__(self, expected_seq: int) -> None:
        super().__init__(expected_seq=expected_seq)
        self.expected_seq = expected_seq


class SeqReused(SeqGap):
    """A seq at or below the high-water mark comes with another op than the one HQ stored for it:
    the node's replica was restored from an older copy. Nothing was applied; the node numbers its
    pending ops again from ``expected_seq``."""

    code = SEQ_REUSED

    def __init__(self, seq: int, expected_seq: int) -> None:
        super().__init__(expected_seq)
        self.params["seq"] = seq


class PayloadTooLarge(HqError):
    """A push with more ops or bytes than the protocol allows."""

    status = 413
    code = "body_too_large"


class InvalidInput(HqError):
    """The request is readable but a value breaks a rule; ``field`` names it."""

    status = 422
    code = "invalid_field"


class UnsupportedProtocol(HqError):
    """The request names a protocol version HQ does not serve."""

    status = 426
    code = "unsupported_protocol"


class Unavailable(HqError):
    """The database cannot be reached; the caller should retry later."""

    status = 503
    code = "service_unavailable"


class ConfigError(HqError):
    """An operator error on the command line (bad database address, missing token...)."""

    status = 2
    code = "invalid_db_url"


def from_invalid_field(exc: InvalidField, **params: object) -> InvalidInput:
    """The HTTP error for a rule broken in :mod:`sync_protocol.tickets`."""
    return InvalidInput(exc.code, field=exc.field, **params)
