"""Broadcasts to permessage-deflate members: compressed once, the same frame to every member.

Without server context takeover (the default) every member of a broadcast gets byte-identical
frames with RSV1 set, which inflate on their own; with context takeover each member's compressor
compresses it (its window differs per member), and a real client decodes either way, interleaved
with what the consumer sends to its own connection. The GC policy of reznet-daphne is unit-tested
here too, with a fake collector.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from typing import Any

import pytest

from reznet_ws.codec import SUBPROTOCOL, Codec
from reznet_ws.codec.compression import deflate_message
from reznet_ws.encoding import default_field_map
from reznet_ws.server.gcpolicy import GcFreezePolicy

from .conftest import ServerProcess, free_port, ws_connect
from .test_prepared_frames import RawClient, parse_frame

pytestmark = pytest.mark.timeout(300)

OFFER = "permessage-deflate; client_max_window_bits"


def _server(*flags: str) -> ServerProcess:
    port = free_port()
    argv = ["-m", "reznet_ws.server.cli", "--permessage-deflate", *flags]
    return ServerProcess(
        [*argv, "-b", "127.0.0.1", "-p", str(port), "tests.hub_app:application"],
        port,
        env={"DJANGO_SETTINGS_MODULE": "tests.hub_settings"},
    )


def _inflate(payload: bytes) -> bytes:
    # RFC 7692, 7.2.2: append the 00 00 ff ff the sender removed, inflate with a fresh context.
    return zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")


def test_deflate_message_inflates_alone() -> None:
    text = json.dumps({"event": "said", "data": {"n": 1, "pad": "x" * 500}}).encode()
    packed = deflate_message(text, 6, 12, 5)
    assert not packed.endswith(b"\x00\x00\xff\xff")
    assert _inflate(packed) == text
    assert _inflate(deflate_message(b"", 6, 12, 5)) == b""


@pytest.mark.slow
def test_every_deflate_member_gets_the_same_compressed_frame() -> None:
    server = _server()
    clients = [RawClient(server.port, v2=True, extensions=OFFER) for _ in range(3)]
    try:
        for client in clients:
            assert "permessage-deflate" in client.head
            first, payload, _ = parse_frame(client.frame())  # connection_established
            assert json.loads(_inflate(payload) if first & 0x40 else payload)["e"] == (
                "connection_established"
            )
        codec = Codec(default_field_map())
        for n in (7, 8):
            clients[0].send_json({"event": "shout", "data": {"n": n, "pad": 300}})
            frames = [client.frame() for client in clients]
            assert frames[0] == frames[1] == frames[2]  # compressed once, written to each
            first, payload, _ = parse_frame(frames[0])
            assert first == 0xC1  # FIN, RSV1 (compressed), text
            [(event, data)] = codec.decode_frame(_inflate(payload).decode())
            assert event == "said" and data == {"n": n, "pad": "x" * 300}
    finally:
        for client in clients:
            client.sock.close()
        server.stop()


async def _chat(port: int) -> list[Any]:
    """Two real clients: broadcasts and the consumer's own replies, interleaved, decoded."""
    url = f"ws://127.0.0.1:{port}/ws/room/"
    got: list[Any] = []
    async with (
        ws_connect(url, subprotocols=[SUBPROTOCOL]) as first,
        ws_connect(url, subprotocols=[SUBPROTOCOL]) as second,
    ):
        codec = Codec(default_field_map())
        for ws in (first, second):
            assert "permessage-deflate" in (ws.response.headers.get("Sec-WebSocket-Extensions"))
            codec.decode_frame(await ws.recv())  # connection_established
        for n in range(5):
            shout = {"event": "shout", "data": {"n": n, "pad": 200 * n, "ack": True}}
            await first.send(json.dumps(shout))
            for ws in (first, second):
                while True:
                    [(event, data)] = codec.decode_frame(await ws.recv())
                    got.append((event, data["n"]))
                    if event == "said":
                        assert data["pad"] == "x" * 200 * n
                        break
            [(event, data)] = codec.decode_frame(await first.recv())
            got.append((event, data["n"]))
    return got


@pytest.mark.slow
@pytest.mark.parametrize("flags", [(), ("--deflate-server-context-takeover",)])
def test_a_real_client_decodes_broadcasts_and_replies_in_both_modes(flags: tuple[str, ...]) -> None:
    server = _server(*flags)
    try:
        got = asyncio.run(_chat(server.port))
    finally:
        server.stop()
    said = [n for event, n in got if event == "said"]
    assert said == [n for n in range(5) for _ in range(2)]  # each broadcast to both, in order
    assert [n for event, n in got if event == "shouted"] == list(range(5))


class FakeGc:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.frozen = 0

    def collect(self, generation: int = 2) -> int:
        self.calls.append(f"collect{generation}")
        return 0

    def freeze(self) -> None:
        self.calls.append("freeze")
        self.frozen += 100

    def unfreeze(self) -> None:
        self.calls.append("unfreeze")
        self.frozen = 0

    def get_freeze_count(self) -> int:
        return self.frozen


def test_gc_policy_freezes_on_growth_and_unfreezes_on_shrink() -> None:
    policy = GcFreezePolicy(threshold=1000)
    policy.gc = fake = FakeGc()
    assert [policy.tick(n) for n in (0, 500, 999)] == [None, None, None]
    assert policy.tick(1000) == "freeze" and policy.frozen_at == 1000
    assert fake.calls == ["collect1", "freeze"]  # young garbage first, never a full collection
    assert policy.tick(1249) is None
    assert policy.tick(1250) == "freeze" and policy.frozen_at == 1250
    assert policy.tick(700) is None  # above half of 1250
    assert policy.tick(625) == "unfreeze" and policy.frozen_at is None
    assert policy.tick(900) is None
    assert fake.calls[-1] == "unfreeze"


def test_gc_policy_off_at_zero() -> None:
    policy = GcFreezePolicy(threshold=0)
    policy.gc = fake = FakeGc()
    assert policy.tick(100_000) is None
    assert fake.calls == []


def test_tcp_endpoints_listen_with_the_configured_backlog() -> None:
    from reznet_ws.server.server import with_backlog

    tcp = "tcp:port=8000:interface=127.0.0.1"
    assert with_backlog(tcp, 4096) == tcp + ":backlog=4096"
    assert with_backlog("tcp6:port=8000:interface=\\:\\:1", 10).endswith(":backlog=10")
    assert with_backlog(tcp + ":backlog=7", 4096) == tcp + ":backlog=7"  # its own kept
    assert with_backlog("unix:/tmp/s.sock", 4096) == "unix:/tmp/s.sock"
    assert with_backlog(tcp, 0) == tcp
