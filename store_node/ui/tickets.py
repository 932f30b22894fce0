"""The clerk's ticket screens: the new-ticket form (driven by the ticket type's form, photos from
disk, product type-ahead, similar open tickets, the customer's earlier tickets) and the ticket
page (status, who has it, SLA, one timeline of status changes and comments, photos, sync state,
a comment box and the status changes a store may make).

Plain HTML forms that POST and redirect (303); a refused form comes back (422) with everything
the clerk typed and the error next to its field. The rules are :mod:`store_node.ticket_actions`'.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from store_node import ticket_actions, views
from store_node.errors import InvalidInput, NotFound, StoreNodeError
from store_node.ui import photos, session, ticket_detail, ticket_lookups
from store_node.ui.render import node_of, page, signed_in
from store_node.ui.texts import t
from sync_protocol import i18n
from sync_protocol.forms import MAX_PHOTOS
from sync_protocol.tickets import DEFAULT_TICKET_TYPES, HQ_OPENED_TYPES, MAX_LENGTH

#: The fields every ticket has, in the form's order (``type`` is picked first, above the form).
COMMON_FIELDS = ("title", "description", "category", "product_code", "customer_phone", "customer_name")


def _types(request: Request, lang: str) -> list[dict[str, Any]]:
    """The synced ticket types a clerk files, with their forms (not those only HQ opens); the
    built-in types before HQ has sent any."""
    found = [item for item in views.ticket_types(node_of(request), lang) if item["code"] not in HQ_OPENED_TYPES]
    if found:
        return found
    return [{"code": c, "name": n[1] if lang == "en" else n[0], "fields": []} for c, n in DEFAULT_TICKET_TYPES.items()]


def _message(exc: StoreNodeError, lang: str) -> str:
    """The error's text in ``lang``, naming a form field by its label."""
    label = exc.params.get("label_en" if lang == "en" else "label_zh")
    field = label if isinstance(label, str) and label else exc.field
    message = i18n.render(exc.code, lang, field=field, **exc.params)
    return exc.message if message == exc.code else message


