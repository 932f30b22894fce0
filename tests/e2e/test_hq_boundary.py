"""HQ's sync boundary against a real HQ process: auth, gaps, malformed and oversized bodies."""

from __future__ import annotations

import httpx
import pytest

from sync_protocol.messages import push_response_decoder
from sync_protocol.version import MAX_PUSH_BYTES, MAX_PUSH_OPS
from tests.e2e.procs import Hq
from tests.e2e.wire import WireNode

pytestmark = pytest.mark.e2e


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, object]:
    assert response.status_code == status, response.text
    error: dict[str, object] = response.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def test_seq_gap_is_refused_and_nothing_of_that_batch_applies(hq: Hq) -> None:
    node = WireNode(hq.url, hq.enroll("SH050"))
    assert node.push([node.op(node.create("第一张"))]).status_code == 200
    node.seq += 1  # skip seq 2
    batch = [node.op(node.create("第三张")), node.op(node.create("第四张"))]
    error = assert_error(node.push(batch), 409, "seq_gap")
    assert error["expected_seq"] == 2
    tickets = hq.api.get("/api/v1/tickets", params={"store": "SH050"}).json()
    items = tickets["items"] if isinstance(tickets, dict) else tickets
    assert [t["title"] for t in items] == ["第一张"]
    assert node.hello().high_water == 1


def test_node_token_cannot_push_ops_for_another_store(hq: Hq) -> None:
    a = WireNode(hq.url, hq.enroll("SH051"))
    b = WireNode(hq.url, hq.enroll("SH052"))
    op = a.op(a.create("冒名"), store_id=b.hello_info.store_id)
    assert_error(a.push([op]), 403)
    assert b.hello().high_water == 0 and a.hello().high_water == 0


def test_unknown_token_is_refused(hq: Hq) -> None:
    response = httpx.get(f"{hq.url}/sync/v1/hello", headers={"Authorization": "Bearer nope"})
    assert_error(response, 401)


def test_malformed_and_oversized_bodies_get_reasons_and_hq_goes_on_serving(hq: Hq) -> None:
    node = WireNode(hq.url, hq.enroll("SH053"))
    assert_error(node.push_raw(b"\xc1 not msgpack"), 400)
    too_many = [node.op(node.create(f"#{i}"), seq=i + 1) for i in range(MAX_PUSH_OPS + 1)]
    assert_error(node.push(too_many), 413)
    assert_error(node.push_raw(b"\x00" * (MAX_PUSH_BYTES + 1)), 413)

    node.seq = 0
    ok = node.push([node.op(node.create("之后照常"))])
    assert ok.status_code == 200, ok.text
    assert push_response_decoder.decode(ok.content).results[0].status == "applied"
    assert httpx.get(f"{hq.url}/healthz").status_code == 200


def test_unsupported_protocol_version_is_refused_with_426(hq: Hq) -> None:
    node = WireNode(hq.url, hq.enroll("SH054"))
    headers = {**node.headers, "X-StoreDesk-Protocol": "99"}
    assert_error(httpx.get(f"{hq.url}/sync/v1/hello", headers=headers), 426)
