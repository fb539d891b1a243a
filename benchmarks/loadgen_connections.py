"""The connections of the load generator (benchmarks/loadgen.py): one per benchmark client.

- :class:`RawConnection`: the default, a minimal RFC 6455 client reading frames straight from a
  socket reader callback, with the kernel's receipt time of each read (``SO_TIMESTAMPNS``);
- :class:`WebsocketsConnection`: the ``websockets`` library's client, for permessage-deflate,
  ``wss://`` and ``--client websockets``.

Both hand every frame to ``BenchClient.on_frame(raw, arrived_at)`` and call
``BenchClient.on_lost()`` when the connection ends.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import socket
import struct
import sys
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

if TYPE_CHECKING:
    from benchmarks.loadgen import BenchClient

__all__ = ["CountingConnection", "RawConnection", "WebsocketsConnection"]

_READ_SIZE = 262144
#: SO_TIMESTAMPNS (= SCM_TIMESTAMPNS) of Linux's asm-generic socket.h, which Python does not name.
_SO_TIMESTAMPNS = 35
_ANCILLARY_SIZE = socket.CMSG_SPACE(16)
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, 1.3


class RawConnection:
    """A minimal RFC 6455 client: the handshake, server frames in, masked close and pong out.

    The default client of the load generator (``ws://`` only). It reads each frame straight from
    a socket reader callback, with no task, queue or future per message, so one process absorbs
    several times the messages of a general-purpose client (``--client websockets``, which
    permessage-deflate and ``wss://`` use). Extensions are never offered.

    The receipt time of a frame is the kernel's (``SO_TIMESTAMPNS``: when the last segment of the
    read reached the socket), not when this process got round to reading it, so a busy load
    generator does not add its own queueing to the latency; how long data waited in the socket
    is recorded apart (``socket_wait_ms`` of the result).
    """

    def __init__(self, client: BenchClient, sock: socket.socket, accept: str) -> None:
        loop = asyncio.get_running_loop()
        self.client = client
        self.sock = sock
        self.loop = loop
        self.accept = accept
        self.buffer = bytearray()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.handshake_done = False
        self.close_sent = False
        self.fragments: list[bytes] = []
        self.fragment_opcode = 0
        self.wire_bytes = 0
        self.subprotocol: str | None = None
        self.kernel_times = _enable_timestamps(sock)

    @classmethod
    async def open(
        cls, client: BenchClient, url: str, subprotocols: list[str] | None, timeout: float
    ) -> RawConnection:
        """Connect to ``url`` and finish the handshake; raise on failure or after ``timeout``."""
        parts = urlsplit(url)
        if parts.scheme != "ws" or not parts.hostname:
            raise ValueError(f"the raw client takes ws://host[:port]/... URLs, not {url!r}")
        key = base64.b64encode(os.urandom(16)).decode()
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if subprotocols:
            lines.append(f"Sec-WebSocket-Protocol: {', '.join(subprotocols)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        loop = asyncio.get_running_loop()
        family, kind, proto, _, address = (
            await loop.getaddrinfo(parts.hostname, parts.port or 80, type=socket.SOCK_STREAM)
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        connection = cls(client, sock, accept)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, address), timeout)
            await asyncio.wait_for(loop.sock_sendall(sock, request), timeout)
            loop.add_reader(sock.fileno(), connection.on_readable)
            await asyncio.wait_for(asyncio.shield(connection.opened), timeout)
        except BaseException:
            connection.abort()
            raise
        return connection

    def on_readable(self) -> None:
        """Called by the event loop when the socket has data: read it, then its frames."""
        try:
            data, ancillary, _, _ = self.sock.recvmsg(_READ_SIZE, _ANCILLARY_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.lost(exc)
            return
        read_at = time.time()
        if not data:
            self.lost(None)
            return
        arrived_at = _kernel_time(ancillary) if self.kernel_times else None
        if arrived_at is None:
            arrived_at = read_at
        elif self.client.gen.measuring:
            self.client.gen.socket_waits.append(read_at - arrived_at)
        self.wire_bytes += len(data)
        self.buffer += data
        if not self.handshake_done and not self.read_handshake():
            return
        self.read_frames(arrived_at)

    def read_handshake(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > 65536:
                self.fail(ConnectionError("oversized handshake response"))
            return False
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status = head[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            self.fail(ConnectionError(f"handshake refused: {head[0]}"))
            return False
        if headers.get("sec-websocket-accept") != self.accept:
            self.fail(ConnectionError("bad Sec-WebSocket-Accept"))
            return False
        self.subprotocol = headers.get("sec-websocket-protocol")
        self.handshake_done = True
        self.opened.set_result(None)
        return True

    def read_frames(self, arrived_at: float) -> None:
        buf = self.buffer
        size = len(buf)
        pos = 0
        while size - pos >= 2:
            first, second = buf[pos], buf[pos + 1]
            length = second & 0x7F
            header = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                header = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                header = 10
            if second & 0x80:  # servers never mask (RFC 6455, 5.1)
                self.fail(ConnectionError("masked frame from the server"))
                return
            if size - pos < header + length:
                break
            payload = bytes(buf[pos + header : pos + header + length])
            pos += header + length
            self.on_frame(first, payload, arrived_at)
        if pos:
            del buf[:pos]

    def on_frame(self, first: int, payload: bytes, arrived_at: float) -> None:
        opcode = first & 0x0F
        if opcode >= 8:
            if opcode == 8:  # close: answer it, the server closes the TCP connection
                self.send_control(8, payload[:2])
            elif opcode == 9:
                self.send_control(10, payload)
            return
        if opcode:
            self.fragment_opcode = opcode
            self.fragments = [payload]
        else:
            self.fragments.append(payload)
        if not first & 0x80:
            return
        data = self.fragments[0] if len(self.fragments) == 1 else b"".join(self.fragments)
        self.fragments = []
        message: str | bytes = data.decode("utf-8") if self.fragment_opcode == 1 else data
        self.client.on_frame(message, arrived_at)

    def send_control(self, opcode: int, payload: bytes = b"") -> None:
        if self.close_sent or self.sock.fileno() < 0:
            return
        self.close_sent = opcode == 8
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        with contextlib.suppress(OSError):  # a full or closed socket: the frame is dropped
            self.sock.send(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked)

    def fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        self.abort()

    def lost(self, exc: Exception | None) -> None:
        """The server closed the connection (or it broke)."""
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)
        self.abort()
        self.client.on_lost()

    async def close(self) -> None:
        """Send a close frame (1000) and wait up to 2 s for the server to hang up."""
        self.send_control(8, (1000).to_bytes(2, "big"))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.closed), 2)
        self.abort()

    def abort(self) -> None:
        if self.sock.fileno() >= 0:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()


def _enable_timestamps(sock: socket.socket) -> bool:
    """Ask Linux to stamp received data (SO_TIMESTAMPNS); False where it cannot."""
    if sys.platform != "linux":
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def _kernel_time(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            return float(seconds + nanoseconds * 1e-9)
    return None


class CountingConnection(ClientConnection):
    """A websockets client connection that counts the bytes read from its socket.

    It also notes when bytes last arrived: a frame's receipt time is taken there, before the
    frame waits for its reader task, so the load generator's own scheduling stays out of the
    latency as far as possible (what remains shows as event-loop lag).
    """

    wire_bytes = 0
    arrived_at = 0.0

    def data_received(self, data: bytes) -> None:
        self.arrived_at = time.time()
        self.wire_bytes += len(data)
        super().data_received(data)


class WebsocketsConnection:
    """The ``websockets`` library's client (with permessage-deflate when asked), adapted."""

    def __init__(self, client: BenchClient, ws: CountingConnection) -> None:
        self.client = client
        self.ws = ws
        self.reader = asyncio.ensure_future(self.read())

    @classmethod
    async def open(
        cls, client: BenchClient, url: str, subprotocols: list[str] | None, timeout: float,
        deflate: bool,
    ) -> WebsocketsConnection:  # fmt: skip
        ws = await websockets.connect(
            url,
            subprotocols=[Subprotocol(p) for p in subprotocols or ()] or None,
            compression="deflate" if deflate else None,
            open_timeout=timeout,
            ping_interval=None,  # a saturated server must not look like a dead one
            close_timeout=2,
            max_size=None,
            max_queue=None,
            proxy=None,
            user_agent_header=None,
            create_connection=CountingConnection,
        )
        assert isinstance(ws, CountingConnection)
        return cls(client, ws)

    @property
    def wire_bytes(self) -> int:
        return self.ws.wire_bytes

    async def read(self) -> None:
        """Records every frame until the socket closes."""
        try:
            async for raw in self.ws:
                self.client.on_frame(raw, self.ws.arrived_at)
        except ConnectionClosed:
            pass
        self.client.on_lost()

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)

    def abort(self) -> None:
        if self.ws.transport is not None:
            self.ws.transport.abort()
        self.reader.cancel()
