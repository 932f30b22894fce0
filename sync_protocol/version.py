"""Protocol version and wire limits.

HQ serves the current version and the previous one. Every request names its version in the
``X-StoreDesk-Protocol`` header; push bodies repeat it.
"""

PROTOCOL_VERSION = 1
#: Versions HQ accepts. When v2 ships this becomes ``(1, 2)``.
SUPPORTED_VERSIONS: tuple[int, ...] = (1,)
PROTOCOL_HEADER = "X-StoreDesk-Protocol"
MSGPACK_CONTENT_TYPE = "application/msgpack"

#: Most ops HQ accepts in one push; larger batches get 413.
MAX_PUSH_OPS = 2000
#: Most bytes HQ accepts in one push body; larger bodies get 413.
MAX_PUSH_BYTES = 8 * 1024 * 1024
#: Most changes HQ returns in one pull page.
MAX_PULL_LIMIT = 5000
#: Longest a ``/sync/v1/wait`` long-poll is held open, in seconds.
MAX_WAIT_S = 30.0
