"""The last unit, asked for by two stores at the same moment, against real HQ processes over HTTP.

HQ is started as ``storedesk hq serve`` on a loopback port (tests/e2e/procs.py), on SQLite and on
PostgreSQL (a fresh schema per test, as tests/hq/conftest.py makes it; unreachable PostgreSQL
skips with the reason, or fails under ``CI=true``). Two stores' pushes leave two threads through
a barrier, each on its own httpx client: exactly one transfer request may win the unit; the other
is rejected with ``insufficient_stock`` and a reason that says what is left and who has stock.
With two HQ processes on the one database, each store talks to its own process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hq_server.enrollment import Enrollment
from sync_protocol.messages import PushResponse, hello_decoder, push_response_decoder
from tests.e2e.procs import Hq as HqProcess
from tests.e2e.procs import storedesk
from tests.hq.helpers import WireNode

pytestmark = pytest.mark.e2e

CSV = "product_code,name_zh,name_en,colour,size\nJN-2041,修身牛仔裤,Slim jeans,蓝,M\n"
SKU = "JN-2041-蓝-M"
ROUNDS = 5


@pytest.fixture(params=[1, 2], ids=["one_hq_process", "two_hq_processes"])
def hq_processes(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[list[HqProcess]]:
    """HQ serving ``db_url`` (SQLite file or PostgreSQL schema) in one or two real processes."""
    started: list[HqProcess] = []
    try:
        for n in range(request.param):
            log_dir = tmp_path / f"hq{n}"
            log_dir.mkdir()
            service = HqProcess(db_url, log_dir)
            service.start()  # the first one creates the schema before the second opens it
            started.append(service)
        yield started
    finally:
        for service in started:
            service.stop()
            service.api.close()


def remote_node(hq: HqProcess, code: str, url: str) -> WireNode:
    """A store enrolled with the ``storedesk hq enroll-store`` command, speaking to HQ at ``url``."""
    token = hq.enroll(code, name=f"{code} 门店", region="east")
    client = httpx.Client(base_url=url, timeout=30)
    answer = client.get("/sync/v1/hello", headers={"Authorization": f"Bearer {token}", "X-StoreDesk-Protocol": "1"})
    assert answer.status_code == 200, answer.text
    hello = hello_decoder.decode(answer.content)
    enrollment = Enrollment(
        node_id=hello.node_id,
        node_no=hello.node_no,
        store_id=hello.store_id,
        store_code=hello.store_code,
        token=token,
    )
    return WireNode(client, enrollment)  # type: ignore[arg-type]  # an httpx.Client serves as well


def applied(answer: PushResponse) -> None:
    assert [(r.status, r.code) for r in answer.results] == [("applied", "")] * len(answer.results), [
        (r.status, r.code, r.reason) for r in answer.results
    ]


def race(nodes: list[WireNode], bodies: list[bytes]) -> list[httpx.Response]:
    """Each node posts its body at the same moment (a barrier), each on its own client."""
    start = threading.Barrier(len(nodes))
    answers: list[httpx.Response | BaseException | None] = [None] * len(nodes)

    def run(index: int) -> None:
        try:
            start.wait(timeout=30)
            answers[index] = nodes[index].push_raw(bodies[index], headers={"Accept-Language": "en"})
        except BaseException as exc:  # reported below, in the test's thread
            answers[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(nodes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    done: list[httpx.Response] = []
    for answer in answers:
        if not isinstance(answer, httpx.Response):
            raise AssertionError(f"a racing push did not complete: {answer!r}")
        done.append(answer)
    return done


def test_last_unit_contention_one_wins_the_other_is_told_why(hq_processes: list[HqProcess], tmp_path: Path) -> None:
    main = hq_processes[0]
    urls = [service.url for service in hq_processes]
    csv_file = tmp_path / "products.csv"
    csv_file.write_text(CSV, encoding="utf-8")
    done = storedesk("hq", "import-products", str(csv_file), "--db", main.db)
    assert done.returncode == 0, done.stderr

    holder = remote_node(main, "SH001", urls[0])
    # Two stores that want the unit, each through its own HQ process when there are two.
    rivals = [remote_node(main, "SH002", urls[0]), remote_node(main, "SH003", urls[-1])]
    # A store farther off has three: the loser is told it could ask there.
    spare = remote_node(main, "SH004", urls[0])
    nodes = [holder, *rivals, spare]
    try:
        applied(spare.send(spare.move(SKU, 3, "receipt")))
        winners: list[str] = []
        for round_no in range(1, ROUNDS + 1):
            applied(holder.send(holder.move(SKU, 1, "receipt")))  # one more unit to fight over
            requests = [rival.request_transfer(SKU, 1, holder.store_id) for rival in rivals]
            bodies = [rival.body([rival.stock_op(req)]) for rival, req in zip(rivals, requests, strict=True)]
            responses = race(rivals, bodies)
            assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
            answers = [push_response_decoder.decode(r.content) for r in responses]
            outcomes = [(a.results[0].status, a.results[0].code) for a in answers]
            assert sorted(outcomes) == [("applied", ""), ("rejected", "insufficient_stock")], (round_no, outcomes)

            [winner] = [i for i, o in enumerate(outcomes) if o[0] == "applied"]
            loser = 1 - winner
            winners.append(rivals[winner].enrollment.store_code)
            reason = answers[loser].results[0].reason
            assert f"SH001 门店 has only 0 of {SKU} left" in reason, reason
            assert "SH004 门店(SH004) 3" in reason, reason
            assert answers[loser].high_water == rivals[loser].seq  # answered for good, not retried

            # HQ holds exactly the winner's transfer and one reserved unit per round.
            level = _level(main, "SH001")
            assert (level["on_hand"], level["reserved"]) == (round_no, round_no), (round_no, level)
            listed = main.api.get("/api/v1/transfers", params={"store": "SH001"}).json()["items"]
            assert len(listed) == round_no
            assert requests[winner].transfer_id in {t["id"] for t in listed}
            assert requests[loser].transfer_id not in {t["id"] for t in listed}

        listed = main.api.get("/api/v1/transfers", params={"store": "SH001", "status": "requested"}).json()["items"]
        assert sorted(t["to_store_id"] for t in listed) == sorted(
            rivals[0 if code == "SH002" else 1].store_id for code in winners
        )
        assert _level(main, "SH004")["reserved"] == 0
    finally:
        for node in nodes:
            node.client.close()


def _level(hq: HqProcess, code: str) -> dict[str, Any]:
    body = hq.api.get("/api/v1/stock", params={"product": "JN-2041"}).json()
    [store] = [s for s in body["stores"] if s["code"] == code]
    [sku] = [k for k in store["skus"] if k["sku"] == SKU]
    found: dict[str, Any] = sku
    return found
