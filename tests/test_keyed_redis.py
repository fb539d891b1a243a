"""Keyed broadcasts across processes on Redis: each process numbers its own group streams.

The processes share a redis-server of the test's own, out of reach of other test runs on the
machine (one may empty the shared Redis's database meanwhile).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any
from urllib.parse import quote

import pytest
import websockets
from channels.layers import get_channel_layer
from django.test import override_settings

from reznet_ws.codec import SUBPROTOCOL, Codec
from reznet_ws.codec.keyed_receiver import KeyedReceiver
from reznet_ws.delivery.sending import broadcast

from .conftest import ServerProcess, app_server_argv, free_port
from .redis_server import RedisServer
from .test_wire import FIELD_MAP

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.timeout(300)]

#: Seconds any one wait may take: a bound on a hang only (a busy machine may be slow).
DEADLINE = 60.0


def plan(done: int) -> dict[str, Any]:
    tasks = [{"id": i, "status": "done" if i < done else "pending"} for i in range(30)]
    return {"description": "ship it", "total_tasks": 30, "plan": {"tasks": tasks}}


async def recv(ws: Any) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), DEADLINE))  # type: ignore[no-any-return]


def connect(url: str, **kwargs: Any) -> websockets.connect:
    """A client that waits as long as a busy machine needs and sends no keepalive pings."""
    return websockets.connect(url, open_timeout=DEADLINE, ping_interval=None, **kwargs)


async def join(ws: Any, room: str, v2: bool) -> None:
    if v2:
        assert (await recv(ws))["e"] == "connection_established"
    await ws.send(json.dumps({"event": "join", "data": {"room": room}}))
    frame = await recv(ws)
    assert frame.get("e", frame.get("event")) == "joined"


async def test_keyed_broadcasts_from_another_process_rebuild_on_every_process(
    redis_server: RedisServer,
) -> None:
    servers = []
    room = f"keyed-{uuid.uuid4().hex[:8]}"
    redis_url = redis_server.url
    layer = {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": redis_url, "socket_timeout": 15}]},
    }
    try:
        for _ in range(2):
            port = free_port()
            env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "REZNET_TEST_LAYER_URL": redis_url}
            servers.append(ServerProcess(app_server_argv(port), port, env=env))
        urls = [f"ws://127.0.0.1:{s.port}/ws/room/" for s in servers]
        delta = "?reznet_features=delta"
        codec = Codec(FIELD_MAP)
        async with (
            connect(urls[0] + delta, subprotocols=[SUBPROTOCOL]) as a,
            connect(urls[1] + delta, subprotocols=[SUBPROTOCOL]) as b,
            connect(urls[1]) as old,
        ):
            for ws, v2 in ((a, True), (b, True), (old, False)):
                await join(ws, room, v2)
            frames: dict[int, list[dict[str, Any]]] = {id(a): [], id(b): []}
            with override_settings(CHANNEL_LAYERS={"default": layer}):
                channel_layer = get_channel_layer()
                for done in range(5):  # this test process sends; the two servers deliver
                    sent = await broadcast(
                        f"room.{room}",
                        "workflow_plan",
                        plan(done),
                        key="plan:1",
                        layer=channel_layer,
                    )
                    assert sent
                    for ws in (a, b):
                        frames[id(ws)].append(await recv(ws))
                    assert (await recv(old)) == {"event": "workflow_plan", "data": plan(done)}
            for ws in (a, b):
                receiver = KeyedReceiver(codec)
                got = [receiver.receive(frame) for frame in frames[id(ws)]]
                assert [g[1] for g in got if g] == [plan(n) for n in range(5)]
                assert ["d" in f for f in frames[id(ws)]] == [True] + [False] * 4
            # Each process numbers its own stream: a version of one is never taken for another's.
            stream_a, stream_b = frames[id(a)][0]["s"], frames[id(b)][0]["s"]
            assert stream_a != stream_b
            last = frames[id(a)][-1]["n"]
            # Reconnecting to the process of its stream (a keeps the stream alive there), a
            # client continues with deltas; holding another process's stream, it gets the
            # full object.
            for stream, kind in ((stream_a, "x"), (stream_b, "d")):
                have = quote(json.dumps([["plan:1", stream, last]]))
                url = f"{urls[0]}{delta}&reznet_have={have}"
                async with connect(url, subprotocols=[SUBPROTOCOL]) as again:
                    await join(again, room, True)
                    with override_settings(CHANNEL_LAYERS={"default": layer}):
                        channel_layer = get_channel_layer()
                        await broadcast(
                            f"room.{room}",
                            "workflow_plan",
                            plan(5),
                            key="plan:1",
                            layer=channel_layer,
                        )
                    frame = await recv(again)
                    assert kind in frame, (stream, frame)
                    assert (await recv(a))["n"] == last + 1
                    await recv(b)
                    await recv(old)
                    last += 1
    finally:
        for server in servers:
            server.stop()
