"""The node: its replica, its identity (issued by HQ at enrollment) and its clock."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import msgspec

from store_node.errors import IdentityMismatch, NotEnrolled
from store_node.replica import Replica
from sync_protocol.hlc import Hlc, HybridClock, system_wall_ms
from sync_protocol.messages import Hello


class Identity(msgspec.Struct, frozen=True):
    node_id: str
    node_no: int
    store_id: str
    store_code: str
    store_name: str
    region_id: str


def wall_clock_from_env() -> Callable[[], int]:
    """The system clock, shifted by ``STOREDESK_CLOCK_OFFSET_MS`` (to simulate a wrong PC clock)."""
    offset = int(os.environ.get("STOREDESK_CLOCK_OFFSET_MS", "0") or 0)
    if not offset:
        return system_wall_ms
    return lambda: system_wall_ms() + offset


class Node:
    """One store node. ``local_write`` is set by every action so the sync loop pushes at once."""

    def __init__(self, data_dir: Path, *, wall_ms: Callable[[], int] | None = None) -> None:
        self.replica = Replica(data_dir)
        self.wall_ms = wall_ms or wall_clock_from_env()
        last_text = self.replica.get("hlc")
        self.clock = HybridClock(
            self.replica.get("node_id") or "unenrolled",
            wall_ms=self.wall_ms,
            last=Hlc.parse(last_text) if last_text else None,
        )
        self.local_write = asyncio.Event()
        self._identity: Identity | None = None

    @property
    def identity(self) -> Identity:
        """The node's identity; :class:`NotEnrolled` until the first hello with HQ succeeded."""
        if self._identity is None:
            node_id = self.replica.get("node_id")
            if not node_id:
                raise NotEnrolled("the store has not reached HQ yet; connect once to finish enrolment")
            self._identity = Identity(
                node_id=node_id,
                node_no=self.replica.get_int("node_no", 1),
                store_id=self.replica.get("store_id"),
                store_code=self.replica.get("store_code"),
                store_name=self.replica.get("store_name"),
                region_id=self.replica.get("region_id"),
            )
        return self._identity

    @property
    def enrolled(self) -> bool:
        return bool(self.replica.get("node_id"))

    def adopt(self, hello: Hello) -> None:
        """Take the identity HQ issued. A fresh replica also adopts HQ's high-water mark and ticket
        counter, so a re-created file never re-uses a seq or a ticket number."""
        known = self.replica.get("node_id")
        if known and known != hello.node_id:
            raise IdentityMismatch(
                f"this replica belongs to node {known}, but the token is for node {hello.node_id}",
                known=known,
                token_node=hello.node_id,
            )
        with self.replica.tx():
            next_seq = max(self.replica.get_int("next_seq", 1), hello.high_water + 1)
            counter = max(self.replica.get_int("ticket_counter"), hello.ticket_counter)
            acked = max(self.replica.get_int("acked_seq"), hello.high_water) if not known else None
            self.replica.set(
                node_id=hello.node_id,
                node_no=hello.node_no,
                store_id=hello.store_id,
                store_code=hello.store_code,
                store_name=hello.store_name,
                region_id=hello.region_id,
                next_seq=next_seq,
                ticket_counter=counter,
            )
            if acked is not None:
                self.replica.set(acked_seq=acked)
        self.clock.node = hello.node_id
        self.clock.observe(Hlc.parse(hello.server_hlc))
        self._identity = None

    def stamp(self) -> str:
        """A new HLC for a local change, persisted so the clock never runs backwards on restart."""
        text = self.clock.now().encode()
        self.replica.set(hlc=text)
        return text

    def observe(self, hlc_text: str) -> None:
        """Merge a timestamp seen from HQ (no drift bound at a store: ours may be the wrong one)."""
        if hlc_text:
            self.clock.observe(Hlc.parse(hlc_text))

    def persist_clock(self) -> None:
        self.replica.set(hlc=self.clock.last.encode())

    def notify_local_write(self) -> None:
        self.local_write.set()

    def close(self) -> None:
        self.replica.close()
