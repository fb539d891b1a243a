"""Entity references end to end: the consumer, negotiation, v1 clients, resyncs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.generic.websocket import AsyncJsonWebsocketConsumer, JsonWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from reznet_ws.checks import check_settings
from reznet_ws.codec import SUBPROTOCOL, Codec
from reznet_ws.codec.entities import EntityTable, resolve_frame
from reznet_ws.consumers import OptimizedConsumerMixin, OptimizedSyncConsumerMixin
from reznet_ws.encoding import default_field_map
from reznet_ws.stats import get_recorder

pytestmark = pytest.mark.timeout(300)

SETTINGS = {"ENTITIES": {"author": "author_id"}, "ENTITY_MAX_COUNT": 2}
PROFILES = {n: {"author_id": n, "name": f"Agent {n}", "bio": "b" * 100} for n in range(4)}


def message(n: int, who: int) -> dict[str, Any]:
    return {"message_id": f"m{n}", "content": f"hello {n}", "author": PROFILES[who]}


class ChatConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.join_group("room")
        await self.accept()

    async def receive_event(self, event: str, data: Any) -> None:
        if event == "own":
            await self.send_event("message_new", message(*data))
        elif event == "group":
            await self.broadcast("room", "message_new", message(*data))


async def open_client(features: str | None, v2: bool = True) -> tuple[WebsocketCommunicator, Any]:
    path = "/ws/" if features is None else f"/ws/?reznet_features={features}"
    comm = WebsocketCommunicator(
        ChatConsumer.as_asgi(), path, subprotocols=[SUBPROTOCOL] if v2 else []
    )
    connected, _ = await comm.connect()
    assert connected
    hello = json.loads(await comm.receive_from()) if v2 else None
    return comm, hello


def decode(frame: dict[str, Any], table: EntityTable) -> Any:
    codec = Codec(default_field_map())
    return codec.decode_data(resolve_frame(frame, table) if "t" in frame else frame["d"])


@override_settings(REZNET_WS=SETTINGS)
async def test_send_event_defines_then_refers_and_evicts_in_step() -> None:
    comm, hello = await open_client("delta")
    assert hello["d"]["features"]["entity_refs"] == 2
    table, sizes = EntityTable(2), []
    before = get_recorder().counters["entity_refs"]
    for n, who in enumerate([0, 0, 1, 2, 0, 2, 2]):
        await comm.send_json_to({"event": "own", "data": [n, who]})
        text = await comm.receive_from()  # the conftest's patient default bounds a hang
        frame = json.loads(text)
        assert decode(frame, table) == json.loads(json.dumps(message(n, who)))
        sizes.append((len(frame["t"]), len(text)))
    assert [defined for defined, _ in sizes] == [1, 0, 1, 1, 1, 0, 0]  # 0 evicted by then
    assert sizes[1][1] + 90 < sizes[0][1]
    assert get_recorder().counters["entity_refs"] >= before + 7
    await comm.send_json_to({"_v": 2, "e": "reznet.resync", "r": 1, "d": {"entities": True}})
    await comm.send_json_to({"event": "own", "data": [9, 2]})
    frame = json.loads(await comm.receive_from())
    assert len(frame["t"]) == 1 and decode(frame, table) == json.loads(json.dumps(message(9, 2)))
    await comm.disconnect()


@override_settings(REZNET_WS=SETTINGS)
async def test_clients_without_delta_get_whole_objects() -> None:
    v1, _ = await open_client(None, v2=False)
    v2, hello = await open_client("content")
    assert "entity_refs" not in hello["d"]["features"]
    for n in range(2):
        await v1.send_json_to({"event": "group", "data": [n, 1]})
        for comm in (v1, v2):
            [(event, data)] = Codec(default_field_map()).decode_frame(await comm.receive_from())
            assert (event, data) == ("message_new", json.loads(json.dumps(message(n, 1))))
    await v1.disconnect()
    await v2.disconnect()


def test_a_check_refuses_malformed_entity_rules() -> None:
    for bad in ({"ENTITIES": ["author"]}, {"ENTITIES": {"author": ""}}, {"ENTITY_MAX_COUNT": 0}):
        with override_settings(REZNET_WS=bad):
            assert "reznet_ws.E046" in [m.id for m in check_settings()]
    with override_settings(REZNET_WS=SETTINGS):
        assert "reznet_ws.E046" not in [m.id for m in check_settings()]


class SyncChat(OptimizedSyncConsumerMixin, JsonWebsocketConsumer):
    def connect(self) -> None:
        self.accept()

    def receive_event(self, event: str, data: Any) -> None:
        self.send_event("message_new", message(*data))


@override_settings(REZNET_WS=SETTINGS)
async def test_the_sync_mixin_sends_references_too() -> None:
    comm = WebsocketCommunicator(
        SyncChat.as_asgi(), "/ws/?reznet_features=delta", subprotocols=[SUBPROTOCOL]
    )
    assert (await comm.connect())[0]
    await comm.receive_from()
    table = EntityTable(2)
    for n in range(2):
        await comm.send_json_to({"event": "x", "data": [n, 3]})
        frame = json.loads(await comm.receive_from())
        assert len(frame["t"]) == 1 - n
        assert decode(frame, table) == json.loads(json.dumps(message(n, 3)))
    await comm.disconnect()
