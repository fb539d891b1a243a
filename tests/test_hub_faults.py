"""The hub under faults, with real server processes and real redis-servers of the tests' own.

Each test asserts exactly what every client received and what the servers counted (through the
``probe`` event of tests/hub_app.py), never what kernel buffers happened to absorb. Every wait is
for an event or a condition; its deadline (:data:`DEADLINE`) only bounds a hang.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets

from reznet_ws.codec import SUBPROTOCOL, Codec
from reznet_ws.encoding import default_field_map

from .conftest import ServerProcess, free_port
from .redis_server import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

#: Seconds any one wait may take: a bound on a hang only (a busy machine may be slow).
DEADLINE = 60.0

SERVERS = {
    "daphne": lambda port: ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port)],
    "reznet-daphne": lambda port: [
        *("-m", "reznet_ws.server.cli", "--no-permessage-deflate"),
        *("-b", "127.0.0.1", "-p", str(port)),
    ],
    "uvicorn": lambda port: [
        *("-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port)),
        *("--lifespan", "off", "--ws", "websockets"),
    ],
}


def start_server(kind: str, **env: str) -> ServerProcess:
    port = free_port()
    return ServerProcess(
        [*SERVERS[kind](port), "tests.hub_app:application"],
        port,
        env={"DJANGO_SETTINGS_MODULE": "tests.hub_settings", **env},
    )


class Client:
    """A WebSocket client of the room: records every ``said`` it sees, in order."""

    def __init__(self, ws: Any, v2: bool) -> None:
        self.ws = ws
        self.v2 = v2
        self.said: list[int] = []
        self._other: list[tuple[str, Any]] = []
        self._codec = Codec(default_field_map())

    @classmethod
    async def connect(cls, port: int, v2: bool = False) -> Client:
        ws = await websockets.connect(
            f"ws://127.0.0.1:{port}/ws/room/",
            subprotocols=[SUBPROTOCOL] if v2 else None,
            max_size=None,
            # Read the socket whatever the test reads: with a bounded queue the client stops
            # reading during a burst it does not consume yet, so it answers no ping and the server
            # drops it once its ping timeout (30 s) passes, which a busy machine reaches.
            max_queue=None,
            open_timeout=DEADLINE,
            ping_interval=None,  # nor does the client ping: keepalive is not the subject here
        )
        client = cls(ws, v2)
        if v2:
            assert await client.next_other() == "connection_established"
        return client

    async def _read(self, timeout: float) -> None:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        if self.v2:
            events = self._codec.decode_frame(raw)
        else:
            message = json.loads(raw)
            events = [(message["event"], message["data"])]
        for event, data in events:
            if event == "said":
                self.said.append(data["n"])
            else:
                self._other.append((event, data))

    async def next_other(self, timeout: float = DEADLINE) -> str:
        while not self._other:
            await self._read(timeout)
        return self._other.pop(0)[0]

    async def reply(self, name: str, timeout: float = DEADLINE) -> Any:
        while True:
            for i, (event, data) in enumerate(self._other):
                if event == name:
                    del self._other[i]
                    return data
            await self._read(timeout)

    async def send(self, event: str, data: Any = None) -> None:
        await self.ws.send(json.dumps({"event": event, "data": data}))

    async def probe(self) -> dict[str, Any]:
        await self.send("probe")
        return dict(await self.reply("probe"))

    async def shout(self, n: int, pad: int = 0) -> bool:
        """Broadcast ``n``; return whether the server could hand it to the layer."""
        await self.send("shout", {"n": n, "pad": pad, "ack": True})
        return bool((await self.reply("shouted"))["sent"])

    async def wait_said(self, n: int, timeout: float = DEADLINE) -> bool:
        """Read until ``n`` arrived; False if nothing more came within ``timeout``."""
        try:
            while n not in self.said:
                await self._read(timeout)
        except TimeoutError:
            return False
        return True


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    for client in opened:
        await client.ws.close()


def raw_reader_that_never_reads(port: int) -> socket.socket:
    """Open a WebSocket with a tiny receive buffer, then never read from it."""
    sock = socket.socket()
    sock.settimeout(DEADLINE)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        b"GET /ws/room/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert b" 101 " in response
    return sock


async def wait_members(client: Client, members: int) -> dict[str, Any]:
    """Probe until this process's hub has ``members`` registrations (a handshake completes
    before the hub registration is visible to another connection's probe)."""
    deadline = time.monotonic() + DEADLINE
    while (probe := await client.probe())["members"] != members:
        assert time.monotonic() < deadline, f"hub never had {members} members: {probe}"
        await asyncio.sleep(0.05)  # poll interval of the probe, not an ordering wait
    return probe


