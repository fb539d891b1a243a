"""Group streams on the server (reznet_ws.delivery.streams) driven by random schedules.

Real :class:`Connection` objects (their queued outbox) receive broadcasts the way the hub hands
them over; each connection's client decodes what it received with :class:`StreamDecoder` and
the codec. For every schedule of joins, leaves, slow-client drops, resyncs, decode failures and
clock ticks, each connection receives, in order, exactly the broadcasts v1 would have delivered
to it, minus the ones it was dropped from (counted by the server) or could not decode (detected
by the client): never one twice, never one silently.
"""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from collections import Counter
from typing import Any

from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from reznet_ws.codec import ProtocolError
from reznet_ws.codec.stream import StreamDecoder, compressor_memory, is_stream_frame, parse_header
from reznet_ws.delivery.connection import Connection
from reznet_ws.delivery.prepared import Broadcast
from reznet_ws.delivery.streams import GroupStreams, stream_stats
from reznet_ws.encoding import EncodedEvent, codec_for, default_field_map

N = 4  # connections
KINDS = ["broadcast", "join", "leave", "drop", "resync", "fail", "tick"]


def schedule_actions(kinds: list[str]) -> st.SearchStrategy[tuple[str, int]]:
    """Actions of ``kinds`` for :func:`_run`: a client index, a broadcast's n or a tick."""
    top = {"broadcast": 10**6, "tick": 3}
    return st.one_of(*[st.tuples(st.just(k), st.integers(0, top.get(k, N - 1))) for k in kinds])


actions = schedule_actions(KINDS)


class Client:
    """One connection and what its client decodes from the wire."""

    def __init__(self, index: int, stream_mode: bool) -> None:
        self.received: list[Any] = []
        self.conn = Connection(self._send)
        self.conn.stream_mode = stream_mode
        self.index = index
        self.decoder = StreamDecoder()
        self.events: list[Any] = []
        self.expected: list[Any] = []
        self.gaps = 0
        self.stream_frames = 0
        self.fail_next = False
        self.resync_wanted: list[int] = []

    async def _send(self, message: Any) -> None:
        self.received.append(message)

    def read(self) -> None:
        """Decode everything received so far (the client side)."""
        codec = self.conn.codec
        assert codec is not None
        for message in self.received:
            data = message.get("bytes")
            if data is not None and is_stream_frame(data):
                self.stream_frames += 1
                if self.fail_next:  # this frame "could not be decoded": skip it, ask to resync
                    self.fail_next = False
                    self.gaps += 1
                    self.resync_wanted.append(parse_header(data).stream)
                    continue
                try:
                    text = self.decoder.decode(data)
                except ProtocolError:
                    self.gaps += 1
                    self.resync_wanted.append(parse_header(data).stream)
                    continue
            else:
                text = message["text"]
            if '"connection_established"' in text:
                continue
            self.events.extend(codec.parse_incoming(text, None, v2=True))
        self.received.clear()


async def _drain(clients: list[Client]) -> None:
    for client in clients:
        writer = client.conn.outbox._writer
        if writer is not None:
            await writer
        client.read()


async def _run(
    schedule: list[tuple[str, int]], stream_modes: list[bool], codecs: list[str] | None = None
) -> tuple[list[Client], GroupStreams]:
    """Play ``schedule`` on one group; ``codecs`` names each client's stream codec."""
    codec = codec_for(default_field_map())
    clients = [Client(i, mode) for i, mode in enumerate(stream_modes)]
    for client, name in zip(clients, codecs or [None] * len(clients), strict=True):
        if name is not None:
            client.conn.stream_codec = name
        await client.conn.opened(2, codec, False)
    streams = GroupStreams()
    now = [0.0]
    streams.clock = lambda: now[0]  # type: ignore[method-assign,assignment]
    members: set[int] = set()
    dropping: set[int] = set()
    for action, arg in schedule:
        if action == "join":
            members.add(arg)
            streams.wait("g")  # as Hub.join does
        elif action == "leave" and arg in members:
            members.discard(arg)
            streams.leave("g", clients[arg].conn)
        elif action == "drop":
            dropping.add(arg)
        elif action == "fail":
            clients[arg].fail_next = True
        elif action == "resync":
            clients[arg].resync_wanted.append(-1)
        elif action == "tick":
            now[0] += arg
        elif action == "broadcast":
            data = {"message_id": f"m{arg}", "content": "hello " * (arg % 7), "n": arg}
            broadcast = Broadcast(EncodedEvent("message_new", data), True, False)
            group = [clients[i].conn for i in sorted(members)]
            streams.begin("g", group, broadcast)
            for i in sorted(members):
                conn = clients[i].conn
                if i in dropping:  # what Connection.deliver does for a slow client
                    dropping.discard(i)
                    if broadcast.stream is not None:
                        broadcast.stream.missed(conn, broadcast)
                    continue
                clients[i].expected.append({"event": "message_new", "data": data})
                if not conn.deliver(broadcast):
                    await conn.deliver_async(broadcast)
        await _drain(clients)
        for client in clients:  # a resync request reaches the server before the next broadcast
            for stream_id in client.resync_wanted:
                for streams_of_group in streams.groups.values():
                    for stream in streams_of_group.values():
                        if stream_id in (-1, stream.encoder.stream):
                            streams.resync(client.conn, stream.encoder.stream)
            client.resync_wanted.clear()
    return clients, streams


