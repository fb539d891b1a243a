"""Redis stopped and restarted in the middle of a broadcast stream (a redis-server of our own)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest

from reznet_ws.batching import URGENT_KEY
from reznet_ws.layers import BatchingChannelLayer
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.timeout(300)]

#: Seconds any one wait may take: a bound on a hang only (a busy machine may be slow).
DEADLINE = 60.0


@pytest.fixture
def aof_redis(make_redis_server: Callable[..., RedisServer]) -> RedisServer:
    """A redis-server with an append-only file, so groups survive ``stop()`` then ``start()``."""
    return make_redis_server(appendonly=True)


@pytest.mark.parametrize(
    "backend",
    ["channels_redis.core.RedisChannelLayer", "channels_redis.pubsub.RedisPubSubChannelLayer"],
    ids=["redis", "pubsub"],
)  # the in-memory layer has no server to lose
async def test_redis_restart_mid_stream_is_counted_and_delivery_resumes(
    backend: str, aof_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    inner = {"BACKEND": backend, "CONFIG": {"hosts": [aof_redis.url], "prefix": "fault"}}
    layer = BatchingChannelLayer(inner=inner, window=0.01, max_batch=10)
    layer.receive_retry_max_delay = 0.1
    channel = await layer.new_channel()
    await layer.group_add("stream", channel)
    received: list[int] = []

    async def receive_forever() -> None:
        while True:
            received.append((await layer.receive(channel))["n"])

    async def stream(count: int, start: int) -> int:
        """Send ``count`` messages a few milliseconds apart (several batches); return the next."""
        for n in range(start, start + count):
            await layer.group_send("stream", {"type": "m", "n": n})  # never raises
            await asyncio.sleep(0.005)
        return start + count

    async def until(condition: Callable[[], bool], sent: int, what: str) -> int:
        """Keep streaming until ``condition`` holds; return the next n."""
        deadline = time.monotonic() + DEADLINE
        while not condition():
            assert time.monotonic() < deadline, what
            sent = await stream(5, sent)
        return sent

    receiver = asyncio.ensure_future(receive_forever())
    try:
        sent = await stream(50, 0)
        await asyncio.to_thread(aof_redis.stop)
        sent = await stream(50, sent)
        await layer.drain()  # every message sent so far was handed on or counted lost
        assert layer.stats["unavailable"] > 0
        lost = layer.stats["lost"]
        assert lost > 0
        await asyncio.to_thread(aof_redis.start)
        restarted = sent
        # Keep streaming until deliveries come through again (the pub/sub layer resubscribes).
        sent = await until(lambda: any(n >= restarted for n in received), sent, "no delivery")
        # From here on, every message arrives, in order, exactly once.
        first = await stream(40, sent)
        final = list(range(first, first + 30))
        for n in final:
            await layer.group_send("stream", {"type": "m", "n": n})
        await layer.drain()
        deadline = time.monotonic() + DEADLINE
        while not received or received[-1] < final[-1]:
            assert time.monotonic() < deadline, "final messages did not arrive"
            await asyncio.sleep(0.02)  # poll interval, not a wait for a condition
        assert received[received.index(final[0]) :] == final
    finally:
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
        await layer.flush()
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "reznet_ws.layers" and r.levelno == logging.WARNING
    ]
    assert len([w for w in warnings if ": unavailable (" in w]) == 1  # once per outage
    assert layer.stats["delivered"] + layer.stats["lost"] == layer.stats["messages"]


async def test_stale_pooled_connections_after_a_restart_lose_no_batch(
    aof_redis: RedisServer,
) -> None:
    """redis-py hands out idle connections to the old server, each failing once: none is lost."""
    inner = {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [aof_redis.url], "prefix": "stale"},
    }
    layer = BatchingChannelLayer(inner=inner, window=0)
    layer.send_retry_delay = 0.0
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    # Concurrent calls leave several idle connections in the pool (without retries, one batch
    # after the restart is lost: its connection was one of them).
    await asyncio.gather(*(layer.inner.group_add(f"warm{i}", channel) for i in range(6)))
    try:
        await asyncio.to_thread(aof_redis.stop)
        await asyncio.to_thread(aof_redis.start)
        for n in range(3):
            await layer.group_send("g", {"type": "m", "n": n, URGENT_KEY: True})
        assert (layer.stats["lost"], layer.stats["delivered"]) == (0, 3)
        assert [(await layer.receive(channel))["n"] for _ in range(3)] == [0, 1, 2]
    finally:
        await layer.flush()
