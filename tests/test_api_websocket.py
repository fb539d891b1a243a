"""The WebSocket side of the stats: ``get_stats`` for staff, and delivery with the cache down."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import override_settings

from reznet_ws.consumers import OptimizedJsonWebsocketConsumer
from reznet_ws.stats import StatsRecorder

from .conftest import free_port

pytestmark = [pytest.mark.timeout(300), pytest.mark.usefixtures("recorder")]


class EchoConsumer(OptimizedJsonWebsocketConsumer):
    async def receive_event(self, event: str, data: Any) -> None:
        await self.send_event(event, data)


def _user(staff: bool) -> Any:
    # Unsaved: the default permission (IsAdminUser) only reads is_staff.
    return get_user_model()(username="someone", is_staff=staff)


async def _connect(user: Any) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(EchoConsumer.as_asgi(), "/ws/")
    comm.scope["user"] = user
    connected, _ = await comm.connect()
    assert connected
    return comm


async def test_get_stats_answers_staff_with_stats_response(recorder: StatsRecorder) -> None:
    comm = await _connect(_user(staff=True))
    await comm.send_json_to({"event": "echo", "data": {"x": 1}})
    assert json.loads(await comm.receive_from()) == {"event": "echo", "data": {"x": 1}}
    await comm.send_json_to({"event": "get_stats"})
    frame = json.loads(await comm.receive_from())
    assert frame["event"] == "stats_response"
    assert frame["data"]["total_messages"] == 1
    assert frame["data"]["active_connections"] == 1
    assert frame["data"]["connections"]["by_version"] == {"v1": 1}
    await comm.disconnect()


async def test_get_stats_answers_others_with_an_error() -> None:
    comm = await _connect(_user(staff=False))
    await comm.send_json_to({"event": "get_stats"})
    frame = json.loads(await comm.receive_from())
    assert frame["event"] == "error" and frame["data"]["code"] == "forbidden"
    await comm.disconnect()


async def test_delivery_is_unaffected_by_a_dead_stats_cache(recorder: StatsRecorder) -> None:
    dead = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
    }
    with override_settings(CACHES={"default": dead}):
        comm = await _connect(_user(staff=True))
        for i in range(50):
            await comm.send_json_to({"event": "echo", "data": {"i": i}})
            assert json.loads(await comm.receive_from()) == {"event": "echo", "data": {"i": i}}
        assert recorder.flush() is False
        await comm.send_json_to({"event": "get_stats"})
        frame = json.loads(await comm.receive_from())
        assert frame == {
            "event": "stats_response",
            "data": {"available": False, "detail": "The stats cache is unavailable."},
        }
        await comm.disconnect()
    assert recorder.counters["total_messages"] == 50
