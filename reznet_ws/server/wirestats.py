"""Wire-byte statistics of ``reznet-daphne``: what each connection wrote to / read from its socket.

:class:`WireStatsMixin` is one layer of
:class:`~reznet_ws.server.protocol.DeflateWebSocketProtocol`:
it hands autobahn's wire-level counters to :meth:`reznet_ws.stats.StatsRecorder.record_wire_bytes`
every :attr:`~WireStatsMixin.wire_stats_interval` seconds and when the connection is lost.

Importing this module imports ``daphne.server``, which installs Twisted's asyncio reactor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

# daphne.server installs the asyncio reactor: it must come before any other Twisted import.
import daphne.server  # noqa: F401
from daphne.ws_protocol import WebSocketProtocol
from django.conf import settings

__all__ = ["WireStatsMixin"]

logger = logging.getLogger("reznet_ws.server")


class WireStatsMixin(WebSocketProtocol):
    """Flushes the wire counters of a live connection now and then, and at its end."""

    #: Seconds between two flushes of the wire counters of a live connection (0: at close only).
    wire_stats_interval: float = 30.0
    clock: Callable[[], float] = staticmethod(time.monotonic)

    _stats_error_logged = False
    _wire_sent = 0
    _wire_received = 0
    _wire_flushed_at = 0.0

    # ------------------------------------------------------------ wire stats

    def check_timeouts(self) -> None:
        """Called by daphne every 2 seconds; also flushes the wire counters now and then."""
        super().check_timeouts()
        interval = self.wire_stats_interval
        if interval > 0 and self.clock() - self._wire_flushed_at >= interval:
            self.flush_wire_bytes()

    def flush_wire_bytes(self) -> None:
        """Record the bytes written to / read from the socket since the last flush.

        These are autobahn's wire-level counters of the open connection: frames with their headers,
        compressed when the extension is in use, control frames included; the HTTP handshake is not.
        """
        traffic = getattr(self, "trafficStats", None)
        self._wire_flushed_at = self.clock()
        if traffic is None:
            return
        sent = traffic.outgoingOctetsWireLevel - self._wire_sent
        received = traffic.incomingOctetsWireLevel - self._wire_received
        if not (sent or received):
            return
        self._wire_sent += sent
        self._wire_received += received
        if not settings.configured:
            return  # a plain ASGI app without Django settings: no stats store to report to
        try:
            from reznet_ws.stats import get_recorder

            deflate = getattr(self, "negotiated", None) is not None
            get_recorder().record_wire_bytes(sent=sent, received=received, deflate=deflate)
        except Exception:
            if not WireStatsMixin._stats_error_logged:
                WireStatsMixin._stats_error_logged = True
                logger.exception("Could not record wire bytes (logged once)")
