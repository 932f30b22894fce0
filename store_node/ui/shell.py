"""The pages every clerk passes through: sign-in, the language switch, home (the store's open
tickets and where sync stands) and the sync page (what is still to go out, and every change HQ
refused with its reason and what to do next)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from store_node import accounts, outbox, views
from store_node.ui import session
from store_node.ui.render import node_of, page, safe_next, signed_in

#: What a clerk should do about a refused op, by code (else by op kind): a text key.
_NEXT_BY_CODE = {
    "upgrade_required": "next_upgrade",
    "over_return": "next_return_exception",
    "return_not_allowed": "next_return_exception",
    "insufficient_stock": "next_transfer",
    "no_store_has_stock": "next_transfer",
    "superseded": "next_merged",
}
_NEXT_BY_KIND = {"stock.move": "next_stock", "transfer.request": "next_transfer", "transfer.step": "next_transfer"}
#: Where a refused op's record is shown, by op kind.
_RECORD_PATHS = {
    "ticket.create": "/tickets/{id}",
    "ticket.set": "/tickets/{id}",
    "ticket.comment": "/tickets/{id}",
    "ticket.status": "/tickets/{id}",
    "transfer.request": "/transfers/{id}",
    "transfer.step": "/transfers/{id}",
    "return.create": "/returns/{id}",
}


async def home(request: Request) -> Response:
    clerk = signed_in(request)
    if isinstance(clerk, Response):
        return clerk
    node = node_of(request)
    lang = session.lang_of(request)
    tickets = views.list_tickets(node, open_only=True, limit=100, lang=lang)["items"] if node.enrolled else []
    type_names = {item["code"]: item["name"] for item in views.ticket_types(node, lang)}
    return page(request, "home.html", tickets=tickets, type_names=type_names)


def refused_ops(request: Request) -> list[dict[str, Any]]:
    """Each op HQ refused, newest first: what it was, why, what to do, and where its record is."""
    found = []
    for row in outbox.rejected(node_of(request)):
        kind, code = str(row["kind"]), str(row["code"])
        path = _RECORD_PATHS.get(kind)
        found.append(
            {
                "seq": row["seq"],
                "what": "op_" + kind.replace(".", "_"),
                "code": code,
                "reason": row["reason"],
                "next": _NEXT_BY_CODE.get(code) or _NEXT_BY_KIND.get(kind, "next_fix_resend"),
                "at": row["done_at"],
                "href": path.format(id=row["entity_id"]) if path else None,
            }
        )
    return found


async def sync_page(request: Request) -> Response:
    clerk = signed_in(request)
    if isinstance(clerk, Response):
        return clerk
    sent, total = outbox.drain_progress(node_of(request))
    return page(request, "sync.html", refused=refused_ops(request), drain_sent=sent, drain_total=total)


def _signin_page(
    request: Request, target: str, *, status_code: int = 200, error: str | None = None, **values: Any
) -> Response:
    """The sign-in form: username and password or PIN when the store has accounts from HQ, else
    the clerk's name (with a notice that the store has no accounts yet)."""
    with_accounts = accounts.in_use(node_of(request))
    values = {"name": "", "username": "", "error_args": {}, **values}
    return page(
        request, "signin.html", status_code=status_code, next=target, error=error, accounts=with_accounts, **values
    )


async def signin_form(request: Request) -> Response:
    return _signin_page(request, safe_next(request.query_params.get("next")))


async def signin(request: Request) -> Response:
    form = await request.form()
    target = safe_next(str(form.get("next") or "/"))
    node = node_of(request)
    if accounts.in_use(node):
        username = str(form.get("username") or "").strip()[: accounts.MAX_USERNAME_LENGTH]
        secret = str(form.get("secret") or "")
        if not username or not secret:
            return _signin_page(request, target, status_code=422, error="signin_fields_required", username=username)
        try:
            account = await run_in_threadpool(accounts.authenticate, node, username, secret, node.wall_ms())
        except accounts.SignInRefused as refused:
            status = 423 if refused.code == "signin_locked" else 401
            args = {"minutes": refused.minutes}
            return _signin_page(
                request, target, status_code=status, error=refused.code, username=username, error_args=args
            )
        clerk = session.Clerk(name=account.display_name, account_id=account.id, username=account.username)
    else:
        name = str(form.get("name") or "").strip()[:40]
        staff_no = str(form.get("staff_no") or "").strip()[:20]
        if not name:
            return _signin_page(request, target, status_code=422, error="signin_name_required", name=name)
        clerk = session.Clerk(name=name, staff_no=staff_no)
    response = RedirectResponse(target, status_code=303)
    session.sign_in(node, response, clerk)
    return response


async def signout(request: Request) -> Response:
    response = RedirectResponse("/signin", status_code=303)
    session.sign_out(node_of(request), request, response)
    return response


async def switch_lang(request: Request) -> Response:
    """``/lang/en?next=/stock``: remember the language, go back."""
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    session.set_lang(response, request.path_params["lang"])
    return response


routes = [
    Route("/", home, methods=["GET"]),
    Route("/sync", sync_page, methods=["GET"]),
    Route("/signin", signin_form, methods=["GET"]),
    Route("/signin", signin, methods=["POST"]),
    Route("/signout", signout, methods=["POST"]),
    Route("/lang/{lang}", switch_lang, methods=["GET"]),
]
