"""Group streams for reznet.v2.msgpack members: their own stream of binary frames (3.3 and 7)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgpack
import pytest
from channels.testing import WebsocketCommunicator
from hypothesis import example, given, settings
from hypothesis import strategies as st

from reznet_ws.codec import ProtocolError
from reznet_ws.codec.msgpack_frames import MSGPACK_SUBPROTOCOL, msgpack_codec
from reznet_ws.codec.msgpack_stream import MsgpackStreamDecoder, split_message, stream_message
from reznet_ws.codec.stream import StreamDecoder, StreamEncoder, is_stream_frame
from reznet_ws.delivery.connection import Connection
from reznet_ws.delivery.prepared import Broadcast
from reznet_ws.delivery.streams import GroupStreams
from reznet_ws.encoding import EncodedEvent, codec_for, default_field_map

from .test_keyed import PlanConsumer
from .vector_support import generator

CODEC = codec_for(default_field_map())


class Member:
    """A connection of one encoding and what its client decodes from the wire."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.received: list[Any] = []
        self.conn = Connection(self._send)
        self.conn.stream_mode = True
        self.conn.encoding = encoding
        self.decoder: StreamDecoder = (
            MsgpackStreamDecoder() if encoding == "msgpack" else StreamDecoder()
        )
        self.events: list[tuple[str, Any]] = []
        self.stream_frames: list[bytes] = []

    async def _send(self, message: Any) -> None:
        self.received.append(message)

    def read(self) -> None:
        """Decode everything received so far, as a client of this encoding does."""
        for message in self.received:
            frame = message.get("bytes")
            if frame is not None and is_stream_frame(frame):
                self.stream_frames.append(frame)
                frame = self.decoder.decode(frame)
            elif frame is None:
                frame = message["text"]
            if self.encoding == "msgpack":
                self.events.extend(msgpack_codec(CODEC).decode_frame(frame))
            else:
                self.events.extend(CODEC.decode_frame(frame))
        self.received.clear()


async def _run(members: list[Member], payloads: list[Any]) -> None:
    for member in members:
        await member.conn.opened(2, CODEC, False)
    streams = GroupStreams()
    for data in payloads:
        broadcast = Broadcast(EncodedEvent("message_new", data), True, False)
        streams.begin("g", [m.conn for m in members], broadcast)
        for member in members:
            if not member.conn.deliver(broadcast):
                await member.conn.deliver_async(broadcast)
    for member in members:
        if member.conn.outbox._writer is not None:
            await member.conn.outbox._writer
        member.read()


def _v1(data: Any) -> Any:
    return json.loads(CODEC.encode_v1("message_new", data))["data"]


_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**66), max_value=2**66)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
    | st.sampled_from(["\ud800", "2025-10-25T12:00:00Z", "\n", -0.0]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["content", "created_at", "__proto__", "a"]), children)
    ),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_values, min_size=1, max_size=8))
def test_msgpack_and_json_members_get_what_v1_delivers(payloads: list[Any]) -> None:
    members = [Member("msgpack"), Member("msgpack"), Member("json"), Member("json")]
    asyncio.run(asyncio.wait_for(_run(members, payloads), 30))
    expected = [("message_new", _v1(data)) for data in payloads]
    for member in members:
        assert len(member.events) == len(expected)
        for (event, got), (_, want) in zip(member.events, expected, strict=True):
            assert event == "message_new"
            assert json.dumps(got) == json.dumps(want)  # by value, type and member order
    if len(payloads) > 1:  # the first broadcast counts the members; then both streams run
        for member in members:
            assert len(member.stream_frames) == len(payloads) - 1
        # one compression per encoding: members of an encoding get the very same bytes
        for a, b in ((members[0], members[1]), (members[2], members[3])):
            assert all(x is y for x, y in zip(a.stream_frames, b.stream_frames, strict=True))
        assert members[0].stream_frames[0] is not members[2].stream_frames[0]


