"""Speak the sync protocol directly, as a store would, for tests of HQ's boundary."""

from __future__ import annotations

import time
from typing import Any

import httpx
import msgspec

from sync_protocol.hlc import HybridClock
from sync_protocol.messages import (
    Hello,
    PullResponse,
    PushRequest,
    hello_decoder,
    msgpack_encoder,
    pull_response_decoder,
)
from sync_protocol.ops import Op, Payload, TicketCreate, encode_payload, kind_of, new_id


class WireNode:
    """A bare protocol client with its own clock and seq counter."""

    def __init__(self, hq_url: str, token: str) -> None:
        self.url = hq_url
        self.token = token
        self.headers = {
            "Authorization": f"Bearer {token}",
            "X-StoreDesk-Protocol": "1",
            "Content-Type": "application/msgpack",
        }
        self.hello_info: Hello = self.hello()
        self.clock = HybridClock(self.hello_info.node_id)
        self.seq = self.hello_info.high_water

    def hello(self) -> Hello:
        response = httpx.get(f"{self.url}/sync/v1/hello", headers=self.headers, timeout=10)
        assert response.status_code == 200, response.text
        return hello_decoder.decode(response.content)

    def op(self, payload: Payload, *, seq: int | None = None, store_id: str | None = None) -> Op:
        if seq is None:
            self.seq += 1
            seq = self.seq
        entity = getattr(payload, "ticket_id", "")
        return Op(
            op_id=new_id(),
            node_id=self.hello_info.node_id,
            store_id=store_id or self.hello_info.store_id,
            seq=seq,
            hlc=self.clock.now().encode(),
            kind=kind_of(payload),
            entity_id=entity,
            payload=msgspec.Raw(encode_payload(payload)),
        )

    def create(self, title: str = "货架松动", **kw: Any) -> TicketCreate:
        return TicketCreate(
            ticket_id=new_id(),
            number=f"{self.hello_info.store_code}-W{self.seq + 1:06d}",
            type="display",
            title=title,
            created_at=int(time.time() * 1000),
            **kw,
        )

    def push_raw(self, body: bytes) -> httpx.Response:
        return httpx.post(f"{self.url}/sync/v1/push", content=body, headers=self.headers, timeout=30)

    def push(self, ops: list[Op]) -> httpx.Response:
        body = msgpack_encoder.encode(PushRequest(protocol=1, node_id=self.hello_info.node_id, ops=ops))
        return self.push_raw(body)

    def pull(self, cursor: str = "0", limit: int = 100) -> PullResponse:
        response = httpx.get(
            f"{self.url}/sync/v1/pull",
            params={"cursor": cursor, "limit": limit},
            headers=self.headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return pull_response_decoder.decode(response.content)
