"""HTTP handlers of sign-in, sessions and user accounts (JSON API), and the console's sign-in page.

    POST   /api/v1/session               sign in: JSON {username, password} -> {user, role, csrf_token}
    GET    /api/v1/session               who am I: {user, role, csrf_token}
    DELETE /api/v1/session               sign out (CSRF token required) -> 204
    GET    /api/v1/users                 accounts (?role=, ?active=true|false)        admin
    POST   /api/v1/users                 create an account -> 201                     admin
    GET    /api/v1/users/{id}            one account                                  admin
    PATCH  /api/v1/users/{id}            change role, scope, name, active, PIN        admin
    POST   /api/v1/users/{id}/password   set a password -> 204            admin, or the user
    GET    /console/login                the sign-in page (zh-CN; ``?lang=en`` for English)
    POST   /console/login                the sign-in form -> 303 /console/
    POST   /console/logout               the sign-out form -> 303 /console/login

Status codes: 401 ``bad_credentials`` (unknown user or wrong password, indistinguishable),
**423** ``account_locked`` (with the minutes left; chosen over 403 so a client can tell a lockout
from a refusal by role), 403 ``wrong_role`` (a store account at HQ), 401 ``not_signed_in`` /
``session_expired`` / ``unauthorized`` (bad bearer token), 403 ``csrf_failed``, 403
``admin_only``, 404 ``user_not_found``, 409 ``username_taken`` / ``last_admin``, 422 a field that
breaks a rule (named), 400 ``json_required`` (the JSON sign-in must be ``application/json``: a
page elsewhere cannot send that without the browser asking first, which is the sign-in's CSRF
defence), ``invalid_json``.

Signed-in users change their own password with ``current_password`` (a wrong one counts towards the
lockout); an administrator sets anyone else's without it. Either way every other session of the
user ends (the caller's own stays).

The sign-in form is protected by a double-submit token: ``GET /console/login`` sets the cookie
:data:`LOGIN_CSRF_COOKIE` and puts the same random value in a hidden field; ``POST`` refuses the
form unless the two are equal. A failed sign-in shows the page again with the error and the
username, never the password. Nothing here logs or answers a password, PIN, hash or session token.
"""

from __future__ import annotations

import functools
import logging
import secrets
from datetime import UTC, datetime
from typing import Any

import msgspec
from jinja2 import Environment, PackageLoader
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from hq_server import accounts, sessions
from hq_server.accounts import User
from hq_server.auth import (
    CSRF_FIELD,
    admin_principal,
    caller_of,
    clear_session_cookie,
    is_https,
    now_ms,
    session_token,
    set_session_cookie,
    staff_caller,
)
from hq_server.context import HqContext, context_of
from hq_server.errors import BadRequest, Forbidden, HqError
from hq_server.openapi import operation, path_id, query
from hq_server.principals import HQ_ROLES, ROLE_LABELS
from hq_server.responses import error_body, json_response
from hq_server.sessions import Session
from sync_protocol.i18n import lang_of, render

log = logging.getLogger("storedesk.hq.accounts")

LOGIN_CSRF_COOKIE = "sd_login_csrf"
LOGIN_PATH = "/console/login"
CONSOLE_HOME = "/console/"

_templates = Environment(loader=PackageLoader("hq_server", "templates"), autoescape=True)

#: Pages with a credential in them stay out of caches, frames and referrers.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
}

PAGE_TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "StoreDesk 总部控制台",
        "sign_in": "登录",
        "username": "用户名",
        "password": "密码",
        "submit": "登录",
        "signed_in_as": "当前用户",
        "role": "角色",
        "sign_out": "退出登录",
        "placeholder": "控制台正在建设中。",
        "other_lang_label": "English",
    },
    "en": {
        "title": "StoreDesk HQ console",
        "sign_in": "Sign in",
        "username": "Username",
        "password": "Password",
        "submit": "Sign in",
        "signed_in_as": "Signed in as",
        "role": "Role",
        "sign_out": "Sign out",
        "placeholder": "The console is being built.",
        "other_lang_label": "中文",
    },
}


# -- JSON views ---------------------------------------------------------------------------------
# (Not imported from staff_api/staff_views: importing those first runs into an import cycle.)

