"""Who is at the till and in which language: two cookies of the local UI.

The language (``sd_lang``: ``zh`` or ``en``; Chinese unless the clerk switched). The clerk
(``sd_clerk``), signed with a secret this replica makes once, so a page cannot be told another
name by editing the cookie:

- a store with accounts from HQ (:mod:`store_node.accounts`): the account's id, display name and
  username. Every page looks the account up again: one deactivated (or no longer at this store)
  since is signed out, and its current display name is shown;
- a store with no account yet: the name and staff number the clerk typed. Once the store has
  accounts, such a cookie is no longer taken.

:attr:`Clerk.actor` is what tickets, comments and steps record as their author.
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

from store_node import accounts
from store_node.node import Node

LANG_COOKIE = "sd_lang"
CLERK_COOKIE = "sd_clerk"
LANGS = ("zh", "en")
_SECRET_KEY = "ui_secret"
#: ``meta`` key prefix: when an account last signed out on this PC.
_SIGNED_OUT_KEY = "signed_out:"
#: A clerk stays signed in for a shift and a bit.
CLERK_MAX_AGE_S = 14 * 3600


@dataclass(frozen=True)
class Clerk:
    name: str
    staff_no: str = ""
    #: The store account signed in with ("" for the name-only sign-in).
    account_id: str = ""
    username: str = ""

    @property
    def actor(self) -> str:
        """How ops record the clerk: ``上海店员 小王 (sh001.clerk)``, or ``王芳 (0012)`` when the
        store has no accounts."""
        if self.account_id:
            return f"{self.name} ({self.username})"
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
    """The signed-in clerk, or None (no cookie, one this replica did not sign, an account that
    is no longer active here, or a name-only cookie in a store that now has accounts)."""
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
        name, account_id, issued = str(data["name"]), str(data.get("id", "")), int(data["iat"])
    except (ValueError, KeyError, TypeError):
        return None
    if not 0 <= node.wall_ms() - issued <= CLERK_MAX_AGE_S * 1000:
        return None  # a shift is over (whatever the browser kept)
    if not account_id:
        return None if accounts.in_use(node) else Clerk(name=name, staff_no=str(data.get("staff_no", "")))
    account = accounts.find(node, account_id)
    if account is None or not account.active or account.updated_at != data.get("v"):
        return None  # gone, deactivated or moved, or HQ changed its password, PIN or name since
    if issued <= node.replica.get_int(_SIGNED_OUT_KEY + account.id):
        return None  # the account signed out on this PC after this cookie was issued
    return Clerk(name=account.display_name, account_id=account.id, username=account.username)


def sign_in(node: Node, response: Response, clerk: Clerk) -> None:
    """Sign ``clerk`` in: a cookie with the account (and HQ's version of it) and when it was issued,
    signed with this replica's secret."""
    fields: dict[str, object] = {"name": clerk.name, "iat": node.wall_ms()}
    if clerk.account_id:
        account = accounts.find(node, clerk.account_id)
        fields.update(id=clerk.account_id, username=clerk.username, v=account.updated_at if account else None)
    else:
        fields["staff_no"] = clerk.staff_no
    payload = json.dumps(fields, ensure_ascii=False).encode()
    value = f"{base64.urlsafe_b64encode(payload).decode()}.{_sign(node, payload)}"
    response.set_cookie(CLERK_COOKIE, value, max_age=CLERK_MAX_AGE_S, httponly=True, samesite="strict")


def sign_out(node: Node, request: Request, response: Response) -> None:
    """Sign the clerk out: the cookie goes, and every cookie of the account issued on this PC
    before now stops working (a copied one too)."""
    clerk = clerk_of(node, request)
    if clerk is not None and clerk.account_id:
        node.replica.set(**{_SIGNED_OUT_KEY + clerk.account_id: node.wall_ms()})
    response.delete_cookie(CLERK_COOKIE)


def set_lang(response: Response, lang: str) -> None:
    response.set_cookie(LANG_COOKIE, lang if lang in LANGS else "zh", max_age=365 * 86400, samesite="lax")
