"""The consumer mixin with WebsocketCommunicator: negotiation, frames, batching, bad input."""

from __future__ import annotations

import gzip
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from reznet_ws import encoding
from reznet_ws.codec import SUBPROTOCOL, Codec
from reznet_ws.consumers import CLOSE_TOO_MANY_ERRORS, OptimizedConsumerMixin
from reznet_ws.encoding import default_field_map
from reznet_ws.stats import get_recorder

pytestmark = pytest.mark.timeout(300)

MESSAGE = {
    "message_id": "abc-123",
    "channel_id": "general",
    "author_name": "@backend",
    "content": "hello",
    "created_at": "2025-10-25T12:00:00Z",
    "metadata": {"model": "m1", "provider": "p1", "tokens": 12},
}


class EchoConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    groups = ["room"]
    received: list[tuple[str, Any]] = []

    async def receive_event(self, event: str, data: Any) -> None:
        type(self).received.append((event, data))
        if event == "echo":
            await self.send_event("echo", data)
        elif event == "burst":
            for i in range(data["n"]):
                await self.send_event("tick", {"order": i}, batch=True)
        elif event == "burst_close":
            for i in range(3):
                await self.send_event("tick", {"order": i}, batch=True)
            await self.close()
        elif event == "shout":
            await self.broadcast("room", "message_new", data)


def plain_frame(event: str, data: Any) -> str:
    return json.dumps({"event": event, "data": data})


def codec() -> Codec:
    return Codec(default_field_map())


async def connect(v2: bool, query: str = "") -> WebsocketCommunicator:
    return await connect_class(EchoConsumer, v2, query)


async def connect_class(consumer: Any, v2: bool, query: str = "") -> WebsocketCommunicator:
    comm = WebsocketCommunicator(
        consumer.as_asgi(), "/ws/" + query, subprotocols=[SUBPROTOCOL] if v2 else []
    )
    connected, subprotocol = await comm.connect()
    assert connected
    assert subprotocol == (SUBPROTOCOL if v2 else None)
    return comm


async def established(comm: WebsocketCommunicator) -> dict[str, Any]:
    frame = json.loads(await comm.receive_from())
    assert frame["_v"] == 2 and frame["e"] == "connection_established" and frame["r"] == 1
    return frame["d"]


async def events(comm: WebsocketCommunicator) -> list[tuple[str, Any]]:
    message = await comm.receive_output()  # the conftest's patient default bounds a hang
    assert message["type"] == "websocket.send"
    raw = message.get("text") if message.get("text") is not None else message["bytes"]
    return codec().decode_frame(raw)


async def test_v1_client_gets_exactly_plain_channels_json() -> None:
    comm = await connect(v2=False)
    await comm.send_json_to({"event": "echo", "data": MESSAGE})
    assert await comm.receive_from() == plain_frame("echo", MESSAGE)
    await comm.disconnect()


async def test_v2_connection_established_announces_map_and_hash() -> None:
    comm = await connect(v2=True)
    info = await established(comm)
    fm = default_field_map()
    assert info["version"] == 2 and info["protocol"] == SUBPROTOCOL
    assert info["map_hash"] == fm.hash
    assert info["field_map"] == dict(fm.mapping)
    assert info["timestamp_fields"] == sorted(fm.timestamp_fields)
    assert info["features"]["gzip_compression"] is True
    await comm.disconnect()
    cached = await connect(v2=True, query=f"?reznet_map={fm.hash}")
    info = await established(cached)
    assert "field_map" not in info and info["map_hash"] == fm.hash
    await cached.disconnect()


async def test_v2_event_is_smaller_and_decodes_to_plain() -> None:
    comm = await connect(v2=True)
    await established(comm)
    await comm.send_json_to({"event": "echo", "data": MESSAGE})
    message = await comm.receive_output()
    frame = json.loads(message["text"])
    assert frame["_v"] == 2 and frame["e"] == "echo"
    assert frame["d"]["ts"] == 1761393600000
    assert len(message["text"]) < 0.75 * len(plain_frame("echo", MESSAGE))
    assert codec().decode_frame(message["text"]) == [("echo", MESSAGE)]
    await comm.disconnect()


async def test_v2_client_may_send_optimized_frames() -> None:
    EchoConsumer.received = []
    comm = await connect(v2=True)
    await established(comm)
    c = codec()
    await comm.send_to(text_data=c.event_frame("echo", c.encode_data(MESSAGE)))
    assert await events(comm) == [("echo", MESSAGE)]
    assert EchoConsumer.received == [("echo", MESSAGE)]
    await comm.disconnect()