def _key(event: dict[str, Any]) -> str:
    return json.dumps(event, sort_keys=True)


def in_order_minus_gaps(client: Client) -> tuple[list[str], list[str]]:
    """Check ``client`` got, in order, what it expected minus its detected gaps; return both."""
    expected = [_key(e) for e in client.expected]
    got = [_key(e) for e in client.events]
    assert len(got) == len(expected) - client.gaps
    it = iter(expected)
    assert all(any(g == e for e in it) for g in got)
    return expected, got


@settings(max_examples=120, deadline=None)
@given(
    st.lists(actions, max_size=60),
    st.lists(st.booleans(), min_size=N, max_size=N),
    st.sampled_from([1, 3, 1000]),
)
def test_members_receive_what_v1_delivers_minus_detected_gaps(
    schedule: list[tuple[str, int]], stream_modes: list[bool], epoch_messages: int
) -> None:
    config = {"STREAM_EPOCH_MESSAGES": epoch_messages, "STREAM_EPOCH_SECONDS": 2.0}
    with override_settings(REZNET_WS=config):
        clients, _ = asyncio.run(asyncio.wait_for(_run(schedule, stream_modes), 30))
    for client in clients:
        # in order, no duplicates, nothing invented: got is expected minus the detected gaps
        expected, got = in_order_minus_gaps(client)
        assert not [k for k, n in Counter(got).items() if n > Counter(expected)[k]]
        if not stream_modes[client.index]:
            assert client.gaps == 0


def test_stream_members_share_one_frame_and_one_compression() -> None:
    async def run() -> list[list[Any]]:
        codec = codec_for(default_field_map())
        clients = [Client(i, True) for i in range(3)]
        for client in clients:
            await client.conn.opened(2, codec, False)
        streams = GroupStreams()
        for n in range(3):
            broadcast = Broadcast(EncodedEvent("message_new", {"n": n}), True, False)
            streams.begin("g", [c.conn for c in clients], broadcast)
            for client in clients:
                if not client.conn.deliver(broadcast):
                    await client.conn.deliver_async(broadcast)
        for client in clients:
            await client.conn.outbox._writer  # type: ignore[misc]
        (stream,) = streams.groups["g"].values()
        assert stream.encoder.seq == 2  # the first broadcast counts the stream's members
        return [c.received for c in clients]

    received = asyncio.run(asyncio.wait_for(run(), 10))
    for frames in zip(*(r[1:] for r in received), strict=True):  # after the greeting-less start
        assert all(f["bytes"] is frames[0]["bytes"] for f in frames)


def test_a_group_of_one_gets_ordinary_frames() -> None:
    async def run() -> list[Any]:
        codec = codec_for(default_field_map())
        client = Client(0, True)
        await client.conn.opened(2, codec, False)
        streams = GroupStreams()
        broadcast = Broadcast(EncodedEvent("message_new", {"n": 1}), True, False)
        streams.begin("g", [client.conn], broadcast)
        assert broadcast.stream is None and "g" not in streams.groups
        if not client.conn.deliver(broadcast):
            await client.conn.deliver_async(broadcast)
        await client.conn.outbox._writer  # type: ignore[misc]
        return client.received

    (message,) = asyncio.run(asyncio.wait_for(run(), 10))
    assert "text" in message


