"""The one module that knows the inside of Twisted's TCP transport (its write buffer).

Importing it is cheap: it never imports Twisted (``reznet_ws.delivery.outbox`` may ask it too).

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
import re
from typing import Any

__all__ = [
    "TESTED_MAJOR_VERSIONS",
    "discard_unsent",
    "find_protocol",
    "find_transport",
    "nothing_unsent",
    "socket_writable",
    "supported",
    "twisted_version",
    "unsent_bytes",
    "unsent_bytes_unchecked",
    "version_supported",
    "write_frame",
]

logger = logging.getLogger("reznet_ws.server")

#: Twisted releases (year-based major versions) whose transport internals this module knows.
TESTED_MAJOR_VERSIONS = range(22, 27)


def twisted_version() -> str | None:
    """Return the installed Twisted's version, or None when it is not installed."""
    try:
        return importlib.metadata.version("twisted")
    except importlib.metadata.PackageNotFoundError:
        return None


def version_supported(version: str | None = None) -> bool:
    """Return True when Twisted ``version`` (None: the installed one) is a tested release.

    ``version`` is a test seam; the system check ``reznet_ws.W033`` asks this too.
    """
    version = version if version is not None else twisted_version()
    found = re.match(r"\d+", version or "")
    return found is not None and int(found.group()) in TESTED_MAJOR_VERSIONS


@functools.cache
def _twisted_known() -> bool:
    if version_supported():
        return True
    version = twisted_version()
    if version is not None:
        logger.warning(
            "Twisted %s is not a release whose write buffer reznet-ws knows (tested: %d-%d): "
            "direct socket writes and dropping a slow client's backlog on close (4009) are off",
            version,
            TESTED_MAJOR_VERSIONS[0],
            TESTED_MAJOR_VERSIONS[-1],
        )
    return False


def supported(transport: Any, version: str | None = None) -> bool:
    """Return True when ``transport`` is a plain TCP transport whose buffer this module knows.

    ``version`` is Twisted's version (None: the installed one, checked once; a test seam).
    """
    return (
        (_twisted_known() if version is None else version_supported(version))
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


def unsent_bytes_unchecked(transport: Any) -> int:
    """:func:`unsent_bytes` of a transport :func:`supported` accepted before (not asked again)."""
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


def nothing_unsent(transport: Any) -> bool:
    """Return True when a transport :func:`supported` accepted holds no unsent bytes.

    The per-frame check of the fan-out's fast path: it does not ask :func:`supported` again
    (the caller asked once per connection; a transport's type does not change).
    """
    return len(transport.dataBuffer) == transport.offset and not transport._tempDataLen


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


def find_protocol(send: Any) -> Any:
    """Return daphne's WebSocket protocol behind an ASGI ``send`` callable, or None.

    Knows two more internals: daphne passes ``partial(server.handle_reply, protocol)`` as the
    application's send, and Channels' session middleware keeps the send it wraps in
    ``real_send``. Anything else (uvicorn, a test communicator) gives None.
    """
    for _ in range(8):
        if isinstance(send, functools.partial):
            protocol = send.args[0] if send.args else None
            return protocol if hasattr(protocol, "sendData") else None
        send = getattr(getattr(send, "__self__", None), "real_send", None)
        if send is None:
            return None
    return None


def find_transport(send: Any) -> Any:
    """Return the Twisted transport behind an ASGI ``send`` callable, or None."""
    return getattr(find_protocol(send), "transport", None)


def write_frame(protocol: Any, frame: bytes) -> bool:
    """Write one complete WebSocket frame through ``protocol``; False if it cannot take one now.

    ``sendData`` is what autobahn calls with every frame it builds; a frame built elsewhere
    goes the same way (``reznet-daphne``'s protocol writes it straight to the socket when
    nothing is buffered). Only on an open connection that is not in the middle of a message.
    """
    if protocol is None or getattr(protocol, "state", None) != getattr(protocol, "STATE_OPEN", 1):
        return False
    if getattr(protocol, "send_state", None) != getattr(protocol, "SEND_STATE_GROUND", 0):
        return False
    protocol.sendData(frame)
    return True
