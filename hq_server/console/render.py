"""Rendering a console page: who is signed in (else the sign-in page), the language, the menu the
caller's role gets, the CSRF token every form carries, and money and times in the user's locale."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hq_server.auth import Caller, caller_of
from hq_server.console.texts import t
from hq_server.errors import HqError
from hq_server.principals import Principal

LANG_COOKIE = "sd_lang"
LANGS = ("zh", "en")
LOGIN_PATH = "/console/login"
#: The chain's time zone: times are shown in it.
ZONE = ZoneInfo("Asia/Shanghai")

_env = Environment(loader=PackageLoader("hq_server", "templates"), autoescape=select_autoescape())


def lang_of(request: Request) -> str:
    """``?lang=`` for this page, else the cookie, else Chinese."""
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE, "")
    return wanted if wanted in LANGS else "zh"


def nav_for(principal: Principal) -> list[tuple[str, str]]:
    """The menu: (path, text key) the caller's role may open."""
    items: list[tuple[str, str]] = []
    if principal.works_tickets or principal.role == "regional_manager":
        items += [("/console/queue", "c_nav_queue"), ("/console/board", "c_nav_board")]
    if principal.sees_reports:
        items.append(("/console/dashboard", "c_nav_dashboard"))
    if principal.is_admin:
        items.append(("/console/admin", "c_nav_admin"))
    return items


def when(ms: int | None, lang: str = "zh") -> str:
    """A moment in the chain's time zone: ``2026-12-06 14:05`` / ``6 Dec 2026 14:05``."""
    if not ms:
        return ""
    moment = datetime.fromtimestamp(ms / 1000, ZONE)
    return f"{moment.day} {moment:%b %Y %H:%M}" if lang == "en" else moment.strftime("%Y-%m-%d %H:%M")


def money(cents: int | None) -> str:
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    return f"{sign}¥{abs(cents) // 100:,}.{abs(cents) % 100:02d}"


async def console_caller(request: Request) -> Caller | Response:
    """The signed-in user of a console page, or a redirect to the sign-in page that comes back."""
    caller: Caller | None = None
    try:
        caller = await caller_of(request)
    except HqError:
        caller = None
    if caller is None or caller.user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303)
    return caller


def page(request: Request, caller: Caller, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` in the console's layout for ``caller``."""
    lang = lang_of(request)
    principal = caller.principal
    values = {
        "lang": lang,
        "html_lang": "en" if lang == "en" else "zh-CN",
        "other_lang": "zh" if lang == "en" else "en",
        "t": functools.partial(t, lang=lang),
        "when": functools.partial(when, lang=lang),
        "money": money,
        "principal": principal,
        "user": caller.user,
        "role_label": principal.label(lang),
        "csrf_token": caller.session.csrf_token if caller.session is not None else "",
        "nav": nav_for(principal),
        "path": request.url.path,
        "query": request.url.query,
        **context,
    }
    return HTMLResponse(_env.get_template(template).render(values), status_code=status_code)


def fragment(template: str, **values: Any) -> str:
    """A template rendered on its own (a part of a page that scripts fetch and swap in)."""
    return _env.get_template(template).render(values)


def forbidden(request: Request, caller: Caller) -> HTMLResponse:
    """A 403 page in the layout (the page is not in the caller's scope)."""
    return page(request, caller, "console_message.html", status_code=403, message_key="c_forbidden")


def safe_next(target: str | None) -> str:
    """Only a local console path to go back to."""
    target = target or ""
    return target if target.startswith("/console/") and not target.startswith("//") else "/console/"