async def test_datetime_values_are_sent_like_django_json_encoder() -> None:
    data = {
        "created_at": datetime(2025, 10, 25, 12, 0, tzinfo=UTC),
        "deleted_at": datetime(2025, 10, 25, 12, 0, 0, 123456, tzinfo=UTC),
        "n": 1,
    }
    expected = {
        "created_at": "2025-10-25T12:00:00Z",
        "deleted_at": "2025-10-25T12:00:00.123Z",
        "n": 1,
    }
    assert await _send_from_consumer(data, v2=False) == plain_frame("nan", expected)
    v2_text = await _send_from_consumer(data, v2=True)
    assert json.loads(v2_text)["d"]["ts"] == 1761393600000
    assert codec().decode_frame(v2_text) == [("nan", expected)]


async def test_batching_flushes_on_window_and_on_size() -> None:
    comm = await connect(v2=True)
    await established(comm)
    await comm.send_json_to({"event": "burst", "data": {"n": 3}})
    raw = (await comm.receive_output())["text"]
    assert json.loads(raw)["b"]  # one batch frame for three small events
    assert codec().decode_frame(raw) == [("tick", {"order": i}) for i in range(3)]
    await comm.send_json_to({"event": "burst", "data": {"n": 25}})
    got: list[tuple[str, Any]] = []
    frames = 0
    while len(got) < 25:
        got += await events(comm)
        frames += 1
    assert got == [("tick", {"order": i}) for i in range(25)]
    assert frames == 3  # 10 + 10 on size, 5 on the timer
    await comm.disconnect()


async def test_v1_batch_requests_are_sent_one_frame_per_event() -> None:
    comm = await connect(v2=False)
    await comm.send_json_to({"event": "burst", "data": {"n": 3}})
    for i in range(3):
        assert await comm.receive_from() == plain_frame("tick", {"order": i})
    await comm.disconnect()


async def test_close_flushes_queued_events_first() -> None:
    comm = await connect(v2=True)
    await established(comm)
    await comm.send_json_to({"event": "burst_close"})
    assert await events(comm) == [("tick", {"order": i}) for i in range(3)]
    assert (await comm.receive_output())["type"] == "websocket.close"


async def test_large_payload_is_gzipped_unless_transport_compressed() -> None:
    big = {
        "tasks": [{"name": f"task {i}", "description": "x" * 40, "order": i} for i in range(400)]
    }
    comm = await connect(v2=True)
    await established(comm)
    await comm.send_json_to({"event": "echo", "data": big})
    message = await comm.receive_output()
    assert message.get("bytes") is not None
    assert json.loads(gzip.decompress(message["bytes"]))["e"] == "echo"
    assert codec().decode_frame(message["bytes"]) == [("echo", big)]
    await comm.disconnect()

    deflated = WebsocketCommunicator(EchoConsumer.as_asgi(), "/ws/", subprotocols=[SUBPROTOCOL])
    deflated.scope["extensions"] = {"reznet.permessage_deflate": {}}
    await deflated.connect()
    info = await established(deflated)
    assert info["features"]["permessage_deflate"] is True
    assert info["features"]["gzip_compression"] is False
    await deflated.send_json_to({"event": "echo", "data": big})
    message = await deflated.receive_output()
    assert message.get("text") is not None
    await deflated.disconnect()


async def test_broadcast_reaches_each_member_in_its_own_version() -> None:
    v1 = await connect(v2=False)
    v2 = await connect(v2=True)
    await established(v2)
    await v2.send_json_to({"event": "shout", "data": MESSAGE})
    assert await v1.receive_from() == plain_frame("message_new", MESSAGE)
    assert await events(v2) == [("message_new", MESSAGE)]
    await v1.disconnect()
    await v2.disconnect()


async def test_broadcast_from_outside_a_consumer() -> None:
    comm = await connect(v2=True)
    await established(comm)
    layer = get_channel_layer()
    await layer.group_send(
        "room",
        {
            "type": "reznet.event",
            "id": "x1",
            "event": "ping",
            "v1": plain_frame("ping", {"n": 1}),
            "optimize": True,
            "batch": False,
        },
    )
    assert await events(comm) == [("ping", {"n": 1})]
    await comm.disconnect()


@override_settings(REZNET_WS={"OPTIMIZE": False})
async def test_global_switch_turns_optimization_off() -> None:
    comm = WebsocketCommunicator(EchoConsumer.as_asgi(), "/ws/", subprotocols=[SUBPROTOCOL])
    connected, subprotocol = await comm.connect()
    assert connected and subprotocol is None
    await comm.send_json_to({"event": "echo", "data": MESSAGE})
    assert await comm.receive_from() == plain_frame("echo", MESSAGE)
    await comm.disconnect()


