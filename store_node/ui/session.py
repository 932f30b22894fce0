"""Who is at the till and in which language: two cookies of the local UI.

The language (``sd_lang``: ``zh`` or ``en``; Chinese unless the clerk switched). The clerk
(``sd_clerk``): the name and staff number a clerk signed in with, signed with a secret this
replica makes once, so a page cannot be told another name by editing the cookie. The name is
what tickets, comments and steps record as their author. (Checking clerks against HQ accounts
comes with HQ's users and roles.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from store_node.node import Node

LANG_COOKIE = "sd_lang"
CLERK_COOKIE = "sd_clerk"
LANGS = ("zh", "en")
_SECRET_KEY = "ui_secret"
#: A clerk stays signed in for a shift and a bit.
CLERK_MAX_AGE_S = 14 * 3600


@dataclass(frozen=True)
class Clerk:
    name: str
    staff_no: str = ""

    @property
    def actor(self) -> str:
        """How ops record the clerk: ``王芳 (0012)``."""
        return f"{self.name} ({self.staff_no})" if self.staff_no else self.name


def lang_of(request: Request) -> str:
    """``?lang=`` for this page, else the cookie, else Chinese."""
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE, "")
    return wanted if wanted in LANGS else "zh"


def _secret(node: Node) -> bytes:
    value = node.replica.get(_SECRET_KEY)
    if not value:
        value = secrets.token_urlsafe(32)
        node.replica.set(**{_SECRET_KEY: value})
    return value.encode()


def _sign(node: Node, payload: bytes) -> str:
    return hmac.new(_secret(node), payload, hashlib.sha256).hexdigest()[:32]


def clerk_of(node: Node, request: Request) -> Clerk | None:
    """The signed-in clerk, or None (no cookie, or one this replica did not sign)."""
    raw = request.cookies.get(CLERK_COOKIE, "")
    body, _, mac = raw.partition(".")
    if not body or not mac:
        return None
    try:
        payload = base64.urlsafe_b64decode(body.encode())
    except (ValueError, TypeError):
        return None
    if not hmac.compare_digest(_sign(node, payload), mac):
        return None
    try:
        data = json.loads(payload)
        return Clerk(name=str(data["name"]), staff_no=str(data.get("staff_no", "")))
    except (ValueError, KeyError, TypeError):
        return None


def sign_in(node: Node, response: Response, clerk: Clerk) -> None:
    payload = json.dumps({"name": clerk.name, "staff_no": clerk.staff_no}, ensure_ascii=False).encode()
    value = f"{base64.urlsafe_b64encode(payload).decode()}.{_sign(node, payload)}"
    response.set_cookie(CLERK_COOKIE, value, max_age=CLERK_MAX_AGE_S, httponly=True, samesite="strict")


def sign_out(response: Response) -> None:
    response.delete_cookie(CLERK_COOKIE)


def set_lang(response: Response, lang: str) -> None:
    response.set_cookie(LANG_COOKIE, lang if lang in LANGS else "zh", max_age=365 * 86400, samesite="lax")