def _new_page(
    request: Request,
    type_code: str,
    *,
    values: dict[str, str] | None = None,
    kept: dict[str, list[str]] | None = None,
    error: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    lang = session.lang_of(request)
    types = _types(request, lang)
    chosen = next((item for item in types if item["code"] == type_code), None)
    fields = chosen["fields"] if chosen else []
    shown = {*COMMON_FIELDS, *(f["name"] for f in fields)}
    return page(
        request,
        "ticket_new.html",
        status_code=status_code,
        types=types,
        chosen=chosen,
        fields=[f for f in fields if f["kind"] != "product_code"],
        product_required=any(f["kind"] == "product_code" and f["required"] for f in fields),
        values=values or {},
        kept={name: [photos.name_of(r) for r in refs] for name, refs in (kept or {}).items()},
        error=error,
        error_elsewhere=bool(error) and (error or {}).get("field") not in shown,
        max_length=MAX_LENGTH,
        max_photos=MAX_PHOTOS,
        max_photo_mb=photos.MAX_BYTES // (1024 * 1024),
    )


async def new_form(request: Request) -> Response:
    clerk = signed_in(request)
    if isinstance(clerk, Response):
        return clerk
    return _new_page(request, request.query_params.get("type", ""))


async def _take_photos(
    request: Request, form: FormData, fields: list[dict[str, Any]], found: dict[str, list[str]]
) -> None:
    """Fill ``found`` with each photo field's references: those kept from an earlier try of this
    form (stored here), then the new uploads, checked and stored. A refused upload raises
    :class:`photos.PhotoRefused` naming its field; what was taken before it stays in ``found``."""
    node = node_of(request)
    for field in (f for f in fields if f["kind"] == "photo"):
        name = field["name"]
        refs = [r for r in form.getlist(f"kept_{name}") if isinstance(r, str) and photos.kept(node, r)]
        found[name] = refs
        try:
            images = await photos.read_images(photos.chosen(form.getlist(name)), already=len(refs))
        except photos.PhotoRefused as exc:
            exc.field = name
            raise
        refs.extend(photos.save(node, data, ext) for data, ext in images)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def create(request: Request) -> Response:
    clerk = signed_in(request)
    if isinstance(clerk, Response):
        return clerk
    lang = session.lang_of(request)
    kept: dict[str, list[str]] = {}
    async with request.form(max_files=MAX_PHOTOS * 10, max_fields=200) as form:
        type_code = _text(form, "type")
        chosen = next((item for item in _types(request, lang) if item["code"] == type_code), None)
        fields: list[dict[str, Any]] = chosen["fields"] if chosen else []
        values = {name: _text(form, name) for name in COMMON_FIELDS}
        values.update({f["name"]: _text(form, f["name"]) for f in fields if f["kind"] in ("text", "choice")})
        try:
            await _take_photos(request, form, fields, kept)
        except photos.PhotoRefused as exc:
            message = t(exc.code, lang, name=exc.name, limit=MAX_PHOTOS, mb=photos.MAX_BYTES // (1024 * 1024))
            error = {"field": exc.field, "message": message}
            return _new_page(request, type_code, values=values, kept=kept, error=error, status_code=422)
    extra: dict[str, Any] = {
        f["name"]: values[f["name"]] for f in fields if f["kind"] in ("text", "choice") and values[f["name"]].strip()
    }
    extra.update({name: refs for name, refs in kept.items() if refs})
    data = {"type": type_code, **{name: values[name] for name in COMMON_FIELDS}, "extra": extra}
    try:
        ticket_id = ticket_actions.create_ticket(node_of(request), data, author=clerk.actor)
    except StoreNodeError as exc:
        error = {"field": exc.field or "", "message": _message(exc, lang)}
        status = 422 if isinstance(exc, InvalidInput) else exc.status
        return _new_page(request, type_code, values=values, kept=kept, error=error, status_code=status)
    return RedirectResponse(f"/tickets/{ticket_id}?created=1", status_code=303)


def _detail_page(
    request: Request,
    key: str,
    *,
    comment: str = "",
    note: str = "",
    error: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    node = node_of(request)
    lang = session.lang_of(request)
    try:
        ticket = views.get_ticket(node, key, lang=lang)
    except NotFound:
        return page(request, "ticket_missing.html", status_code=404, key=key)
    customer = ticket_lookups.by_phone(node, ticket["customer_phone"], lang, exclude=ticket["id"])
    return page(
        request,
        "ticket_detail.html",
        status_code=status_code,
        ticket=ticket,
        type_name=ticket_detail.type_name(node, ticket["type"], lang),
        product_name=ticket_detail.product_name(node, ticket["product_code"], lang),
        extra_rows=ticket_detail.extra_rows(node, ticket, lang),
        sla=ticket_detail.sla_rows(ticket, node.wall_ms()),
        timeline=ticket_detail.timeline(ticket, lang),
        transitions=ticket_detail.store_transitions(ticket["status"], lang),
        earlier=customer["items"],
        created=request.query_params.get("created") == "1",
        comment=comment,
        note=note,
        error=error,
    )


async def detail(request: Request) -> Response:
    clerk = signed_in(request)
    if isinstance(clerk, Response):
        return clerk
    return _detail_page(request, request.path_params["key"])


async def _step(request: Request, where: str) -> Response:
    """A comment (``where="comment"``) or a status change (``"status"``) from the ticket page."""
    clerk = signed_in(request)
    if isinstance(clerk, Response):
        return clerk
    node = node_of(request)
    key = request.path_params["key"]
    async with request.form() as form:
        text = _text(form, "body" if where == "comment" else "note")
        target = _text(form, "status")
    try:
        ticket_id = ticket_actions.resolve_id(node, key)
        if where == "comment":
            ticket_actions.add_comment(node, ticket_id, text, author=clerk.actor)
        else:
            ticket_actions.change_status(node, ticket_id, target, text, actor=clerk.actor)
    except NotFound:
        return _detail_page(request, key)
    except StoreNodeError as exc:
        error = {"form": where, "field": exc.field or "", "message": _message(exc, session.lang_of(request))}
        kept = {"comment": text} if where == "comment" else {"note": text}
        status = 422 if isinstance(exc, InvalidInput) else exc.status
        return _detail_page(request, key, **kept, error=error, status_code=status)
    return RedirectResponse(f"/tickets/{ticket_id}#{where}", status_code=303)


async def comment(request: Request) -> Response:
    return await _step(request, "comment")


async def status(request: Request) -> Response:
    return await _step(request, "status")


routes: list[BaseRoute] = [
    Route("/tickets/new", new_form, methods=["GET"]),
    Route("/tickets/new", create, methods=["POST"]),
    *ticket_lookups.routes,
    *photos.routes,
    Route("/tickets/{key}", detail, methods=["GET"]),
    Route("/tickets/{key}/comments", comment, methods=["POST"]),
    Route("/tickets/{key}/status", status, methods=["POST"]),
]
