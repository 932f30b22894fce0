"""Rendering a page: the shared layout's data (store, clerk, sync state, language) and the
formatting of money, times and ages in the clerk's language."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from store_node import views
from store_node.node import Node
from store_node.ui import session
from store_node.ui.texts import t

#: Where the chain's stores are: local times are shown in it.
ZONE = ZoneInfo("Asia/Shanghai")
#: The navigation: (path, text key).
NAV: tuple[tuple[str, str], ...] = (
    ("/", "nav_home"),
    ("/tickets/new", "nav_new_ticket"),
    ("/stock", "nav_stock"),
    ("/transfers", "nav_transfers"),
    ("/returns", "nav_returns"),
    ("/sync", "nav_sync"),
)

_env = Environment(loader=PackageLoader("store_node", "templates"), autoescape=select_autoescape())


def node_of(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def money(cents: int | None, lang: str = "zh") -> str:
    """``¥1,299.00`` (the same in both languages; a minus sign before the ¥)."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    return f"{sign}¥{abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def when(ms: int | None, lang: str = "zh") -> str:
    """A moment in the stores' time zone: ``2026-12-06 14:05`` / ``6 Dec 2026 14:05``."""
    if not ms:
        return ""
    moment = datetime.fromtimestamp(ms / 1000, ZONE)
    if lang == "en":
        return f"{moment.day} {moment:%b %Y %H:%M}"
    return moment.strftime("%Y-%m-%d %H:%M")


def when_iso(value: str | None, lang: str = "zh") -> str:
    """:func:`when` of an ISO 8601 time as the local API writes it."""
    if not value:
        return ""
    return when(int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000), lang)


def age(seconds: float | None, lang: str = "zh") -> str:
    """How long ago, in words: ``3 分钟前`` / ``3 min ago``."""
    if seconds is None:
        return t("never_synced", lang)
    n = max(0, int(seconds))
    if n < 60:
        return t("age_seconds", lang, n=n)
    if n < 3600:
        return t("age_minutes", lang, n=n // 60)
    if n < 86400:
        return t("age_hours", lang, n=n // 3600)
    return t("age_days", lang, n=n // 86400)


def page(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` inside the layout for the signed-in clerk, in the clerk's language."""
    node = node_of(request)
    lang = session.lang_of(request)
    status = views.sync_status(node)
    values = {
        "lang": lang,
        "html_lang": "en" if lang == "en" else "zh-CN",
        "t": functools.partial(t, lang=lang),
        "money": functools.partial(money, lang=lang),
        "when": functools.partial(when, lang=lang),
        "when_iso": functools.partial(when_iso, lang=lang),
        "age": functools.partial(age, lang=lang),
        "clerk": session.clerk_of(node, request),
        "status": status,
        "nav": NAV,
        "path": request.url.path,
        "other_lang": "zh" if lang == "en" else "en",
        **context,
    }
    return HTMLResponse(_env.get_template(template).render(values), status_code=status_code)


def signed_in(request: Request) -> session.Clerk | Response:
    """The clerk, or a redirect to the sign-in page that comes back here afterwards."""
    clerk = session.clerk_of(node_of(request), request)
    if clerk is not None:
        return clerk
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(_safe_next(target), safe='')}", status_code=303)


def _safe_next(target: str) -> str:
    """Only a local path (never another site) to go back to after signing in."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def safe_next(target: str | None) -> str:
    return _safe_next(target or "/")
