"""Errors of the store node.

StoreNodeError                base; ``code``, ``status`` (HTTP), optional ``field``, text ``params``
├── InvalidInput              the clerk's input breaks a rule (400)
│   └── InvalidLookup         a lookup key missing or malformed (422, as HQ's own lookups answer)
├── NotFound                  no such ticket or path (404)
├── MethodNotAllowed          a path that exists, with another method (405)
├── NotEnrolled               the node has never reached HQ, so it has no identity yet (503)
└── IdentityMismatch          the token belongs to another node than this replica's (409)

SyncError                     raised inside the sync client only
├── TransientSyncError        HQ unreachable, timeout, 5xx: back off and retry
└── PermanentSyncError        HQ refuses us for good (401/403/426): record and back off long
"""

from __future__ import annotations


class StoreNodeError(Exception):
    code = "store_error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None, **params: object) -> None:
        super().__init__(message)
        #: English detail for logs; people see the text of ``code`` in their language.
        self.message = message
        self.field = field
        self.params = params
        if code is not None:
            self.code = code


class InvalidInput(StoreNodeError):
    code = "invalid_input"
    status = 400


class InvalidLookup(InvalidInput):
    status = 422


class NotFound(StoreNodeError):
    code = "not_found"
    status = 404


class MethodNotAllowed(StoreNodeError):
    code = "method_not_allowed"
    status = 405


class NotEnrolled(StoreNodeError):
    code = "not_enrolled"
    status = 503


class IdentityMismatch(StoreNodeError):
    code = "identity_mismatch"
    status = 409


class SyncError(Exception):
    def __init__(self, message: str, *, code: str = "sync_error") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class TransientSyncError(SyncError):
    pass


class PermanentSyncError(SyncError):
    pass
