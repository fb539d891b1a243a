"""Keyed events and deltas on reznet.v2.msgpack: the same frames, packed (protocol 3.2 and 7)."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from reznet_ws.codec import SUBPROTOCOL, Codec
from reznet_ws.codec.keyed_receiver import KeyedReceiver
from reznet_ws.codec.msgpack_frames import MSGPACK_SUBPROTOCOL, msgpack_codec
from reznet_ws.codec.msgpack_keyed import decode_keyed
from reznet_ws.delivery.hub import get_hub
from reznet_ws.stats import get_recorder

from .test_keyed import PlanConsumer, codec, plan, v1_data

pytestmark = pytest.mark.timeout(300)


async def open_client(msgpack_encoding: bool = True) -> WebsocketCommunicator:
    protocol = MSGPACK_SUBPROTOCOL if msgpack_encoding else SUBPROTOCOL
    comm = WebsocketCommunicator(
        PlanConsumer.as_asgi(), "/ws/?reznet_features=content,delta", subprotocols=[protocol]
    )
    connected, subprotocol = await comm.connect()
    assert connected and subprotocol == protocol
    hello = await receive(comm)
    assert hello["e"] == "connection_established"
    assert hello["d"]["features"]["keyed_deltas"] is True
    return comm


async def receive_raw(comm: WebsocketCommunicator) -> str | bytes:
    output = await comm.receive_output()  # the conftest's patient default
    assert output["type"] == "websocket.send"
    return output["text"] if output.get("text") is not None else output["bytes"]


async def receive(comm: WebsocketCommunicator) -> dict[str, Any]:
    frame = await receive_raw(comm)
    if isinstance(frame, bytes):
        return _unpack(frame)
    result: dict[str, Any] = json.loads(frame)
    return result


def _unpack(frame: bytes) -> dict[str, Any]:
    result: dict[str, Any] = msgpack.unpackb(frame)
    return result


async def test_send_event_sends_packed_full_objects_then_packed_deltas() -> None:
    comm = await open_client()
    receiver = KeyedReceiver(codec())
    sizes = []
    for done in range(5):
        await comm.send_json_to({"event": "own", "data": done})
        raw = await receive_raw(comm)
        assert isinstance(raw, bytes)  # a binary MessagePack frame, not JSON text
        frame = decode_keyed(msgpack_codec(codec()), raw)
        sizes.append(len(raw))
        assert ("x" in frame) == (done > 0) and frame["n"] == done + 1
        event, data, meta = receiver.receive(frame)  # type: ignore[misc]
        assert (event, data, meta["delta"]) == ("plan_updated", v1_data(done), done > 0)
    assert max(sizes[1:]) * 5 < sizes[0]
    await comm.disconnect()


async def test_a_keyed_broadcast_reaches_both_encodings_from_one_diff() -> None:
    packed, text = await open_client(), await open_client(msgpack_encoding=False)
    receivers = {id(packed): KeyedReceiver(codec()), id(text): KeyedReceiver(codec())}
    for done in range(3):
        await packed.send_json_to({"event": "group", "data": done})
        frames = {}
        for comm in (packed, text):
            raw = await receive_raw(comm)
            assert isinstance(raw, bytes) == (comm is packed)
            frame = (
                decode_keyed(msgpack_codec(codec()), raw)
                if isinstance(raw, bytes)
                else json.loads(raw)
            )
            assert receivers[id(comm)].receive(frame)[1] == v1_data(done)  # type: ignore[index]
            frames[id(comm)] = frame
        # The same frame object, written twice: one version numbering, one delta.
        assert frames[id(packed)] == frames[id(text)]
    hub = get_hub(get_channel_layer())
    assert hub.keyed is not None and len(hub.keyed) == 1
    for comm in (packed, text):
        await comm.disconnect()


class Unpackable(PlanConsumer):
    async def receive_event(self, event: str, data: Any) -> None:
        value = plan(data)
        value["big"] = 2**64 + data  # MessagePack has no such integer: JSON text goes instead
        await self.send_event("plan_updated", value, key="plan:w1")


async def test_frames_messagepack_cannot_carry_go_as_json_keyed_text() -> None:
    comm = WebsocketCommunicator(
        Unpackable.as_asgi(), "/ws/?reznet_features=delta", subprotocols=[MSGPACK_SUBPROTOCOL]
    )
    assert (await comm.connect())[0]
    await receive_raw(comm)
    receiver = KeyedReceiver(Codec(codec().field_map))
    before = get_recorder().counters.get("fallback:ValueError", 0)
    for done in range(3):
        await comm.send_json_to({"event": "x", "data": done})
        raw = await receive_raw(comm)
        assert isinstance(raw, str)
        frame = json.loads(raw)
        assert ("x" in frame) == (done > 0)
        expected = json.loads(json.dumps({**plan(done), "big": 2**64 + done}))
        assert receiver.receive(frame)[1] == expected  # type: ignore[index]
    assert get_recorder().counters.get("fallback:ValueError", 0) >= before + 3
    await comm.disconnect()


async def test_a_msgpack_resync_request_brings_the_full_object() -> None:
    comm = await open_client()
    for done in range(2):
        await comm.send_json_to({"event": "group", "data": done})
        assert ("d" in await receive(comm)) == (done == 0)
    resync = {"_v": 2, "e": "reznet.resync", "r": 1, "d": {"keys": ["plan:w1"]}}
    await comm.send_to(bytes_data=msgpack.packb(resync))
    await comm.send_json_to({"event": "group", "data": 2})
    frame = await receive(comm)
    assert "d" in frame
    assert KeyedReceiver(codec()).receive(frame)[1] == v1_data(2)  # type: ignore[index]
    await comm.disconnect()


def test_prepared_keyed_frames_are_packed_once_per_broadcast_and_encoding() -> None:
    import asyncio
    from types import SimpleNamespace

    from reznet_ws.delivery import keyed_groups
    from reznet_ws.delivery.connection import Connection
    from reznet_ws.delivery.keyed import KeyedStreams
    from reznet_ws.delivery.prepared import Broadcast
    from reznet_ws.encoding import EncodedEvent, codec_for, default_field_map

    shared = codec_for(default_field_map())

    async def run() -> dict[str, list[list[Any]]]:
        received: dict[str, list[list[Any]]] = {}
        conns = []
        for name, encoding in (("m1", "msgpack"), ("m2", "msgpack"), ("j", "json")):
            box = received.setdefault(name, [])

            async def send(message: Any, box: list[Any] = box) -> None:
                box.append(message)

            conn = Connection(send)
            conn.encoding = encoding
            conn.keyed = KeyedStreams(100, 1 << 20, 0, 100.0)
            await conn.opened(2, shared, False)
            # a socket that takes prepared frames (as reznet-daphne's protocol does)
            conn.outbox.send_prepared = lambda frame, box=box: box.append(_unframe(frame)) or True
            conns.append(conn)
        hub = SimpleNamespace(keyed=None)
        for done in range(3):
            broadcast = Broadcast(EncodedEvent("plan_updated", plan(done)), True, False)
            broadcast.keyed = keyed_groups.group_keyed(hub, "plans", "plan:w1")
            for conn in conns:
                assert conn.deliver(broadcast)  # the prepared path, no awaiting
        for conn in conns:
            if conn.outbox._writer is not None:
                await conn.outbox._writer
        return received

    received = asyncio.run(asyncio.wait_for(run(), 10))
    frames = msgpack_codec(shared)
    for name in ("m1", "m2"):
        receiver = KeyedReceiver(shared)
        wire = [m.get("bytes") for m in received[name]]
        assert len(wire) == 3
        assert all(isinstance(w, bytes) for w in wire)
        for done, raw in enumerate(wire):
            frame = decode_keyed(frames, raw)
            assert ("x" in frame) == (done > 0)
            assert receiver.receive(frame)[1] == v1_data(done)  # type: ignore[index]
    # the very same frame bytes for both msgpack members: packed once per broadcast
    assert all(a == b for a, b in zip(received["m1"], received["m2"], strict=True))
    assert all(m.get("text") is not None for m in received["j"])


def _unframe(frame: bytes) -> dict[str, Any]:
    # The payload of an unmasked server WebSocket frame (RFC 6455), as a message dict.
    size, offset = frame[1] & 0x7F, 2
    if size == 126:
        size, offset = int.from_bytes(frame[2:4], "big"), 4
    elif size == 127:
        size, offset = int.from_bytes(frame[2:10], "big"), 10
    payload = frame[offset : offset + size]
    return {"bytes": payload} if frame[0] & 0x0F == 2 else {"text": payload.decode("utf-8")}
