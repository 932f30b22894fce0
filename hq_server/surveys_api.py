"""HTTP handlers of the satisfaction survey: the customer's page and its answer (public: the
signed token in the path is the only credential), and the results for reports (admin token).

    GET  /survey/{token}           the survey page (HTML), or a page saying why it cannot be used
    POST /survey/{token}           the answer: form fields ``score`` and ``comment``, or JSON
    GET  /api/v1/surveys/results   counts, averages and distributions (``?department=``)

The page is in Simplified Chinese, in English with ``?lang=en`` or ``Accept-Language: en``. It
loads nothing from elsewhere and works on a phone. Status codes, for the page and for JSON alike:
404 ``invalid_survey_link`` (malformed, tampered, unknown), 410 ``survey_expired``, 409
``survey_already_answered`` (the first answer stands), 422 a bad ``score``/``comment`` (the field
is named), 400 a body that cannot be read (``invalid_json``, ``malformed_body``), 413 a body over
16 KB. No CSRF token: a forged POST needs the link, which is the capability itself, and a survey
takes one answer only.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

import msgspec
import sqlalchemy as sa
from jinja2 import Environment, PackageLoader
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from hq_server import surveys
from hq_server.auth import staff_principal
from hq_server.context import context_of
from hq_server.errors import Forbidden
from hq_server.responses import json_response
from hq_server.schema import surveys as surveys_table
from hq_server.schema import tickets
from sync_protocol.errors import InvalidField
from sync_protocol.i18n import lang_of, render
from sync_protocol.messages import ErrorBody, ErrorDetail

#: Largest answer body read (a 500-character comment in any encoding fits many times over).
MAX_BODY_BYTES = 16 * 1024

#: HTTP status of each code the survey endpoints answer with.
STATUS_OF: dict[str, int] = {
    surveys.INVALID_LINK: 404,
    surveys.EXPIRED: 410,
    surveys.ALREADY_ANSWERED: 409,
    "invalid_json": 400,
    "malformed_body": 400,
    "body_too_large": 413,
}
_FIELD_ERROR_STATUS = 422

#: The page's texts (the customer sees these, not the staff texts of sync_protocol.texts).
PAGE_TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "服务满意度调查",
        "intro": "您的工单已处理完毕。请您为本次服务打分，您的意见将帮助我们改进。",
        "ticket_label": "工单号",
        "score_legend": "您对本次服务满意吗？",
        "comment_label": "意见或建议（选填）",
        "comment_placeholder": "请告诉我们哪里做得好、哪里需要改进",
        "comment_hint": f"最多 {surveys.MAX_SURVEY_COMMENT_LENGTH} 字",
        "submit": "提交评价",
        "thanks_title": "感谢您的评价",
        "thanks": "我们已收到您的反馈，将用于持续改进服务。",
        "answered_title": "您已完成评价",
        "answered": "本次服务您已评价过，感谢您的反馈。",
        "invalid_title": "链接无效",
        "invalid": "该调查链接无效，请确认打开的是短信中的完整链接。",
        "expired_title": "链接已过期",
        "expired": "该调查链接已过期（有效期 30 天），感谢您的关注。",
        "malformed_title": "提交失败",
        "malformed": "提交的内容无法读取，请返回后重新提交。",
        "score_required": "请选择满意度评分。",
        "score_invalid": "评分应为 1 到 5 分。",
        "comment_too_long": f"意见或建议不能超过 {surveys.MAX_SURVEY_COMMENT_LENGTH} 字。",
        "comment_invalid": "意见或建议含有无法保存的字符，请修改后重新提交。",
        "other_lang_label": "English",
    },
    "en": {
        "title": "Customer satisfaction survey",
        "intro": "Your request has been resolved. Please rate our service; your feedback helps us improve.",
        "ticket_label": "Ticket",
        "score_legend": "How satisfied are you with our service?",
        "comment_label": "Comments or suggestions (optional)",
        "comment_placeholder": "Tell us what went well and what we could do better",
        "comment_hint": f"Up to {surveys.MAX_SURVEY_COMMENT_LENGTH} characters",
        "submit": "Submit",
        "thanks_title": "Thank you for your feedback",
        "thanks": "We have received your answer and will use it to improve our service.",
        "answered_title": "Already answered",
        "answered": "You have already answered this survey. Thank you for your feedback.",
        "invalid_title": "Invalid link",
        "invalid": "This survey link is not valid. Please make sure you opened the whole link from the message.",
        "expired_title": "Link expired",
        "expired": "This survey link has expired (links are valid for 30 days). Thank you all the same.",
        "malformed_title": "Could not submit",
        "malformed": "Your answer could not be read. Please go back and submit it again.",
        "score_required": "Please choose a score.",
        "score_invalid": "The score must be from 1 to 5.",
        "comment_too_long": f"Comments may be at most {surveys.MAX_SURVEY_COMMENT_LENGTH} characters long.",
        "comment_invalid": "Your comments hold characters that cannot be stored; please edit them and submit again.",
        "other_lang_label": "中文",
    },
}
#: Labels of the scores 1..5.
SCORE_LABELS: dict[str, tuple[str, ...]] = {
    "zh": ("非常不满意", "不满意", "一般", "满意", "非常满意"),
    "en": ("Very dissatisfied", "Dissatisfied", "Neutral", "Satisfied", "Very satisfied"),
}
#: Page text keys of the link problems: code -> (title key, message key).
_LINK_TEXTS: dict[str, tuple[str, str]] = {
    surveys.INVALID_LINK: ("invalid_title", "invalid"),
    surveys.EXPIRED: ("expired_title", "expired"),
    surveys.ALREADY_ANSWERED: ("answered_title", "answered"),
    "invalid_json": ("malformed_title", "malformed"),
    "malformed_body": ("malformed_title", "malformed"),
    "body_too_large": ("malformed_title", "malformed"),
}
#: The token is a credential: keep the page out of caches, referrers and frames.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
}

_templates = Environment(loader=PackageLoader("hq_server", "templates"), autoescape=True)
_json_decoder = msgspec.json.Decoder()


class _Unreadable(Exception):
    """An answer body that cannot be read (``invalid_json``, ``malformed_body``, ``body_too_large``),
    with the parameters of its text."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params: dict[str, object] = params


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def page_lang(request: Request) -> str:
    """``?lang=en``/``?lang=zh`` first, then ``Accept-Language``; Chinese by default."""
    asked = request.query_params.get("lang", "").strip().lower()
    if asked.startswith("en"):
        return "en"
    if asked.startswith("zh"):
        return "zh"
    return lang_of(request.headers.get("accept-language"))


