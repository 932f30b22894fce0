"""Node tokens as printed by ``storedesk hq enroll-store`` and passed to ``storedesk store serve``."""

from __future__ import annotations

from hq_server.nodes import new_token
from storedesk_cli import build_parser


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
