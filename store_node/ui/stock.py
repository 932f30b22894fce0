"""The clerk's stock screen: ``GET /stock?product=`` answers this store's stock of a product by
colour and size, then every other store holding it, nearest first, with its distance and how old
its figures are: HQ's live answer, or the offline snapshot when HQ cannot answer (marked, with the
snapshot's age). Each other store's SKU with units available leads to a transfer request
(:mod:`store_node.ui.transfers`, whose routes are served from here too)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from store_node import api, stock_views, views
from store_node.errors import NotFound
from store_node.node import Node
from store_node.ui import session, transfers
from store_node.ui.render import node_of, page, signed_in

#: Most products a name search lists to choose from.
MAX_CANDIDATES = 20


def find_product(node: Node, query: str, lang: str) -> tuple[str, str, list[dict[str, Any]]]:
    """What the clerk typed or scanned: ``(product code, SKU to mark, candidates)``. A product
    code, else a SKU or barcode of one, else a code prefix or part of a name (one match is taken,
    several are listed); else the query itself as a code (HQ may know it before this PC does)."""
    if stock_views.product(node, query) is not None:
        return query, "", []
    row = node.replica.one(
        "SELECT sku, product_code FROM catalogue_skus WHERE sku = ? OR barcode = ? ORDER BY sku = ? DESC LIMIT 1",
        (query, query, query),
    )
    if row is not None:
        return str(row["product_code"]), str(row["sku"]), []
    matches = views.products(node, query, MAX_CANDIDATES, lang)
    if len(matches) == 1:
        return str(matches[0]["code"]), "", []
    if matches:
        return "", "", matches
    return query, "", []


def own_grid(skus: list[dict[str, Any]]) -> dict[str, Any]:
    """This store's SKUs as a colour × size grid: ``colours``, ``sizes``, ``cells[colour][size]``."""
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for sku in skus:
        cells.setdefault(sku["colour"], {})[sku["size"]] = sku
    return {"colours": list(cells), "sizes": list(dict.fromkeys(s["size"] for s in skus)), "cells": cells}


def columns(catalogue: list[dict[str, Any]], stores: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The SKU columns of the stores table: the catalogue's, then any other a store reported,
    grouped by colour (first-seen order), sizes in first-seen order within a colour."""
    found: dict[str, dict[str, str]] = {}
    for sku in [*catalogue, *(s for store in stores for s in store["skus"])]:
        found.setdefault(sku["sku"], {"sku": sku["sku"], "colour": sku["colour"], "size": sku["size"]})
    colours = list(dict.fromkeys(c["colour"] for c in found.values()))
    return sorted(found.values(), key=lambda c: colours.index(c["colour"]))


def colour_groups(cols: list[dict[str, str]]) -> list[tuple[str, int]]:
    """``(colour, how many columns)`` runs for the table's first header row."""
    groups: list[tuple[str, int]] = []
    for col in cols:
        if groups and groups[-1][0] == col["colour"]:
            groups[-1] = (col["colour"], groups[-1][1] + 1)
        else:
            groups.append((col["colour"], 1))
    return groups


def store_rows(found: dict[str, Any], cols: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Every other store of the answer, nearest first as the answer has them, a cell per column."""
    rows = []
    for store in found["stores"]:
        if store["own"]:
            continue  # this store is the grid above, counted live
        by_sku = {s["sku"]: s for s in store["skus"]}
        rows.append({"store": store, "cells": [by_sku.get(c["sku"]) for c in cols]})
    return rows


async def stock_page(request: Request) -> Response:
    clerk = signed_in(request)
    if isinstance(clerk, Response):
        return clerk
    node = node_of(request)
    lang = session.lang_of(request)
    query = request.query_params.get("product", "").strip()[:64]
    context: dict[str, Any] = {"query": query, "error": None, "candidates": [], "marked": "", "found": None}
    if not query or not node.enrolled:
        return page(request, "stock.html", **context)
    code, marked, candidates = find_product(node, query, lang)
    if candidates:
        return page(request, "stock.html", **{**context, "candidates": candidates})
    try:
        found = await api.lookup_stock(request, code, lang)
    except NotFound as exc:
        return page(request, "stock.html", status_code=404, **{**context, "error": transfers.error_text(exc, lang)})
    try:
        own: dict[str, Any] | None = stock_views.own_stock(node, code, lang)
    except NotFound:  # HQ knows the product; this PC's catalogue does not yet
        own = None
    cols = columns(own["skus"] if own else [], found["stores"])
    return page(
        request,
        "stock.html",
        **{
            **context,
            "marked": marked,
            "found": found,
            "own": own,
            "grid": own_grid(own["skus"]) if own else None,
            "columns": cols,
            "groups": colour_groups(cols),
            "rows": store_rows(found, cols),
        },
    )


routes: list[BaseRoute] = [Route("/stock", stock_page, methods=["GET"]), *transfers.routes]