def _wants_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower() == "application/json"


def _field_text_key(exc: InvalidField) -> str:
    if exc.field == "score":
        return "score_required" if exc.code == "required" else "score_invalid"
    return "comment_too_long" if exc.code == "too_long" else "comment_invalid"


# -- rendering ----------------------------------------------------------------------------------


def _page(lang: str, status: int = 200, **values: Any) -> Response:
    """The survey template: ``state`` ``form`` (with ``error``, ``selected``, ``comment``) or
    ``message`` (``title`` and ``message``); ``number`` is the ticket's number."""
    texts = PAGE_TEXTS[lang]
    context: dict[str, Any] = {
        "state": "message",
        "title": texts["title"],
        "message": "",
        "number": None,
        "error": None,
        "selected": None,
        "comment": "",
        **values,
        "lang": lang,
        "html_lang": "en" if lang == "en" else "zh-CN",
        "other_lang": "zh" if lang == "en" else "en",
        "t": texts,
        "choices": list(zip(surveys.SCORES, SCORE_LABELS[lang], strict=True)),
        "max_comment": surveys.MAX_SURVEY_COMMENT_LENGTH,
    }
    html = _templates.get_template("survey.html").render(context)
    return HTMLResponse(html, status_code=status, headers=_PAGE_HEADERS)


def _form_page(lang: str, survey: surveys.Survey, status: int = 200, **values: Any) -> Response:
    return _page(lang, status, state="form", number=survey.ticket_number, **values)


def _message_page(lang: str, code: str, number: str | None = None) -> Response:
    title_key, message_key = _LINK_TEXTS[code]
    texts = PAGE_TEXTS[lang]
    return _page(lang, STATUS_OF[code], title=texts[title_key], message=texts[message_key], number=number)


def _thanks_page(lang: str, number: str) -> Response:
    texts = PAGE_TEXTS[lang]
    return _page(lang, 200, title=texts["thanks_title"], message=texts["thanks"], number=number)


def _json_error(
    lang: str,
    status: int,
    code: str,
    field: str | None = None,
    message: str = "",
    params: dict[str, object] | None = None,
) -> Response:
    """The HQ error envelope; the message comes from sync_protocol.texts, or the page's own text
    while texts has no entry for the code."""
    rendered = render(code, lang, field=field, **(params or {}))
    detail = ErrorDetail(code=code, message=rendered if rendered != code else message or code, field=field)
    return json_response(ErrorBody(error=detail), status_code=status)


def _link_error(
    lang: str, code: str, wants_json: bool, number: str | None = None, params: dict[str, object] | None = None
) -> Response:
    if wants_json:
        message = PAGE_TEXTS[lang][_LINK_TEXTS[code][1]]
        return _json_error(lang, STATUS_OF[code], code, message=message, params=params)
    return _message_page(lang, code, number)


# -- handlers -----------------------------------------------------------------------------------


def _open_survey(conn: Connection, token: str, now_ms: int) -> surveys.Survey:
    survey_id = surveys.read_token(surveys.secret_of(conn), token, now_ms)
    found = surveys.load_survey(conn, survey_id)
    if found is None:  # signed by this HQ, but the survey is gone (a restored database...)
        raise surveys.SurveyError(surveys.INVALID_LINK)
    return found