def test_events_messagepack_cannot_carry_ride_the_stream_as_json_text() -> None:
    members = [Member("msgpack"), Member("msgpack")]
    payloads = [{"n": 1}, {"big": 2**64}, {"s": "\ud800"}, {"n": 2}]
    asyncio.run(asyncio.wait_for(_run(members, payloads), 10))
    assert [data for _, data in members[0].events] == [_v1(p) for p in payloads]
    decoder = MsgpackStreamDecoder()
    messages = [decoder.decode_message(frame) for frame in members[1].stream_frames]
    assert [type(m) for m in messages] == [str, str, bytes]  # v1 text for 2**64 and "\ud800"


@given(st.binary(min_size=1, max_size=300))
@example(b"{\x80")  # JSON text that is not UTF-8
def test_length_prefixed_messages_round_trip_and_truncation_is_refused(message: bytes) -> None:
    framed = stream_message(message)
    if message[0] != ord("{"):
        assert split_message(framed) == message
    else:  # JSON text: what is not UTF-8 is refused as such
        try:
            text = message.decode("utf-8")
        except UnicodeDecodeError:
            with pytest.raises(ProtocolError) as refused:
                split_message(framed)
            assert refused.value.code == "malformed_json"
        else:
            assert split_message(framed) == text
    for bad in (framed[:-1], framed + b"\x00"):
        with pytest.raises(ProtocolError) as caught:
            split_message(bad)
        assert caught.value.code == "decompression_failed"


def test_a_msgpack_stream_encoder_and_decoder_carry_any_bytes() -> None:
    encoder = StreamEncoder(7)
    encoder.terminator = b""
    decoder = MsgpackStreamDecoder()
    messages = [b"\x81\xa1a\x0a", b"\x0a" * 70000, b'{"event":"x","data":1}']
    for message in messages:
        got = decoder.decode_message(encoder.encode(stream_message(message)))
        assert got == (message if message[0] != ord("{") else message.decode())


class Room(PlanConsumer):
    """Joins the group "plans" through the hub; "shout" broadcasts to it."""

    async def receive_event(self, event: str, data: Any) -> None:
        await self.broadcast("plans", "message_new", data)


async def _join_and_read(path: str) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(Room.as_asgi(), path, subprotocols=[MSGPACK_SUBPROTOCOL])
    connected, subprotocol = await comm.connect()
    assert connected and subprotocol == MSGPACK_SUBPROTOCOL
    greeting = msgpack.unpackb((await comm.receive_output())["bytes"])
    assert greeting["e"] == "connection_established"
    return comm


@pytest.mark.timeout(300)
async def test_msgpack_consumers_receive_group_broadcasts_as_stream_frames() -> None:
    path = "/ws/?reznet_features=stream"
    comms = [await _join_and_read(path), await _join_and_read(path)]
    decoders = [MsgpackStreamDecoder(), MsgpackStreamDecoder()]
    for n in range(3):
        frame = msgpack_codec(CODEC).event_frame("shout", msgpack_codec(CODEC).encode_data(n))
        await comms[0].send_to(bytes_data=frame)
        for comm, decoder in zip(comms, decoders, strict=True):
            raw = (await comm.receive_output())["bytes"]
            assert is_stream_frame(raw) == (n > 0)  # the first one counts the members
            message = decoder.decode_message(raw) if is_stream_frame(raw) else raw
            assert msgpack_codec(CODEC).decode_frame(message) == [("message_new", n)]
    for comm in comms:
        await comm.disconnect()


def test_the_committed_msgpack_stream_vectors_are_fresh_and_decode() -> None:
    layers = generator("msgpack_layers_generate")
    committed = json.loads(layers.STREAM_OUT.read_text(encoding="utf-8"))
    assert layers.build_stream() == committed, (
        "stale: run python tests/vectors/msgpack_layers_generate.py"
    )
    kinds = {
        ("text" in f, "message" in f, "error" in f)
        for s in committed["sessions"]
        for f in s["frames"]
    }
    assert kinds == {(True, False, False), (False, True, False), (False, False, True)}
