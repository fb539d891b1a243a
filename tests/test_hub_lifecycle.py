"""The hub's members follow their consumers' lives: no delivery before accept, no ghosts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from reznet_ws.codec import SUBPROTOCOL, Codec
from reznet_ws.consumers import OptimizedConsumerMixin
from reznet_ws.delivery.connection import Connection
from reznet_ws.delivery.hub import get_hub, layer_problems
from reznet_ws.delivery.process import live_consumers, note_send_success
from reznet_ws.encoding import default_field_map
from reznet_ws.stats import get_recorder

pytestmark = pytest.mark.timeout(300)

#: Seconds any one wait may take: a bound on a hang only (a busy machine may be slow).
DEADLINE = 30.0


class EarlyConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    """Joins, receives a broadcast, and only then accepts."""

    async def connect(self) -> None:
        self.delivered = asyncio.Event()
        await self.join_group("early")
        await self.broadcast("early", "before_accept", {"n": 1})
        await self.delivered.wait()  # the hub handed it over (to the waiting list)
        await self.accept()

    async def join_group(self, group: str) -> None:
        await super().join_group(group)
        connection = self._connection
        assert connection is not None
        deliver = connection.deliver

        def delivered(*args: Any, **kwargs: Any) -> bool:
            handled = deliver(*args, **kwargs)
            self.delivered.set()
            return handled

        connection.deliver = delivered  # type: ignore[method-assign]


class CrashingConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.join_group("crash")
        await self.accept()

    async def receive_event(self, event: str, data: Any) -> None:
        raise RuntimeError("a bug in the application")


@pytest.mark.parametrize("v2", [True, False], ids=["v2", "v1"])
async def test_a_broadcast_before_accept_waits_for_the_handshake(v2: bool) -> None:
    comm = WebsocketCommunicator(
        EarlyConsumer.as_asgi(), "/ws/", subprotocols=[SUBPROTOCOL] if v2 else []
    )
    connected, _ = await comm.connect(timeout=DEADLINE)
    assert connected  # accept() came first: nothing was sent before the handshake
    frames = [await comm.receive_from(DEADLINE) for _ in range(2 if v2 else 1)]
    codec = Codec(default_field_map())
    events = [e for frame in frames for e, _ in codec.decode_frame(frame)] if v2 else []
    if v2:
        assert events == ["connection_established", "before_accept"]
    else:
        assert json.loads(frames[0]) == {"event": "before_accept", "data": {"n": 1}}
    await comm.disconnect(timeout=DEADLINE)


async def test_a_consumer_that_crashes_leaves_no_ghost() -> None:
    hub = get_hub(get_channel_layer())
    recorder = get_recorder()
    gauge_before = recorder.counters["active_connections"]
    comm = WebsocketCommunicator(CrashingConsumer.as_asgi(), "/ws/")
    assert (await comm.connect(timeout=DEADLINE))[0]
    assert hub.member_count() == 1
    assert recorder.counters["active_connections"] == gauge_before + 1
    await comm.send_json_to({"event": "boom"})
    with pytest.raises(RuntimeError, match="a bug in the application"):
        await comm.wait(timeout=DEADLINE)
    assert hub.member_count() == 0  # removed in the consumer's last exit path
    assert recorder.counters["active_connections"] == gauge_before
    assert not [c for c in live_consumers() if isinstance(c, CrashingConsumer)]
    assert hub.channel is None  # the hub left the layer group and stopped receiving


class FailingLayer:
    """A layer whose every call fails, as channels_redis does while Redis is down."""

    extensions = ["groups"]

    async def new_channel(self, prefix: str = "specific.") -> str:
        return f"{prefix}failing!1"

    async def receive(self, channel: str) -> Any:
        raise ConnectionError("Redis is down")

    async def group_add(self, group: str, channel: str) -> None:
        raise ConnectionError("Redis is down")

    async def group_discard(self, group: str, channel: str) -> None:
        raise ConnectionError("Redis is down")

    async def group_send(self, group: str, message: Any) -> None:
        raise ConnectionError("Redis is down")


async def test_joining_and_broadcasting_during_an_outage_degrade_and_are_reported() -> None:
    recorder = get_recorder()
    failed_before = recorder.counters["error:broadcast_failed"]
    layer = FailingLayer()
    hub = get_hub(layer)

    class Member(EarlyConsumer):
        pass

    member = Member()
    member._connection = Connection(lambda message: asyncio.sleep(0))
    await hub.join("room", member._connection)  # registered locally although the layer refused
    assert hub.member_count() == 1
    assert hub.problem is not None and "Redis is down" in hub.problem
    assert hub.label in layer_problems()
    member.channel_layer = layer
    assert await member.broadcast("room", "x", {}) is False
    assert recorder.counters["error:broadcast_failed"] == failed_before + 1
    await hub.leave("room", member._connection)
    assert hub.problem is None  # the hub stopped with its last member
    note_send_success(layer)
    assert hub.label not in layer_problems()


async def test_a_gap_in_a_senders_numbers_is_counted_once_per_local_member() -> None:
    recorder = get_recorder()
    before = recorder.counters["error:broadcast_missed"]
    hub = get_hub(get_channel_layer())
    members = [Connection(lambda message: asyncio.sleep(0)) for _ in range(3)]
    for member in members:
        await hub.join("gaps", member)

    def numbered(seq: int, skip: list[int]) -> dict[str, Any]:
        return {"group": "gaps", "src": "sender-a", "seq": seq, "skip": skip}

    hub.count_gap("gaps", numbered(1, []), 3)
    hub.count_gap("gaps", numbered(2, []), 3)
    assert recorder.counters["error:broadcast_missed"] == before  # no gap yet
    # 3 and 4 never arrived, 5 was refused by the layer (the sender counted it already)
    hub.count_gap("gaps", numbered(6, [5]), 3)
    assert recorder.counters["error:broadcast_missed"] == before + 2 * 3
    hub.count_gap("gaps", {"group": "gaps", "src": "sender-b", "seq": 40, "skip": []}, 3)
    assert recorder.counters["error:broadcast_missed"] == before + 2 * 3  # a new sender
    for member in members:
        await hub.leave("gaps", member)
