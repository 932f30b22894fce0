"""Node tokens as printed by ``storedesk hq enroll-store`` and passed to ``storedesk store serve``."""

from __future__ import annotations

import pytest

from hq_server.enrollment import enroll_store
from hq_server.errors import InvalidInput
from hq_server.nodes import new_token
from storedesk_cli import build_parser
from sync_protocol.i18n import render
from tests.hq.helpers import Hq


def test_node_token_never_starts_with_a_dash_so_the_cli_reads_it_as_a_value() -> None:
    # A bare URL-safe token starts with "-" one time in 64; 2,000 draws would all but surely hit one.
    tokens = [new_token() for _ in range(2000)]
    assert not [t for t in tokens if t.startswith("-")]
    assert len(set(tokens)) == len(tokens)


def test_store_serve_reads_new_tokens_as_the_token_value() -> None:
    parser = build_parser()
    for token in [new_token() for _ in range(200)]:
        args = parser.parse_args(["store", "serve", "--hq", "http://127.0.0.1:1", "--token", token])
        assert args.token == token


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("SH012-2", "invalid_store_code"),  # would number like the second PC of SH012
        ("SH 01", "invalid_store_code"),
        ("", "invalid_store_code"),
        ("x" * 41, "invalid_store_code"),
        ("HQ", "reserved_store_code"),  # HQ numbers its own tickets HQ-000001
        ("hq", "reserved_store_code"),
    ],
)
def test_store_codes_that_would_make_clashing_ticket_numbers_are_refused(hq: Hq, code: str, error: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        enroll_store(hq.ctx.db, hq.ctx.clock, code)
    assert (caught.value.code, caught.value.field) == (error, "code")
    assert render(caught.value.code, "zh", field="code", **caught.value.params) != caught.value.code


def test_store_codes_of_letters_digits_and_underscores_enroll(hq: Hq) -> None:
    for code in ("SH012", "sh_01", "9"):
        assert enroll_store(hq.ctx.db, hq.ctx.clock, code).store_code == code
