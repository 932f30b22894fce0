"""Who is calling HQ's staff API and console: the admin token or a signed-in user; CSRF checks.

- ``Authorization: Bearer <admin token>``: :data:`~hq_server.principals.INTEGRATION_PRINCIPAL`.
  Any other ``Authorization`` header is refused (401 ``unauthorized``); a request that has one is
  never read as a cookie session.
- Else the session cookie :data:`SESSION_COOKIE` (HttpOnly, SameSite=Strict, Path=/, Secure when
  the request came over https): the signed-in user's Principal. No cookie: 401 ``not_signed_in``;
  an unknown or ended session, or a deactivated user: 401 ``session_expired`` (and the cookie is
  to be cleared). (The staff API answers a request with no credential at all 401
  ``unauthorized``, see :func:`staff_principal`.) A store role (store manager, clerk) is refused
  at HQ: 403 ``wrong_role``.
- CSRF: a cookie-authenticated POST, PUT, PATCH or DELETE must carry the session's CSRF token in
  the :data:`CSRF_HEADER` header or, for a form, the :data:`CSRF_FIELD` field (403
  ``csrf_failed``). Bearer calls are exempt: a browser never adds that header by itself.

:func:`staff_principal` does all of it and is what every staff handler calls. The caller is
worked out once per request and kept on ``request.state``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from hq_server import accounts, sessions
from hq_server.context import HqContext, context_of
from hq_server.errors import Forbidden, Unauthorized
from hq_server.principals import HQ_ROLES, INTEGRATION_PRINCIPAL, Principal
from hq_server.sessions import Session

SESSION_COOKIE = "sd_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_STATE_KEY = "storedesk_caller"


@dataclass(frozen=True)
class Caller:
    """The caller of one request: the Principal and, for a signed-in user, the session and user."""

    principal: Principal
    session: Session | None = None
    user: accounts.User | None = None


def now_ms(hq: HqContext) -> int:
    """HQ's wall time (the clock's, so tests can move it)."""
    return hq.clock.wall()


def session_token(request: Request) -> str:
    return request.cookies.get(SESSION_COOKIE, "")


def signed_in_user(hq: HqContext, token: str, now: int) -> tuple[Session, accounts.User] | None:
    """The live session of ``token`` and its active user, or None (blocking: run in a thread).

    The session of a deactivated user is deleted."""
    with hq.db.read() as conn:
        session = sessions.find(conn, token)
        user = accounts.get_user(conn, session.user_id) if session is not None else None
    if session is None:
        return None
    if user is None or not user.active:
        with hq.db.write_bookkeeping() as conn:
            sessions.delete(conn, session.id)
        return None
    live = sessions.refresh(hq.db, session, now)
    return (live, user) if live is not None else None


def resolve(hq: HqContext, request: Request) -> Caller:
    """The caller of ``request`` (blocking: run in a thread); see the module's rules."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and hq.is_admin(token.strip()):
            return Caller(INTEGRATION_PRINCIPAL)
        raise Unauthorized()
    token = session_token(request)
    if not token:
        raise Unauthorized("not_signed_in")
    found = signed_in_user(hq, token, now_ms(hq))
    if found is None:
        raise Unauthorized("session_expired")
    session, user = found
    if user.role not in HQ_ROLES:
        raise Forbidden("wrong_role")
    return Caller(accounts.principal_of_user(user), session, user)


async def caller_of(request: Request) -> Caller:
    """The caller of ``request``, worked out once."""
    cached = getattr(request.state, _STATE_KEY, None)
    if isinstance(cached, Caller):
        return cached
    caller = await run_in_threadpool(resolve, context_of(request), request)
    setattr(request.state, _STATE_KEY, caller)
    return caller


async def principal_of(request: Request) -> Principal:
    """The Principal of ``request`` (401/403 as the module says); no CSRF check."""
    return (await caller_of(request)).principal


def _same(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


async def check_csrf(request: Request, session: Session | None) -> None:
    """403 ``csrf_failed`` unless a cookie-authenticated unsafe request carries the session's
    CSRF token (header, or form field for a form body). Safe methods and bearer calls pass."""
    if session is None or request.method not in UNSAFE_METHODS:
        return
    if _same(request.headers.get(CSRF_HEADER, ""), session.csrf_token):
        return
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in _FORM_TYPES:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        if isinstance(field, str) and _same(field, session.csrf_token):
            return
    raise Forbidden("csrf_failed")


async def staff_caller(request: Request) -> Caller:
    """The caller of a staff API or console request, its CSRF token checked."""
    caller = await caller_of(request)
    await check_csrf(request, caller.session)
    return caller


async def staff_principal(request: Request) -> tuple[HqContext, Principal]:
    """HQ's context and the caller's Principal, authenticated and CSRF-checked: the one call every
    staff handler makes before anything else.

    A request with neither a bearer token nor a session cookie is 401 ``unauthorized`` here, as the
    staff API answered before it had sessions (``not_signed_in`` is for the session endpoint and
    the console)."""
    try:
        caller = await staff_caller(request)
    except Unauthorized as exc:
        if exc.code == "not_signed_in":
            raise Unauthorized() from exc
        raise
    return context_of(request), caller.principal


async def admin_principal(request: Request) -> tuple[HqContext, Principal]:
    """As :func:`staff_principal`, but 403 ``admin_only`` for anyone but an administrator."""
    hq, principal = await staff_principal(request)
    if not principal.is_admin:
        raise Forbidden("admin_only")
    return hq, principal


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Path=/, Secure over https; it lasts as long
    as the browser session (the server ends it after 8 h idle or 12 h in all)."""
    response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True, samesite="strict", secure=is_https(request))


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=is_https(request))
