"""The clerk's transfer screens (调货): the list (waiting for this store, requested by it, out of
it), requesting one, and one transfer with its order, timeline and the steps this store may take.

Every rule is :mod:`store_node.stock_actions`' (which side may take which step, a reject needs a
reason); these pages only collect the input, name the clerk as the actor, and show the answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from store_node import stock_actions, stock_views
from store_node.errors import InvalidInput, NotFound, StoreNodeError
from store_node.node import Node
from store_node.ui import session
from store_node.ui.render import node_of, page, signed_in
from sync_protocol import i18n
from sync_protocol.stock import distance_km

#: The steps that make a transfer wait for this store (cancelling is the requester's choice, not a wait).
WAITING_ACTIONS = frozenset({"approve", "reject", "ship", "receive"})
_PARTY_FIELDS = ("code", "name", "address", "contact", "phone")
_FORM_FIELDS = ("sku", "qty", "source_store", "note")


def error_text(exc: StoreNodeError, lang: str) -> str:
    """An error for people, in ``lang`` (as the local API words it)."""
    message = i18n.render(exc.code, lang, field=exc.field, **exc.params)
    return exc.message if message == exc.code else message


def _ms(value: str | None) -> int | None:
    if not value:
        return None
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def _age_s(node: Node, value: str | None) -> float | None:
    at = _ms(value)
    return None if at is None else max(0, node.wall_ms() - at) / 1000


# -- the list -------------------------------------------------------------------------------------


def split_transfers(node: Node, lang: str) -> dict[str, list[dict[str, Any]]]:
    """``waiting`` (a step of this store's is due), ``mine`` (the rest this store asked for) and
    ``outgoing`` (the rest out of this store), each newest first, each with its other store."""
    listed = stock_views.list_transfers(node, lang=lang)
    found: dict[str, list[dict[str, Any]]] = {"waiting": [], "mine": [], "outgoing": []}
    for item in sorted([*listed["outgoing"], *listed["incoming"]], key=lambda i: i["updated_at"] or "", reverse=True):
        item["other"] = item["to_store"] if item["role"] == "outgoing" else item["from_store"]
        item["age_s"] = _age_s(node, item["updated_at"])
        item["quick"] = [a for a in item["actions"] if a["action"] in WAITING_ACTIONS - {"reject"}]
        if {a["action"] for a in item["actions"]} & WAITING_ACTIONS:
            found["waiting"].append(item)
        else:
            found["mine" if item["role"] == "incoming" else "outgoing"].append(item)
    return found


async def list_page(request: Request) -> Response:
    clerk = signed_in(request)
    if isinstance(clerk, Response):
        return clerk
    node = node_of(request)
    found = split_transfers(node, session.lang_of(request)) if node.enrolled else {}
    return page(
        request,
        "transfers.html",
        waiting=found.get("waiting", []),
        mine=found.get("mine", []),
        outgoing=found.get("outgoing", []),
    )


# -- requesting one --------------------------------------------------------------------------------


def sku_label(node: Node, key: str, lang: str) -> dict[str, str] | None:
    """The product, colour and size of a SKU (or barcode) of the synced catalogue."""
    if not key:
        return None
    row = node.replica.one(
        "SELECT sku, product_code, colour, size FROM catalogue_skus WHERE sku = ? OR barcode = ?"
        " ORDER BY sku = ? DESC LIMIT 1",
        (key, key, key),
    )
    if row is None:
        return None
    item = stock_views.product(node, str(row["product_code"]))
    name = item.name(lang) if item else str(row["product_code"])
    return {"sku": str(row["sku"]), "name": name, "colour": str(row["colour"]), "size": str(row["size"])}


def store_options(node: Node) -> list[dict[str, Any]]:
    """The other active stores, nearest first (those without coordinates last), for the source field."""
    known = stock_views.stores(node)
    own = known.get(node.identity.store_id)
    here = (own.lat, own.lon) if own else (None, None)
    found = []
    for store in known.values():
        if store.id == node.identity.store_id or not store.active:
            continue
        km = distance_km(here, (store.lat, store.lon))
        found.append({"code": store.code, "name": store.name, "km": None if km is None else round(km, 1)})
    return sorted(found, key=lambda s: (s["km"] is None, s["km"] or 0.0, s["code"]))


def _new_page(
    request: Request, form: dict[str, str], error: dict[str, str] | None = None, status_code: int = 200
) -> Response:
    node = node_of(request)
    lang = session.lang_of(request)
    return page(
        request,
        "transfer_new.html",
        status_code=status_code,
        form=form,
        error=error,
        sku_info=sku_label(node, form["sku"], lang),
        stores=store_options(node) if node.enrolled else [],
    )


async def new_form(request: Request) -> Response:
    clerk = signed_in(request)
    if isinstance(clerk, Response):
        return clerk
    params = request.query_params
    form = {
        "sku": params.get("sku", "").strip()[:64],
        "qty": params.get("qty", "1").strip()[:8],
        "source_store": params.get("source", "").strip()[:64],
        "note": "",
    }
    return _new_page(request, form)


def _qty(raw: str) -> object:
    if not raw:
        raise InvalidInput("qty is required", code="required", field="qty")
    try:
        return int(raw)
    except ValueError:
        return raw  # refused by the action, as any other wrong type


async def new_submit(request: Request) -> Response:
    clerk = signed_in(request)
    if isinstance(clerk, Response):
        return clerk
    node = node_of(request)
    posted = await request.form()
    form = {name: str(posted.get(name) or "").strip() for name in _FORM_FIELDS}
    try:
        data: dict[str, Any] = {"sku": form["sku"], "qty": _qty(form["qty"]), "note": form["note"]}
        if form["source_store"]:
            data["source_store"] = form["source_store"]
        transfer_id = stock_actions.request_transfer(node, {**data, "actor": clerk.actor})
    except StoreNodeError as exc:
        field = "sku" if exc.field == "barcode" else exc.field or ""
        error = {"field": field, "message": error_text(exc, session.lang_of(request))}
        return _new_page(request, form, error, status_code=422)
    return RedirectResponse(f"/transfers/{transfer_id}", status_code=303)


# -- one transfer ----------------------------------------------------------------------------------


def party(node: Node, given: dict[str, Any] | None, store: dict[str, Any]) -> dict[str, str] | None:
    """One side of the order: HQ's copy in the transfer, gaps filled from the synced store."""
    if not store["id"]:
        return None
    local = stock_actions.party_of(node, store["id"])
    known = msgspec.structs.asdict(local) if local else {}
    fallback = {"code": store["code"], "name": store["name"]}
    return {f: str((given or {}).get(f) or known.get(f) or fallback.get(f) or "") for f in _PARTY_FIELDS}


def order_lines(node: Node, item: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """The order's lines as HQ issued them; before approval, the requested SKU."""
    lines: list[dict[str, Any]] = item["lines"]
    if lines:
        return lines
    product = stock_views.product(node, item["product_code"]) if item["product_code"] else None
    name = product.name(lang) if product else ""
    return [{k: item[k] for k in ("sku", "product_code", "colour", "size", "qty")} | {"name": name}]


def _detail_page(
    request: Request, key: str, *, error: dict[str, str] | None = None, reason: str = "", status_code: int = 200
) -> Response:
    node = node_of(request)
    lang = session.lang_of(request)
    try:
        if not node.enrolled:  # no transfer can be here yet
            raise NotFound(f"no transfer {key}", code="transfer_not_found", value=key)
        item = stock_views.get_transfer(node, key, lang)
    except NotFound:
        return page(request, "transfer_detail.html", status_code=404, item=None, key=key)
    return page(
        request,
        "transfer_detail.html",
        status_code=status_code,
        item=item,
        key=key,
        source=party(node, item["source"], item["from_store"]),
        requester=party(node, item["requester"], item["to_store"]),
        lines=order_lines(node, item, lang),
        error=error,
        reason=reason,
    )


async def detail_page(request: Request) -> Response:
    clerk = signed_in(request)
    if isinstance(clerk, Response):
        return clerk
    return _detail_page(request, request.path_params["key"])


async def step(request: Request) -> Response:
    """Approve, reject (with a reason), ship, receive or cancel, as the signed-in clerk."""
    clerk = signed_in(request)
    if isinstance(clerk, Response):
        return clerk
    key, action = request.path_params["key"], request.path_params["action"]
    reason = str((await request.form()).get("reason") or "").strip()
    try:
        transfer_id = stock_actions.step_transfer(node_of(request), key, action, reason=reason, actor=clerk.actor)
    except NotFound:
        return _detail_page(request, key)
    except StoreNodeError as exc:
        error = {"action": action, "field": exc.field or "", "message": error_text(exc, session.lang_of(request))}
        return _detail_page(request, key, error=error, reason=reason, status_code=422)
    return RedirectResponse(f"/transfers/{transfer_id}", status_code=303)


routes: list[BaseRoute] = [
    Route("/transfers", list_page, methods=["GET"]),
    Route("/transfers/new", new_form, methods=["GET"]),
    Route("/transfers/new", new_submit, methods=["POST"]),
    Route("/transfers/{key}", detail_page, methods=["GET"]),
    Route("/transfers/{key}/{action}", step, methods=["POST"]),
]
