"""``storedesk hq ...``: serve HQ, enroll a store PC, initialise the database.

Operator errors (bad ``--db``, missing admin token, bad store code, database unreachable) print
one line to stderr and exit with 2; nothing prints a traceback for them.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import uvicorn

from hq_server.app import context, create_app, open_hq
from hq_server.errors import HqError
from hq_server.notify import ChangeNotifier
from sync_protocol.i18n import render

DEFAULT_DB = "storedesk-hq.db"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700
DB_ENV = "STOREDESK_DB"
ADMIN_TOKEN_ENV = "STOREDESK_ADMIN_TOKEN"
PUBLIC_URL_ENV = "STOREDESK_PUBLIC_URL"
#: Seconds uvicorn waits for open requests at shutdown before cancelling them.
GRACEFUL_SHUTDOWN_S = 5


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``hq`` and its subcommands to the ``storedesk`` parser."""
    hq = sub.add_parser("hq", help="HQ: serve, enroll stores, initialise the database")
    actions = hq.add_subparsers(
        dest="action", required=True, metavar="{serve,enroll-store,init-db,import-products,import-orders,rules}"
    )
    db_help = f"SQLite file path or SQLAlchemy URL (postgresql+psycopg://...); env {DB_ENV}; default {DEFAULT_DB}"

    serve = actions.add_parser("serve", help="run the HQ server (sync endpoints and staff API)")
    serve.add_argument("--db", help=db_help)
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    serve.add_argument("--admin-token", help=f"bearer token of the staff API; env {ADMIN_TOKEN_ENV}")
    serve.add_argument(
        "--public-url", help=f"the address customers reach HQ at, for survey links (env {PUBLIC_URL_ENV})"
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=_run(_serve))

    enroll = actions.add_parser(
        "enroll-store",
        help="create a store if needed and a new node for one of its PCs; prints the token last",
    )
    enroll.add_argument("code", help="store code, such as SH012")
    enroll.add_argument("--db", help=db_help)
    enroll.add_argument("--name", help="store name (default: the code)")
    enroll.add_argument("--region", help="region code, such as east")
    enroll.set_defaults(func=_run(_enroll))

    init = actions.add_parser("init-db", help="create or migrate the HQ database")
    init.add_argument("--db", help=db_help)
    init.set_defaults(func=_run(_init_db))

    products = actions.add_parser(
        "import-products", help="create or update products and their SKUs from a CSV file (UTF-8)"
    )
    products.add_argument("file", help="CSV with product_code,name_zh,colour,size (+ name_en,category,price,...)")
    products.add_argument("--db", help=db_help)
    products.set_defaults(func=_run(_import_products))

    orders = actions.add_parser(
        "import-orders", help="add orders (online orders, store sales) from a CSV file (UTF-8), one row per line"
    )
    orders.add_argument(
        "file", help="CSV with order_no,channel,store,customer_phone,customer_name,paid_at,sku,qty,unit_price"
    )
    orders.add_argument("--db", help=db_help)
    orders.set_defaults(func=_run(_import_orders))

    rules = actions.add_parser("rules", help="export or import the routing rules (JSON file)")
    rules_actions = rules.add_subparsers(dest="rules_action", required=True, metavar="{export,import}")
    export = rules_actions.add_parser("export", help="write the routing rules as JSON (stdout or --output)")
    export.add_argument("--db", help=db_help)
    export.add_argument("--output", "-o", help="file to write (default: stdout)")
    export.set_defaults(func=_run(_export_rules))
    load = rules_actions.add_parser("import", help="replace the routing rules with those of a JSON file")
    load.add_argument("file", help="JSON list of rules, as `rules export` writes it")
    load.add_argument("--db", help=db_help)
    load.set_defaults(func=_run(_import_rules))


def _db(args: argparse.Namespace) -> str:
    return str(args.db or os.environ.get(DB_ENV) or DEFAULT_DB)


