"""The sync client: pushes the outbox, pulls HQ's change log, long-polls for news.

One asyncio task per node. Transient failures (HQ unreachable, timeouts, 5xx) back off
exponentially with jitter and retry on their own; a local write cuts any wait short, and an op
made while a push is in flight goes out in the next push.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

import httpx
import msgspec

from store_node import apply, outbox
from store_node.errors import IdentityMismatch, PermanentSyncError, SyncError, TransientSyncError
from store_node.node import Node
from sync_protocol.messages import (
    SEQ_REUSED,
    Hello,
    PullResponse,
    PushRequest,
    PushResponse,
    WaitResponse,
    error_decoder,
    hello_decoder,
    msgpack_encoder,
    pull_response_decoder,
    push_response_decoder,
    wait_response_decoder,
)
from sync_protocol.orders import OrderLookup
from sync_protocol.stock import StockLookup
from sync_protocol.texts import DEFAULT_LANG, text
from sync_protocol.version import (
    CLIENT_HEADER,
    LEGACY_MAX_PUSH_OPS,
    MAX_PUSH_BYTES,
    MAX_PUSH_OPS,
    MSGPACK_CONTENT_TYPE,
    PENDING_HEADER,
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
)

log = logging.getLogger("storedesk.sync")
T = TypeVar("T")

#: Ops per push: HQ's limit, so its per-batch costs (commit, round trip) are spread widest; no
#: more than the greeted HQ says it takes (``Hello.max_push_ops``; an older HQ takes fewer).
PUSH_BATCH = MAX_PUSH_OPS
#: Most bytes of ops per push, well inside HQ's body limit (a batch is cut short to fit).
PUSH_BYTES = MAX_PUSH_BYTES // 2
#: Bytes an op's envelope adds to its payload (ids, HLC, kind), rounded up.
OP_ENVELOPE_BYTES = 256
PULL_LIMIT = 2000
WAIT_S = 25.0
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0
UPGRADE_RETRY_S = 300.0
RETENTION_MS = 7 * 24 * 3600 * 1000
PRUNE_EVERY_S = 3600.0
#: A clerk waits for a live lookup (stock, orders) this long before the replica answers instead.
LOOKUP_TIMEOUT_S = 3.0

_stock_lookup_decoder = msgspec.msgpack.Decoder(StockLookup)
_order_lookup_decoder = msgspec.msgpack.Decoder(OrderLookup)


def client_version() -> str:
    """This installation's StoreDesk version (``dev`` when running from a source tree)."""
    try:
        return importlib.metadata.version("storedesk")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