async def test_unoptimizable_payload_falls_back_to_plain(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # NaN cannot go into a strict-JSON v2 frame: the event goes out exactly as v1 would send it
    caplog.set_level(logging.WARNING, logger="reznet_ws")
    monkeypatch.setattr(encoding, "_fallbacks_logged", set())  # logged once per process
    data = {"value": float("nan")}
    before = get_recorder().counters["fallback:ValueError"]
    assert await _send_from_consumer(data) == plain_frame("nan", data)
    assert get_recorder().counters["fallback:ValueError"] == before + 1
    assert "could not be optimized" in caplog.text


async def _send_from_consumer(data: Any, v2: bool = True) -> str:
    """Return the frame a consumer sends for ``send_event("nan", data)``."""

    class SendingConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
        async def connect(self) -> None:
            await self.accept()
            await self.send_event("nan", data)

    comm = WebsocketCommunicator(
        SendingConsumer.as_asgi(), "/ws/", subprotocols=[SUBPROTOCOL] if v2 else []
    )
    await comm.connect()
    if v2:
        await established(comm)
    text = await comm.receive_from()
    await comm.disconnect()
    return text


BAD_INPUT = [
    ("malformed_json", {"text_data": '{"event": "x", '}),
    ("malformed_json", {"bytes_data": None, "text_data": "not json"}),
    ("invalid_number", {"text_data": '{"event": "x", "data": NaN}'}),
    ("invalid_number", {"text_data": '{"event": "x", "data": -Infinity}'}),
    ("not_an_object", {"text_data": "[1, 2, 3]"}),
    ("unexpected_binary", {"bytes_data": b"\x00\x01binary"}),
    ("too_large", {"text_data": json.dumps({"event": "x", "data": "a" * 2_000_000})}),
    ("too_deep", {"text_data": "[" * 5000 + "]" * 5000}),
    ("unknown_version", {"text_data": '{"_v": 3, "e": "x", "d": {}}'}),
    ("decompression_failed", {"bytes_data": b"\x1f\x8b\x08\x00garbage-not-deflate"}),
    ("too_large", {"bytes_data": gzip.compress(b" " * 20_000_000)}),
    ("invalid_frame", {"text_data": '{"_v": 2, "e": 5, "d": {}}'}),
]


@pytest.mark.parametrize(("code", "frame"), BAD_INPUT)
async def test_bad_input_gets_an_error_event_and_a_counter(
    code: str, frame: dict[str, Any]
) -> None:
    comm = await connect(v2=True)
    await established(comm)
    before = get_recorder().counters[f"error:{code}"]
    await comm.send_to(**{k: v for k, v in frame.items() if v is not None})
    error = json.loads(await comm.receive_from())
    assert error["e"] == "error" and error["d"]["code"] == code and error["d"]["detail"]
    assert get_recorder().counters[f"error:{code}"] == before + 1
    # the connection is still usable
    await comm.send_json_to({"event": "echo", "data": {"ok": True}})
    assert await events(comm) == [("echo", {"ok": True})]
    await comm.disconnect()


async def test_bad_input_on_v1_gets_a_plain_error_event() -> None:
    comm = await connect(v2=False)
    await comm.send_to(bytes_data=b"\x1f\x8b")
    frame = json.loads(await comm.receive_from())
    assert frame["event"] == "error" and frame["data"]["code"] == "unexpected_binary"
    await comm.send_to(text_data="{oops")
    frame = json.loads(await comm.receive_from())
    assert frame["event"] == "error" and frame["data"]["code"] == "malformed_json"
    await comm.disconnect()


@override_settings(REZNET_WS={"MAX_PROTOCOL_ERRORS": 3})
async def test_repeated_abuse_closes_with_documented_code() -> None:
    comm = await connect(v2=True)
    await established(comm)
    for _ in range(3):
        await comm.send_to(text_data="nope")
        assert json.loads(await comm.receive_from())["d"]["code"] == "malformed_json"
    closed = await comm.receive_output()
    assert closed == {"type": "websocket.close", "code": CLOSE_TOO_MANY_ERRORS}


async def test_get_stats_is_refused_for_anonymous_users() -> None:
    comm = WebsocketCommunicator(EchoConsumer.as_asgi(), "/ws/", subprotocols=[SUBPROTOCOL])
    await comm.connect()
    await established(comm)
    await comm.send_json_to({"event": "get_stats"})
    frame = json.loads(await comm.receive_from())
    assert frame["e"] == "error" and frame["d"]["code"] == "forbidden"
    await comm.disconnect()


async def test_active_connections_are_counted_in_and_out() -> None:
    counters = get_recorder().counters
    before = counters["connections:v2"]
    comm = await connect(v2=True)
    await established(comm)
    assert counters["connections:v2"] == before + 1
    await comm.disconnect()
    assert counters["connections:v2"] == before
