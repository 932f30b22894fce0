"""Sync throughput: queue N ops at a store, push them to a fresh HQ over real HTTP, pull them all
into a second fresh node of the same store.

HQ runs as its own process (``storedesk hq serve`` on a fresh SQLite file, or ``--db URL``); the
two store nodes run in this process with their real replica, outbox and sync client. The last
line printed is one JSON object with ``push_ops_per_s``, ``pull_ops_per_s`` and ``catchup_s``.

    .venv/bin/python bench/sync_throughput.py [--ops 20000] [--db URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.yardstick import cpu_reference_s, machine
from store_node import outbox, ticket_actions
from store_node.node import Node
from store_node.sync_client import SyncClient
from tests.e2e.procs import free_port


def enroll(db: str, code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "storedesk_cli", "hq", "enroll-store", code, "--db", db, "--region", "east"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def start_hq(db: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "storedesk_cli",
                "hq",
                "serve",
                "--db",
                db,
                "--port",
                str(port),
                "--admin-token",
                "bench",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"HQ did not start; see {log}")


def queue_ops(node: Node, n: int, rng: random.Random) -> dict[str, int]:
    """A mix of ticket creates (25%), field edits (50%) and comments (25%)."""
    made: list[str] = []
    counts = {"create": 0, "edit": 0, "comment": 0}
    for i in range(n):
        roll = rng.random()
        if not made or roll < 0.25:
            made.append(
                ticket_actions.create_ticket(
                    node,
                    {
                        "type": rng.choice(["quality", "equipment", "display", "complaint"]),
                        "title": f"问题 {i}",
                        "description": "顾客反馈" * rng.randint(1, 20),
                        "product_code": f"JN-{rng.randint(1000, 9999)}",
                    },
                )
            )
            counts["create"] += 1
        elif roll < 0.75:
            field = rng.choice(["title", "description", "category", "customer_phone"])
            value = f"{field}-{i}" if field != "customer_phone" else f"138{rng.randint(10**7, 10**8 - 1)}"
            ticket_actions.edit_ticket(node, rng.choice(made), {field: value})
            counts["edit"] += 1
        else:
            ticket_actions.add_comment(node, rng.choice(made), f"跟进记录 {i}")
            counts["comment"] += 1
    return counts


async def run(args: argparse.Namespace) -> dict[str, object]:
    rng = random.Random(7)
    work = Path(tempfile.mkdtemp(prefix="storedesk-bench-"))
    db = args.db or str(work / "hq.db")
    port = free_port()
    hq_url = f"http://127.0.0.1:{port}"
    token_a, token_b = enroll(db, "BENCH1"), enroll(db, "BENCH1")
    hq = start_hq(db, port, work / "hq.log")
    try:
        node_a = Node(work / "store-a")
        client_a = SyncClient(node_a, hq_url, token_a)
        node_a.adopt(await client_a.hello())
        t = time.perf_counter()
        counts = queue_ops(node_a, args.ops, rng)
        queue_s = time.perf_counter() - t
        queued = outbox.count(node_a)

        t0 = time.perf_counter()
        pushed = await client_a.push_all()
        t1 = time.perf_counter()
        pulled_back = await client_a.pull_all()
        t2 = time.perf_counter()
        assert pushed == queued and outbox.count(node_a) == 0, "push did not drain the outbox"

        node_b = Node(work / "store-b")
        client_b = SyncClient(node_b, hq_url, token_b)
        node_b.adopt(await client_b.hello())
        t3 = time.perf_counter()
        pulled = await client_b.pull_all()
        t4 = time.perf_counter()
        tickets_a = node_a.replica.one("SELECT count(*) FROM tickets")
        tickets_b = node_b.replica.one("SELECT count(*) FROM tickets")
        comments_b = node_b.replica.one("SELECT count(*) FROM comments")
        assert tickets_a is not None and tickets_b is not None and comments_b is not None
        assert tickets_b[0] == tickets_a[0] == counts["create"], "second node is missing tickets"
        assert comments_b[0] == counts["comment"], "second node is missing comments"
        await client_a.close()
        await client_b.close()
    finally:
        hq.terminate()
        hq.wait(timeout=15)
    return {
        "ops": queued,
        "mix": counts,
        "queue_ops_per_s": round(queued / queue_s),
        "push_s": round(t1 - t0, 3),
        "push_ops_per_s": round(queued / (t1 - t0)),
        "pull_changes": pulled,
        "pull_s": round(t4 - t3, 3),
        "pull_ops_per_s": round(pulled / (t4 - t3)),
        "catchup_s": round(t2 - t0, 3),
        "catchup_pulled_changes": pulled_back,
        "hq_db": "postgresql" if args.db and args.db.startswith("postgresql") else "sqlite",
        "cpu_reference_s": cpu_reference_s(),
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=20_000, help="ops to queue at the store (default 20000)")
    parser.add_argument("--db", help="HQ database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    for key, value in result.items():
        if key not in ("push_ops_per_s", "pull_ops_per_s", "catchup_s"):
            print(f"{key}: {value}")
    print(json.dumps({k: result[k] for k in ("push_ops_per_s", "pull_ops_per_s", "catchup_s")}))


if __name__ == "__main__":
    main()
