"""Closing and failing connections of ``reznet-daphne`` (RFC 6455 edges daphne leaves open).

:class:`CloseHandlingMixin` is one layer of
:class:`~reznet_ws.server.protocol.DeflateWebSocketProtocol`:

- a connection failed by autobahn (invalid UTF-8, a message over the size limit, a protocol
  violation) gets a close frame with the code (1007, 1009, 1002) instead of a TCP drop
  (autobahn's ``failByDrop`` off), sent once the application has handled the messages received
  before the error, so their replies go out first;
- the application may close with the RFC 6455 codes a server sends (1001, 1008, 1011, ...), which
  autobahn's ``sendClose`` refuses;
- a close with a code of :attr:`~CloseHandlingMixin.discard_backlog_codes` (4009, too slow)
  drops the frames still waiting in the write buffer, so the close frame reaches the client.

Importing this module imports ``daphne.server``, which installs Twisted's asyncio reactor.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

# daphne.server installs the asyncio reactor: it must come before any other Twisted import.
import daphne.server  # noqa: F401
from daphne.ws_protocol import WebSocketProtocol
from django.conf import settings
from twisted.internet import reactor

__all__ = ["SERVER_CLOSE_CODES", "CloseHandlingMixin"]

logger = logging.getLogger("reznet_ws.server")

#: RFC 6455 codes a server may send besides 1000 and 3000-4999 (autobahn's ``sendClose`` allows
#: only those): going away, protocol error, unsupported data, invalid payload, policy violation,
#: message too big, internal error, and IANA's service restart / try again later / bad gateway.
SERVER_CLOSE_CODES = frozenset({1001, 1002, 1003, 1007, 1008, 1009, 1011, 1012, 1013, 1014})

Receive = Callable[[], Awaitable[dict[str, Any]]]

# Twisted's interfaces declare callLater without ``self``, which type checkers misread.
_reactor: Any = reactor


class CloseHandlingMixin(WebSocketProtocol):
    """Close codes, the backlog dropped on a too-slow close, and error closes that wait."""

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

    # An error close waiting for the application (see :meth:`sendCloseFrame`).
    _error_close: tuple[int | None, bytes | None] | None = None
    _error_close_call: Any = None
    _receive_watched = False
    _app_waiting = False

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
