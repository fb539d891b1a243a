"""The ASGI app of the soak benchmark (``benchmarks/soak.py``): one room, one consumer.

``ws/soak/``: :class:`Room`. Every connection joins group ``room`` through the process hub.
Client events:

* ``shout`` ``{"n": int, "t": float}``: broadcast ``tick`` ``{"n", "t"}`` to the room, then
  answer the shouter ``shouted`` ``{"n", "sent"}`` (``sent`` False: the layer refused it, counted
  by the server as ``error:broadcast_failed``);
* ``probe``: answer ``probe`` with this process's pid, counters and ``layer_problems()``.

Run alone (settings ``benchmarks.soak_settings``)::

    python -m reznet_ws.server.cli --no-permessage-deflate -b 127.0.0.1 -p 8001 \
        benchmarks.soak_app:application
"""

from __future__ import annotations

import os
from typing import Any

import django
from django.apps import apps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.soak_settings")
if not apps.ready:
    django.setup(set_prefix=False)

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path

from reznet_ws.consumers import OptimizedConsumerMixin
from reznet_ws.delivery.hub import layer_problems
from reznet_ws.stats import get_recorder

__all__ = ["PROBE_COUNTERS", "Room", "application", "probe_payload"]

#: Counters every probe answer carries (0 when never counted).
PROBE_COUNTERS = (
    "total_messages",
    "active_connections",
    "error:broadcast_failed",
    "error:broadcast_missed",
    "error:slow_client_drop",
    "error:slow_client_closed",
    "error:undeliverable_on_close",
    "error:discarded_on_close",
    "error:layer_unavailable",
)
GROUP = "room"


def probe_payload() -> dict[str, Any]:
    """Return this process's pid, its counters (all ``error:*`` too) and its layer problems."""
    recorder = get_recorder()
    with recorder.lock:
        counters = dict(recorder.counters)
    wanted = {name: counters.get(name, 0) for name in PROBE_COUNTERS}
    wanted.update({k: v for k, v in counters.items() if k.startswith("error:")})
    return {"pid": os.getpid(), "counters": wanted, "layer_problems": layer_problems()}


class Room(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    """A member of ``room``; relays shouts as ``tick`` broadcasts and answers probes."""

    async def connect(self) -> None:
        await self.join_group(GROUP)
        await self.accept()

    async def receive_event(self, event: str, data: Any) -> None:
        if event == "shout":
            n, t = data["n"], data["t"]
            sent = await self.broadcast(GROUP, "tick", {"n": n, "t": t})
            await self.send_event("shouted", {"n": n, "sent": sent})
        elif event == "probe":
            await self.send_event("probe", probe_payload())


application = ProtocolTypeRouter({"websocket": URLRouter([path("ws/soak/", Room.as_asgi())])})
