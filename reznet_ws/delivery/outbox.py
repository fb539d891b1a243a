"""One connection's outbound path: every ASGI message a mixin consumer sends passes here.

The hub hands each broadcast to every member through :meth:`Outbox.push`, which never waits on the
member's socket, so one slow reader cannot delay the others on any ASGI server:

- **direct** (daphne, ``reznet-daphne``): the server's ``send`` only appends to Twisted's write
  buffer and returns, and that buffer's size is readable, so messages go straight through and
  :meth:`backlog` reads the buffer.
- **queued** (uvicorn, hypercorn, test communicators, any other server): ``send`` may wait for the
  socket, so messages wait in a FIFO drained by one writer task per connection, and
  :meth:`backlog` is the size of that FIFO.

The application's own sends (``send_event``, ``send_json``, ``accept``, ``close``) take the same
FIFO and are awaited until written, so order is kept and the application feels the backpressure of
its own connection as with plain Channels.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..server.twisted_compat import (
    find_protocol,
    unsent_bytes,
    unsent_bytes_unchecked,
    write_frame,
)
from .drops import report_drop

__all__ = ["Outbox", "message_size", "transport_backlog"]

Send = Callable[[Mapping[str, Any]], Awaitable[None]]


def transport_backlog(transport: Any) -> int | None:
    """Return the bytes waiting in a Twisted ``transport``'s write buffer; None if unknowable.

    Asks :mod:`reznet_ws.server.twisted_compat`, the one module that knows Twisted's internals.
    """
    return unsent_bytes(transport) if transport is not None else None


def message_size(message: Mapping[str, Any]) -> int:
    """Return the payload size of an ASGI ``websocket.send`` message (0 for others)."""
    payload = message.get("bytes") or message.get("text") or ""
    return len(payload)


class Outbox:
    """Orders and bounds what one connection sends (see the module docstring)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._protocol = find_protocol(send)
        self._transport = getattr(self._protocol, "transport", None)
        self.direct = transport_backlog(self._transport) is not None
        #: The server protocol's ``send_prepared(frame) -> bool`` (``reznet-daphne``, our
        #: ``runserver``): the fan-out's fast path; None elsewhere.
        self.send_prepared: Callable[[bytes], bool] | None = (
            getattr(self._protocol, "send_prepared", None) if self.direct else None
        )
        self._queue: deque[tuple[Mapping[str, Any], int, asyncio.Future[None] | None]] = deque()
        self._queued_bytes = 0
        self._busy = False
        self._writer: asyncio.Task[None] | None = None
        self.closed = False

    def backlog(self) -> int:
        """Return the bytes accepted for this connection and not yet written to its socket."""
        if self.direct:
            return unsent_bytes_unchecked(self._transport)
        return self._queued_bytes

    def write_frame(self, frame: bytes) -> bool:
        """Write a prepared WebSocket frame now (direct mode only); False: use :meth:`push`.

        The protocol's ``send_prepared`` writes it straight to an idle socket; otherwise it
        goes through the protocol's ``sendData``, behind what waits in the transport.
        """
        if self.closed:
            return False
        send = self.send_prepared
        if send is not None and send(frame):
            return True
        return self.direct and write_frame(self._protocol, frame)

    async def send(self, message: Mapping[str, Any]) -> None:
        """Send ``message`` after everything queued before it; return once it is written."""
        if self.direct:
            await self._send(message)
            return
        if not self._queue and not self._busy:
            self._busy = True
            try:
                await self._send(message)
            finally:
                self._busy = False
                if self._queue:
                    self._start_writer()
            return
        future = asyncio.get_running_loop().create_future()
        self._append(message, future)
        await future

    async def push(self, message: Mapping[str, Any]) -> None:
        """Hand ``message`` over for delivery without waiting on the socket (the hub's path)."""
        if self.direct:
            await self._send(message)
        elif self.closed:
            report_drop("undeliverable_on_close", 1, "the connection was closed")
        else:
            self._append(message, None)

    def _append(self, message: Mapping[str, Any], future: asyncio.Future[None] | None) -> None:
        size = message_size(message)
        self._queue.append((message, size, future))
        self._queued_bytes += size
        self._start_writer()

    def _start_writer(self) -> None:
        if self._queue and not self._busy and (self._writer is None or self._writer.done()):
            self._writer = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        self._busy = True
        try:
            while self._queue:
                message, size, future = self._queue.popleft()
                self._queued_bytes -= size
                try:
                    await self._send(message)
                except Exception as exc:
                    self._fail(future, exc)
                    return
                if future is not None and not future.done():
                    future.set_result(None)
        finally:
            self._busy = False

    def _fail(self, future: asyncio.Future[None] | None, exc: Exception) -> None:
        self.closed = True
        if future is not None and not future.done():
            future.set_exception(exc)
        elif future is None:
            report_drop("undeliverable_on_close", 1, "the connection was closed")
        self.discard("undeliverable_on_close", exc)

    def discard(self, code: str, exc: BaseException | None = None) -> int:
        """Drop everything queued (counting pushed messages under ``code``); return how many.

        Waiting application sends fail with ``exc`` (ConnectionError by default). A writer stuck
        on the socket is cancelled: the connection is being closed.
        """
        dropped = 0
        while self._queue:
            _, _, future = self._queue.popleft()
            if future is None:
                dropped += 1
            elif not future.done():
                future.set_exception(exc or ConnectionError("connection closed"))
        self._queued_bytes = 0
        if self._writer is not None and not self._writer.done():
            if self._writer is not asyncio.current_task():
                self._writer.cancel()
        report_drop(code, dropped, "queued for a connection that closed")
        return dropped

    def close(self) -> None:
        """Called once the connection is gone: nothing more can be written."""
        self.closed = True
        self.discard("undeliverable_on_close")
