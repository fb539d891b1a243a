"""A tiny ASGI app for the multi-process test: ``/ws/<group>/`` joins a group and broadcasts.

Run as ``daphne tests.layers_app:application`` (``DJANGO_SETTINGS_MODULE=tests.layers_settings``).
A client sends ``{"origin": ..., "n": ...}``; every member of the group, in every process, gets it
back. ``{"stats": true}`` answers with this process's layer counters. The consumer is a plain
Channels consumer: batching is entirely the layer's business.
"""

from __future__ import annotations

import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.layers_settings")
django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

__all__ = ["BroadcastConsumer", "application"]


class BroadcastConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        self.group = self.scope["url_route"]["kwargs"]["group"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        if content.get("stats"):  # the layer's counters, for the test to see inside the process
            await self.send_json({"stats": dict(self.channel_layer.stats)})
            return
        message = {"type": "broadcast.message", "origin": content["origin"], "n": content["n"]}
        await self.channel_layer.group_send(self.group, message)

    async def broadcast_message(self, event: dict[str, Any]) -> None:
        await self.send_json({"origin": event["origin"], "n": event["n"]})


application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("ws/<str:group>/", BroadcastConsumer.as_asgi())])}
)
