"""Graceful shutdown on SIGTERM: real ``reznet-daphne`` and ``runserver`` processes on 127.0.0.1.

Each test opens WebSockets, waits for an answer on them (so they are established), sends SIGTERM
and checks what the client then receives, and how the process ends. The shutdown timeout is
generous: a shutdown ends as soon as the closes and the applications are done, and a busy machine
must not turn a slow one into a cut-off one.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as websockets_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.conftest import ServerProcess, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SCRIPT = Path(sys.executable).with_name("reznet-daphne")
EDGES_SETTINGS = {"DJANGO_SETTINGS_MODULE": "tests.edges_settings"}
#: Seconds any one wait may take: a bound on a hang only (a busy machine may be slow).
DEADLINE = 60.0
SHUTDOWN = ("--shutdown-timeout", str(DEADLINE))


def reznet_daphne(*extra: str, env: dict[str, str]) -> ServerProcess:
    port = free_port()
    argv = [str(SCRIPT), "-b", "127.0.0.1", "-p", str(port), *SHUTDOWN, *extra]
    return ServerProcess([*argv, "tests.edges_app:application"], port, env=env)


def connect(url: str, **kwargs: Any) -> websockets_connect:
    """A client that waits as long as a busy machine needs and sends no keepalive pings."""
    return websockets_connect(url, open_timeout=DEADLINE, ping_interval=None, **kwargs)


async def terminate(server: ServerProcess) -> int:
    """Send SIGTERM; return the exit status (waiting in a thread, the client keeps running)."""
    server.proc.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(server.proc.wait, 2 * DEADLINE)


async def closed_with(ws: ClientConnection) -> tuple[list[str | bytes], int | None]:
    """Read until the connection closes; return what arrived and the close code received."""
    received: list[str | bytes] = []
    try:
        while True:
            received.append(await asyncio.wait_for(ws.recv(), DEADLINE))
    except ConnectionClosed as closed:
        return received, closed.rcvd.code if closed.rcvd is not None else None


async def test_sigterm_closes_websockets_with_1001_and_exits_0() -> None:
    server = reznet_daphne(env={"DJANGO_SETTINGS_MODULE": ""})
    try:
        url = f"ws://127.0.0.1:{server.port}/ws/"
        async with connect(url) as first, connect(url, compression=None) as second:
            for ws in (first, second):
                await ws.send("hello")
                assert await asyncio.wait_for(ws.recv(), DEADLINE) == "hello"
            status, *results = await asyncio.gather(
                terminate(server), closed_with(first), closed_with(second)
            )
        assert results == [([], 1001), ([], 1001)]
        assert status == 0
    finally:
        server.stop()
    output = server.output()
    # The application saw the disconnect and ran to its end before the process stopped.
    assert output.count("disconnect 1001") == 2, output


async def test_sigterm_flushes_reznet_consumers_before_1001() -> None:
    server = reznet_daphne(env=EDGES_SETTINGS)
    try:
        url = f"ws://127.0.0.1:{server.port}/reznet/"
        async with connect(url, subprotocols=[Subprotocol("reznet.v2")]) as ws:
            established = json.loads(await asyncio.wait_for(ws.recv(), DEADLINE))
            assert "connection_established" in json.dumps(established)
            await ws.send(json.dumps({"event": "queue", "data": {}}))
            assert await asyncio.wait_for(ws.recv(), DEADLINE) == "queued"  # "later" is batched
            status, (received, code) = await asyncio.gather(terminate(server), closed_with(ws))
        assert code == 1001
        assert len(received) == 1 and "later" in str(received[0]), received
        assert status == 0
    finally:
        server.stop()


async def test_runserver_noreload_closes_with_1001_on_sigterm() -> None:
    port = free_port()
    argv = ["manage.py", "runserver", "--noreload", *SHUTDOWN, f"127.0.0.1:{port}"]
    server = ServerProcess(argv, port, env=EDGES_SETTINGS)
    try:
        async with connect(f"ws://127.0.0.1:{server.port}/ws/") as ws:
            await ws.send("hello")
            assert await asyncio.wait_for(ws.recv(), DEADLINE) == "hello"
            status, (received, code) = await asyncio.gather(terminate(server), closed_with(ws))
        assert (received, code) == ([], 1001)
        assert status == 0
    finally:
        server.stop()
