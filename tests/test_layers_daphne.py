"""Two daphne processes share Redis through BatchingChannelLayer: every broadcast reaches both
clients exactly once and in order, whichever process it came from."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from websockets.asyncio.client import ClientConnection

from tests.conftest import CLIENT_TIMEOUT, ServerProcess, free_port, ws_connect

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parent.parent
PER_CLIENT = 60


@pytest.fixture(
    params=[
        "channels_redis.core.RedisChannelLayer",
        "channels_redis.pubsub.RedisPubSubChannelLayer",
    ],
    ids=["redis", "pubsub"],
)
def servers(request: pytest.FixtureRequest, redis_url: str) -> Iterator[list[int]]:
    """Two daphne processes serving tests.layers_app, with a Redis key prefix of their own."""
    prefix = f"daphne{uuid.uuid4().hex[:10]}"
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.layers_settings",
        "REDIS_URL": redis_url,
        "REZNET_LAYERS_INNER": request.param,
        "REZNET_LAYERS_PREFIX": prefix,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    processes: list[ServerProcess] = []
    try:
        for _ in range(2):
            port = free_port()
            argv = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
            processes.append(ServerProcess([*argv, "tests.layers_app:application"], port, env))
        yield [process.port for process in processes]
    finally:
        for process in processes:
            process.stop()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


async def _collect(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [json.loads(await ws.recv()) for _ in range(count)]


async def _wait_until_subscribed(clients: list[ClientConnection]) -> int:
    """Return once a broadcast from each client reaches every client: the number of probes sent.

    Both clients joined their group before the handshake ended, but a pub/sub layer's SUBSCRIBE
    may still be on its way: each client sends numbered probes until one reaches everybody.
    A probe that arrives means every earlier one from that sender has arrived or never will
    (one publisher's messages keep their order), so none is left in flight afterwards.
    """
    probes = 0
    for sender in clients:
        origin = f"probe-{clients.index(sender)}"
        for attempt in range(50):
            await sender.send(json.dumps({"origin": origin, "n": attempt}))
            probes += 1
            try:
                for ws in clients:
                    while (message := json.loads(await asyncio.wait_for(ws.recv(), 1))) != {
                        "origin": origin,
                        "n": attempt,
                    }:
                        assert message["origin"] == origin and message["n"] < attempt, message
                break
            except TimeoutError:
                continue  # not subscribed yet: the next probe
        else:
            pytest.fail(f"{origin} never reached every client")
    return probes


async def test_broadcasts_from_either_process_reach_both_clients_once_in_order(
    servers: list[int],
) -> None:
    group = f"room{uuid.uuid4().hex[:10]}"
    urls = [f"ws://127.0.0.1:{port}/ws/{group}/" for port in servers]
    async with ws_connect(urls[0]) as a, ws_connect(urls[1]) as b:
        probes = await _wait_until_subscribed([a, b])
        receiving = [asyncio.ensure_future(_collect(ws, 2 * PER_CLIENT)) for ws in (a, b)]

        async def broadcast(ws: ClientConnection, origin: str) -> None:
            for n in range(PER_CLIENT):
                await ws.send(json.dumps({"origin": origin, "n": n}))
                if n % 7 == 0:
                    # Time is the subject: pauses against the 50 ms batching window give
                    # batches of several sizes, and let the two senders interleave.
                    await asyncio.sleep(0.01)

        await asyncio.gather(broadcast(a, "a"), broadcast(b, "b"))
        results = await asyncio.wait_for(asyncio.gather(*receiving), timeout=CLIENT_TIMEOUT)
        for received in results:
            for origin in "ab":
                numbers = [m["n"] for m in received if m["origin"] == origin]
                assert numbers == list(range(PER_CLIENT)), origin
        for ws in (a, b):  # and nothing more: exactly once
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), timeout=0.3)
        # Batches crossed between the processes (each process reports its layer's counters).
        stats = []
        for ws in (a, b):
            await ws.send(json.dumps({"stats": True}))
            stats.append(json.loads(await asyncio.wait_for(ws.recv(), CLIENT_TIMEOUT))["stats"])
        assert sum(s["delivered"] for s in stats) == 2 * PER_CLIENT + probes
        assert sum(s.get("envelopes", 0) for s in stats) > 0
        assert all(s.get("unpacked", 0) > 0 for s in stats)