_json_decoder = msgspec.json.Decoder()


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body, or 400 ``invalid_json``."""
    try:
        value = _json_decoder.decode(await request.body())
    except msgspec.DecodeError as exc:
        raise BadRequest("invalid_json") from exc
    if not isinstance(value, dict):
        raise BadRequest("invalid_json")
    return value


def iso(ms: int | None) -> str | None:
    """ms since the epoch as ISO 8601 UTC with milliseconds, or None."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def user_json(user: User, now: int) -> dict[str, Any]:
    """An account as the API answers it (never a hash)."""
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "departments": list(user.departments),
        "regions": list(user.regions),
        "store_id": user.store_id,
        "active": user.active,
        "has_pin": user.has_pin,
        "failed_logins": user.failed_logins,
        "locked": user.locked(now),
        "locked_until": iso(user.locked_until) if user.locked(now) else None,
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
        "password_changed_at": iso(user.password_changed_at),
    }


def session_json(user: User | None, role: str, session: Session | None, now: int) -> dict[str, Any]:
    return {
        "user": user_json(user, now) if user is not None else None,
        "role": role,
        "csrf_token": session.csrf_token if session is not None else None,
    }


# -- sign-in ------------------------------------------------------------------------------------


def _user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[: sessions.MAX_USER_AGENT]


def sign_in(
    hq: HqContext, username: object, password: object, *, old_token: str, user_agent: str
) -> tuple[str, Session, User]:
    """Check the credentials and open a session (blocking): the cookie's token, the session, the
    user. A store account is refused (403 ``wrong_role``) once its password is known to be right."""
    now = now_ms(hq)
    user = accounts.authenticate(hq.db, username, password, now)
    if user.role not in HQ_ROLES:
        log.info("sign-in refused at HQ: account %s (%s) has the store role %s", user.username, user.id, user.role)
        raise Forbidden("wrong_role")
    with hq.db.write_bookkeeping() as conn:
        if old_token:
            sessions.delete(conn, sessions.token_id(old_token))
        sessions.purge_ended(conn, now)
        token, session = sessions.create(conn, user.id, now, user_agent=user_agent)
    log.info("account %s (%s) signed in", user.username, user.id)
    return token, session, user


def sign_out(hq: HqContext, session: Session) -> None:
    with hq.db.write_bookkeeping() as conn:
        sessions.delete(conn, session.id)


def _is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return content_type == "application/json"


@operation(
    body={
        "type": "object",
        "required": ["username", "password"],
        "properties": {"username": {"type": "string"}, "password": {"type": "string", "format": "password"}},
    }
)
async def create_session(request: Request) -> Response:
    """Sign in with a username and password.

    Sets the HttpOnly session cookie `sd_session` and answers `{"user", "role", "csrf_token"}`;
    send the CSRF token as `X-CSRF-Token` with every POST, PUT, PATCH and DELETE. 401
    `bad_credentials`, 423 `account_locked` (5 failures lock an account for 15 minutes), 403
    `wrong_role` for store accounts. The body must be `application/json`.
    """
    hq = context_of(request)
    if not _is_json(request):
        raise BadRequest("json_required")
    body = await json_object(request)
    token, session, user = await run_in_threadpool(
        sign_in,
        hq,
        body.get("username"),
        body.get("password"),
        old_token=session_token(request),
        user_agent=_user_agent(request),
    )
    response = json_response(session_json(user, user.role, session, now_ms(hq)))
    set_session_cookie(response, request, token)
    return response


async def get_session(request: Request) -> Response:
    """Who is signed in: `{"user", "role", "csrf_token"}` (`user` and `csrf_token` are null for
    the admin token, whose role is `integration`)."""
    caller = await caller_of(request)
    hq = context_of(request)
    return json_response(session_json(caller.user, caller.principal.role, caller.session, now_ms(hq)))


async def delete_session(request: Request) -> Response:
    """Sign out: the session ends and the cookie is cleared (204). Needs the CSRF token."""
    caller = await staff_caller(request)
    if caller.session is not None:
        await run_in_threadpool(sign_out, context_of(request), caller.session)
        if caller.user is not None:
            log.info("account %s (%s) signed out", caller.user.username, caller.user.id)
    response = Response(status_code=204)
    clear_session_cookie(response, request)
    return response


# -- users --------------------------------------------------------------------------------------


def _bool_param(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name, "").strip().lower()
    if not raw:
        return None
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise BadRequest("invalid_param", field=name)


