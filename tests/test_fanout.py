"""The process hub behind join_group()/broadcast(): membership, order, churn, slow clients."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from reznet_ws.codec import SUBPROTOCOL, Codec
from reznet_ws.consumers import CLOSE_TOO_SLOW, OptimizedConsumerMixin
from reznet_ws.delivery.hub import get_hub
from reznet_ws.encoding import default_field_map
from reznet_ws.stats import get_recorder

from .conftest import CLIENT_TIMEOUT, ServerProcess, app_server_argv, free_port, ws_connect
from .test_wire import FIELD_MAP

pytestmark = pytest.mark.timeout(300)

# Of this run only: Redis pub/sub ignores the db number, so a fixed name would reach (and hear)
# another test run using the same Redis.
GROUP = f"hubroom-{uuid.uuid4().hex[:8]}"


class RoomConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.join_group(GROUP)
        await self.accept()

    async def receive_event(self, event: str, data: Any) -> None:
        if event == "shout":
            await self.broadcast(GROUP, "said", data)
        elif event == "also_group_add":
            await self.channel_layer.group_add(GROUP, self.channel_name)
            await self.send_event("ok", {})


async def open_client(v2: bool) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(
        RoomConsumer.as_asgi(), "/ws/", subprotocols=[SUBPROTOCOL] if v2 else []
    )
    connected, _ = await comm.connect()
    assert connected
    if v2:
        assert json.loads(await comm.receive_from())["e"] == "connection_established"
    return comm


async def next_events(comm: WebsocketCommunicator) -> list[tuple[str, Any]]:
    message = await comm.receive_output()  # the conftest's patient default
    raw = message.get("text") if message.get("text") is not None else message["bytes"]
    return Codec(default_field_map()).decode_frame(raw)


async def test_hub_joins_the_layer_group_once_for_all_local_members() -> None:
    layer = get_channel_layer()
    clients = [await open_client(v2=i % 2 == 0) for i in range(6)]
    hub = get_hub(layer)
    assert hub.member_count() == 6
    assert list(layer.groups[GROUP]) == [hub.channel]  # one layer member for six sockets
    await clients[0].send_json_to({"event": "shout", "data": {"n": 1}})
    for client in clients:
        assert await next_events(client) == [("said", {"n": 1})]
    for client in clients:
        await client.disconnect()
    assert hub.member_count() == 0
    assert GROUP not in layer.groups or hub.channel not in layer.groups[GROUP]


async def test_no_delivery_after_disconnect_and_no_doubles() -> None:
    a = await open_client(v2=True)
    b = await open_client(v2=False)
    await b.disconnect()
    await a.send_json_to({"event": "also_group_add"})  # a is now in the group both ways
    assert await next_events(a) == [("ok", {})]
    await a.send_json_to({"event": "shout", "data": {"n": 2}})
    assert await next_events(a) == [("said", {"n": 2})]
    assert await a.receive_nothing(timeout=0.2)
    await a.disconnect()


async def test_churn_every_connected_client_gets_everything_in_order() -> None:
    layer = get_channel_layer()
    sent: list[int] = []
    clients: dict[int, tuple[WebsocketCommunicator, int]] = {}  # id -> (comm, first n)
    received: dict[int, list[int]] = {}
    done: dict[int, tuple[int, int]] = {}

    next_id = 0
    for n in range(60):
        if n % 5 == 0:  # connect a new client
            comm = await open_client(v2=next_id % 2 == 0)
            clients[next_id] = (comm, n)
            received[next_id] = []
            next_id += 1
        if n % 7 == 3 and len(clients) > 2:  # disconnect the oldest
            cid = min(clients)
            comm, first = clients.pop(cid)
            await drain_until(comm, received[cid], n - 1)
            await comm.disconnect()
            done[cid] = (first, n - 1)
        await layer.group_send(GROUP, broadcast_message(n))
        sent.append(n)
    for cid, (comm, first) in clients.items():
        await drain_until(comm, received[cid], sent[-1])
        done[cid] = (first, sent[-1])
        await comm.disconnect()
    for cid, (first, last) in done.items():
        assert received[cid] == list(range(first, last + 1)), cid


async def drain_until(comm: WebsocketCommunicator, into: list[int], last: int) -> None:
    while not into or into[-1] < last:
        into += [data["n"] for _, data in await next_events(comm)]


def broadcast_message(n: int) -> dict[str, Any]:
    return {
        "type": "reznet.event",
        "group": GROUP,
        "id": f"churn-{n}",
        "event": "tick",
        "v1": json.dumps({"event": "tick", "data": {"n": n}}),
        "optimize": True,
        "batch": False,
    }


class StuckConsumer(RoomConsumer):
    """A member whose socket never drains: its outbox reports 2 MB waiting."""

    async def connect(self) -> None:
        await super().connect()
        assert self._connection is not None
        self._connection.outbox.backlog = lambda: 2_000_000  # type: ignore[method-assign]


@override_settings(REZNET_WS={"FANOUT_MAX_DROPS": 3})
async def test_slow_client_drops_are_counted_then_it_is_closed_with_4009() -> None:
    layer = get_channel_layer()
    stuck = WebsocketCommunicator(StuckConsumer.as_asgi(), "/ws/")
    await stuck.connect()
    healthy = await open_client(v2=False)
    before = get_recorder().counters["error:slow_client_drop"]
    for n in range(3):
        await layer.group_send(GROUP, broadcast_message(n))
        assert [d["n"] for _, d in await next_events(healthy)] == [n]
    assert get_recorder().counters["error:slow_client_drop"] == before + 3
    assert await stuck.receive_output() == {
        "type": "websocket.close",
        "code": CLOSE_TOO_SLOW,
    }
    await healthy.disconnect()


def layer_configs(redis_url: str) -> dict[str, dict[str, Any]]:
    redis_config = {
        "hosts": [{"address": redis_url, "socket_timeout": 15}],
        "prefix": f"reznet-fanout-{uuid.uuid4().hex[:10]}",  # pub/sub ignores the db number
    }
    return {
        "inmemory": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
        "redis-core": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": redis_config},
        "redis-pubsub": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": redis_config,
        },
        "batching-redis": {
            "BACKEND": "reznet_ws.layers.BatchingChannelLayer",
            "CONFIG": {
                "inner": {
                    "BACKEND": "channels_redis.core.RedisChannelLayer",
                    "CONFIG": redis_config,
                }
            },
        },
    }


@pytest.mark.redis
@pytest.mark.parametrize("layer_name", ["inmemory", "redis-core", "redis-pubsub", "batching-redis"])
async def test_hub_works_on_every_layer(layer_name: str, redis_url: str) -> None:
    with override_settings(CHANNEL_LAYERS={"default": layer_configs(redis_url)[layer_name]}):
        clients = [await open_client(v2=i % 2 == 0) for i in range(4)]
        for n in range(12):
            await clients[n % 4].send_json_to({"event": "shout", "data": {"n": n}})
        sequences = []
        for client in clients:
            got: list[int] = []
            while len(got) < 12:
                got += [d["n"] for _, d in await next_events(client)]
            assert await client.receive_nothing(timeout=0.2)
            sequences.append(got)
            await client.disconnect()
        # every client got every broadcast once, all in the same order, which keeps each
        # sender's own order (the four senders run concurrently, so they may interleave)
        assert sorted(sequences[0]) == list(range(12))
        assert all(seq == sequences[0] for seq in sequences)
        for sender in range(4):
            own = [n for n in sequences[0] if n % 4 == sender]
            assert own == sorted(own)


@pytest.mark.slow
@pytest.mark.redis
async def test_two_processes_share_broadcasts_through_redis(redis_url: str) -> None:
    servers = []
    try:
        # Keys and groups of this test's own: another run on the same Redis shares nothing.
        env = {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "REZNET_TEST_LAYER_URL": redis_url,
            "REZNET_TEST_LAYER_PREFIX": f"fanout-{uuid.uuid4().hex[:10]}",
        }
        room = f"engineering-{uuid.uuid4().hex[:8]}"
        for _ in range(2):
            port = free_port()
            servers.append(ServerProcess(app_server_argv(port), port, env=env))
        urls = [f"ws://127.0.0.1:{s.port}/ws/room/" for s in servers]
        codec = Codec(FIELD_MAP)

        async def recv(ws: Any) -> Any:
            return await asyncio.wait_for(ws.recv(), CLIENT_TIMEOUT)

        async def next_message(ws: Any) -> str:
            [(event, data)] = codec.decode_frame(await recv(ws))
            assert event == "message_new"
            return str(data["content"])

        async with (
            ws_connect(urls[0], subprotocols=[SUBPROTOCOL]) as a,
            ws_connect(urls[1]) as b,
        ):
            await recv(a)  # connection_established
            await a.send(json.dumps({"event": "join", "data": {"room": room}}))
            await b.send(json.dumps({"event": "join", "data": {"room": room}}))
            assert codec.decode_frame(await recv(a))[0][0] == "joined"
            assert codec.decode_frame(await recv(b))[0][0] == "joined"
            for n in range(10):
                sender = a if n % 2 == 0 else b
                await sender.send(
                    json.dumps({"event": "send_message", "data": {"content": f"m{n}"}})
                )
                # both processes deliver it, to both clients, before the other one speaks
                assert [await next_message(a), await next_message(b)] == [f"m{n}"] * 2
            for ws in (a, b):
                with pytest.raises(asyncio.TimeoutError):  # exactly once: nothing more
                    await asyncio.wait_for(ws.recv(), 0.5)
    finally:
        for server in servers:
            server.stop()


@pytest.mark.redis
@pytest.mark.parametrize("layer_name", ["inmemory", "redis-core", "redis-pubsub", "batching-redis"])
async def test_hub_serves_again_after_its_last_member_left(layer_name: str, redis_url: str) -> None:
    with override_settings(CHANNEL_LAYERS={"default": layer_configs(redis_url)[layer_name]}):
        for round_ in range(2):  # the second round starts from an empty hub
            clients = [await open_client(v2=True) for _ in range(2)]
            await clients[0].send_json_to({"event": "shout", "data": {"round": round_}})
            for client in clients:
                assert await next_events(client) == [("said", {"round": round_})]
                await client.disconnect()
            assert get_hub(get_channel_layer()).channel is None


async def test_a_broadcast_is_counted_once_per_recipient_in_few_stats_calls() -> None:
    layer = get_channel_layer()
    v2 = [await open_client(v2=True) for _ in range(3)]
    v1 = [await open_client(v2=False) for _ in range(2)]
    recorder = get_recorder()
    calls: list[int] = []
    record = recorder.record_message

    def counting(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        record(*args, **kwargs)

    before = dict(recorder.counters)
    recorder.record_message = counting  # type: ignore[method-assign]
    try:
        await layer.group_send(GROUP, broadcast_message(7))
        for client in v2 + v1:
            assert await next_events(client) == [("tick", {"n": 7})]
    finally:
        del recorder.record_message
    v1_size = len(json.dumps({"event": "tick", "data": {"n": 7}}))
    counters = recorder.counters
    assert counters["event:tick"] - before.get("event:tick", 0) == 5
    assert counters["total_bytes_original"] - before.get("total_bytes_original", 0) == 5 * v1_size
    assert len(calls) == 2  # one per encoding (v1 and v2), not one per recipient
    for client in v2 + v1:
        await client.disconnect()
