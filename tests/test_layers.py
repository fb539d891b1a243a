"""BatchingChannelLayer over the in-memory layer and real Redis (core and pub/sub layers)."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.exceptions import ChannelFull, InvalidChannelLayerError
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import BaseChannelLayer, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from reznet_ws.batching import URGENT_KEY
from reznet_ws.checks.layers import check_batching_layers
from reznet_ws.layers import BatchingChannelLayer

pytestmark = [pytest.mark.redis, pytest.mark.timeout(300)]

BACKENDS = {
    "inmemory": "channels.layers.InMemoryChannelLayer",
    "redis": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
WRAPPER = "reznet_ws.layers.BatchingChannelLayer"
#: Seconds a wait for what must happen may take: a bound on a hang only (a busy machine is slow).
DEADLINE = 60.0
MakeLayer = Callable[..., BatchingChannelLayer]


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def inner_config(backend: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The inner layer's settings, with a prefix of its own (Redis) and room for every test."""
    if backend == "inmemory":
        return {"BACKEND": BACKENDS[backend], "CONFIG": {"capacity": 10_000}}
    url = request.getfixturevalue("redis_url")
    config: dict[str, Any] = {"hosts": [url], "prefix": _unique("t")}
    if backend == "redis":
        config["capacity"] = 10_000
    return {"BACKEND": BACKENDS[backend], "CONFIG": config}


@pytest.fixture
async def make_layer(inner_config: dict[str, Any]) -> AsyncIterator[MakeLayer]:
    """Build wrappers over ``inner_config``; flush (and so close) each after the test."""
    made: list[BatchingChannelLayer] = []

    def make(**config: Any) -> BatchingChannelLayer:
        layer = BatchingChannelLayer(inner=inner_config, **config)
        made.append(layer)
        return layer

    yield make
    for layer in made:
        await layer.flush()


@pytest.fixture
def group() -> str:
    return _unique("g")


async def _members(layer: BatchingChannelLayer, group: str, count: int) -> list[str]:
    channels = [await layer.new_channel() for _ in range(count)]
    for channel in channels:
        await layer.group_add(group, channel)
    return channels


async def _receive(layer: BatchingChannelLayer, channel: str, count: int) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        return [await layer.receive(channel) for _ in range(count)]

    return await asyncio.wait_for(go(), timeout=DEADLINE)


async def _everyone(
    layer: BatchingChannelLayer, channels: list[str], count: int
) -> list[list[dict[str, Any]]]:
    return list(await asyncio.gather(*(_receive(layer, c, count) for c in channels)))


