"""``storedesk store serve``: run a store node (optionally in its desktop window)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from store_node.replica import default_data_dir


def register(sub: Any) -> None:
    store = sub.add_parser("store", help="run a store node")
    actions = store.add_subparsers(dest="action", required=True, metavar="{serve}")
    serve = actions.add_parser("serve", help="serve the store node's local UI and sync with HQ")
    serve.add_argument("--hq", default=os.environ.get("STOREDESK_HQ_URL"), help="HQ base URL (STOREDESK_HQ_URL)")
    serve.add_argument(
        "--token",
        default=os.environ.get("STOREDESK_TOKEN"),
        help="node token from enroll-store (STOREDESK_TOKEN)",
    )
    serve.add_argument(
        "--data",
        default=os.environ.get("STOREDESK_DATA"),
        help="replica folder (STOREDESK_DATA; default: app-data folder)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface for the local UI (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8710, help="port for the local UI (default 8710)")
    serve.add_argument("--window", action="store_true", help="open the desktop window (needs storedesk[desktop])")
    serve.set_defaults(func=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    if not args.hq:
        print("storedesk store serve: --hq is required (or set STOREDESK_HQ_URL)", file=sys.stderr)
        return 2
    if not args.token:
        print("storedesk store serve: --token is required (or set STOREDESK_TOKEN)", file=sys.stderr)
        return 2
    if not (1 <= args.port <= 65535):
        print(f"storedesk store serve: --port {args.port} is not a port number", file=sys.stderr)
        return 2
    data = Path(args.data) if args.data else default_data_dir()
    try:
        data.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"storedesk store serve: cannot use data folder {data}: {exc}", file=sys.stderr)
        return 2
    from store_node.app import create_app

    app = create_app(data, args.hq, args.token)
    if args.window:
        from store_node.window import run_window

        return run_window(app, args.host, args.port)
    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
