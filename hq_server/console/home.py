"""The console's entry: ``/console/`` sends each role to its first screen; the language switch."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from hq_server.console.render import LANG_COOKIE, LANGS, console_caller, forbidden, nav_for, safe_next


async def home(request: Request) -> Response:
    caller = await console_caller(request)
    if isinstance(caller, Response):
        return caller
    items = nav_for(caller.principal)
    if not items:
        return forbidden(request, caller)
    return RedirectResponse(items[0][0], status_code=303)


async def switch_lang(request: Request) -> Response:
    """``/console/lang/en?next=/console/queue``: remember the language, go back."""
    lang = request.path_params["lang"]
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    response.set_cookie(LANG_COOKIE, lang if lang in LANGS else "zh", max_age=365 * 86400, samesite="lax")
    return response


routes: list[BaseRoute] = [
    Route("/console/", home, methods=["GET"]),
    Route("/console/lang/{lang}", switch_lang, methods=["GET"]),
    Mount("/console/static", StaticFiles(packages=[("hq_server", "static")]), name="console-static"),
]
