"""The sync mixin passes the async mixin's protocol tests (tests/test_consumer.py).

Every test of that module runs here again with ``EchoConsumer`` replaced by a sync consumer
(``JsonWebsocketConsumer`` + ``OptimizedSyncConsumerMixin``) that behaves the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from channels.generic.websocket import JsonWebsocketConsumer

import reznet_ws
from reznet_ws.consumers import OptimizedSyncConsumerMixin

from . import test_consumer as async_suite
from .test_consumer import *  # noqa: F403  (collects every test of the async suite again)

pytestmark = pytest.mark.timeout(300)


class SyncEchoConsumer(OptimizedSyncConsumerMixin, JsonWebsocketConsumer):
    groups = ["room"]
    received: list[tuple[str, Any]] = []

    def receive_event(self, event: str, data: Any) -> None:
        type(self).received.append((event, data))
        if event == "echo":
            self.send_event("echo", data)
        elif event == "burst":
            for i in range(data["n"]):
                self.send_event("tick", {"order": i}, batch=True)
        elif event == "burst_close":
            for i in range(3):
                self.send_event("tick", {"order": i}, batch=True)
            self.close()
        elif event == "shout":
            self.broadcast("room", "message_new", data)


@pytest.fixture(autouse=True)
def sync_consumer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(async_suite, "EchoConsumer", SyncEchoConsumer)
    yield


class SyncRoom(OptimizedSyncConsumerMixin, JsonWebsocketConsumer):
    def connect(self) -> None:
        self.join_group("sync-room")  # before accept(): broadcasts wait for the handshake
        self.accept()


async def test_the_suite_runs_on_the_sync_consumer() -> None:
    assert async_suite.EchoConsumer is SyncEchoConsumer


async def test_the_hub_delivers_to_sync_consumers_without_their_thread() -> None:
    members = [await async_suite.connect_class(SyncRoom, v2=v2) for v2 in (True, False)]
    await async_suite.established(members[0])
    assert await reznet_ws.broadcast("sync-room", "news", {"n": 1})
    assert await async_suite.events(members[0]) == [("news", {"n": 1})]
    assert await members[1].receive_from() == async_suite.plain_frame("news", {"n": 1})
    for member in members:
        await member.disconnect()