_USER_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "username": {"type": "string"},
        "display_name": {"type": "string"},
        "role": {"type": "string", "enum": list(ROLE_LABELS)},
        "password": {"type": "string", "format": "password"},
        "pin": {"type": "string", "description": "4-8 digits; store roles only", "nullable": True},
        "departments": {"type": "array", "items": {"type": "string"}, "description": "agent, group_lead"},
        "regions": {"type": "array", "items": {"type": "string"}, "description": "region ids or codes"},
        "store": {"type": "string", "description": "store id or code (store_manager, clerk)", "nullable": True},
        "active": {"type": "boolean"},
    },
}


@operation(parameters=[query("role", "role code"), query("active", "true or false", "boolean")])
async def list_users(request: Request) -> Response:
    """Every account, by username (administrators only). Answers `{"items": [user...]}`."""
    hq, _ = await admin_principal(request)
    role = request.query_params.get("role") or None
    active = _bool_param(request, "active")

    def run() -> list[User]:
        with hq.db.read() as conn:
            return accounts.list_users(conn, role=role, active=active)

    users = await run_in_threadpool(run)
    now = now_ms(hq)
    return json_response({"items": [user_json(user, now) for user in users]})


@operation(body={**_USER_BODY, "required": ["username", "role", "password"]})
async def create_user(request: Request) -> Response:
    """Create an account (administrators only); 201 with the account.

    Scope by role: `agent`/`group_lead` at least one department, `regional_manager` at least one
    region, `store_manager`/`clerk` one store (and optionally a PIN); the others none. The
    password needs 8+ characters, not only digits, not the username.
    """
    hq, _ = await admin_principal(request)
    body = await json_object(request)
    user = await run_in_threadpool(functools.partial(accounts.create_user, clock=hq.clock), hq.db, body, now_ms(hq))
    return json_response(user_json(user, now_ms(hq)), status_code=201)


@operation(parameters=[path_id("user id")])
async def get_user(request: Request) -> Response:
    """One account (administrators only)."""
    hq, _ = await admin_principal(request)
    user_id = request.path_params["id"]

    def run() -> User:
        with hq.db.read() as conn:
            return accounts.require_user(conn, user_id)

    return json_response(user_json(await run_in_threadpool(run), now_ms(hq)))


_PATCH_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {k: v for k, v in _USER_BODY["properties"].items() if k not in ("username", "password")},
}


@operation(parameters=[path_id("user id")], body=_PATCH_BODY)
async def patch_user(request: Request) -> Response:
    """Change an account's display name, role, scope, PIN (null clears it) or `active`
    (administrators only). Deactivating ends its sessions; the last administrator stays one."""
    hq, _ = await admin_principal(request)
    body = await json_object(request)
    update = functools.partial(accounts.update_user, clock=hq.clock)
    user = await run_in_threadpool(update, hq.db, request.path_params["id"], body, now_ms(hq))
    return json_response(user_json(user, now_ms(hq)))


@operation(
    parameters=[path_id("user id")],
    body={
        "type": "object",
        "required": ["password"],
        "properties": {
            "password": {"type": "string", "format": "password"},
            "current_password": {"type": "string", "format": "password", "description": "when changing your own"},
        },
    },
)
async def set_password(request: Request) -> Response:
    """Set an account's password (204): administrators for anyone, a signed-in user (administrators
    too) for themself with `current_password` (a wrong one counts towards the lockout). Every other
    session of the account ends; a lockout is lifted."""
    caller = await staff_caller(request)
    hq = context_of(request)
    user_id = request.path_params["id"]
    own = caller.user is not None and caller.user.id == user_id
    if not caller.principal.is_admin and not own:
        raise Forbidden("admin_only")
    body = await json_object(request)
    keep = caller.session.id if own and caller.session is not None else None

    def run() -> None:
        if own and caller.user is not None:
            accounts.check_current_password(hq.db, caller.user, body.get("current_password"), now_ms(hq))
        accounts.set_password(hq.db, user_id, body.get("password"), now_ms(hq), keep_session=keep, clock=hq.clock)

    await run_in_threadpool(run)
    return Response(status_code=204)


# -- console sign-in page ----------------------------------------------------------------------


def page_lang(request: Request) -> str:
    """``?lang=en``/``?lang=zh`` first, then ``Accept-Language``; Chinese by default."""
    asked = request.query_params.get("lang", "").strip().lower()
    if asked.startswith("en"):
        return "en"
    if asked.startswith("zh"):
        return "zh"
    return lang_of(request.headers.get("accept-language"))


def _lang_query(request: Request) -> str:
    asked = request.query_params.get("lang", "").strip().lower()
    return f"?lang={'en' if asked.startswith('en') else 'zh'}" if asked else ""


