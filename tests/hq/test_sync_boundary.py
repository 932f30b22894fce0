"""The sync endpoints' boundary: tokens, protocol versions, bad and oversized bodies (hq_server.sync_api)."""

from __future__ import annotations

import httpx
import pytest

from sync_protocol.messages import PushRequest, msgpack_encoder
from sync_protocol.version import MAX_PUSH_BYTES, MAX_PUSH_OPS
from tests.hq.helpers import Hq

SYNC_GETS = ["/sync/v1/hello", "/sync/v1/pull", "/sync/v1/wait?timeout=0"]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, object] = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.mark.parametrize("path", SYNC_GETS)
@pytest.mark.parametrize("authorization", [None, "Bearer nope", "Basic abc", "Bearer "])
def test_missing_or_unknown_node_token_is_401(hq: Hq, path: str, authorization: str | None) -> None:
    headers = {"X-StoreDesk-Protocol": "1"}
    if authorization is not None:
        headers["Authorization"] = authorization
    assert_error(hq.client.get(path, headers=headers), 401, "unauthorized")


def test_admin_token_is_not_a_node_token(hq: Hq) -> None:
    response = hq.client.get("/sync/v1/hello", headers={"Authorization": "Bearer test-admin-token"})
    assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize("version", ["99", "0", "one", ""])
def test_unsupported_or_missing_protocol_version_is_426(hq: Hq, version: str) -> None:
    node = hq.enroll()
    headers = {**node.headers, "X-StoreDesk-Protocol": version}
    assert_error(hq.client.get("/sync/v1/hello", headers=headers), 426, "unsupported_protocol")


def test_push_body_naming_an_unsupported_protocol_is_426(hq: Hq) -> None:
    node = hq.enroll()
    body = msgpack_encoder.encode(PushRequest(protocol=7, node_id=node.node_id, ops=[]))
    assert_error(node.push_raw(body), 426, "unsupported_protocol")


def test_token_of_store_a_cannot_push_for_store_b(hq: Hq) -> None:
    a, b = hq.enroll("SH001"), hq.enroll("SH002")
    error = assert_error(a.push_raw(a.body([a.op(a.create("冒名"), store_id=b.store_id)])), 403, "wrong_store")
    assert "门店" in str(error["message"])
    assert a.hello().high_water == 0 and b.hello().high_water == 0
    assert hq.api("GET", "/api/v1/tickets").json()["total"] == 0


def test_token_of_one_node_cannot_push_as_another_node_of_the_same_store(hq: Hq) -> None:
    first, second = hq.enroll("SH001"), hq.enroll("SH001")
    assert (first.hello().node_no, second.hello().node_no) == (1, 2)
    op = first.op(first.create())
    op.node_id = second.node_id
    assert_error(first.push_raw(first.body([op])), 403, "wrong_node")
    body = msgpack_encoder.encode(PushRequest(protocol=1, node_id=second.node_id, ops=[]))
    assert_error(first.push_raw(body), 403, "wrong_node")


def test_ops_out_of_seq_order_are_400(hq: Hq) -> None:
    node = hq.enroll()
    ops = [node.op(node.create(), seq=2), node.op(node.create(), seq=1)]
    assert_error(node.push_raw(node.body(ops)), 400, "seq_order")
    error = assert_error(node.push_raw(node.body([node.op(node.create(), seq=0)])), 400, "malformed_body")
    assert "seq" in str(error["message"])


@pytest.mark.parametrize(
    "body",
    [b"\xc1 not msgpack", b"", msgpack_encoder.encode({"protocol": 1}), msgpack_encoder.encode([1, 2, 3])],
)
def test_malformed_push_body_is_400_with_a_reason_and_hq_goes_on_serving(hq: Hq, body: bytes) -> None:
    node = hq.enroll()
    error = assert_error(node.push_raw(body), 400, "malformed_body")
    assert "请求内容无法解析" in str(error["message"])
    assert node.push([node.op(node.create())]).results[0].status == "applied"


def test_too_many_ops_is_413_and_nothing_applies(hq: Hq) -> None:
    node = hq.enroll()
    template = node.op(node.create())
    ops = [template] * (MAX_PUSH_OPS + 1)
    error = assert_error(node.push_raw(node.body(ops)), 413, "too_many_ops")
    assert str(MAX_PUSH_OPS) in str(error["message"])
    assert node.hello().high_water == 0


def test_oversized_body_is_413_whether_or_not_content_length_says_so(hq: Hq) -> None:
    node = hq.enroll()
    assert_error(node.push_raw(b"\x00" * (MAX_PUSH_BYTES + 1)), 413, "body_too_large")

    def chunks() -> object:
        for _ in range(9):
            yield b"\x00" * (1024 * 1024)

    streamed = hq.client.post("/sync/v1/push", content=chunks(), headers=node.headers)  # chunked, no length
    assert_error(streamed, 413, "body_too_large")
    huge = hq.client.post("/sync/v1/push", content=b"", headers={**node.headers, "Content-Length": str(10**12)})
    assert_error(huge, 413, "body_too_large")
    assert node.push([node.op(node.create())]).results[0].status == "applied"
    assert hq.client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/sync/v1/pull?cursor=abc", "invalid_cursor"),
        ("/sync/v1/pull?limit=0", "invalid_param"),
        ("/sync/v1/pull?limit=x", "invalid_param"),
        ("/sync/v1/wait?timeout=-1", "invalid_param"),
        ("/sync/v1/wait?cursor=5:", "invalid_cursor"),
    ],
)
def test_bad_pull_and_wait_parameters_are_400(hq: Hq, path: str, code: str) -> None:
    node = hq.enroll()
    assert_error(hq.client.get(path, headers=node.headers), 400, code)


def test_wrong_method_and_unknown_path_answer_in_the_envelope(hq: Hq) -> None:
    node = hq.enroll()
    assert_error(hq.client.get("/sync/v1/push", headers=node.headers), 405, "method_not_allowed")
    assert_error(hq.client.get("/sync/v2/nothing"), 404, "not_found")