@pytest.mark.parametrize("server_kind", list(SERVERS))
async def test_readers_that_never_read_do_not_delay_the_others(
    server_kind: str, clients: list[Client]
) -> None:
    max_drops = 5
    server = start_server(
        server_kind,
        REZNET_WS_JSON=json.dumps({"FANOUT_MAX_BACKLOG": 65536, "FANOUT_MAX_DROPS": max_drops}),
    )
    slow = [raw_reader_that_never_reads(server.port) for _ in range(3)]
    try:
        clients += [await Client.connect(server.port, v2=i % 2 == 0) for i in range(5)]
        await wait_members(clients[0], 8)
        n = 0
        while True:
            n += 1
            assert await clients[0].shout(n, pad=20_000)
            for client in clients:
                assert await client.wait_said(n)
            if n % 10 == 0:
                probe = await clients[0].probe()
                if probe["counters"]["error:slow_client_closed"] == len(slow):
                    break
            assert n < 3000, f"the slow readers were never closed: {probe}"
        for client in clients:  # every fast client got every broadcast, once, in order
            assert client.said == list(range(1, n + 1))
        counters = probe["counters"]
        assert counters["error:slow_client_drop"] >= max_drops * len(slow)
        assert counters["error:slow_client_closed"] == len(slow)
    finally:
        for sock in slow:
            sock.close()
        server.stop()


LAYERS = ["redis-core", "redis-pubsub"]


async def two_processes(
    redis: RedisServer, layer: str, clients: list[Client], prefix: str = "", **env: str
) -> list[ServerProcess]:
    prefix = prefix or f"hub{time.time_ns()}"  # one key space for both processes
    servers = [
        start_server(kind, HUB_LAYER=layer, REDIS_URL=redis.url, HUB_PREFIX=prefix, **env)
        for kind in ("daphne", "reznet-daphne")
    ]
    try:
        clients.append(await Client.connect(servers[0].port, v2=True))
        clients.append(await Client.connect(servers[1].port, v2=False))
        for client in clients:
            await wait_members(client, 1)
    except BaseException:
        for server in servers:  # the caller gets no servers to stop
            server.stop()
        raise
    return servers


async def heal(clients: list[Client], start: int, accepted: set[int] | None = None) -> int:
    """Broadcast from each process until one reaches every client; return the next number.

    The broadcasts before that were either refused (``shout`` says so, the server counted
    ``broadcast_failed``) or accepted (added to ``accepted``) and possibly sent to a group
    whose members had not re-joined yet: such a one never arrives, so each is waited for a
    while, twice as long as the one before (a busy machine delivers slowly), then the next is
    sent. A broadcast that arrives after its wait is kept in ``said`` all the same.
    """
    n = start
    for sender in clients:
        wait, deadline = 0.5, time.monotonic() + 2 * DEADLINE
        while True:
            assert time.monotonic() < deadline, "delivery never resumed"
            n += 1
            if not await sender.shout(n):
                await asyncio.sleep(0.05)  # refused: the server is still reconnecting
                continue
            if accepted is not None:
                accepted.add(n)
            if all([await c.wait_said(n, timeout=wait) for c in clients]):
                break
            wait = min(2 * wait, 8.0)
    return n + 1


async def exactly_once(sender: Client, clients: list[Client], start: int, count: int) -> None:
    for n in range(start, start + count):
        assert await sender.shout(n)
    for i, client in enumerate(clients):
        assert await client.wait_said(start + count - 1), (i, client.said[-30:])
        tail = client.said[client.said.index(start) :]
        assert tail == list(range(start, start + count))
        assert len(client.said) == len(set(client.said)), "a broadcast arrived twice"


def stop_all(servers: list[ServerProcess]) -> None:
    for server in servers:
        server.stop()


