"""A tiny ASGI app for the server-edge and shutdown tests (runs with or without Django settings).

WebSocket, any path but ``/reznet/``:

- every message is echoed back as it came (text or bytes, empty ones included);
- the text ``flood`` makes the app write numbered 64 KiB binary frames (an 8-byte big-endian
  index, then padding) until more than :data:`FLOOD_BACKLOG` bytes wait in the socket's write
  buffer, then close with 4009, as the fan-out does with a client that does not read;
- on ``websocket.disconnect`` the app prints ``disconnect <code>`` (so a test can see that the
  application ran to its end at shutdown).

``/reznet/`` is a reznet consumer (:mod:`tests.edges_reznet`), when Django settings are given.

HTTP: ``GET /flood-closed`` answers, once a flood connection was closed, with JSON
``{"frames": <frames written>}``; anything else gets ``200 ok`` (readiness).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["FLOOD_BACKLOG", "FRAME_SIZE", "application"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

urlpatterns: list[Any] = []  # ROOT_URLCONF of tests.edges_settings

#: Bytes the flood leaves in the server's write buffer before closing with 4009.
FLOOD_BACKLOG = 1 << 20
FRAME_SIZE = 64 * 1024
_MAX_FRAMES = 20_000

_flood_results: asyncio.Queue[dict[str, int]] | None = None

if os.environ.get("DJANGO_SETTINGS_MODULE"):
    import django

    django.setup()
    from tests.edges_reznet import application as reznet_application
else:
    reznet_application = None


def _results() -> asyncio.Queue[dict[str, int]]:
    global _flood_results
    if _flood_results is None:
        _flood_results = asyncio.Queue()
    return _flood_results


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI entry point."""
    if scope["type"] == "http":
        await _http(scope, receive, send)
    elif scope["type"] == "websocket":
        if scope["path"].startswith("/reznet/") and reznet_application is not None:
            await reznet_application(scope, receive, send)
        else:
            await _websocket(receive, send)


async def _http(scope: Scope, receive: Receive, send: Send) -> None:
    while (await receive()).get("more_body"):
        pass
    body = b"ok"
    if scope["path"] == "/flood-closed":
        body = json.dumps(await asyncio.wait_for(_results().get(), 60)).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def _websocket(receive: Receive, send: Send) -> None:
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            print(f"disconnect {message.get('code')}", flush=True)
            return
        if message.get("text") == "flood":
            await _flood(send)
        elif message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes")})


async def _flood(send: Send) -> None:
    from reznet_ws.server.twisted_compat import find_transport, unsent_bytes

    transport = find_transport(send)
    padding = bytes(FRAME_SIZE - 8)
    frames = 0
    while (unsent_bytes(transport) or 0) <= FLOOD_BACKLOG and frames < _MAX_FRAMES:
        await send({"type": "websocket.send", "bytes": frames.to_bytes(8, "big") + padding})
        frames += 1
    await send({"type": "websocket.close", "code": 4009})
    _results().put_nowait({"frames": frames})
