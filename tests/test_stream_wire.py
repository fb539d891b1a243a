"""Group streams over a real reznet-daphne: identical frames, epochs, a late joiner, a resync.

One client negotiates permessage-deflate: its stream frames go out as uncompressed messages
among compressed ones, and it decodes them all the same.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from reznet_ws.codec import SUBPROTOCOL, Codec
from reznet_ws.codec.stream import RESYNC_EVENT, StreamDecoder, is_stream_frame, parse_header
from reznet_ws.encoding import default_field_map

from .conftest import CLIENT_TIMEOUT, ServerProcess, ws_connect
from .stream_support import stream_server

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
__all__ = ["stream_server"]  # the fixture


class Member:
    """A client of the room, with its stream decoder."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.decoder = StreamDecoder()
        self.codec = Codec(default_field_map())
        self.frames: list[str | bytes] = []

    @classmethod
    async def open(cls, port: int, stream: bool, deflate: bool) -> Member:
        query = "?reznet_features=content,stream" if stream else ""
        ws = await ws_connect(
            f"ws://127.0.0.1:{port}/ws/room/{query}",
            subprotocols=[SUBPROTOCOL],
            compression="deflate" if deflate else None,
        )
        member = cls(ws)
        greeting = await member.next()
        assert greeting[0] == "connection_established"
        return member

    async def next(self) -> tuple[str, Any]:
        """Return the next event, decoding stream frames."""
        frame = await asyncio.wait_for(self.ws.recv(), CLIENT_TIMEOUT)
        self.frames.append(frame)
        if isinstance(frame, bytes):
            assert is_stream_frame(frame)
            frame = self.decoder.decode(frame)
        [(event, data)] = self.codec.decode_frame(frame)
        return event, data

    async def shout(self, n: int) -> None:
        await self.ws.send(json.dumps({"event": "shout", "data": {"n": n, "pad": 300}}))


async def _session(port: int) -> None:
    a = await Member.open(port, stream=True, deflate=True)
    b = await Member.open(port, stream=True, deflate=False)
    c = await Member.open(port, stream=False, deflate=False)
    members = [a, b, c]
    assert a.ws.response is not None
    assert "permessage-deflate" in a.ws.response.headers.get("Sec-WebSocket-Extensions", "")

    async def round_(sender: Member, n: int, group: list[Member]) -> None:
        await sender.shout(n)
        for member in group:
            event, data = await member.next()
            assert (event, data["n"], data["pad"]) == ("said", n, "x" * 300)

    await round_(a, 1, members)  # ordinary frames: the first broadcast counts the members
    assert isinstance(a.frames[-1], str)
    await round_(a, 2, members)
    await round_(a, 3, members)
    # a and b: stream frames, byte-identical; c: ordinary text frames
    assert a.frames[-2:] == b.frames[-2:]
    assert [f[0] for f in a.frames[-2:]] == [0xA5, 0xA4]  # type: ignore[index]
    assert all(isinstance(f, str) for f in c.frames)

    d = await Member.open(port, stream=True, deflate=False)  # joins mid-stream
    members.append(d)
    await round_(a, 4, members)  # STREAM_EPOCH_SECONDS=0: d waits one broadcast at most
    assert d.frames[-1] == a.frames[-1] and parse_header(d.frames[-1]).epoch == 1  # type: ignore[arg-type]

    stream = parse_header(b.frames[-1]).stream  # type: ignore[arg-type]
    await b.ws.send(json.dumps({"event": RESYNC_EVENT, "data": {"stream": stream}}))
    await round_(b, 5, members)  # b waited: the broadcast starts epoch 2 and takes it in
    assert parse_header(b.frames[-1]).epoch == 2  # type: ignore[arg-type]
    await round_(b, 6, members)
    assert len({m.frames[-1] for m in (a, b, d)}) == 1
    for member in members:
        await member.ws.close()


def test_stream_members_over_reznet_daphne(stream_server: ServerProcess) -> None:
    # Each wait of the session has its own bound; this one only bounds the whole on a busy machine.
    asyncio.run(asyncio.wait_for(_session(stream_server.port), 240))