def _run(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn operator errors into a message on stderr and exit code 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except HqError as exc:
            print(f"storedesk hq: {render(exc.code, 'zh', field=exc.field, **exc.params)}", file=sys.stderr)
            return 2
        except ValueError as exc:  # e.g. a malformed STOREDESK_CLOCK_OFFSET_MS
            print(f"storedesk hq: {exc}", file=sys.stderr)
            return 2

    run.__doc__ = command.__doc__
    return run


def _init_db(args: argparse.Namespace) -> int:
    db, _ = open_hq(_db(args))
    try:
        print(f"HQ 数据库已就绪：{db.url.render_as_string(hide_password=True)}")
    finally:
        db.close()
    return 0


def _enroll(args: argparse.Namespace) -> int:
    from hq_server.enrollment import enroll_store

    db, clock = open_hq(_db(args))
    try:
        done = enroll_store(db, clock, args.code, name=args.name, region=args.region)
    finally:
        db.close()
    print(f"门店 {done.store_code} 已登记第 {done.node_no} 台电脑（节点 {done.node_id}）。节点令牌：")
    print(done.token)
    return 0


def _import_products(args: argparse.Namespace) -> int:
    from hq_server import products

    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise HqError("file_unreadable", detail=f"{args.file}: {exc}") from exc
    items = products.parse_csv(text)
    db, clock = open_hq(_db(args))
    try:
        done = products.import_products(db, clock, items)
    finally:
        db.close()
    print(f"已导入 {done.products} 个商品、{done.skus} 个 SKU（其中 {done.changed} 个商品有变化）")
    return 0


def _import_orders(args: argparse.Namespace) -> int:
    from hq_server import orders

    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise HqError("file_unreadable", detail=f"{args.file}: {exc}") from exc
    items = orders.parse_csv(text)
    db, clock = open_hq(_db(args))
    try:
        done = orders.import_orders(db, clock, items, clock.wall())
    finally:
        db.close()
    print(
        f"已读取 {done.orders} 个订单、{done.lines} 行明细：新建 {done.created} 个，"
        f"已存在 {done.already_present} 个（内容相同，未改动）"
    )
    return 0


def _export_rules(args: argparse.Namespace) -> int:
    from hq_server import routing
    from hq_server.routing_rules import dump_rules

    db, _ = open_hq(_db(args))
    try:
        with db.read() as conn:
            data = dump_rules(routing.load_rules(conn))
    finally:
        db.close()
    if args.output:
        try:
            Path(args.output).write_bytes(data)
        except OSError as exc:
            raise HqError("file_unreadable", detail=f"{args.output}: {exc}") from exc
    else:
        sys.stdout.write(data.decode())
    return 0


def _import_rules(args: argparse.Namespace) -> int:
    import time

    from hq_server import routing
    from hq_server.errors import InvalidInput
    from sync_protocol.errors import InvalidField

    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        raise HqError("file_unreadable", detail=f"{args.file}: {exc}") from exc
    db, _ = open_hq(_db(args))
    try:
        with db.write() as conn:
            try:
                rules = routing.import_file(conn, raw, time.time_ns() // 1_000_000)
            except InvalidField as exc:
                code = "invalid_rules_file" if exc.code == "invalid_json" else exc.code
                raise InvalidInput(code, field=exc.field, **exc.params) from exc
    finally:
        db.close()
    print(f"已导入 {len(rules)} 条分派规则")
    return 0


class HqServer(uvicorn.Server):
    """uvicorn that releases long-polling ``/sync/v1/wait`` requests first when it shuts down."""

    def __init__(self, config: uvicorn.Config, notifier: ChangeNotifier) -> None:
        super().__init__(config)
        self.notifier = notifier

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.notifier.close()
        await super().shutdown(sockets=sockets)


def _serve(args: argparse.Namespace) -> int:
    token = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV, "")
    if not token:
        raise HqError("admin_token_required")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(_db(args), token)
    public_url = args.public_url or os.environ.get(PUBLIC_URL_ENV) or f"http://{args.host}:{args.port}"
    with context(app).db.write() as conn:
        from hq_server.dispatch import set_public_url

        set_public_url(conn, public_url)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    HqServer(config, context(app).notifier).run()
    return 0