def test_a_fixed_schedule_goes_through_the_stream() -> None:
    schedule = [("join", 0), ("join", 1), ("broadcast", 1), ("broadcast", 2), ("join", 2)]
    schedule += [("broadcast", 3), ("tick", 3), ("broadcast", 4), ("drop", 0), ("broadcast", 5)]
    schedule += [("fail", 1), ("broadcast", 6), ("broadcast", 7), ("tick", 3), ("broadcast", 8)]
    with override_settings(REZNET_WS={"STREAM_EPOCH_SECONDS": 2.0}):
        clients, _ = asyncio.run(asyncio.wait_for(_run(schedule, [True] * N), 10))
    summary = [(len(c.expected), len(c.events), c.gaps, c.stream_frames) for c in clients]
    # broadcast 1 is ordinary (it counts the members), 2 starts epoch 0 for 0 and 1; 2 joins and
    # gets 3 as an ordinary frame (the epoch is young), 4 starts epoch 1 for everyone; 0 misses 5
    # (slow) and gets 6 and 7 as ordinary frames; 1 cannot decode 6 (a detected gap) and
    # resyncs; 8 starts epoch 2 for 0 and 1.
    assert summary == [(7, 7, 0, 4), (8, 7, 1, 6), (6, 6, 0, 5), (0, 0, 0, 0)]


def test_stream_frames_and_resyncs_are_counted(recorder: Any) -> None:
    async def run() -> None:
        from reznet_ws.delivery.hub import Hub

        codec = codec_for(default_field_map())
        clients = [Client(i, True) for i in range(3)]
        for client in clients:
            await client.conn.opened(2, codec, False)
        hub = Hub(object())
        hub.groups["g"] = weakref.WeakSet(c.conn for c in clients)
        for n in range(3):  # the first one ordinary: it counts the stream's members
            message = {"group": "g", "id": f"c{n}", "event": "e", "optimize": True}
            await hub.fanout(
                {**message, "v1": json.dumps({"event": "e", "data": n}), "batch": False}
            )
        (stream,) = hub.streams.groups["g"].values()
        assert hub.streams.resync(clients[0].conn, stream.id)
        assert not hub.streams.resync(clients[0].conn, stream.id)  # not in it any more
        assert not hub.streams.resync(clients[1].conn, "x")

    asyncio.run(asyncio.wait_for(run(), 10))
    counters = recorder.counters
    assert counters["stream_frames"] == 6
    assert counters["stream_bytes"] > 0 and counters["stream_original"] > 0
    assert counters["error:stream_resync"] == 1


async def _broadcast_to(streams: GroupStreams, group: str, clients: list[Client], n: int) -> None:
    broadcast = Broadcast(EncodedEvent("message_new", {"n": n}), True, False)
    streams.begin(group, [c.conn for c in clients], broadcast)
    for client in clients:
        if not client.conn.deliver(broadcast):
            await client.conn.deliver_async(broadcast)


def test_stream_max_streams_and_stream_mode_bound_the_compressors() -> None:
    async def run(config: dict[str, Any]) -> dict[str, int]:
        gc.collect()  # streams of earlier tests (their broadcasts hold them in cycles)
        codec = codec_for(default_field_map())
        groups = {g: [Client(i, True) for i in range(2)] for g in ("g1", "g2")}
        for clients in groups.values():
            for client in clients:
                await client.conn.opened(2, codec, False)
        streams = GroupStreams()
        with override_settings(REZNET_WS=config):
            for n in range(3):
                for group, clients in groups.items():
                    await _broadcast_to(streams, group, clients, n)
        started = [s for g in streams.groups.values() for s in g.values() if s.encoder.started]
        stats = stream_stats()
        for group in list(streams.groups):
            streams.discard(group)
        return {"started": len(started), "memory": stats["stream_memory"]}

    limited = asyncio.run(asyncio.wait_for(run({"STREAM_MAX_STREAMS": 1}), 10))
    assert limited["started"] == 1 and limited["memory"] >= compressor_memory(15, 8)
    assert asyncio.run(asyncio.wait_for(run({"STREAM_MODE": False}), 10))["started"] == 0
    assert asyncio.run(asyncio.wait_for(run({}), 10))["started"] == 2