class SyncClient:
    def __init__(
        self, node: Node, hq_url: str, token: str, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.node = node
        self.http = httpx.AsyncClient(
            base_url=hq_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                PROTOCOL_HEADER: str(PROTOCOL_VERSION),
                CLIENT_HEADER: f"storedesk/{client_version()}",
                "Content-Type": MSGPACK_CONTENT_TYPE,
            },
            timeout=httpx.Timeout(10.0, read=WAIT_S + 10.0),
            transport=transport,
        )
        self._failures = 0
        self._greeted = False
        self._push_blocked_until = 0.0
        self._last_prune = 0.0
        #: Most ops HQ takes in a push, as its last hello said (an older HQ's limit until then).
        self._hq_push_limit = LEGACY_MAX_PUSH_OPS

    # -- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Sync until cancelled."""
        while True:
            try:
                await self.sync_once()
                self._bookkeep(self._record_success)
                await self._wait_for_news()
                self._failures = 0  # only now: a long-poll that keeps failing must back off too
            except asyncio.CancelledError:
                raise
            except SyncError as exc:
                self._bookkeep(self._record_error, exc)
                await self._sleep_or_local_write(self._backoff(exc))
            except Exception as exc:  # a bug must not kill syncing for good
                log.exception("sync failed unexpectedly")
                self._bookkeep(self._record_error, SyncError(f"{type(exc).__name__}: {exc}", code="internal"))
                await self._sleep_or_local_write(self._backoff(None))

    async def sync_once(self) -> None:
        """One round: identity, push everything pending, pull until up to date.

        The first round of every start greets HQ, also when the replica knows its identity: a
        replica restored from an older copy lifts its seq and ticket counter to HQ's before it
        pushes, and a replica kept beside a re-issued token is stopped before it pushes at all.
        """
        if not self._greeted:
            hello = await self.hello()
            try:
                self.node.adopt(hello)
            except IdentityMismatch as exc:
                message = text(exc.code, DEFAULT_LANG, **exc.params)
                raise PermanentSyncError(message, code=exc.code) from exc
            self._greeted = True
            apply.pull_again_for_new_kinds(self.node)
        self.node.local_write.clear()
        push_error: SyncError | None = None
        try:
            await self.push_all()
        except SyncError as exc:
            push_error = exc  # pull anyway: HQ may serve its news while refusing our ops
        await self.pull_all()
        self._maybe_prune()
        if push_error is not None:
            raise push_error

    async def close(self) -> None:
        await self.http.aclose()

    def _report(self) -> dict[str, str]:
        """What HQ's sync-health page shows of this node: its ops not yet acknowledged."""
        return {PENDING_HEADER: str(outbox.count(self.node))}

    # -- requests ------------------------------------------------------------------------------

    async def _request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            response = await self.http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise TransientSyncError(f"HQ unreachable: {type(exc).__name__}: {exc}", code="unreachable") from exc
        if response.status_code == 200:
            return response
        code, message = "http_error", response.text[:200]
        try:
            detail = error_decoder.decode(response.content).error
            code, message = detail.code, detail.message
        except Exception:  # not our envelope (a proxy's error page)
            pass
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientSyncError(f"HQ answered {response.status_code}: {message}", code=code)
        if response.status_code == 409:
            return response
        raise PermanentSyncError(f"HQ refused ({response.status_code}): {message}", code=code)

    async def hello(self) -> Hello:
        response = await self._request("GET", "/sync/v1/hello")
        hello = hello_decoder.decode(response.content)
        self._hq_push_limit = max(1, hello.max_push_ops)
        return hello

    async def lookup_stock(self, product_code: str) -> StockLookup:
        """HQ's live answer: every store's stock of a product, nearest first.

        Raises :class:`TransientSyncError` when HQ cannot be reached in :data:`LOOKUP_TIMEOUT_S`,
        answers 5xx or something unreadable, and :class:`PermanentSyncError` when HQ refuses
        (code ``product_not_found`` for a product HQ does not know).
        """
        return await self._lookup("/sync/v1/stock", {"product": product_code}, _stock_lookup_decoder, "stock")

    async def lookup_orders(self, *, phone: str | None = None, number: str | None = None) -> OrderLookup:
        """HQ's live answer: the orders of every store and channel with the customer's ``phone``
        or the order ``number`` (exactly one), newest paid first, each with its selling store.

        Raises like :meth:`lookup_stock` (:class:`TransientSyncError` when HQ cannot answer in
        :data:`LOOKUP_TIMEOUT_S`; :class:`PermanentSyncError` when it refuses, code
        ``order_lookup_key``, ``invalid_phone`` or ``invalid_order_number`` for a bad key).
        """
        if (phone is None) == (number is None):
            raise ValueError("lookup_orders needs exactly one of phone and number")
        params = {"phone": phone} if phone is not None else {"number": str(number)}
        return await self._lookup("/sync/v1/orders", params, _order_lookup_decoder, "order")

    async def _lookup(self, path: str, params: dict[str, str], decoder: msgspec.msgpack.Decoder[T], what: str) -> T:
        """A live question to HQ with a short timeout, its answer decoded (see the callers)."""
        response = await self._request("GET", path, params=params, timeout=LOOKUP_TIMEOUT_S)
        if response.status_code != 200:
            raise TransientSyncError(f"HQ answered {response.status_code} to a {what} lookup", code="http_error")
        try:
            return decoder.decode(response.content)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise TransientSyncError(f"HQ's {what} lookup could not be read: {exc}", code="malformed_answer") from exc

    async def push_all(self) -> int:
        """Push pending ops in seq order until none are left. Returns how many were answered.

        Pipelined: while HQ applies a batch, the next one is read and encoded in a worker thread;
        once the batch is answered without an upgrade stop, the next goes out before the answer
        is recorded (also in a worker thread; the replica serializes its writers with its own
        lock). HQ still sees batches strictly one after another.
        A batch in flight when something fails is abandoned; its ops are still pending and HQ
        answers them as duplicates next time.
        """
        if time.monotonic() < self._push_blocked_until:
            return 0
        answered = 0
        sending, sent_upto = self._send(*self._encode_batch(0), after_seq=0)
        upcoming: asyncio.Future[tuple[bytes | None, int]] | None = None
        try:
            while sending is not None:
                upcoming = asyncio.ensure_future(asyncio.to_thread(self._encode_batch, sent_upto))
                response = await sending
                sending = None
                if response.status_code == 409:
                    await upcoming  # read before the conflict renumbered or re-queued anything
                    upcoming = None
                    self._handle_conflict(response)
                    sending, sent_upto = self._send(*self._encode_batch(0), after_seq=0)
                    continue
                reply = push_response_decoder.decode(response.content)
                body, last_seq = await upcoming
                upcoming = None
                if not any(r.awaits_upgrade for r in reply.results):
                    if body is None:  # nothing was left then; an op may have come in since
                        body, last_seq = self._encode_batch(sent_upto)
                    sending, sent_upto = self._send(body, last_seq, after_seq=sent_upto)
                if not await asyncio.to_thread(self._record_push, reply):
                    self._push_blocked_until = time.monotonic() + UPGRADE_RETRY_S
                    raise PermanentSyncError("总部版本过旧，部分操作需等待总部升级后再同步", code="upgrade_required")
                answered += len(reply.results)
        finally:
            if sending is not None:
                sending.cancel()
                with contextlib.suppress(BaseException):
                    await sending
            if upcoming is not None:  # a thread cannot be cancelled: let it finish
                with contextlib.suppress(BaseException):
                    await upcoming
        return answered

    def _send(
        self, body: bytes | None, last_seq: int, *, after_seq: int
    ) -> tuple[asyncio.Task[httpx.Response] | None, int]:
        """Start pushing an encoded batch (:meth:`_encode_batch`); None when there is none."""
        if body is None:
            return None, after_seq
        return asyncio.ensure_future(self._request("POST", "/sync/v1/push", content=body)), last_seq

    def _encode_batch(self, after_seq: int) -> tuple[bytes | None, int]:
        """The push of the pending ops above ``after_seq``, cut short to fit :data:`PUSH_BYTES`,
        encoded; and its last seq. ``(None, after_seq)`` when nothing is pending."""
        ops = outbox.pending_ops(self.node, min(PUSH_BATCH, self._hq_push_limit), after_seq=after_seq)
        size = 0
        for count, op in enumerate(ops):
            size += len(op.payload) + OP_ENVELOPE_BYTES
            if size > PUSH_BYTES and count > 0:
                ops = ops[:count]
                break
        if not ops:
            return None, after_seq
        request = PushRequest(protocol=PROTOCOL_VERSION, node_id=ops[0].node_id, ops=ops)
        return msgpack_encoder.encode(request), ops[-1].seq

    def _record_push(self, reply: PushResponse) -> bool:
        node = self.node
        node.observe(reply.server_hlc)
        with node.replica.tx() as conn:
            complete = outbox.record_results(conn, reply.results, node.wall_ms())
            apply.drop_refused_records(conn, reply.results)
            node.replica.set(
                acked_seq=max(node.replica.get_int("acked_seq"), reply.high_water),
                ticket_counter=max(node.replica.get_int("ticket_counter"), reply.ticket_counter),
            )
            apply.apply_changes(node, conn, reply.entities)
            node.persist_clock()
        return complete

    def _handle_conflict(self, response: httpx.Response) -> None:
        """HQ refused a push with 409: a seq gap, or seqs HQ has seen with other ops."""
        detail = error_decoder.decode(response.content).error
        expected = detail.expected_seq or 0
        if detail.code == SEQ_REUSED and expected:
            replica = self.node.replica
            with replica.tx() as conn:
                next_seq = max(outbox.renumber_pending(conn, expected), replica.get_int("next_seq", 1))
                replica.set(next_seq=next_seq, acked_seq=max(replica.get_int("acked_seq"), expected - 1))
            log.warning("HQ has seen our seqs before (replica restored from a copy?): renumbered from %s", expected)
            return
        with self.node.replica.tx() as conn:
            # Only when the op HQ expects is still held, and going back re-queues something:
            # otherwise the same batch would be refused again at once, for ever.
            if expected and outbox.holds(conn, expected):
                resent = outbox.rewind(conn, expected - 1)
                if resent:
                    self.node.replica.set(acked_seq=expected - 1)
                    log.warning("HQ expects seq %s: re-sending %s ops it lost", expected, resent)
                    return
        raise PermanentSyncError(f"HQ expects op {expected}, which this node no longer holds", code="seq_gap")

    async def pull_all(self) -> int:
        """Pull until HQ has nothing more in scope. Returns the number of changes applied.

        Pipelined like the push: the next page is asked for (with the cursor the last page
        ended at) while the last one is applied in a worker thread; pages are applied in order,
        each with its cursor in one transaction. A page in flight when something fails is
        dropped, and the next pull starts again from the last cursor applied.
        """
        applied = 0
        fetching: asyncio.Task[PullResponse] | None = self._fetch_page(self.node.replica.get("cursor", "0"))
        try:
            while fetching is not None:
                page = await fetching
                fetching = self._fetch_page(page.cursor) if page.has_more else None
                if await asyncio.to_thread(self._apply_page, page):
                    self.node.notify_local_write()  # in the event loop: asyncio.Event is not thread-safe
                applied += len(page.changes)
        finally:
            if fetching is not None:
                fetching.cancel()
                with contextlib.suppress(BaseException):
                    await fetching
        return applied

    def _fetch_page(self, cursor: str) -> asyncio.Task[PullResponse]:
        async def fetch() -> PullResponse:
            response = await self._request(
                "GET", "/sync/v1/pull", params={"cursor": cursor, "limit": PULL_LIMIT}, headers=self._report()
            )
            return pull_response_decoder.decode(response.content)

        return asyncio.ensure_future(fetch())

    def _apply_page(self, page: PullResponse) -> bool:
        """Apply a pulled page and its cursor in one transaction; True when HQ had lost ops of
        ours, which are pending again."""
        node = self.node
        node.observe(page.server_hlc)
        resent = 0
        with node.replica.tx() as conn:
            acked = node.replica.get_int("acked_seq")
            if page.node_high_water < acked:
                resent = outbox.rewind(conn, page.node_high_water)
                node.replica.set(acked_seq=page.node_high_water)
                log.warning("HQ lost our ops above %s: re-sending %s", page.node_high_water, resent)
            if page.reset and not node.replica.get_int("resetting"):
                log.warning("HQ cannot continue from our cursor: re-pulling our scope")
                apply.begin_reset(node)
            apply.apply_changes(node, conn, page.changes)
            if not page.has_more and node.replica.get_int("resetting"):
                apply.finish_reset(node, conn)
            node.replica.set(cursor=page.cursor)
            node.persist_clock()
        return resent > 0

    async def _wait_for_news(self) -> None:
        """Long-poll HQ; return early on a local write."""
        if self.node.local_write.is_set() or (outbox.count(self.node) and time.monotonic() >= self._push_blocked_until):
            return
        cursor = self.node.replica.get("cursor", "0")
        waiter = asyncio.ensure_future(
            self._request("GET", "/sync/v1/wait", params={"cursor": cursor, "timeout": WAIT_S}, headers=self._report())
        )
        local = asyncio.ensure_future(self.node.local_write.wait())
        try:
            done, _ = await asyncio.wait({waiter, local}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, local):
                if not task.done():
                    task.cancel()
        if waiter in done:
            reply: WaitResponse = wait_response_decoder.decode(waiter.result().content)
            self.node.observe(reply.server_hlc)

    async def _sleep_or_local_write(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.node.local_write.wait(), timeout=seconds)

    # -- bookkeeping -------------------------------------------------------------------------------

    def _backoff(self, exc: SyncError | None) -> float:
        self._failures += 1
        base = min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2.0 ** min(self._failures - 1, 30))
        if isinstance(exc, PermanentSyncError):
            base = BACKOFF_MAX_S
        return base / 2 + random.uniform(0, base / 2)

    @staticmethod
    def _bookkeep(record: Callable[..., None], *args: object) -> None:
        """Record the sync state; a replica that cannot take it now (disk full, locked) must not
        end the loop, which retries after its backoff."""
        try:
            record(*args)
        except Exception:
            log.exception("could not record the sync state")

    def _record_success(self) -> None:
        self.node.replica.set(online=1, last_success_at=self.node.wall_ms())

    def _record_error(self, exc: SyncError) -> None:
        online = 0 if isinstance(exc, TransientSyncError) else 1
        log.info("sync error: %s", exc.message)
        self.node.replica.set(
            online=online, last_error=exc.message, last_error_code=exc.code, last_error_at=self.node.wall_ms()
        )

    def _maybe_prune(self) -> None:
        if time.monotonic() - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = time.monotonic()
        with self.node.replica.tx() as conn:
            outbox.prune(conn, self.node.wall_ms() - RETENTION_MS)
