"""The OpenAPI document HQ serves at ``/openapi.json``, built from the routes.

Each endpoint's summary and description come from its docstring (first line, then the rest);
parameters and bodies from :func:`operation`. Starlette's generator expects YAML docstrings;
ours are plain prose, so :class:`DocstringSchemaGenerator` reads them as such.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.schemas import SchemaGenerator

from hq_server.responses import json_response

F = TypeVar("F", bound=Callable[..., Any])

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
                "expected_seq": {"type": "integer"},
            },
        }
    },
}

BASE: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "StoreDesk HQ",
        "version": "1",
        "description": "Staff API (JSON; a signed-in user's `sd_session` cookie with `X-CSRF-Token` on "
        "unsafe methods, or `Authorization: Bearer <admin token>` as the integration; scope enforced "
        "per role, 403 `out_of_scope` / `admin_only` / `read_only`) and sync endpoints "
        '(msgpack, node token; see docs/sync.md). Errors: `{"error": {"code", "message", "field"}}`.',
    },
    "components": {
        "schemas": {"Error": ERROR_SCHEMA},
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "sd_session"},
        },
    },
    "security": [{"bearer": []}, {"session": []}],
}


def query(name: str, description: str, schema_type: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": schema_type},
    }


def path_id(description: str = "ticket id or number") -> dict[str, Any]:
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def operation(
    *,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    media_type: str = "application/json",
) -> Callable[[F], F]:
    """Attach OpenAPI parameters and a request body schema to an endpoint."""

    def mark(func: F) -> F:
        spec: dict[str, Any] = {}
        if parameters:
            spec["parameters"] = parameters
        if body is not None:
            spec["requestBody"] = {"required": True, "content": {media_type: {"schema": body}}}
        func.__dict__["openapi"] = spec
        return func

    return mark


class DocstringSchemaGenerator(SchemaGenerator):
    def parse_docstring(self, func_or_method: Callable[..., Any]) -> dict[str, Any]:
        doc = inspect.getdoc(func_or_method)
        if not doc:
            return {}
        summary, _, description = doc.partition("\n")
        spec: dict[str, Any] = {"summary": summary.strip()}
        if description.strip():
            spec["description"] = description.strip()
        spec.update(getattr(func_or_method, "openapi", {}))
        spec["responses"] = {
            "200": {"description": "success"},
            "default": {
                "description": "error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        }
        return spec


schemas = DocstringSchemaGenerator(BASE)


async def openapi_document(request: Request) -> Response:
    """The OpenAPI document of this API."""
    return json_response(schemas.get_schema(routes=request.app.routes))
