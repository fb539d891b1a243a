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
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

# daphne.server installs the asyncio reactor: it must come before any other Twisted import.
import daphne.server  # noqa: F401
from autobahn.exception import PayloadExceededError
from daphne.ws_protocol import WebSocketProtocol
from django.conf import settings
from twisted.internet import reactor
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure

from reznet_ws.server import autobahn_compat, twisted_compat
from reznet_ws.server.deflate import (
    DeflateOptions,
    LevelledPerMessageDeflate,
    Negotiated,
    negotiate,
)

__all__ = ["SERVER_CLOSE_CODES", "DeflateWebSocketProtocol"]

logger = logging.getLogger("reznet_ws.server")

#: RFC 6455 codes a server may send besides 1000 and 3000-4999 (autobahn's ``sendClose`` allows
#: only those): going away, protocol error, unsupported data, invalid payload, policy violation,
#: message too big, internal error, and IANA's service restart / try again later / bad gateway.
SERVER_CLOSE_CODES = frozenset({1001, 1002, 1003, 1007, 1008, 1009, 1011, 1012, 1013, 1014})

Receive = Callable[[], Awaitable[dict[str, Any]]]

# Twisted's interfaces declare callLater without ``self``, which type checkers misread.
_reactor: Any = reactor


class DeflateWebSocketProtocol(WebSocketProtocol):
    """daphne's WebSocket protocol with permessage-deflate and RFC 6455 edges handled."""

    #: The answer given to this connection's offers (None: sent uncompressed).
    negotiated: Negotiated | None = None
    #: Seconds between two flushes of the wire counters of a live connection (0: at close only).
    wire_stats_interval: float = 30.0
    clock: Callable[[], float] = staticmethod(time.monotonic)
    #: Write frames straight to the socket when nothing is buffered (see :meth:`sendData`).
    direct_writes: bool = True
    #: autobahn's version as :mod:`~reznet_ws.server.autobahn_compat` sees it (None: the installed
    #: one; a test seam).
    autobahn_version: str | None = None

    #: autobahn option: fail a connection with a close frame carrying the code, not a TCP drop.
    failByDrop = False
    #: Application close codes that drop the frames not yet written before the close frame.
    discard_backlog_codes: frozenset[int] = frozenset({4009})
    #: Close handshake timeout after such a close: the client still drains its kernel buffers.
    backlog_close_timeout: float = 10.0
    #: Longest wait, in seconds, of an error close for the application to handle earlier messages.
    error_close_grace: float = 2.0

    # Set by autobahn on every connection (declared for type checkers).
    application_queue: Any
    current_frame: Any
    inside_message: bool

    _stats_error_logged = False
    _wire_sent = 0
    _wire_received = 0
    _wire_flushed_at = 0.0

    # Frame boundaries in what was handed to the transport, for cutting the backlog between frames.
    _handed = 0
    _unit_ends: deque[int] | None = None

    # An error close waiting for the application (see :meth:`sendCloseFrame`).
    _error_close: tuple[int | None, bytes | None] | None = None
    _error_close_call: Any = None
    _receive_watched = False
    _app_waiting = False

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

    def serverClose(self, code: int | None = None) -> None:
        """Called by daphne when the application sends ``websocket.close``."""
        if code in self.discard_backlog_codes and self.state == self.STATE_OPEN:
            frames, dropped = self.discard_backlog()
            if frames:
                _report_discarded(frames, dropped, code)
            self.closeHandshakeTimeout = self.backlog_close_timeout
        if code in SERVER_CLOSE_CODES:
            self.sendCloseFrame(code=code)
        else:
            super().serverClose(code)

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

    # ------------------------------------------------------- failing a connection

    def sendCloseFrame(
        self, code: int | None = None, reasonUtf8: bytes | None = None, isReply: bool = False
    ) -> None:
        """Called by autobahn and daphne to close; holds back the close of a failed connection.

        When autobahn fails the connection (``failedByMe``), messages received before the bad
        frame may still be on their way through the application: the close frame waits until the
        application asks for its next message with nothing left to read (so its replies went out
        first), or :attr:`error_close_grace` seconds at most. Meanwhile no message reaches the
        application; control frames (a close from the client) are still read.
        """
        if isReply or not self.failedByMe or self.state != self.STATE_OPEN:
            self._cancel_error_close()
            super().sendCloseFrame(code, reasonUtf8, isReply)
            return
        if self._error_close is None:
            self._error_close = (code, reasonUtf8)
            self._error_close_call = _reactor.callLater(
                self.error_close_grace, self._send_error_close
            )
        if self._application_idle():
            self._send_error_close()

    def _application_idle(self) -> bool:
        queue = getattr(self, "application_queue", None)
        if queue is None or not self._receive_watched:
            return True
        return self._app_waiting and queue.empty()

    def _send_error_close(self) -> None:
        pending = self._error_close
        self._cancel_error_close()
        if pending is not None and self.state == self.STATE_OPEN:
            super().sendCloseFrame(pending[0], pending[1], isReply=False)

    def _cancel_error_close(self) -> None:
        self._error_close = None
        call, self._error_close_call = self._error_close_call, None
        if call is not None and call.active():
            call.cancel()

    def watch_receive(self, receive: Receive) -> Receive:
        """Return ``receive`` telling this protocol when the application waits for a message.

        Called by the server when it creates the application of this connection.
        """

        async def watched_receive() -> dict[str, Any]:
            self._app_waiting = True
            if self._error_close is not None and self._application_idle():
                self._send_error_close()
            try:
                return await receive()
            finally:
                self._app_waiting = False

        self._receive_watched = True
        return watched_receive

    def onFrameData(self, payload: bytes) -> bool | None:
        """Called by autobahn with frame data; skips the data of a connection being failed."""
        frame = self.current_frame
        if self.failedByMe and frame.opcode <= 7:
            return None  # no inflating, no UTF-8 checks: only the client's close matters now
        return super().onFrameData(payload)

    def onFrameEnd(self) -> bool | None:
        """Called by autobahn at the end of a frame; ends a skipped data frame quietly."""
        frame = self.current_frame
        if self.failedByMe and frame.opcode <= 7:
            if frame.fin:
                self.inside_message = False
            self.current_frame = None
            return None
        return super().onFrameEnd()

    def close_going_away(self) -> None:
        """Called at server shutdown: send close 1001 on an open connection."""
        if self.state == self.STATE_OPEN:
            self.sendCloseFrame(code=1001)

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

    # ------------------------------------------------------------ wire stats

    def check_timeouts(self) -> None:
        """Called by daphne every 2 seconds; also flushes the wire counters now and then."""
        super().check_timeouts()
        interval = self.wire_stats_interval
        if interval > 0 and self.clock() - self._wire_flushed_at >= interval:
            self.flush_wire_bytes()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Called by Twisted once per connection: the last flush of the wire counters."""
        self._cancel_error_close()
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


def _report_discarded(frames: int, dropped: int, code: int | None) -> None:
    detail = f"{dropped} bytes not yet written when the application closed with {code}"
    if not settings.configured:
        logger.warning("Frames dropped for a slow client: %d (%s)", frames, detail)
        return
    try:
        from reznet_ws.delivery.drops import report_drop

        report_drop("discarded_on_close", frames, detail)
    except Exception:
        logger.warning("Frames dropped for a slow client: %d (%s)", frames, detail)
