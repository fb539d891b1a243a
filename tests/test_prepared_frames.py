"""Prepared frames: every member of a broadcast gets byte-identical frames, built once."""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reznet_ws.codec import SUBPROTOCOL, Codec
from reznet_ws.delivery.prepared import ws_frame
from reznet_ws.encoding import default_field_map

from .conftest import ServerProcess, free_port

pytestmark = pytest.mark.timeout(300)


def parse_frame(data: bytes) -> tuple[int, bytes, bytes]:
    """Return (first byte, payload, rest) of one unmasked frame at the start of ``data``."""
    first, second = data[0], data[1]
    assert second & 0x80 == 0, "server frames are not masked"
    size, offset = second & 0x7F, 2
    if size == 126:
        (size,) = struct.unpack("!H", data[2:4])
        offset = 4
    elif size == 127:
        (size,) = struct.unpack("!Q", data[2:10])
        offset = 10
    return first, data[offset : offset + size], data[offset + size :]


@given(st.binary(max_size=70_000), st.booleans())
def test_a_prepared_frame_parses_back_to_its_payload(payload: bytes, binary: bool) -> None:
    first, parsed, rest = parse_frame(ws_frame(payload, binary))
    assert first == (0x82 if binary else 0x81)
    assert parsed == payload and rest == b""


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_the_length_encoding_switches_at_the_rfc_boundaries(size: int) -> None:
    header = len(ws_frame(b"x" * size, False)) - size
    assert header == (2 if size < 126 else 4 if size < 65536 else 10)


class RawClient:
    """A WebSocket client on a plain socket: reads the server's frames byte for byte."""

    def __init__(self, port: int, v2: bool, extensions: str = "") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        protocol = f"Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n" if v2 else ""
        if extensions:
            protocol += f"Sec-WebSocket-Extensions: {extensions}\r\n"
        self.sock.sendall(
            b"GET /ws/room/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n" + protocol.encode() + b"\r\n"
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(4096)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert b" 101 " in head
        #: The response headers of the handshake.
        self.head = head.decode("latin-1")

    def frame(self) -> bytes:
        """Return the next complete data frame, header included (the server's pings skipped:
        daphne pings every 20 s, which a slow machine reaches)."""
        while True:
            size = _frame_size(self.buffer)
            if size is not None and len(self.buffer) >= size:
                whole, self.buffer = self.buffer[:size], self.buffer[size:]
                if whole[0] & 0x0F in (0x9, 0xA):
                    continue
                return whole
            self.buffer += self.sock.recv(65536)

    def send_json(self, value: Any) -> None:
        payload = json.dumps(value).encode()
        mask = b"\x01\x02\x03\x04"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert len(payload) < 126
        self.sock.sendall(bytes((0x81, 0x80 | len(payload))) + mask + masked)


def _frame_size(data: bytes) -> int | None:
    """Return the total size of the first frame in ``data``, None while its header is cut."""
    if len(data) < 2:
        return None
    size = data[1] & 0x7F
    if size == 126:
        return None if len(data) < 4 else 4 + int(struct.unpack("!H", data[2:4])[0])
    if size == 127:
        return None if len(data) < 10 else 10 + int(struct.unpack("!Q", data[2:10])[0])
    return 2 + size


@pytest.mark.slow
@pytest.mark.parametrize("server", ["reznet-daphne", "daphne"])
def test_every_member_gets_the_same_frame_bytes_per_encoding(server: str) -> None:
    port = free_port()
    argv = (
        ["-m", "reznet_ws.server.cli", "--no-permessage-deflate"]
        if server == "reznet-daphne"
        else ["-m", "daphne"]
    )
    process = ServerProcess(
        [*argv, "-b", "127.0.0.1", "-p", str(port), "tests.hub_app:application"],
        port,
        env={"DJANGO_SETTINGS_MODULE": "tests.hub_settings"},
    )
    clients = [RawClient(port, v2=i < 3) for i in range(5)]
    try:
        for client in clients[:3]:
            _, payload, _ = parse_frame(client.frame())  # connection_established
            assert json.loads(payload)["e"] == "connection_established"
        sender = clients[0]
        sender.send_json({"event": "shout", "data": {"n": 7, "pad": 3000}})
        frames = [client.frame() for client in clients]
        v2, v1 = frames[:3], frames[3:]
        assert v2[0] == v2[1] == v2[2]  # byte-identical for every v2 member
        assert v1[0] == v1[1]
        codec = Codec(default_field_map())
        _, payload, _ = parse_frame(v2[0])
        [(event, data)] = codec.decode_frame(payload.decode())
        assert event == "said" and data["n"] == 7
        _, payload, _ = parse_frame(v1[0])
        assert json.loads(payload) == {"event": "said", "data": {"n": 7, "pad": "x" * 3000}}
    finally:
        for client in clients:
            client.sock.close()
        process.stop()


class _Transport:
    """The parts of a Twisted TCP transport the adapter reads (nothing buffered)."""

    TLS = False
    dataBuffer = b""
    offset = 0
    _tempDataBuffer: list[bytes] = []
    _tempDataLen = 0


class _Protocol:
    """What daphne's WebSocket protocol offers the adapter: its state and ``sendData``."""

    STATE_OPEN = 3
    SEND_STATE_GROUND = 0

    def __init__(self) -> None:
        self.state = 3
        self.send_state = 0
        self.transport = _Transport()
        self.written: list[bytes] = []

    def sendData(self, data: bytes) -> None:
        self.written.append(data)


async def _handle_reply(protocol: _Protocol, message: dict[str, Any]) -> None:
    raise AssertionError("a prepared frame must not take the ASGI send path")


async def test_the_hub_writes_one_prepared_frame_object_to_every_member() -> None:
    import functools

    from channels.layers import get_channel_layer

    from reznet_ws.delivery.connection import Connection
    from reznet_ws.delivery.hub import get_hub

    protocols = [_Protocol() for _ in range(3)]
    members = [Connection(functools.partial(_handle_reply, p)) for p in protocols]
    codec = Codec(default_field_map())
    for member in members:
        assert member.outbox.direct
        await member.opened(2, codec, deflate=False)
    hub = get_hub(get_channel_layer())
    for member in members:
        await hub.join("prepared", member)
    await hub.fanout(
        {
            "group": "prepared",
            "id": "prepared-1",
            "event": "tick",
            "v1": json.dumps({"event": "tick", "data": {"n": 1}}),
            "optimize": True,
            "batch": False,
        }
    )
    written = [p.written for p in protocols]
    assert all(len(frames) == 1 for frames in written)
    assert written[0][0] is written[1][0] is written[2][0]  # one bytes object, built once
    _, payload, _ = parse_frame(written[0][0])
    assert codec.decode_frame(payload.decode()) == [("tick", {"n": 1})]
    for member in members:
        await hub.leave("prepared", member)
