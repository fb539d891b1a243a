"""A tiny ASGI app for the fan-out tests: one room joined through the hub, a probe of counters.

Run as ``daphne tests.hub_app:application`` (or uvicorn) with
``DJANGO_SETTINGS_MODULE=tests.hub_settings``.
A client sends ``{"event": "shout", "data": {"n": 1, "pad": 20000}}``: every member of the room
in every process gets ``said`` with ``n`` (and ``pad`` bytes of padding). ``{"event": "probe"}``
answers this process's counters, so tests assert what the server did and counted.
``{"event": "burst", "data": {"start": S, "count": C, "batch": 1}}`` broadcasts ``said`` C times
(batched with ``"batch"``), then answers ``burst_done``.
"""

from __future__ import annotations

import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.hub_settings")
django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from reznet_ws.consumers import OptimizedConsumerMixin  # noqa: E402
from reznet_ws.delivery.hub import get_hub, layer_problems  # noqa: E402
from reznet_ws.stats import get_recorder  # noqa: E402

__all__ = ["RoomConsumer", "application"]

_COUNTERS = (
    "total_messages",
    "active_connections",
    "error:slow_client_drop",
    "error:broadcast_failed",
    "error:broadcast_missed",
    "error:undeliverable_on_close",
    "error:layer_unavailable",
    "error:slow_client_closed",
    "error:layer_send_failed",
    "error:layer_dropped",
)


class RoomConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        # Joining before accept() is supported: broadcasts in between wait for the handshake.
        await self.join_group("room")
        await self.accept()

    async def receive_event(self, event: str, data: Any) -> None:
        if event == "shout":
            padding = "x" * int(data.get("pad", 0))
            sent = await self.broadcast("room", "said", {"n": data["n"], "pad": padding})
            if data.get("ack"):
                await self.send_event("shouted", {"n": data["n"], "sent": sent})
        elif event == "burst":
            batch = bool(data.get("batch"))
            for n in range(data["start"], data["start"] + data["count"]):
                await self.broadcast("room", "said", {"n": n, "pad": ""}, batch=batch)
            await self.send_event("burst_done", {})
        elif event == "probe":
            counters = get_recorder().counters
            await self.send_event(
                "probe",
                {
                    "counters": {name: counters[name] for name in _COUNTERS},
                    "members": get_hub(self.channel_layer).member_count(),
                    "problems": layer_problems(),
                    "layer_stats": dict(getattr(self.channel_layer, "stats", {})),
                },
            )


application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("ws/room/", RoomConsumer.as_asgi())])}
)
