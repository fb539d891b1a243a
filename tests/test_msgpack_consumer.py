"""reznet.v2.msgpack through the consumer: negotiation, frames, batches, broadcasts, bad input."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from reznet_ws.codec import SUBPROTOCOL, Codec
from reznet_ws.codec.msgpack_frames import MSGPACK_SUBPROTOCOL, msgpack_codec
from reznet_ws.encoding import default_field_map
from reznet_ws.stats import get_recorder

from .test_consumer import MESSAGE, EchoConsumer

pytestmark = pytest.mark.timeout(300)


def packed() -> Any:
    return msgpack_codec(Codec(default_field_map()))


async def connect(protocols: list[str], expected: str | None) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(EchoConsumer.as_asgi(), "/ws/", subprotocols=protocols)
    connected, subprotocol = await comm.connect()
    assert connected
    assert subprotocol == expected
    return comm


async def receive(comm: WebsocketCommunicator) -> str | bytes:
    message = await comm.receive_output()  # the conftest's patient default
    assert message["type"] == "websocket.send"
    return message["text"] if message.get("text") is not None else message["bytes"]


async def events(comm: WebsocketCommunicator) -> list[tuple[str, Any]]:
    result: list[tuple[str, Any]] = packed().decode_frame(await receive(comm))
    return result


async def open_msgpack() -> WebsocketCommunicator:
    comm = await connect([MSGPACK_SUBPROTOCOL], MSGPACK_SUBPROTOCOL)
    frame = await receive(comm)
    assert isinstance(frame, bytes)
    greeting = msgpack.unpackb(frame)
    assert greeting["e"] == "connection_established" and greeting["r"] == 1
    assert greeting["d"]["protocol"] == MSGPACK_SUBPROTOCOL
    assert greeting["d"]["features"]["gzip_compression"] is False
    assert greeting["d"]["field_map"] == dict(default_field_map().mapping)
    return comm


def client_frame(event: str, data: Any) -> bytes:
    codec = packed()
    return codec.event_frame(event, codec.encode_data(data))  # what a client sends


async def test_msgpack_client_gets_binary_frames_that_decode_to_v1() -> None:
    comm = await open_msgpack()
    await comm.send_to(bytes_data=client_frame("echo", MESSAGE))
    frame = await receive(comm)
    assert isinstance(frame, bytes)
    assert packed().decode_frame(frame) == [("echo", MESSAGE)]
    assert len(frame) < len(json.dumps({"event": "echo", "data": MESSAGE}))
    await comm.send_to(bytes_data=msgpack.packb({"event": "echo", "data": [1, 2]}))
    assert await events(comm) == [("echo", [1, 2])]
    await comm.send_json_to({"event": "echo", "data": "text frames still work"})
    assert await events(comm) == [("echo", "text frames still work")]
    await comm.disconnect()


async def test_both_offered_gets_json_unless_msgpack_is_preferred() -> None:
    comm = await connect([MSGPACK_SUBPROTOCOL, SUBPROTOCOL], SUBPROTOCOL)
    assert isinstance(await receive(comm), str)
    await comm.disconnect()
    with override_settings(REZNET_WS={"PREFER_MSGPACK": True}):
        comm = await connect([SUBPROTOCOL, MSGPACK_SUBPROTOCOL], MSGPACK_SUBPROTOCOL)
        assert isinstance(await receive(comm), bytes)
        await comm.disconnect()


@override_settings(REZNET_WS={"OPTIMIZE": False})
async def test_global_switch_makes_msgpack_clients_v1() -> None:
    comm = await connect([MSGPACK_SUBPROTOCOL], None)
    await comm.send_json_to({"event": "echo", "data": 1})
    assert await receive(comm) == json.dumps({"event": "echo", "data": 1})
    await comm.disconnect()


async def test_batches_are_one_binary_frame() -> None:
    comm = await open_msgpack()
    await comm.send_to(bytes_data=client_frame("burst", {"n": 3}))
    frame = await receive(comm)
    assert isinstance(frame, bytes) and len(msgpack.unpackb(frame)["b"]) == 3
    assert packed().decode_frame(frame) == [("tick", {"order": i}) for i in range(3)]
    await comm.disconnect()


async def test_broadcast_reaches_json_and_msgpack_members_alike() -> None:
    json_member = await connect([SUBPROTOCOL], SUBPROTOCOL)
    await receive(json_member)
    comm = await open_msgpack()
    await comm.send_to(bytes_data=client_frame("shout", MESSAGE))
    assert await events(comm) == [("message_new", MESSAGE)]
    assert Codec(default_field_map()).decode_frame(await receive(json_member)) == [
        ("message_new", MESSAGE)
    ]
    await comm.disconnect()
    await json_member.disconnect()


@pytest.mark.parametrize("data", [{"n": 2**70}, {"s": "\ud800"}, {"__proto__": 1}])
async def test_what_msgpack_cannot_carry_goes_as_v1_text(data: dict[str, Any]) -> None:
    comm = await open_msgpack()
    await comm.send_json_to({"event": "echo", "data": data})
    frame = await receive(comm)
    assert frame == json.dumps({"event": "echo", "data": data})
    assert packed().decode_frame(frame) == [("echo", data)]
    await comm.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\xc1", "malformed_json"),
        (b"\x1f\x8b\x08", "malformed_json"),
        (msgpack.packb({"event": "echo", "data": float("nan")}), "invalid_number"),
        (msgpack.packb([1]), "not_an_object"),
        (msgpack.packb({"_v": 3, "e": "echo", "d": 1}), "unknown_version"),
    ],
)
async def test_bad_binary_frames_get_an_error_event_and_a_counter(frame: bytes, code: str) -> None:
    recorder = get_recorder()
    before = recorder.counters[f"error:{code}"]
    comm = await open_msgpack()
    await comm.send_to(bytes_data=frame)
    reply = await receive(comm)
    assert isinstance(reply, bytes)
    [(event, data)] = packed().decode_frame(reply)
    assert event == "error" and data["code"] == code
    assert recorder.counters[f"error:{code}"] == before + 1
    await comm.send_to(bytes_data=client_frame("echo", 1))  # the connection stays open
    assert await events(comm) == [("echo", 1)]
    await comm.disconnect()


async def test_stats_show_bytes_per_encoding() -> None:
    recorder = get_recorder()
    before = recorder.counters["encoding_sent:msgpack"]
    comm = await open_msgpack()
    await comm.send_to(bytes_data=client_frame("echo", MESSAGE))
    frame = await receive(comm)
    await comm.disconnect()  # the connection records what it sent at close at the latest
    assert recorder.counters["encoding_sent:msgpack"] == before + len(frame)
    assert recorder.counters["encoding_original:msgpack"] > len(frame)


def test_stats_report_splits_the_totals_by_encoding() -> None:
    from reznet_ws.stats.report import build_stats
    from reznet_ws.stats.types import Snapshot

    counters = {
        "total_messages": 10,
        "total_bytes_original": 1000,
        "total_bytes_optimized": 500,
        "encoding_messages:msgpack": 4,
        "encoding_original:msgpack": 400,
        "encoding_sent:msgpack": 150,
    }
    stats = build_stats(Snapshot(counters=counters), [])
    assert stats["by_encoding"] == {
        "json": {"messages": 6, "bytes_original": 600, "bytes_sent": 350},
        "msgpack": {"messages": 4, "bytes_original": 400, "bytes_sent": 150},
    }


async def test_sync_consumers_speak_msgpack_too() -> None:
    from .test_consumer_sync import SyncEchoConsumer

    comm = WebsocketCommunicator(
        SyncEchoConsumer.as_asgi(), "/ws/", subprotocols=[MSGPACK_SUBPROTOCOL]
    )
    connected, subprotocol = await comm.connect()
    assert connected and subprotocol == MSGPACK_SUBPROTOCOL
    assert msgpack.unpackb(await receive(comm))["e"] == "connection_established"
    await comm.send_to(bytes_data=client_frame("burst", {"n": 2}))
    assert await events(comm) == [("tick", {"order": 0}), ("tick", {"order": 1})]
    await comm.send_to(bytes_data=client_frame("echo", MESSAGE))
    frame = await receive(comm)
    assert isinstance(frame, bytes) and packed().decode_frame(frame) == [("echo", MESSAGE)]
    await comm.disconnect()


class ContentConsumer(EchoConsumer):
    async def receive_event(self, event: str, data: Any) -> None:
        await self.send_json(data)


@pytest.mark.parametrize(
    ("content", "binary"),
    [({"type": "chat", "created_at": "2025-10-25T12:00:00Z"}, True), ({"n": 2**70}, False)],
)
async def test_send_json_content_frames_are_packed(content: dict[str, Any], binary: bool) -> None:
    comm = WebsocketCommunicator(
        ContentConsumer.as_asgi(),
        "/ws/?reznet_features=content",
        subprotocols=[MSGPACK_SUBPROTOCOL],
    )
    assert (await comm.connect())[1] == MSGPACK_SUBPROTOCOL
    await receive(comm)
    await comm.send_json_to({"event": "say", "data": content})
    frame = await receive(comm)
    assert isinstance(frame, bytes) == binary
    if binary:
        assert msgpack.unpackb(frame)["c"]["ts"] == 1761393600000
        assert packed().decode_content_frame(frame) == content
    else:  # what MessagePack cannot carry goes as Channels' own text
        assert frame == json.dumps(content)
    await comm.disconnect()
