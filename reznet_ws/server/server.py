"""daphne's Server with permessage-deflate and wire-byte stats.

Importing this module imports ``daphne.server``, which installs Twisted's asyncio reactor.

How it hooks into daphne without copying it:

- ``Server.run()`` builds its WebSocket factory and assigns ``self.ws_factory``; the property
  below sees that assignment and switches the factory to :class:`DeflateWebSocketProtocol`. It sets
  attributes only and never calls ``setProtocolOptions`` (whose ``allowNullOrigin=False`` default
  would undo daphne's ``allowNullOrigin=True``); daphne's own ``setProtocolOptions`` call right
  after leaves ``perMessageCompressionAccept`` alone because it passes None for it.
- daphne builds the ASGI scope in ``onConnect`` while autobahn negotiates extensions later, in
  ``succeedHandshake`` (after the application accepted). The protocol therefore answers the offers
  in ``onConnect``, keeps the answer, and gives autobahn that same answer: the scope flag is set
  exactly on the connections that negotiate the extension.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

# daphne.server installs the asyncio reactor: it must come before any other Twisted import.
import daphne.server
from autobahn.exception import PayloadExceededError
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from django.conf import settings
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure

from reznet_ws.server.deflate import (
    SCOPE_KEY,
    DeflateOptions,
    LevelledPerMessageDeflate,
    Negotiated,
    load_options,
    negotiate,
)

__all__ = ["DeflateServer", "DeflateWebSocketProtocol"]

logger = logging.getLogger("reznet_ws.server")


class DeflateWebSocketProtocol(WebSocketProtocol):
    """daphne's WebSocket protocol, negotiating permessage-deflate and recording wire bytes."""

    #: The answer given to this connection's offers (None: sent uncompressed).
    negotiated: Negotiated | None = None
    #: Seconds between two flushes of the wire counters of a live connection (0: at close only).
    wire_stats_interval: float = 30.0
    clock: Callable[[], float] = staticmethod(time.monotonic)

    # Set by autobahn on every connection (declared for type checkers).
    _perMessageCompress: Any
    websocket_extensions_in_use: list[Any]

    _stats_error_logged = False
    _wire_sent = 0
    _wire_received = 0
    _wire_flushed_at = 0.0

    #: Write frames straight to the socket when nothing is buffered (see :meth:`sendData`).
    direct_writes: bool = True

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        """Called by autobahn for every frame; writes it to the socket at once when it can.

        Twisted's ``transport.write`` buffers the bytes and registers the socket for writing,
        which costs two selector changes and a reactor turn per frame; autobahn also formats a
        debug log line per call. On an open connection whose write buffer is empty the frame
        goes to ``socket.send`` directly, and only what the kernel did not take is handed to
        the transport, so order and back-pressure stay Twisted's. This is the fan-out's per
        recipient cost on this server (docs/fanout.md).
        """
        transport = self.transport
        if (
            not self.direct_writes
            or sync
            or chopsize
            or self.send_queue
            or self.state != WebSocketProtocol.STATE_OPEN
            or self.logOctets
            or not _buffer_empty(transport)
        ):
            super().sendData(data, sync, chopsize)
            return
        try:
            sent = transport.socket.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            super().sendData(data, sync, chopsize)  # Twisted reports the error its own way
            return
        if sent < len(data):
            transport.write(data[sent:])
        self.trafficStats.outgoingOctetsWireLevel += len(data)

    def onConnect(self, request: Any) -> Any:
        """Called by autobahn with the parsed handshake, before daphne builds the scope."""
        self.negotiated = self.get_negotiated(request)
        accept = self.negotiated.accept if self.negotiated is not None else None
        # autobahn asks this (copied from the factory per connection) in succeedHandshake.
        self.perMessageCompressionAccept = lambda offers: accept
        self._wire_flushed_at = self.clock()
        return super().onConnect(request)

    def get_negotiated(self, request: Any) -> Negotiated | None:
        """Return the answer to the client's offers, or None to send uncompressed."""
        options: DeflateOptions = self.factory.deflate_options
        if options.excludes(unquote(request.path)):
            return None
        return negotiate(options, request.extensions, self.maxMessagePayloadSize)

    def onOpen(self) -> None:
        """Called by autobahn once the handshake succeeded, before any message is read."""
        if self.negotiated is not None and self._perMessageCompress is not None:
            self._use_level(self.negotiated)
        super().onOpen()

    def _use_level(self, negotiated: Negotiated) -> None:
        pmce = LevelledPerMessageDeflate.from_accept(negotiated.accept, negotiated.params["level"])
        in_use = self.websocket_extensions_in_use
        self.websocket_extensions_in_use = [
            pmce if ext is self._perMessageCompress else ext for ext in in_use
        ]
        self._perMessageCompress = pmce

    def sendMessage(
        self,
        payload: bytes,
        isBinary: bool = False,
        fragmentSize: int | None = None,
        sync: bool = False,
        doNotCompress: bool = False,
    ) -> None:
        """Refuse a message over the size limit before compressing it.

        autobahn checks the *compressed* size, after the message went through the compressor: the
        unsent data would then sit in the shared window and corrupt every later message. Checking
        the uncompressed size first keeps the context intact and makes the limit the same with and
        without compression (daphne's limit applies to outgoing messages too).
        """
        if 0 < self.maxMessagePayloadSize < len(payload):
            raise PayloadExceededError(
                f"tried to send a WebSocket message of {len(payload)} bytes, over the limit of "
                f"{self.maxMessagePayloadSize} bytes (--websocket-max-message-size)"
            )
        super().sendMessage(payload, isBinary, fragmentSize, sync, doNotCompress)

    def check_timeouts(self) -> None:
        """Called by daphne every 2 seconds; also flushes the wire counters now and then."""
        super().check_timeouts()
        interval = self.wire_stats_interval
        if interval > 0 and self.clock() - self._wire_flushed_at >= interval:
            self.flush_wire_bytes()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Called by Twisted once per connection: the last flush of the wire counters."""
        try:
            super().connectionLost(reason)
        finally:
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

            get_recorder().record_wire_bytes(sent=sent, received=received)
        except Exception:
            if not DeflateWebSocketProtocol._stats_error_logged:
                DeflateWebSocketProtocol._stats_error_logged = True
                logger.exception("Could not record wire bytes (logged once)")


def _buffer_empty(transport: Any) -> bool:
    """Return True for a plain TCP transport (no TLS) with nothing waiting to be written."""
    return (
        getattr(transport, "TLS", True) is False
        and not transport.disconnecting
        and transport._tempDataLen == 0
        and len(transport.dataBuffer) == transport.offset
        and getattr(transport, "socket", None) is not None
    )


class DeflateServer(daphne.server.Server):
    """daphne's Server, negotiating permessage-deflate per the settings and ``deflate_overrides``.

    ``deflate_overrides`` holds :class:`DeflateOptions` fields from the command line; None values
    fall back to ``REZNET_WS`` (or the defaults when Django settings are not configured). Invalid
    values raise InvalidDeflateOptions here, before anything listens.
    """

    protocol_class: type[DeflateWebSocketProtocol] = DeflateWebSocketProtocol

    def __init__(
        self, *args: Any, deflate_overrides: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> None:
        self.deflate_options = load_options(**(deflate_overrides or {}))
        super().__init__(*args, **kwargs)
        if self.deflate_options.enabled and not self.websocket_max_message_size:
            logger.warning(
                "permessage-deflate is on and --websocket-max-message-size is 0: compressed "
                "messages can inflate without bound. Set a limit."
            )

    @property
    def ws_factory(self) -> WebSocketFactory:
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory: WebSocketFactory) -> None:
        # Server.run() assigns its factory here, before calling setProtocolOptions on it.
        self._ws_factory = self.configure_ws_factory(factory)

    def configure_ws_factory(self, factory: WebSocketFactory) -> WebSocketFactory:
        """Called when daphne creates its WebSocket factory; returns the factory to use."""
        factory.protocol = self.protocol_class
        factory.deflate_options = self.deflate_options
        logger.info("permessage-deflate: %s", self.deflate_options.describe())
        return factory

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Any:
        """Called by daphne's protocols with the new scope; flags negotiated connections."""
        negotiated = getattr(protocol, "negotiated", None)
        if negotiated is not None:
            extensions = scope.get("extensions")
            scope["extensions"] = extensions = dict(extensions) if extensions else {}
            extensions[SCOPE_KEY] = dict(negotiated.params)
        return super().create_application(protocol, scope)