async def survey_page(request: Request) -> Response:
    """The survey page of a signed link: the form, a thank-you page once answered, or a page
    saying the link is invalid or expired."""
    hq = context_of(request)
    lang = page_lang(request)
    token = request.path_params["token"]

    def run() -> surveys.Survey:
        with hq.db.read() as conn:
            return _open_survey(conn, token, _now_ms())

    try:
        survey = await run_in_threadpool(run)
    except surveys.SurveyError as exc:
        return _message_page(lang, exc.code)
    if survey.answered_at is not None:
        texts = PAGE_TEXTS[lang]
        return _page(lang, 200, title=texts["thanks_title"], message=texts["answered"], number=survey.ticket_number)
    return _form_page(lang, survey)


async def _read_answer(request: Request, wants_json: bool) -> tuple[object, object]:
    """``score`` and ``comment`` as sent: JSON values as they are, form text with the score made
    an int when it is one."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _Unreadable("body_too_large", limit=MAX_BODY_BYTES)
        chunks.append(chunk)
    body = b"".join(chunks)
    if wants_json:
        try:
            data = _json_decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise _Unreadable("invalid_json") from exc
        if not isinstance(data, dict):
            raise _Unreadable("invalid_json")
        return data.get("score"), data.get("comment")
    # The page's form posts application/x-www-form-urlencoded (the body is already read, capped).
    try:
        fields = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise _Unreadable("malformed_body", detail=type(exc).__name__) from exc
    score: object = fields.get("score", [None])[0]
    comment: object = fields.get("comment", [None])[0]
    if isinstance(score, str) and score.strip().isdecimal() and len(score.strip()) <= 2:
        score = int(score.strip())
    return score, comment


async def answer_survey(request: Request) -> Response:
    """Answer a survey once: `score` (1..5) and an optional `comment` (at most 500 characters),
    as a form (answers the thank-you page) or as JSON (answers `{"status": "answered"}`)."""
    hq = context_of(request)
    lang = page_lang(request)
    token = request.path_params["token"]
    wants_json = _wants_json(request)
    try:
        score, comment = await _read_answer(request, wants_json)
    except _Unreadable as exc:
        return _link_error(lang, exc.code, wants_json, params=exc.params)

    def run() -> tuple[surveys.Survey, InvalidField | None]:
        now = _now_ms()
        # The link is checked before HQ's writer lock is taken: a stranger's made-up link must
        # not queue up behind (or in front of) the stores' pushes.
        with hq.db.read() as conn:
            _open_survey(conn, token, now)
        with hq.db.write() as conn:
            survey = _open_survey(conn, token, now)
            try:
                surveys.answer(conn, survey.id, score=score, comment=comment, now_ms=now)
            except InvalidField as exc:
                return survey, exc
        return survey, None

    try:
        survey, invalid = await run_in_threadpool(run)
    except surveys.SurveyError as exc:
        return _link_error(lang, exc.code, wants_json)
    if invalid is not None:
        message = PAGE_TEXTS[lang][_field_text_key(invalid)]
        if wants_json:
            return _json_error(lang, _FIELD_ERROR_STATUS, invalid.code, invalid.field, message)
        return _form_page(
            lang,
            survey,
            _FIELD_ERROR_STATUS,
            error=message,
            selected=score if isinstance(score, int) else None,
            comment=comment if isinstance(comment, str) else "",
        )
    if wants_json:
        return json_response({"status": "answered"})
    return _thanks_page(lang, survey.ticket_number)


async def get_results(request: Request) -> Response:
    """Survey results: `sent` (surveys opened), `count` (answered), `average` score and
    `distribution` (`"1"`..`"5"`), overall, per department and per agent (`assignee`).

    `?department=` limits them to one department. Scoped like the reports: roles that see reports
    only (403 `reports_not_allowed`); a group lead sees their departments' surveys (another
    department asked for: 403 `out_of_scope`), a regional manager those of their stores' tickets.
    """
    hq, principal = await staff_principal(request)
    if not principal.sees_reports:
        raise Forbidden("reports_not_allowed")
    department = request.query_params.get("department", "").strip() or None
    scope: sa.ColumnElement[bool] | None = None
    if principal.is_departmental:
        if department is not None and department not in principal.departments:
            raise Forbidden("out_of_scope")
        scope = surveys_table.c.department.in_(sorted(principal.departments))
    store_scope = principal.store_condition(tickets.c.store_id)
    if store_scope is not None:
        in_stores = sa.select(tickets.c.id).where(store_scope)
        scope = surveys_table.c.ticket_id.in_(in_stores.scalar_subquery())

    def run() -> dict[str, Any]:
        with hq.db.read() as conn:
            return surveys.results(conn, department=department, scope=scope)

    return json_response(await run_in_threadpool(run))


routes = [
    Route("/survey/{token}", survey_page, methods=["GET"]),
    Route("/survey/{token}", answer_survey, methods=["POST"]),
    Route("/api/v1/surveys/results", get_results, methods=["GET"]),
]