def _page(request: Request, status: int = 200, **values: Any) -> HTMLResponse:
    """The console_login template: ``state`` ``login`` (``error``, ``username``, ``csrf_token``),
    ``home`` (``user``, ``role_label``, ``csrf_token``) or ``message`` (``message``)."""
    lang = page_lang(request)
    texts = PAGE_TEXTS[lang]
    context: dict[str, Any] = {
        "state": "message",
        "message": "",
        "error": None,
        "username": "",
        "csrf_token": "",
        **values,
        "lang": lang,
        "html_lang": "en" if lang == "en" else "zh-CN",
        "other_lang": "zh" if lang == "en" else "en",
        "lang_query": _lang_query(request),
        "t": texts,
        "csrf_field": CSRF_FIELD,
    }
    html = _templates.get_template("console_login.html").render(context)
    return HTMLResponse(html, status_code=status, headers=_PAGE_HEADERS)


def _login_csrf(request: Request) -> str:
    """The sign-in form's double-submit token: the cookie's, or a new one."""
    current = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return current if 20 <= len(current) <= 100 else secrets.token_urlsafe(32)


def _set_login_csrf(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, path=LOGIN_PATH, httponly=True, samesite="strict", secure=is_https(request)
    )


def _login_page(request: Request, status: int = 200, *, error: str | None = None, username: str = "") -> Response:
    token = _login_csrf(request)
    response = _page(request, status, state="login", error=error, username=username, csrf_token=token)
    _set_login_csrf(response, request, token)
    return response


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


async def _signed_in(request: Request) -> accounts.User | None:
    """The signed-in HQ user of a console page, or None (no session, ended, store role)."""
    if not session_token(request):
        return None
    try:
        caller = await caller_of(request)
    except HqError:
        return None
    return caller.user


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def login_page(request: Request) -> Response:
    if await _signed_in(request) is not None:
        return _redirect(CONSOLE_HOME + _lang_query(request))
    return _login_page(request)


async def login_form(request: Request) -> Response:
    hq = context_of(request)
    lang = page_lang(request)
    form = await request.form()
    username = _field(form, "username").strip()[:80]
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    given = _field(form, CSRF_FIELD)
    if not cookie or not given or not secrets.compare_digest(cookie.encode(), given.encode()):
        return _login_page(request, 403, error=render("csrf_failed", lang), username=username)
    try:
        token, _, _ = await run_in_threadpool(
            sign_in,
            hq,
            username,
            _field(form, "password"),
            old_token=session_token(request),
            user_agent=_user_agent(request),
        )
    except HqError as exc:
        return _login_page(request, exc.status, error=error_body(exc, lang).error.message, username=username)
    response = _redirect(CONSOLE_HOME + _lang_query(request))
    set_session_cookie(response, request, token)
    response.delete_cookie(
        LOGIN_CSRF_COOKIE, path=LOGIN_PATH, httponly=True, samesite="strict", secure=is_https(request)
    )
    return response


async def logout_form(request: Request) -> Response:
    if not session_token(request):
        return _redirect(LOGIN_PATH + _lang_query(request))
    try:
        caller = await staff_caller(request)
    except HqError as exc:
        if exc.code == "csrf_failed":
            return _page(request, 403, message=render("csrf_failed", page_lang(request)))
        response = _redirect(LOGIN_PATH + _lang_query(request))
        clear_session_cookie(response, request)
        return response
    if caller.session is not None:
        await run_in_threadpool(sign_out, context_of(request), caller.session)
        if caller.user is not None:
            log.info("account %s (%s) signed out", caller.user.username, caller.user.id)
    response = _redirect(LOGIN_PATH + _lang_query(request))
    clear_session_cookie(response, request)
    return response


routes = [
    Route("/api/v1/session", create_session, methods=["POST"]),
    Route("/api/v1/session", get_session, methods=["GET"]),
    Route("/api/v1/session", delete_session, methods=["DELETE"]),
    Route("/api/v1/users", list_users, methods=["GET"]),
    Route("/api/v1/users", create_user, methods=["POST"]),
    Route("/api/v1/users/{id}", get_user, methods=["GET"]),
    Route("/api/v1/users/{id}", patch_user, methods=["PATCH"]),
    Route("/api/v1/users/{id}/password", set_password, methods=["POST"]),
    Route(LOGIN_PATH, login_page, methods=["GET"]),
    Route(LOGIN_PATH, login_form, methods=["POST"]),
    Route("/console/logout", logout_form, methods=["POST"]),
]
