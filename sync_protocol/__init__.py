"""StoreDesk sync protocol: wire messages, op kinds, the hybrid logical clock and merge rules.

This package does no I/O. Both the store node and HQ import it; everything that crosses the
wire between them is a msgspec Struct defined here.
"""

from sync_protocol.version import PROTOCOL_VERSION, SUPPORTED_VERSIONS

__all__ = ["PROTOCOL_VERSION", "SUPPORTED_VERSIONS"]