@pytest.mark.redis
@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("keep_data", [False, True], ids=["empty", "with-data"])
async def test_delivery_resumes_without_reconnecting_after_redis_restarts(
    layer: str, keep_data: bool, redis_server: RedisServer, clients: list[Client]
) -> None:
    servers = await two_processes(redis_server, layer, clients)
    try:
        await exactly_once(clients[0], clients, 1, 5)
        redis_server.restart(keep_data=keep_data)
        accepted: set[int] = set()
        n = await heal(clients, 100, accepted)
        await exactly_once(clients[0], clients, n, 20)
        await exactly_once(clients[1], clients, n + 20, 20)
        for client in clients:  # the same connections throughout
            probe = await client.probe()
            assert probe["problems"] == {}
            # every accepted broadcast this client never got was counted by its process
            missed = accepted - set(client.said)
            assert probe["counters"]["error:broadcast_missed"] == len(missed)
    finally:
        stop_all(servers)


@pytest.mark.redis
@pytest.mark.parametrize("layer", LAYERS)
async def test_an_outage_keeps_sockets_open_and_counts_every_failed_broadcast(
    layer: str, redis_server: RedisServer, clients: list[Client]
) -> None:
    servers = await two_processes(redis_server, layer, clients)
    try:
        await exactly_once(clients[0], clients, 1, 3)
        redis_server.stop()
        results = [await clients[0].shout(n) for n in range(10, 15)]
        probe = await clients[0].probe()  # the socket is still open and served
        assert not any(results)
        assert probe["counters"]["error:broadcast_failed"] == 5
        assert probe["problems"], "the outage is reported"
        redis_server.start()
        n = await heal(clients, 100)
        await exactly_once(clients[0], clients, n, 20)
        for client in clients:  # refused broadcasts were counted, not delivered later
            assert not set(client.said) & set(range(10, 15))
    finally:
        stop_all(servers)


@pytest.mark.redis
async def test_a_paused_redis_delays_but_loses_nothing_it_acknowledged(
    redis_server: RedisServer, clients: list[Client]
) -> None:
    servers = await two_processes(redis_server, "redis-core", clients)
    try:
        await exactly_once(clients[0], clients, 1, 3)
        redis_server.pause()
        shout = asyncio.ensure_future(clients[0].shout(10))
        # Resume once the broadcast is stuck, unread, in the paused Redis (or was refused).
        deadline = time.monotonic() + DEADLINE
        while not shout.done() and redis_server.unread_bytes() == 0:
            assert time.monotonic() < deadline, "the broadcast never reached the paused Redis"
            await asyncio.sleep(0.01)  # poll interval, not a wait for a condition
        redis_server.resume()
        sent = await shout
        if sent:  # acknowledged by Redis: it must arrive, once
            for client in clients:
                assert await client.wait_said(10)
        n = await heal(clients, 100)
        await exactly_once(clients[0], clients, n, 20)
    finally:
        stop_all(servers)


@pytest.mark.redis
async def test_memberships_outlive_a_short_group_expiry(
    redis_server: RedisServer, clients: list[Client]
) -> None:
    # The hub re-adds its memberships every quarter of the expiry, so only a server process
    # stalled for most of an expiry (6 s here) could lose them: a busy machine can stall one for
    # seconds, so the margin is worth the 10 s it adds to this test.
    expiry = 8
    servers = await two_processes(redis_server, "redis-core", clients, HUB_GROUP_EXPIRY=str(expiry))
    try:
        end = time.monotonic() + 2.5 * expiry  # longer than two expiries
        n = 0
        while time.monotonic() < end:
            n += 1
            assert await clients[n % 2].shout(n)
            for client in clients:
                assert await client.wait_said(n), f"broadcast {n} stopped arriving"
            await asyncio.sleep(0.2)  # lets wall-clock time pass: expiry is the subject here
        assert clients[0].said == clients[1].said == list(range(1, n + 1))
    finally:
        stop_all(servers)


@pytest.mark.redis
async def test_a_burst_of_10000_broadcasts_reaches_every_client_of_two_processes(
    redis_server: RedisServer, clients: list[Client]
) -> None:
    count = 10_000
    servers = await two_processes(redis_server, "redis-core", clients)
    try:
        before = [await client.probe() for client in clients]
        await clients[0].send("burst", {"start": 0, "count": count})
        assert await clients[0].reply("burst_done", timeout=120) == {}
        for client in clients:
            assert await client.wait_said(count - 1)
            assert client.said == list(range(count))
        after = [await client.probe() for client in clients]
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            # every broadcast counted once, plus the first probe's answer (and burst_done)
            extra = 2 if i == 0 else 1
            delta = a["counters"]["total_messages"] - b["counters"]["total_messages"]
            assert delta == count + extra
            assert a["counters"]["error:slow_client_drop"] == 0
    finally:
        stop_all(servers)
