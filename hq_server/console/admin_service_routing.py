"""Routing rules: the ordered list with each rule's conditions and actions in words, the rule set
as JSON in a textarea (as ``storedesk hq rules export`` writes it), and move up / move down /
delete buttons. Every change goes through :func:`hq_server.routing.replace_rules`, the gate of
``PUT /api/v1/routing-rules``: a refusal names the path at fault and changes nothing."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hq_server import reference, routing
from hq_server.console.admin_service_common import FieldError, admin_form, admin_page, field_error, lang, read, write
from hq_server.console.render import page
from hq_server.console.texts import t
from hq_server.context import HqContext
from hq_server.routing_rules import Rule, dump_rules
from sync_protocol.errors import InvalidField

TEMPLATE = "console_admin_service_routing.html"
#: Condition lists in the order they are told, with their text key.
CONDITIONS = ("types", "channels", "stores", "regions", "customer_levels", "product_categories", "keywords")


def describe_when(rule: Rule, names: dict[str, str], language: str) -> str:
    """``工单类型为 质量问题 或 退款；且 关键词包含 破损`` / ``type is Quality or Refund; and ...``."""
    parts = []
    for condition in CONDITIONS:
        values: list[str] = getattr(rule.when, condition)
        if values:
            shown = [names.get(value, value) if condition == "types" else value for value in values]
            joined = t("as_or", language).join(shown)
            parts.append(t(f"as_when_{condition}", language, values=joined))
    return t("as_and", language).join(parts) if parts else t("as_when_any", language)


def describe_then(rule: Rule, names: dict[str, str], language: str) -> str:
    then = rule.then
    parts = []
    if then.department:
        parts.append(t("as_then_department", language, value=names.get(then.department, then.department)))
    if then.priority:
        parts.append(t("as_then_priority", language, value=t(f"as_priority_{then.priority}", language)))
    if then.tags:
        parts.append(t("as_then_tags", language, value=", ".join(then.tags)))
    return t("as_and", language).join(parts)


def _names(conn: Any, language: str) -> dict[str, str]:
    names: dict[str, str] = {}
    for row in [*reference.list_ticket_types(conn), *reference.list_departments(conn)]:
        names[row["code"]] = row["name_en"] if language == "en" and row["name_en"] else row["name_zh"]
    return names


async def _show(request: Request, caller: Any, *, error: FieldError | None = None, text: str | None = None) -> Response:
    language = lang(request)

    def work(conn: Any) -> tuple[list[Rule], dict[str, str]]:
        return routing.load_rules(conn), _names(conn, language)

    rules, names = await read(request, work)
    items = [
        {"rule": rule, "when": describe_when(rule, names, language), "then": describe_then(rule, names, language)}
        for rule in rules
    ]
    return page(
        request,
        caller,
        TEMPLATE,
        status_code=422 if error is not None else 200,
        items=items,
        rules_json=text if text is not None else dump_rules(rules).decode(),
        error=error,
        saved=request.query_params.get("saved") == "1",
        screen="routing",
    )


async def rules_page(request: Request) -> Response:
    caller = await admin_page(request)
    if isinstance(caller, Response):
        return caller
    return await _show(request, caller)


def _replace(data: object) -> Any:
    def work(hq: HqContext, conn: Any) -> None:
        routing.replace_rules(conn, data, hq.clock.wall())

    return work


async def save_rules(request: Request) -> Response:
    """The rule set from the textarea: a JSON list of rules (or ``{"rules": [...]}``)."""
    posted = await admin_form(request)
    if isinstance(posted, Response):
        return posted
    caller, form = posted
    text = str(form.get("rules_json", ""))
    try:
        data: object = msgspec.json.decode(text)
        if isinstance(data, dict) and "rules" in data:
            data = data["rules"]
        await write(request, _replace(data))
    except msgspec.DecodeError as exc:
        error = FieldError("rules", t("as_bad_json", lang(request), detail=str(exc)))
        return await _show(request, caller, error=error, text=text)
    except InvalidField as exc:
        return await _show(request, caller, error=field_error(exc, lang(request)), text=text)
    return RedirectResponse("/console/admin/routing?saved=1", status_code=303)


async def change_rule(request: Request) -> Response:
    """Move a rule up or down one place, or delete it (``action`` = ``up``, ``down``, ``delete``)."""
    posted = await admin_form(request)
    if isinstance(posted, Response):
        return posted
    caller, form = posted
    rule_id = request.path_params["id"]
    action = str(form.get("action", ""))

    def work(hq: HqContext, conn: Any) -> None:
        rules = routing.load_rules(conn)
        index = next((i for i, rule in enumerate(rules) if rule.id == rule_id), None)
        if index is None:
            return
        if action == "delete":
            del rules[index]
        elif action in ("up", "down"):
            other = index - 1 if action == "up" else index + 1
            if 0 <= other < len(rules):
                rules[index], rules[other] = rules[other], rules[index]
        routing.replace_rules(conn, msgspec.to_builtins(rules), hq.clock.wall())

    try:
        await write(request, work)
    except InvalidField as exc:
        return await _show(request, caller, error=field_error(exc, lang(request)))
    return RedirectResponse("/console/admin/routing?saved=1", status_code=303)


routes: list[BaseRoute] = [
    Route("/console/admin/routing", rules_page, methods=["GET"]),
    Route("/console/admin/routing", save_rules, methods=["POST"]),
    Route("/console/admin/routing/{id}", change_rule, methods=["POST"]),
]
