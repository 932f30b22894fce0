"""The ``storedesk`` command: ``storedesk hq ...``, ``storedesk store ...``, ``storedesk demo``."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from hq_server import cli as hq_cli
    from store_node import cli as store_cli

    parser = argparse.ArgumentParser(
        prog="storedesk",
        description="StoreDesk: offline-first customer-service tickets for retail chains.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{hq,store,demo}")
    hq_cli.register(sub)
    store_cli.register(sub)
    demo = sub.add_parser("demo", help="run HQ and three demo stores on this machine")
    demo.add_argument("--data", default="demo-data", help="folder for the demo's files (default: demo-data)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--hq-port", type=int, default=8700, help="HQ port; stores use the next three")
    demo.add_argument("--fresh", action="store_true", help="delete the demo folder first")
    demo.set_defaults(func=_run_demo)
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    import storedesk_demo

    return storedesk_demo.run(args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
