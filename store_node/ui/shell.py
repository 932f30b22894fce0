"""The pages every clerk passes through: sign-in, the language switch, home (the store's open
tickets and where sync stands) and the sync page (what is still to go out, and every change HQ
refused with its reason and what to do next)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from store_node import outbox, views
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


async def signin_form(request: Request) -> Response:
    return page(request, "signin.html", next=safe_next(request.query_params.get("next")), error=None, name="")


async def signin(request: Request) -> Response:
    form = await request.form()
    name = str(form.get("name") or "").strip()[:40]
    staff_no = str(form.get("staff_no") or "").strip()[:20]
    target = safe_next(str(form.get("next") or "/"))
    if not name:
        return page(request, "signin.html", status_code=422, next=target, error="signin_name_required", name=name)
    response = RedirectResponse(target, status_code=303)
    session.sign_in(node_of(request), response, session.Clerk(name=name, staff_no=staff_no))
    return response


async def signout(request: Request) -> Response:
    response = RedirectResponse("/signin", status_code=303)
    session.sign_out(response)
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
