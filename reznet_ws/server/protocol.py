"""The WebSocket protocol of ``reznet-daphne``: daphne's, with RFC 6455 edges fixed.

Importing this module imports ``daphne.server``, which installs Twisted's asyncio reactor.

What it changes in daphne's ``WebSocketProtocol`` (through autobahn's and daphne's hooks):

- permessage-deflate, answered in ``onConnect`` (see ``reznet_ws.server.server``);
- empty messages (``text=""``, ``bytes=b""``) are sent; daphne skips them;
- a connection failed by autobahn (invalid UTF-8, a message over the size limit, a protocol
  violation) gets a close frame with the code (1007, 1009, 1002) instead of a TCP drop
  (autobahn's ``failByDrop`` off), sent once the application has handled the messages received
  before the error, so their replies go out first;
- the application may close with the RFC 6455 codes a server sends (1001, 1008, 1011, ...), which
  autobahn's ``sendClose`` refuses;
- a close with a code of :attr:`~DeflateWebSocketProtocol.discard_backlog_codes` (4009, too slow)
  drops the frames still waiting in the write buffer, so the close frame reaches the client;
- frames go straight to the socket when nothing is buffered; wire bytes are recorded.

Where each part lives: closing and failing connections (close codes, the backlog dropped on a
too-slow close, error closes that wait for the application) in :mod:`reznet_ws.server.closing`;
the wire-byte statistics in :mod:`reznet_ws.server.wirestats`; writing, the size limit and the
permessage-deflate handshake here.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any
from urllib.parse import unquote

# daphne.server installs the asyncio reactor: it must come before any other Twisted import.
import daphne.server  # noqa: F401
from autobahn.exception import PayloadExceededError
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure

from reznet_ws.server import autobahn_compat, twisted_compat
from reznet_ws.server.closing import SERVER_CLOSE_CODES, CloseHandlingMixin
from reznet_ws.server.deflate import (
    DeflateOptions,
    LevelledPerMessageDeflate,
    Negotiated,
    negotiate,
)
from reznet_ws.server.wirestats import WireStatsMixin

__all__ = ["SERVER_CLOSE_CODES", "DeflateWebSocketProtocol"]


class DeflateWebSocketProtocol(CloseHandlingMixin, WireStatsMixin):
    """daphne's WebSocket protocol with permessage-deflate and RFC 6455 edges handled."""

    #: The answer given to this connection's offers (None: sent uncompressed).
    negotiated: Negotiated | None = None
    #: Write frames straight to the socket when nothing is buffered (see :meth:`sendData`).
    direct_writes: bool = True
    #: autobahn's version as :mod:`~reznet_ws.server.autobahn_compat` sees it (None: the installed
    #: one; a test seam).
    autobahn_version: str | None = None

    # Frame boundaries in what was handed to the transport, for cutting the backlog between frames.
    _handed = 0
    _unit_ends: deque[int] | None = None
    # Whether send_prepared may write to the socket itself (None: not asked yet).
    _prepared_direct: bool | None = None

    # ------------------------------------------------------------------ writing

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
        unsent = twisted_compat.unsent_bytes(transport)
        if unsent is not None:
            self._note_frame(unsent, len(data))
        if (
            unsent != 0
            or not self.direct_writes
            or sync
            or chopsize
            or self.send_queue
            or self.state != WebSocketProtocol.STATE_OPEN
            or self.logOctets
            or not twisted_compat.socket_writable(transport)
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

    def send_prepared(self, frame: bytes) -> bool:
        """Called by the fan-out with one complete prepared frame (the same bytes for every member).

        Written to the socket at once when nothing waits before it; what the kernel does not take
        goes to the transport. Returns False, writing nothing, when the frame must take the
        ordinary path instead: bytes already wait (the caller applies its backlog policy), the
        connection is not open or is in the middle of a message, or writes cannot go direct.
        """
        transport = self.transport
        direct = self._prepared_direct
        if direct is None:
            direct = self._prepared_direct = self.direct_writes and bool(
                twisted_compat.supported(transport)
            )
        if (
            not direct
            or self.state != WebSocketProtocol.STATE_OPEN
            or self.send_state != WebSocketProtocol.SEND_STATE_GROUND
            or self.send_queue
            or self.logOctets
            or transport.disconnecting
            or not twisted_compat.nothing_unsent(transport)
        ):
            return False
        try:
            sent = transport.socket.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError:
            return False  # the ordinary path lets Twisted report the error its own way
        size = len(frame)
        self._handed += size
        if sent < size:
            # Nothing was unsent before this frame: only its end is a boundary still to come.
            self._unit_ends = deque([self._handed])
            transport.write(frame[sent:])
        self.trafficStats.outgoingOctetsWireLevel += size
        return True

    def _note_frame(self, unsent: int, size: int) -> None:
        # autobahn hands every frame (and the handshake response) to sendData in one call: keep
        # where the frames not fully written yet end, to cut the backlog between two of them.
        ends = self._unit_ends
        if ends is None:
            ends = self._unit_ends = deque()
        if not self.send_queue:
            written = self._handed - unsent
            while ends and ends[0] <= written:
                ends.popleft()
        self._handed += size
        ends.append(self._handed)

    def discard_backlog(self) -> tuple[int, int]:
        """Drop the frames the socket has not taken yet, except the one it is in the middle of.

        Returns ``(frames, bytes)`` dropped; ``(0, 0)`` when nothing could be dropped safely
        (TLS, an unknown Twisted, autobahn's chopped or streamed sends).
        """
        ends = self._unit_ends
        unsent = twisted_compat.unsent_bytes(self.transport)
        if not ends or not unsent or self.send_queue or self.send_state != self.SEND_STATE_GROUND:
            return 0, 0
        written = self._handed - unsent
        if written < 0:
            return 0, 0  # bytes written before the handshake are still unsent: no known boundary
        while ends and ends[0] <= written:
            ends.popleft()
        keep = ends[0] - written if ends else 0
        dropped = twisted_compat.discard_unsent(self.transport, keep)
        if not dropped:
            return 0, 0
        frames = len(ends) - (1 if keep else 0)
        self._handed = written + keep
        self._unit_ends = deque([self._handed] if keep else ())
        return frames, dropped

    def handle_reply(self, message: dict[str, Any]) -> None:
        """Called by daphne with each message of the application; sends empty messages too."""
        if message.get("type") == "websocket.send" and self.state != self.STATE_CONNECTING:
            text, data = message.get("text"), message.get("bytes")
            if text == "" and not data:
                self.serverSend("", False)
                return
            if data == b"" and text is None:
                self.serverSend(b"", True)
                return
        super().handle_reply(message)

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

    # ------------------------------------------------------- handshake, deflate

    def onConnect(self, request: Any) -> Any:
        """Called by autobahn with the parsed handshake, before daphne builds the scope."""
        self.negotiated = negotiated = self.get_negotiated(request)
        if negotiated is not None and not autobahn_compat.levels_supported(self.autobahn_version):
            # The scope tells the level that applies: autobahn's own (see :meth:`onOpen`).
            params = {**negotiated.params, "level": autobahn_compat.AUTOBAHN_LEVEL}
            self.negotiated = dataclasses.replace(negotiated, params=params)
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
        """Called by autobahn once the handshake succeeded, before any message is read.

        Installs the levelled compressor where autobahn's adapter can (autobahn's own, at its
        own level, otherwise: :func:`reznet_ws.server.autobahn_compat.use_compressor`).
        """
        negotiated = self.negotiated
        if negotiated is not None:
            level = negotiated.params["level"]
            pmce = LevelledPerMessageDeflate.from_accept(negotiated.accept, level)
            autobahn_compat.use_compressor(self, pmce, self.autobahn_version)
        super().onOpen()

    # ------------------------------------------------------------ connection lost

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Called by Twisted once per connection: the last flush of the wire counters."""
        self._cancel_error_close()
        try:
            super().connectionLost(reason)
        finally:
            self.flush_wire_bytes()
