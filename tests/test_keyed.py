"""Keyed events end to end: send_event and broadcast with ``key=``, deltas, joiners, resyncs."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import pytest
from channels.generic.websocket import AsyncJsonWebsocketConsumer, JsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from reznet_ws.codec import SUBPROTOCOL, Codec
from reznet_ws.codec.keyed_receiver import KeyedReceiver
from reznet_ws.consumers import OptimizedConsumerMixin, OptimizedSyncConsumerMixin
from reznet_ws.delivery.hub import get_hub
from reznet_ws.encoding import default_field_map
from reznet_ws.stats import get_recorder

pytestmark = pytest.mark.timeout(300)


def plan(done: int) -> dict[str, Any]:
    """A workflow plan of 20 tasks, the first ``done`` of them completed."""
    tasks = [
        {
            "task_id": f"t{i}",
            "title": f"Step {i} of the plan",
            "status": "done" if i < done else "pending",
            "updated_at": f"2025-10-25T12:{i:02d}:00Z" if i < done else None,
        }
        for i in range(20)
    ]
    return {"workflow_id": "w1", "tasks": tasks, "progress": done / 20}


class PlanConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.join_group("plans")
        await self.accept()

    async def receive_event(self, event: str, data: Any) -> None:
        if event == "own":
            await self.send_event("plan_updated", plan(data), key="plan:w1")
        elif event == "group":
            await self.broadcast("plans", "plan_updated", plan(data), key="plan:w1")
        elif event == "plain":
            await self.send_event("ping", {"n": data})


def codec() -> Codec:
    return Codec(default_field_map())


async def open_client(features: str | None, v2: bool = True) -> WebsocketCommunicator:
    path = "/ws/" if features is None else f"/ws/?reznet_features={features}"
    comm = WebsocketCommunicator(
        PlanConsumer.as_asgi(), path, subprotocols=[SUBPROTOCOL] if v2 else []
    )
    connected, _ = await comm.connect()
    assert connected
    if v2:
        hello = json.loads(await comm.receive_from())
        assert hello["e"] == "connection_established"
        assert hello["d"]["features"].get("keyed_deltas", False) == ("delta" in (features or ""))
    return comm


async def receive(comm: WebsocketCommunicator) -> dict[str, Any]:
    return json.loads(await comm.receive_from())  # the conftest's patient default bounds a hang


def v1_data(done: int) -> Any:
    return json.loads(json.dumps(plan(done)))


async def test_send_event_sends_the_full_object_then_deltas() -> None:
    comm = await open_client("content,delta")
    receiver = KeyedReceiver(codec())
    sizes = []
    for done in range(5):
        await comm.send_json_to({"event": "own", "data": done})
        text = await comm.receive_from()
        frame = json.loads(text)
        sizes.append(len(text))
        assert ("x" in frame) == (done > 0)
        assert frame["k"] == "plan:w1" and frame["n"] == done + 1
        event, data, meta = receiver.receive(frame)  # type: ignore[misc]
        assert (event, data, meta["delta"]) == ("plan_updated", v1_data(done), done > 0)
    assert max(sizes[1:]) * 5 < sizes[0]
    await comm.disconnect()


async def test_clients_without_delta_get_plain_frames() -> None:
    v1 = await open_client(None, v2=False)
    v2 = await open_client("content")
    for comm in (v1, v2):
        for done in (0, 1):
            await comm.send_json_to({"event": "own", "data": done})
            [(event, data)] = codec().decode_frame(await comm.receive_from())
            assert (event, data) == ("plan_updated", v1_data(done))
        await comm.disconnect()


async def test_a_keyed_broadcast_is_diffed_once_and_joiners_get_the_full_object() -> None:
    first = await open_client("delta")
    second = await open_client("delta")
    old = await open_client(None, v2=False)
    receivers = {id(first): KeyedReceiver(codec()), id(second): KeyedReceiver(codec())}
    await first.send_json_to({"event": "group", "data": 0})
    await first.send_json_to({"event": "group", "data": 1})
    for comm in (first, second):
        frames = [await receive(comm), await receive(comm)]
        assert ["d" in f for f in frames] == [True, False]
        for n, frame in enumerate(frames):
            assert receivers[id(comm)].receive(frame)[1] == v1_data(n)  # type: ignore[index]
    for n in (0, 1):
        assert json.loads(await old.receive_from())["data"] == v1_data(n)
    hub = get_hub(get_channel_layer())
    assert hub.keyed is not None and len(hub.keyed) == 1  # one stream for all members
    late = await open_client("delta")
    await first.send_json_to({"event": "group", "data": 2})
    joined = await receive(late)
    assert "d" in joined and joined["n"] == 3  # the full object first
    assert KeyedReceiver(codec()).receive(joined)[1] == v1_data(2)  # type: ignore[index]
    for comm in (first, second):
        frame = await receive(comm)
        assert "x" in frame and receivers[id(comm)].receive(frame)[1] == v1_data(2)  # type: ignore[index]
    for comm in (first, second, old, late):
        await comm.disconnect()


async def test_a_resync_request_brings_the_full_object() -> None:
    comm = await open_client("delta")
    before = get_recorder().counters["delta_resync"]
    await comm.send_json_to({"event": "own", "data": 0})
    assert "d" in await receive(comm)
    await comm.send_json_to({"_v": 2, "e": "reznet.resync", "r": 1, "d": {"keys": ["plan:w1"]}})
    await comm.send_json_to({"event": "own", "data": 1})
    frame = await receive(comm)
    assert "d" in frame
    assert KeyedReceiver(codec()).receive(frame)[1] == v1_data(1)  # type: ignore[index]
    assert get_recorder().counters["delta_resync"] == before + 1
    await comm.disconnect()


@override_settings(REZNET_WS={"DELTA_MAX_KEYS": 1})
async def test_evicted_keys_go_whole_and_are_counted() -> None:
    class TwoKeys(PlanConsumer):
        async def receive_event(self, event: str, data: Any) -> None:
            await self.send_event("plan_updated", plan(data), key=f"plan:{data % 2}")

    comm = WebsocketCommunicator(
        TwoKeys.as_asgi(), "/ws/?reznet_features=delta", subprotocols=[SUBPROTOCOL]
    )
    assert (await comm.connect())[0]
    await comm.receive_from()
    before = get_recorder().counters["delta_evicted"]
    for n in range(4):
        await comm.send_json_to({"event": "x", "data": n})
        assert "d" in await receive(comm)
    assert get_recorder().counters["delta_evicted"] == before + 3
    await comm.disconnect()


async def test_stats_count_full_and_delta_frames() -> None:
    recorder = get_recorder()
    before = (recorder.counters["delta_full"], recorder.counters["delta_frames"])
    comm = await open_client("delta")
    for done in range(3):
        await comm.send_json_to({"event": "own", "data": done})
        await receive(comm)
    assert recorder.counters["delta_full"] == before[0] + 1
    assert recorder.counters["delta_frames"] == before[1] + 2
    assert recorder.counters["delta_bytes_saved"] > 0
    await comm.disconnect()


async def test_a_reconnected_member_continues_with_deltas() -> None:
    first = await open_client("delta")
    await first.send_json_to({"event": "group", "data": 0})
    frame = await receive(first)
    have = json.dumps([["plan:w1", frame["s"], frame["n"]]])
    again = WebsocketCommunicator(
        PlanConsumer.as_asgi(),
        f"/ws/?reznet_features=delta&reznet_have={have}",
        subprotocols=[SUBPROTOCOL],
    )
    assert (await again.connect())[0]
    await again.receive_from()
    await first.send_json_to({"event": "group", "data": 1})
    await receive(first)
    resumed = await receive(again)
    assert "x" in resumed
    receiver = KeyedReceiver(codec())
    receiver.receive(frame)
    assert receiver.receive(resumed)[1] == v1_data(1)  # type: ignore[index]
    await asyncio.gather(first.disconnect(), again.disconnect())


class SyncPlans(OptimizedSyncConsumerMixin, JsonWebsocketConsumer):
    def connect(self) -> None:
        self.accept()

    def receive_event(self, event: str, data: Any) -> None:
        self.send_event("plan_updated", plan(data), key="plan:w1")


async def test_the_sync_mixin_sends_keyed_events_too() -> None:
    comm = WebsocketCommunicator(
        SyncPlans.as_asgi(), "/ws/?reznet_features=delta", subprotocols=[SUBPROTOCOL]
    )
    assert (await comm.connect())[0]
    await comm.receive_from()
    receiver = KeyedReceiver(codec())
    for done in range(3):
        await comm.send_json_to({"event": "x", "data": done})
        frame = await receive(comm)
        assert ("x" in frame) == (done > 0)
        assert receiver.receive(frame)[1] == v1_data(done)  # type: ignore[index]
    await comm.disconnect()


async def test_an_unoptimized_keyed_broadcast_goes_whole() -> None:
    comm = await open_client("delta")
    for done in range(2):
        await get_channel_layer().group_send(
            "plans",
            {
                "type": "reznet.event",
                "group": "plans",
                "id": f"raw-{done}",
                "event": "plan_updated",
                "v1": json.dumps({"event": "plan_updated", "data": plan(done)}),
                "optimize": False,
                "batch": False,
                "key": "plan:w1",
            },
        )
        assert await receive(comm) == {"event": "plan_updated", "data": v1_data(done)}
    await comm.disconnect()


class Recorded(PlanConsumer):
    """A member whose outbound connection the test can reach."""

    connections: ClassVar[list[Any]] = []

    async def connect(self) -> None:
        await super().connect()
        self.connections.append(self._connection)


async def test_a_member_that_missed_a_broadcast_gets_the_full_object_next() -> None:
    steady = await open_client("delta")
    flaky = WebsocketCommunicator(
        Recorded.as_asgi(), "/ws/?reznet_features=delta", subprotocols=[SUBPROTOCOL]
    )
    assert (await flaky.connect())[0]
    await flaky.receive_from()
    outbox = Recorded.connections[-1].outbox
    await steady.send_json_to({"event": "group", "data": 0})
    for comm in (steady, flaky):
        assert "d" in await receive(comm)
    outbox.backlog = lambda: 10**9  # its socket is full: it misses version 2
    await steady.send_json_to({"event": "group", "data": 1})
    assert "x" in await receive(steady)
    outbox.backlog = lambda: 0
    await steady.send_json_to({"event": "group", "data": 2})
    assert "x" in await receive(steady)
    frame = await receive(flaky)
    assert frame["n"] == 3 and "d" in frame  # the whole object, not a delta it cannot apply
    assert KeyedReceiver(codec()).receive(frame)[1] == v1_data(2)  # type: ignore[index]
    for comm in (steady, flaky):
        await comm.disconnect()


@override_settings(REZNET_WS={"DELTA_FULL_EVERY": 2})
async def test_the_full_object_goes_again_every_n_deltas() -> None:
    comm = await open_client("delta")
    kinds = []
    for done in range(6):
        await comm.send_json_to({"event": "own", "data": done})
        kinds.append("d" in await receive(comm))
    assert kinds == [True, False, False, True, False, False]
    await comm.disconnect()


async def test_a_resync_of_a_group_key_brings_the_full_object() -> None:
    comm = await open_client("delta")
    for done in range(2):
        await comm.send_json_to({"event": "group", "data": done})
        assert ("d" in await receive(comm)) == (done == 0)
    await comm.send_json_to({"_v": 2, "e": "reznet.resync", "r": 1, "d": {"keys": ["plan:w1"]}})
    await comm.send_json_to({"event": "group", "data": 2})
    assert "d" in await receive(comm)
    await comm.disconnect()


async def test_messagepack_connections_get_keyed_events_in_their_encoding() -> None:
    import msgpack  # the test extra installs it

    from reznet_ws.codec.msgpack_frames import MSGPACK_SUBPROTOCOL

    comm = WebsocketCommunicator(
        PlanConsumer.as_asgi(), "/ws/?reznet_features=delta", subprotocols=[MSGPACK_SUBPROTOCOL]
    )
    assert (await comm.connect())[0]
    hello = msgpack.unpackb((await comm.receive_output())["bytes"])
    assert hello["d"]["features"]["keyed_deltas"] is True  # deltas in either encoding
    await comm.send_json_to({"event": "own", "data": 1})
    output = await comm.receive_output()
    assert msgpack.unpackb(output["bytes"])["k"] == "plan:w1"  # a packed keyed frame
    await comm.disconnect()