async def _until(predicate: Callable[[], bool], timeout: float = DEADLINE) -> None:
    """Yield to the event loop until ``predicate()`` holds (a probe: no time has to pass)."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - the layer's counters offer no event to wait on
            await asyncio.sleep(0)


def _numbers(messages: list[dict[str, Any]]) -> list[int]:
    return [message["n"] for message in messages]


# --------------------------------------------------------------------------- delivery


async def test_group_send_reaches_every_member_once_in_order(
    make_layer: MakeLayer, group: str
) -> None:
    layer = make_layer(window=0.05, max_batch=10)
    channels = await _members(layer, group, 3)
    receiving = asyncio.ensure_future(_everyone(layer, channels, 25))
    for n in range(25):
        await layer.group_send(group, {"type": "chat.message", "n": n})
    for messages in await receiving:
        assert _numbers(messages) == list(range(25))
        assert all(message["type"] == "chat.message" for message in messages)
    assert layer.stats["delivered"] == 25
    assert layer.stats["envelopes"] >= 2


async def test_calls_within_the_window_become_few_inner_operations(
    make_layer: MakeLayer, group: str
) -> None:
    layer = make_layer(window=30, max_batch=10)
    [channel] = await _members(layer, group, 1)
    for n in range(25):
        await layer.group_send(group, {"type": "m", "n": n})
    await layer.drain()
    assert (layer.stats["envelopes"], layer.stats["singles"]) == (3, 0)  # 10 + 10 + 5
    assert _numbers(await _receive(layer, channel, 25)) == list(range(25))
    assert layer.stats["unpacked"] == 3


async def test_send_to_one_channel_is_batched_and_ordered(make_layer: MakeLayer) -> None:
    layer = make_layer(window=0.05, max_batch=4)
    channel = await layer.new_channel()
    for n in range(15):
        await layer.send(channel, {"type": "m", "n": n})
    assert _numbers(await _receive(layer, channel, 15)) == list(range(15))
    assert layer.stats["envelopes"] >= 3


async def test_the_window_alone_flushes_a_lone_message(make_layer: MakeLayer, group: str) -> None:
    layer = make_layer(window=0.02)
    [channel] = await _members(layer, group, 1)
    await layer.group_send(group, {"type": "m", "n": 1})
    assert _numbers(await _receive(layer, channel, 1)) == [1]
    assert layer.stats["singles"] == 1  # an envelope of one message


async def test_urgent_message_goes_at_once_after_the_queued_ones(
    make_layer: MakeLayer, group: str
) -> None:
    layer = make_layer(window=30)
    [channel] = await _members(layer, group, 1)
    for n in range(3):
        await layer.group_send(group, {"type": "m", "n": n})
    await layer.group_send(group, {"type": "m", "n": 3, URGENT_KEY: True})
    # Returned: handed on, without waiting for the 30 s window or calling drain().
    received = await _receive(layer, channel, 4)
    assert _numbers(received) == [0, 1, 2, 3]
    assert received[3][URGENT_KEY] is True


async def test_a_message_is_snapshotted_when_sent(make_layer: MakeLayer, group: str) -> None:
    layer = make_layer(window=30)
    [channel] = await _members(layer, group, 1)
    message: dict[str, Any] = {"type": "m", "n": 0, "tags": []}
    for n in range(3):
        message["n"] = n
        message["tags"].append(n)
        await layer.group_send(group, message)
    await layer.drain()
    received = await _receive(layer, channel, 3)
    assert [(m["n"], m["tags"]) for m in received] == [(0, [0]), (1, [0, 1]), (2, [0, 1, 2])]


async def test_invalid_calls_fail_at_the_call(make_layer: MakeLayer, backend: str) -> None:
    layer = make_layer()
    with pytest.raises(TypeError):
        await layer.group_send("g", "not a dict")  # type: ignore[arg-type]
    if isinstance(layer.inner, BaseChannelLayer):  # the pub/sub layer validates no names
        with pytest.raises(TypeError):
            await layer.group_send("not a valid name!", {"type": "m"})
    with pytest.raises(ValueError):
        await layer.send("c", {"type": "m", "__asgi_channel__": "x"})
    assert layer.stats["messages"] == 0


# --------------------------------------------------------------------------- sync callers


async def test_async_to_sync_from_a_thread_sends_straight_through(
    make_layer: MakeLayer, group: str
) -> None:
    layer = make_layer(window=30)
    [channel] = await _members(layer, group, 1)
    send = async_to_sync(layer.group_send)
    for n in range(5):
        # A throwaway loop per call: nothing may stay buffered in it.
        await asyncio.to_thread(send, group, {"type": "m", "n": n})
    assert layer.stats["singles"] == 5
    assert _numbers(await _receive(layer, channel, 5)) == list(range(5))


async def test_sync_code_under_a_running_loop_is_batched_there(
    make_layer: MakeLayer, group: str
) -> None:
    layer = make_layer(window=30, max_batch=10)
    [channel] = await _members(layer, group, 1)

    def sync_view() -> None:  # a SyncConsumer handler, or sync_to_async code: the loop lives on
        for n in range(5):
            async_to_sync(layer.group_send)(group, {"type": "m", "n": n})

    await sync_to_async(sync_view)()
    await layer.drain()
    assert (layer.stats["envelopes"], layer.stats["singles"]) == (1, 0)
    assert _numbers(await _receive(layer, channel, 5)) == list(range(5))


async def test_asyncio_run_hands_on_the_buffer_when_its_loop_closes(
    make_layer: MakeLayer, group: str
) -> None:
    layer = make_layer(window=30)
    [channel] = await _members(layer, group, 1)

    async def script() -> None:
        for n in range(3):
            await layer.group_send(group, {"type": "m", "n": n})

    await asyncio.to_thread(asyncio.run, script())
    assert (layer.stats["envelopes"], layer.stats["lost"]) == (1, 0)
    assert _numbers(await _receive(layer, channel, 3)) == [0, 1, 2]


async def test_async_to_sync_loses_nothing_even_unrecognised(
    make_layer: MakeLayer, group: str
) -> None:
    layer = make_layer(window=30)
    layer.is_transient_loop = lambda loop: False  # type: ignore[method-assign]
    [channel] = await _members(layer, group, 1)
    # async_to_sync waits for its loop to shut down, and the shutdown hands the buffer on.
    await asyncio.to_thread(async_to_sync(layer.group_send), group, {"type": "m", "n": 1})
    assert layer.stats["delivered"] == 1
    assert _numbers(await _receive(layer, channel, 1)) == [1]


# --------------------------------------------------------------------------- concurrency


async def test_many_producers_to_one_group_keep_their_own_order(
    make_layer: MakeLayer, group: str
) -> None:
    layer = make_layer(window=0.01, max_batch=10)
    channels = await _members(layer, group, 3)
    producers, each = 20, 30
    receiving = asyncio.ensure_future(_everyone(layer, channels, producers * each))
    rng = random.Random(4)

    async def produce(p: int) -> None:
        for n in range(each):
            message = {"type": "m", "p": p, "n": n}
            if rng.random() < 0.1:
                message[URGENT_KEY] = True
            await layer.group_send(group, message)
            if rng.random() < 0.3:
                # Time is the subject here: pauses against the 10 ms window mix flushes by age
                # with flushes by size.
                await asyncio.sleep(rng.random() / 500)

    await asyncio.gather(*(produce(p) for p in range(producers)))
    for messages in await receiving:
        for p in range(producers):
            assert [m["n"] for m in messages if m["p"] == p] == list(range(each))


# --------------------------------------------------------------------------- consumers


class Room(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """A plain Channels consumer: no reznet_ws mixin, nothing batching-aware."""

    group = ""

    async def connect(self) -> None:
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        await self.channel_layer.group_send(self.group, {"type": "room.message", "n": content["n"]})

    async def room_message(self, event: dict[str, Any]) -> None:
        await self.send_json({"n": event["n"]})


async def test_plain_consumer_gets_every_message_of_a_batch_in_order(
    inner_config: dict[str, Any], group: str
) -> None:
    layers = {"default": {"BACKEND": WRAPPER, "CONFIG": {"inner": inner_config, "window": 0.05}}}
    with override_settings(CHANNEL_LAYERS=layers):
        layer = get_channel_layer()
        assert isinstance(layer, BatchingChannelLayer)
        room: type[Room] = type("Room", (Room,), {"group": group})
        app = room.as_asgi()
        clients = [WebsocketCommunicator(app, "/ws/") for _ in range(2)]
        try:
            for client in clients:
                connected, _ = await client.connect()
                assert connected
            for n in range(20):
                await layer.group_send(group, {"type": "room.message", "n": n})
            for n in range(20, 25):  # sent by a consumer, through the same layer
                await clients[0].send_json_to({"n": n})
            for client in clients:
                received = [await client.receive_json_from() for _ in range(25)]
                assert [m["n"] for m in received] == list(range(25))
                assert await client.receive_nothing(timeout=0.1)
            assert layer.stats["envelopes"] >= 1
        finally:
            for client in clients:
                await client.disconnect()
            await layer.flush()


async def test_the_rest_of_a_batch_for_a_channel_that_stopped_receiving_is_discarded(
    make_layer: MakeLayer, group: str
) -> None:
    layer = make_layer(window=30)
    now = [0.0]
    layer.clock = lambda: now[0]
    gone, alive = await _members(layer, group, 2)
    for n in range(3):
        await layer.group_send(group, {"type": "m", "n": n})
    await layer.drain()
    assert _numbers(await _receive(layer, gone, 1)) == [0]  # then its consumer closes
    assert _numbers(await _receive(layer, alive, 3)) == [0, 1, 2]
    for n in (3, 4):  # two sweeps later, the silent channel's rest is gone
        now[0] += layer.leftover_expiry + 1
        await layer.send(alive, {"type": "m", "n": n, URGENT_KEY: True})
        assert _numbers(await _receive(layer, alive, 1)) == [n]
    assert layer.stats["expired"] == 2


# --------------------------------------------------------------------------- forwarding


async def test_everything_else_is_forwarded_to_the_inner_layer(
    make_layer: MakeLayer, backend: str, group: str
) -> None:
    layer = make_layer()
    assert "groups" in layer.extensions
    assert "inner=" in repr(layer)
    if backend != "pubsub":
        assert layer.capacity == 10_000
        assert layer.get_capacity("anything") == 10_000
    [channel] = await _members(layer, group, 1)
    await layer.group_discard(group, channel)
    await layer.group_send(group, {"type": "m", "n": 1, URGENT_KEY: True})
    await layer.send(channel, {"type": "m", "n": 2, URGENT_KEY: True})
    assert _numbers(await _receive(layer, channel, 1)) == [2]  # left the group: only the send


async def test_close_hands_on_the_buffer_first(make_layer: MakeLayer, group: str) -> None:
    layer = make_layer(window=30)
    [channel] = await _members(layer, group, 1)
    for n in range(3):
        await layer.group_send(group, {"type": "m", "n": n})
    await layer.close_pools()
    await layer.close()
    assert layer.stats["delivered"] == 3
    assert _numbers(await _receive(layer, channel, 3)) == [0, 1, 2]


# --------------------------------------------------------------------------- failures


class _Gate(BaseChannelLayer):
    """A test seam: forwards to a real layer, but group_send waits until ``opened`` is set.

    ``reached`` is set when a batch arrives at the gate.
    """

    def __init__(self, inner: BatchingChannelLayer) -> None:
        self.real = inner.inner
        self.opened = asyncio.Event()
        self.reached = asyncio.Event()

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.reached.set()
        await self.opened.wait()
        await self.real.group_send(group, message)


async def test_a_stalled_inner_layer_fills_a_bounded_buffer_then_drops(
    make_layer: MakeLayer, group: str, caplog: pytest.LogCaptureFixture
) -> None:
    layer = make_layer(window=0, max_batch=5, max_buffer=20)
    [channel] = await _members(layer, group, 1)
    gate = _Gate(layer)
    layer.inner, real = gate, layer.inner
    sends = [
        asyncio.ensure_future(layer.group_send(group, {"type": "m", "n": n})) for n in range(60)
    ]
    await asyncio.wait_for(gate.reached.wait(), DEADLINE)
    await _until(lambda: layer.stats["messages"] == 60)  # each one buffered or dropped
    state = layer._states[asyncio.get_running_loop()]
    assert 0 < state.buffer.size <= 20  # and one batch of 5 in flight, waiting at the gate
    gate.opened.set()
    await asyncio.gather(*sends)  # none raised
    await layer.drain()
    layer.inner = real
    delivered = layer.stats["delivered"]
    assert layer.stats["dropped"] == 60 - delivered > 0
    received = _numbers(await _receive(layer, channel, delivered))
    assert received == sorted(received)
    warnings = [r for r in caplog.records if r.name == "reznet_ws.layers"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


async def test_a_full_buffer_raises_channel_full_when_asked_to(make_layer: MakeLayer) -> None:
    layer = make_layer(window=30, max_buffer=2, raise_errors=True)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "m"})
    await layer.send(channel, {"type": "m"})
    with pytest.raises(ChannelFull):
        await layer.send(channel, {"type": "m"})


@pytest.mark.parametrize("backend", ["inmemory", "redis"])  # pub/sub has no capacity
async def test_channel_full_is_counted_and_logged_once_not_raised(
    make_layer: MakeLayer, inner_config: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    inner_config["CONFIG"]["capacity"] = 1
    layer = make_layer(window=0, max_batch=2)
    channel = await layer.new_channel()
    for n in range(10):  # nobody receives: the first operation fills the channel
        await layer.send(channel, {"type": "m", "n": n, URGENT_KEY: n % 2 == 1})
    assert layer.stats["channel_full"] == 4
    assert layer.stats["lost"] == 8
    records = [r for r in caplog.records if r.name == "reznet_ws.layers"]
    assert [r.levelno for r in records] == [logging.WARNING]
    strict = make_layer(window=0, raise_errors=True)
    channel = await strict.new_channel()
    await strict.send(channel, {"type": "m", URGENT_KEY: True})
    with pytest.raises(ChannelFull):
        await strict.send(channel, {"type": "m", URGENT_KEY: True})


# --------------------------------------------------------------------------- checks


def _check(config: dict[str, Any]) -> list[str]:
    layers = {"default": {"BACKEND": WRAPPER, "CONFIG": config}}
    with override_settings(CHANNEL_LAYERS=layers):
        return [str(message.id) for message in check_batching_layers()]


def test_system_checks_report_bad_configuration() -> None:
    inner = {"BACKEND": BACKENDS["inmemory"]}
    assert _check({"inner": inner}) == []
    assert _check({}) == ["reznet_ws.E040"]
    assert _check({"inner": {"BACKEND": "no.such.Layer"}}) == ["reznet_ws.E041"]
    assert _check({"inner": {"BACKEND": WRAPPER}}) == ["reznet_ws.E042"]
    assert _check({"inner": inner, "window": -1}) == ["reznet_ws.E043"]
    assert _check({"inner": inner, "hosts": []}) == ["reznet_ws.E044"]
    assert _check({"inner": inner, "raise_errors": "yes"}) == ["reznet_ws.E045"]
    assert _check({"inner": inner, "max_batch": 1}) == ["reznet_ws.W040"]
    assert _check({"inner": inner, "max_batch": 50, "max_buffer": 20}) == ["reznet_ws.W041"]
    with override_settings(CHANNEL_LAYERS={"default": {"BACKEND": BACKENDS["inmemory"]}}):
        assert check_batching_layers() == []


def test_the_inner_layer_is_built_by_channels() -> None:
    layer = BatchingChannelLayer(inner={"BACKEND": BACKENDS["inmemory"], "CONFIG": {"expiry": 7}})
    assert type(layer.inner).__name__ == "InMemoryChannelLayer"
    assert layer.expiry == 7
    with pytest.raises(ValueError):
        BatchingChannelLayer(inner={"BACKEND": BACKENDS["inmemory"]}, max_batch=0)
    with pytest.raises(InvalidChannelLayerError):
        BatchingChannelLayer(inner={"CONFIG": {}})
