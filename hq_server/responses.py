"""Response helpers and the one mapping from errors to the JSON error envelope.

Every non-2xx answer of HQ, sync endpoints included, is
``{"error": {"code": ..., "message": ..., "field": ...}}`` (:class:`sync_protocol.messages.ErrorBody`;
``field`` only when one is at fault, ``expected_seq`` on a seq gap). The message is rendered from
the code in the caller's language (``Accept-Language: en`` for English, Chinese otherwise).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from hq_server.errors import HqError, MethodNotAllowed, NotFound, SeqGap, Unavailable
from sync_protocol.i18n import lang_of, render
from sync_protocol.messages import ErrorBody, ErrorDetail, json_encoder, msgpack_encoder
from sync_protocol.version import MSGPACK_CONTENT_TYPE

log = logging.getLogger("storedesk.hq")

JSON_CONTENT_TYPE = "application/json"


def msgpack_response(message: msgspec.Struct, status_code: int = 200) -> Response:
    return Response(msgpack_encoder.encode(message), status_code=status_code, media_type=MSGPACK_CONTENT_TYPE)


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(json_encoder.encode(content), status_code=status_code, media_type=JSON_CONTENT_TYPE)


def request_lang(request: Request) -> str:
    return lang_of(request.headers.get("accept-language"))


def error_body(exc: HqError, lang: str) -> ErrorBody:
    """The envelope for ``exc`` in ``lang``."""
    detail = ErrorDetail(
        code=exc.code,
        message=render(exc.code, lang, field=exc.field, **exc.params),
        field=exc.field,
        expected_seq=exc.expected_seq if isinstance(exc, SeqGap) else None,
    )
    return ErrorBody(error=detail)


def error_response(exc: HqError, lang: str) -> Response:
    response = json_response(error_body(exc, lang), status_code=exc.status)
    if isinstance(exc, Unavailable):
        response.headers["Retry-After"] = "1"
    return response


async def handle_hq_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HqError)
    if isinstance(exc, Unavailable):
        log.warning("database unavailable: %s", exc.params.get("detail", ""))
    return error_response(exc, request_lang(request))


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such route, wrong method) in the same envelope."""
    assert isinstance(exc, HTTPException)
    mapped: HqError
    if exc.status_code == 405:
        mapped = MethodNotAllowed()
    elif exc.status_code == 404:
        mapped = NotFound()
    else:
        mapped = HqError("internal_error")
        mapped.status = exc.status_code
    return error_response(mapped, request_lang(request))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """A bug: logged with its traceback, answered 500 in the envelope; HQ goes on serving."""
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(HqError("internal_error"), request_lang(request))


EXCEPTION_HANDLERS = {
    HqError: handle_hq_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
