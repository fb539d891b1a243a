"""The hub over ``BatchingChannelLayer`` under Redis faults, as tests/test_hub_faults.py does it.

Real server processes (tests/hub_app.py with ``HUB_LAYER=batching-core`` / ``batching-pubsub``)
and a redis-server of the test's own. The batching layer takes every broadcast into its buffer,
so a broadcast made during an outage is not refused: it must either reach every client or be
counted as not delivered, and the outage must be reported.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from .redis_server import RedisServer
from .test_hub_faults import (
    DEADLINE,
    Client,
    clients,
    exactly_once,
    heal,
    stop_all,
    two_processes,
)

__all__ = ["clients"]  # the fixture of tests/test_hub_faults.py, used here

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.timeout(300)]

LAYERS = ["batching-core", "batching-pubsub"]
_SETTLED = ("delivered", "lost", "dropped")


async def settled(client: Client, before: dict[str, Any], count: int) -> dict[str, Any]:
    """Probe until this process's layer has delivered or counted ``count`` more messages."""
    deadline = time.monotonic() + DEADLINE
    while True:
        probe = await client.probe()
        now, then = probe["layer_stats"], before["layer_stats"]
        if sum(now.get(key, 0) - then.get(key, 0) for key in _SETTLED) == count:
            return probe
        assert time.monotonic() < deadline, f"{count} messages never settled: {probe}"
        await asyncio.sleep(0.05)  # poll interval of the probe, not an ordering wait


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("keep_data", [False, True], ids=["empty", "with-data"])
async def test_delivery_resumes_without_reconnecting_after_redis_restarts(
    layer: str, keep_data: bool, redis_server: RedisServer, clients: list[Client]
) -> None:
    servers = await two_processes(redis_server, layer, clients)
    try:
        await exactly_once(clients[0], clients, 1, 5)
        redis_server.restart(keep_data=keep_data)
        n = await heal(clients, 100)
        await exactly_once(clients[0], clients, n, 20)
        await exactly_once(clients[1], clients, n + 20, 20)
        for client in clients:  # the same connections throughout
            assert (await client.probe())["problems"] == {}
    finally:
        stop_all(servers)


@pytest.mark.parametrize("layer", LAYERS)
async def test_an_outage_keeps_sockets_open_and_counts_every_undelivered_broadcast(
    layer: str, redis_server: RedisServer, clients: list[Client]
) -> None:
    servers = await two_processes(redis_server, layer, clients)
    try:
        await exactly_once(clients[0], clients, 1, 3)
        before = await clients[0].probe()
        redis_server.stop()
        outage = range(10, 15)
        assert all([await clients[0].shout(n) for n in outage])  # taken into the buffer
        during = await settled(clients[0], before, len(outage))  # the socket is still served
        assert during["problems"], "the outage is reported"
        redis_server.start()
        n = await heal(clients, 100)
        await exactly_once(clients[0], clients, n, 20)
        after = await clients[0].probe()
        delivered = [set(client.said) & set(outage) for client in clients]
        assert delivered[0] == delivered[1], "a broadcast reached only some clients"
        not_delivered = len(outage) - len(delivered[0])
        lost = during["layer_stats"]["lost"] - before["layer_stats"].get("lost", 0)
        assert lost == not_delivered
        counted = during["counters"]["error:layer_send_failed"]
        assert counted - before["counters"]["error:layer_send_failed"] == not_delivered
        # heal() may lose more while the pool reconnects: every loss is in both counts
        assert after["counters"]["error:layer_send_failed"] == after["layer_stats"]["lost"]
    finally:
        stop_all(servers)
