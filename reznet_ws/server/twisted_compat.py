"""The one module that knows the inside of Twisted's TCP transport (its write buffer).

Importing it is cheap: it never imports Twisted (``reznet_ws.outbox`` may ask it too).

Twisted keeps what a TCP transport could not write yet in ``dataBuffer`` (from ``offset`` on),
followed by the chunks of ``_tempDataBuffer`` (``_tempDataLen`` bytes in all); these are not public
API. Every function here checks that the transport is a plain TCP transport of a Twisted release
it was written for (:data:`TESTED_MAJOR_VERSIONS`) and otherwise answers with its documented
fallback, so a Twisted upgrade degrades to stock behaviour instead of breaking connections.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from typing import Any

__all__ = [
    "TESTED_MAJOR_VERSIONS",
    "discard_unsent",
    "socket_writable",
    "supported",
    "unsent_bytes",
]

logger = logging.getLogger("reznet_ws.server")

#: Twisted releases (year-based major versions) whose transport internals this module knows.
TESTED_MAJOR_VERSIONS = range(22, 27)


@functools.cache
def _twisted_known() -> bool:
    try:
        major = int(importlib.metadata.version("twisted").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return False
    if major not in TESTED_MAJOR_VERSIONS:
        logger.warning(
            "Twisted %s is newer than reznet-ws knows: direct socket writes and dropping a slow "
            "client's backlog on close are off",
            major,
        )
        return False
    return True


def supported(transport: Any) -> bool:
    """Return True when ``transport`` is a plain TCP transport whose buffer this module knows."""
    return (
        _twisted_known()
        and getattr(transport, "TLS", True) is False
        and isinstance(getattr(transport, "dataBuffer", None), bytes)
        and isinstance(getattr(transport, "offset", None), int)
        and isinstance(getattr(transport, "_tempDataBuffer", None), list)
        and isinstance(getattr(transport, "_tempDataLen", None), int)
    )


def unsent_bytes(transport: Any) -> int | None:
    """Return how many bytes ``transport`` holds that the socket has not taken; None if unknown."""
    if not supported(transport):
        return None
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


def socket_writable(transport: Any) -> bool:
    """Return True when ``transport.socket`` may be written to directly (when nothing is unsent).

    Callers check :func:`unsent_bytes` first: it is None (write through the transport, the
    fallback) for TLS and unknown transports.
    """
    return not transport.disconnecting and getattr(transport, "socket", None) is not None


def discard_unsent(transport: Any, keep: int) -> int | None:
    """Drop the bytes ``transport`` has not written yet, except the first ``keep`` of them.

    Returns how many bytes were dropped, or None (nothing dropped) when the transport is not
    supported or holds fewer than ``keep`` bytes. The caller chooses ``keep`` so that the cut
    falls between two WebSocket frames.
    """
    unsent = unsent_bytes(transport)
    if unsent is None or not 0 <= keep <= unsent:
        return None
    pending = transport.dataBuffer[transport.offset :]
    if keep > len(pending):
        pending += b"".join(transport._tempDataBuffer)
    transport.dataBuffer = pending[:keep]
    transport.offset = 0
    transport._tempDataBuffer = []
    transport._tempDataLen = 0
    return unsent - keep
