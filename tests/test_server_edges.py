"""RFC 6455 edges on real servers: ``reznet-daphne`` and ``manage.py runserver`` on 127.0.0.1.

The client is a raw socket with hand-written framing (masked client frames), so the tests see
exactly what the server put on the wire: empty messages, the close codes of a failed connection
(1009, 1007), the order of replies and close frame, and the close frame of a slow client.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import socket
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, free_port
from tests.edges_app import FRAME_SIZE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SCRIPT = Path(sys.executable).with_name("reznet-daphne")
MAX_MESSAGE = 1 << 20  # daphne's default --websocket-max-message-size
TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8
SERVERS = {
    "reznet-daphne": (
        [str(SCRIPT), "-b", "127.0.0.1", "-p", "{port}", "tests.edges_app:application"],
        {"DJANGO_SETTINGS_MODULE": ""},
    ),
    "runserver": (
        ["manage.py", "runserver", "--noreload", "127.0.0.1:{port}"],
        {"DJANGO_SETTINGS_MODULE": "tests.edges_settings"},
    ),
}


@contextlib.contextmanager
def serving(name: str) -> Iterator[ServerProcess]:
    argv, env = SERVERS[name]
    port = free_port()
    server = ServerProcess([arg.replace("{port}", str(port)) for arg in argv], port, env=env)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    with serving(request.param) as running:
        yield running


# ----------------------------------------------------------------------------- raw client


class RawClient:
    """A blocking WebSocket client over a plain socket, framing by hand."""

    def __init__(self, port: int, *, deflate: bool = False, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the TCP window is negotiated small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(30)
        self.sock.connect(("127.0.0.1", port))
        self.buffer = b""
        key = base64.b64encode(os.urandom(16)).decode()
        offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
        self.sock.sendall(
            f"GET /ws/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"{offer}\r\n".encode()
        )
        self.response = self._read_until(b"\r\n\r\n")
        assert self.response.startswith(b"HTTP/1.1 101"), self.response

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buffer += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def send_frame(self, opcode: int, payload: bytes, *, rsv1: bool = False) -> None:
        self.sock.sendall(frame(opcode, payload, rsv1=rsv1))

    def read_frame(self) -> tuple[int, bytes]:
        """Return ``(opcode, payload)`` of the next frame (the server never masks)."""
        first, second = self._take(2)
        assert first & 0x80, "fragmented frame"
        length = second & 0x7F
        assert not second & 0x80, "masked server frame"
        if length == 126:
            length = int.from_bytes(self._take(2), "big")
        elif length == 127:
            length = int.from_bytes(self._take(8), "big")
        return first & 0x0F, self._take(length)

    def expect_close(self) -> int:
        """Read up to a close frame, answer it, wait for the server to end TCP; return the code."""
        opcode, payload = self.read_frame()
        assert opcode == CLOSE, (opcode, payload[:40])
        return self.answer_close(payload)

    def answer_close(self, payload: bytes) -> int:
        self.send_frame(CLOSE, payload[:2])
        # The server ends TCP after the closing handshake (autobahn aborts: a reset, or an EOF).
        with pytest.raises((EOFError, ConnectionResetError)):
            self._fill()
        return int.from_bytes(payload[:2], "big")

    def close(self) -> None:
        self.sock.close()


def frame(opcode: int, payload: bytes, *, rsv1: bool = False) -> bytes:
    """One masked client frame (FIN set)."""
    head = bytes([0x80 | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload[:64]))
    if n > 64:  # mask the rest fast: xor as big integers
        rest = payload[64:]
        key = (mask * (len(rest) // 4 + 1))[64 % 4 :][: len(rest)]
        masked += (int.from_bytes(rest, "big") ^ int.from_bytes(key, "big")).to_bytes(
            len(rest), "big"
        )
    return head + mask + masked


@contextlib.contextmanager
def client(port: int, *, deflate: bool = False, rcvbuf: int | None = None) -> Iterator[RawClient]:
    raw = RawClient(port, deflate=deflate, rcvbuf=rcvbuf)
    try:
        yield raw
    finally:
        raw.close()


# ----------------------------------------------------------------------------- tests


def test_masking_helper_round_trips() -> None:
    payload = os.urandom(300)
    data = frame(BINARY, payload)
    mask, masked = data[4:8], data[8:]
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(masked)) == payload


def test_empty_messages_are_echoed(server: ServerProcess) -> None:
    with client(server.port) as ws:
        ws.send_frame(TEXT, b"")
        assert ws.read_frame() == (TEXT, b"")
        ws.send_frame(BINARY, b"")
        assert ws.read_frame() == (BINARY, b"")
        ws.send_frame(TEXT, b"still here")
        assert ws.read_frame() == (TEXT, b"still here")


def test_oversize_text_is_closed_with_1009(server: ServerProcess) -> None:
    with client(server.port) as ws:
        ws.send_frame(TEXT, b"a" * (MAX_MESSAGE + 1))
        assert ws.expect_close() == 1009
    with client(server.port) as ws:  # the limit itself is fine
        ws.send_frame(TEXT, b"b" * MAX_MESSAGE)
        assert ws.read_frame() == (TEXT, b"b" * MAX_MESSAGE)


def test_oversize_inflated_message_is_closed_with_1009(server: ServerProcess) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -9)
    deflated = compressor.compress(bytes(4 * MAX_MESSAGE)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    with client(server.port, deflate=True) as ws:
        assert b"permessage-deflate" in ws.response
        ws.send_frame(BINARY, deflated[:-4], rsv1=True)  # RFC 7692 drops 00 00 ff ff
        assert ws.expect_close() == 1009


def test_invalid_utf8_is_closed_with_1007_after_earlier_replies(server: ServerProcess) -> None:
    with client(server.port) as ws:
        # One write: the valid message is still with the application when the bad one is read.
        ws.sock.sendall(frame(TEXT, b"first") + frame(TEXT, b"caf\xc3("))
        assert ws.read_frame() == (TEXT, b"first")
        assert ws.expect_close() == 1007


def test_slow_client_gets_the_4009_close_frame(server: ServerProcess) -> None:
    with client(server.port, rcvbuf=4096) as ws:
        ws.send_frame(TEXT, b"flood")
        # Never read until the application closed: it wrote until Twisted buffered > 1 MiB.
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        connection.request("GET", "/flood-closed")
        written = json.loads(connection.getresponse().read())["frames"]
        connection.close()
        received: list[int] = []
        while True:
            opcode, payload = ws.read_frame()
            if opcode == CLOSE:
                break
            assert (opcode, len(payload)) == (BINARY, FRAME_SIZE)
            received.append(int.from_bytes(payload[:8], "big"))
        assert ws.answer_close(payload) == 4009
    # Whole frames in order up to the cut, and the backlog behind it was dropped, not sent.
    assert received == list(range(len(received)))
    assert len(received) < written
