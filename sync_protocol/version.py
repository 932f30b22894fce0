"""Protocol version and wire limits.

HQ serves the current version and the previous one. Every request names its version in the
``X-StoreDesk-Protocol`` header; push bodies repeat it.
"""

PROTOCOL_VERSION = 1
#: Versions HQ accepts. When v2 ships this becomes ``(1, 2)``.
SUPPORTED_VERSIONS: tuple[int, ...] = (1,)
PROTOCOL_HEADER = "X-StoreDesk-Protocol"
#: A store node's ops not yet acknowledged (sent on its pulls and waits; HQ's sync-health page).
PENDING_HEADER = "X-StoreDesk-Pending"
#: A store node's software version (``storedesk/0.1.0``).
CLIENT_HEADER = "X-StoreDesk-Client"
MSGPACK_CONTENT_TYPE = "application/msgpack"

#: Most ops HQ accepts in one push; larger batches get 413. HQ says it in ``Hello.max_push_ops``
#: and a store sends no more (see :data:`LEGACY_MAX_PUSH_OPS`). Larger batches make a backlog
#: faster: a ticket edited several times in one batch is loaded, written and logged once, and
#: the commit is shared by more ops.
MAX_PUSH_OPS = 5000
#: The limit of an HQ whose ``Hello`` does not carry ``max_push_ops`` (before it did, the limit
#: was this), and what a store sends before it has greeted HQ.
LEGACY_MAX_PUSH_OPS = 2000
#: Most bytes HQ accepts in one push body; larger bodies get 413.
MAX_PUSH_BYTES = 8 * 1024 * 1024
#: Most changes HQ returns in one pull page.
MAX_PULL_LIMIT = 5000
#: Longest id (UUID text) an op may carry: ``op_id``, ``ticket_id``, ``comment_id``, ``event_id``.
MAX_ID_LENGTH = 36
#: Longest ``entity_id``, ``kind`` and encoded HLC an op envelope may carry.
MAX_ENTITY_ID_LENGTH = 64
MAX_KIND_LENGTH = 40
MAX_HLC_LENGTH = 64
#: Latest time an op may carry, in epoch ms (the last millisecond of year 9999 UTC).
MAX_EPOCH_MS = 253_402_300_799_999
#: Largest counter or seq (a signed 64-bit column at HQ).
MAX_INT64 = 2**63 - 1
#: Longest a ``/sync/v1/wait`` long-poll is held open, in seconds.
MAX_WAIT_S = 30.0
