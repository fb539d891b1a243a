"""Broadcasting from outside any consumer: ``reznet_ws.broadcast`` and ``broadcast_sync``."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.testing import WebsocketCommunicator
from channels_redis.core import RedisChannelLayer

import reznet_ws
from reznet_ws.codec import SUBPROTOCOL, Codec
from reznet_ws.codec.errors import ReservedEventError
from reznet_ws.consumers import OptimizedConsumerMixin
from reznet_ws.encoding import default_field_map
from reznet_ws.stats import get_recorder

from .redis_server import RedisServer
from .test_hub_faults import Client, stop_all, two_processes

pytestmark = pytest.mark.timeout(300)


class Listener(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.join_group("news")
        await self.accept()


async def test_broadcast_from_outside_a_consumer_reaches_v1_and_v2_members() -> None:
    v2 = WebsocketCommunicator(Listener.as_asgi(), "/ws/", subprotocols=[SUBPROTOCOL])
    v1 = WebsocketCommunicator(Listener.as_asgi(), "/ws/")
    assert (await v2.connect())[0] and (await v1.connect())[0]
    await v2.receive_from()  # connection_established
    before = get_recorder().counters["event:headline"]
    assert await reznet_ws.broadcast("news", "headline", {"title": "hi"}) is True
    codec = Codec(default_field_map())
    assert codec.decode_frame(await v2.receive_from()) == [("headline", {"title": "hi"})]
    assert json.loads(await v1.receive_from()) == {"event": "headline", "data": {"title": "hi"}}
    assert get_recorder().counters["event:headline"] == before + 2  # once per recipient
    await v1.disconnect()
    await v2.disconnect()


async def test_reserved_names_are_refused_outside_consumers_too() -> None:
    with pytest.raises(ReservedEventError):
        await reznet_ws.broadcast("news", "connection_established", {})


@pytest.mark.slow
@pytest.mark.redis
async def test_broadcast_sync_from_a_thread_reaches_two_processes_once(
    redis_server: RedisServer,
) -> None:
    prefix = f"send{time.time_ns()}"
    clients: list[Client] = []
    servers = await two_processes(redis_server, "redis-core", clients, prefix=prefix)
    try:
        before = [(await c.probe())["counters"]["total_messages"] for c in clients]
        results: list[Any] = []

        def task() -> None:  # stands in for a Celery task or a view in a worker thread
            layer = RedisChannelLayer(hosts=[redis_server.url], prefix=prefix)
            results.append(
                reznet_ws.broadcast_sync("room", "said", {"n": 7, "pad": ""}, layer=layer)
            )

        worker = threading.Thread(target=task)
        worker.start()
        await asyncio.get_running_loop().run_in_executor(None, worker.join)
        assert results == [True]
        for client in clients:  # a v2 and a v1 client, one per process
            assert await client.wait_said(7)
            assert client.said == [7]
        after = [(await c.probe())["counters"]["total_messages"] for c in clients]
        # counted once per recipient, plus the first probe's own answer
        assert [a - b for a, b in zip(after, before, strict=True)] == [2, 2]
    finally:
        for client in clients:
            await client.ws.close()
        stop_all(servers)
