"""Two daphne processes share Redis through BatchingChannelLayer: every broadcast reaches both
clients exactly once and in order, whichever process it came from."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import free_port

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parent.parent
PER_CLIENT = 60


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"daphne exited with {process.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"daphne did not listen on {port} in 30 s:\n{log.read_text()}")


@pytest.fixture(
    params=[
        "channels_redis.core.RedisChannelLayer",
        "channels_redis.pubsub.RedisPubSubChannelLayer",
    ],
    ids=["redis", "pubsub"],
)
def servers(request: pytest.FixtureRequest, redis_url: str, tmp_path: Path) -> Iterator[list[int]]:
    """Two daphne processes serving tests.layers_app, with a Redis key prefix of their own."""
    prefix = f"daphne{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.layers_settings",
        "REDIS_URL": redis_url,
        "REZNET_LAYERS_INNER": request.param,
        "REZNET_LAYERS_PREFIX": prefix,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    ports = [free_port(), free_port()]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            log = tmp_path / f"daphne-{port}.log"
            command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
            with log.open("wb") as out:
                processes.append(
                    subprocess.Popen(
                        [*command, "tests.layers_app:application"],
                        cwd=ROOT,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        for port, process in zip(ports, processes, strict=True):
            _wait_for_port(port, process, tmp_path / f"daphne-{port}.log")
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


async def _collect(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [json.loads(await ws.recv()) for _ in range(count)]


async def test_broadcasts_from_either_process_reach_both_clients_once_in_order(
    servers: list[int],
) -> None:
    group = f"room{uuid.uuid4().hex[:10]}"
    urls = [f"ws://127.0.0.1:{port}/ws/{group}/" for port in servers]
    async with connect(urls[0]) as a, connect(urls[1]) as b:
        # Both joined their group before the handshake ended; give pub/sub's SUBSCRIBE a moment.
        await asyncio.sleep(0.2)
        receiving = [asyncio.ensure_future(_collect(ws, 2 * PER_CLIENT)) for ws in (a, b)]

        async def broadcast(ws: ClientConnection, origin: str) -> None:
            for n in range(PER_CLIENT):
                await ws.send(json.dumps({"origin": origin, "n": n}))
                if n % 7 == 0:
                    await asyncio.sleep(0.01)

        await asyncio.gather(broadcast(a, "a"), broadcast(b, "b"))
        results = await asyncio.wait_for(asyncio.gather(*receiving), timeout=30)
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
            stats.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=5))["stats"])
        assert sum(s["delivered"] for s in stats) == 2 * PER_CLIENT
        assert sum(s.get("envelopes", 0) for s in stats) > 0
        assert all(s.get("unpacked", 0) > 0 for s in stats)
