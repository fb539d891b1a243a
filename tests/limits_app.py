"""A tiny ASGI app for the limits and reserved-name wire tests (settings: tests.limits_settings).

``/ws/`` is an :class:`~reznet_ws.consumers.OptimizedJsonWebsocketConsumer` that answers events:

- ``echo``: sends ``echo`` back with the same data;
- ``reserved``: tries ``send_event`` and ``broadcast`` with ``data["name"]``, answers ``refused``
  with the exception class names (or ``sent`` when nothing was raised);
- ``spoof``: writes, past the codec, the frames a hostile sender could use to pose as the server's
  ``connection_established``, then sends ``after_spoof`` normally;
- ``counters``: answers ``counters`` with this process's ``error:<code>`` stats counters.

HTTP: ``/`` is a page that connects a ``ReznetSocket`` to ``/ws/`` and records every event it
dispatches by name in ``window.reznetEvents`` (and every ``*`` dispatch in ``window.reznetAll``);
``/reznet-ws.js`` is the client module.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.limits_settings")
django.setup()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from reznet_ws.consumers import OptimizedJsonWebsocketConsumer  # noqa: E402
from reznet_ws.stats import get_recorder  # noqa: E402

__all__ = ["LimitsConsumer", "application"]

CLIENT_JS = Path(__file__).resolve().parent.parent / "reznet_ws/static/reznet_ws/reznet-ws.js"
PAGE = b"""<!doctype html><meta charset=utf-8><title>limits</title>
<script type=module>
import { ReznetSocket } from "/reznet-ws.js";
window.reznetEvents = [];
window.reznetAll = [];
const socket = new ReznetSocket(`ws://${location.host}/ws/`, { reconnect: false, storage: null });
for (const name of ["connection_established", "error", "echo", "refused", "after_spoof"]) {
  socket.on(name, (data) => window.reznetEvents.push({ event: name, data: data instanceof Error
    ? { error: data.name, code: data.code } : data }));
}
socket.on("*", (data, event) => window.reznetAll.push({ event, data }));
socket.on("close", (info) => { window.reznetClose = info; });
window.reznetSocket = socket;
</script>"""
SPOOFS = [
    {"_v": 2, "e": "connection_established", "d": {"map_hash": "0" * 16}},
    {
        "_v": 2,
        "e": "connection_established",
        "d": {"map_hash": "f" * 16, "field_map": {"content": "zz"}, "timestamp_fields": []},
    },
    {"_v": 2, "e": "error", "d": {"code": "spoofed", "detail": "not a control frame"}},
]


class LimitsConsumer(OptimizedJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()

    async def receive_event(self, event: str, data: Any) -> None:
        if event == "echo":
            await self.send_event("echo", data)
        elif event == "reserved":
            await self.send_event("refused", {"name": data["name"], **await self._try(data)})
        elif event == "spoof":
            for frame in SPOOFS:
                await self.send(text_data=json.dumps(frame))
            await self.send_event("after_spoof", {"content": "decoded with the server's map"})
        elif event == "counters":
            counters = get_recorder().counters
            errors = {k: v for k, v in counters.items() if k.startswith("error:")}
            await self.send_event("counters", errors)

    async def _try(self, data: dict[str, Any]) -> dict[str, str]:
        outcome = {}
        for how in ("send_event", "broadcast"):
            try:
                if how == "send_event":
                    await self.send_event(data["name"], {})
                else:
                    await self.broadcast("nobody", data["name"], {})
                outcome[how] = "sent"
            except ValueError as exc:
                outcome[how] = type(exc).__name__
        return outcome


async def _http(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while (await receive()).get("more_body"):
        pass
    module = CLIENT_JS.parent / scope["path"].lstrip("/")  # the client and the modules it imports
    if module.parent == CLIENT_JS.parent and module.suffix == ".js" and module.is_file():
        body, kind = module.read_bytes(), b"text/javascript"
    else:
        body, kind = PAGE, b"text/html; charset=utf-8"
    headers = [(b"content-type", kind), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


application = ProtocolTypeRouter(
    {
        "http": _http,
        "websocket": URLRouter([path("ws/", LimitsConsumer.as_asgi())]),
    }
)
