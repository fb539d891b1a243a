"""A tiny ASGI app for the permessage-deflate wire tests (no Django settings needed).

WebSocket commands (text frames):

- ``scope``: replies with ``scope["extensions"]`` as JSON;
- ``large``: replies with :data:`LARGE_JSON` (about 60 KB of chat messages);
- ``send-bytes:N``: tries to send N bytes; replies ``refused`` when the server refuses it;
- ``wire-stats``: replies with the stats recorder's ``wire_bytes_*`` counters (``{}`` without
  Django settings);
- anything else is echoed back (text or bytes).

HTTP requests get ``200 ok`` (used to wait for the server to listen).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from autobahn.exception import PayloadExceededError

__all__ = ["LARGE_JSON", "application", "chat_message", "urlpatterns"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

urlpatterns: list[Any] = []  # ROOT_URLCONF of tests.deflate_settings


def chat_message(i: int) -> dict[str, Any]:
    """Return one realistic chat message (deterministic in ``i``)."""
    authors = ["@backend", "@frontend", "@alice", "@bob", "@agent-planner"]
    return {
        "message_id": f"msg-{i:06d}-{(i * 7919) % 100000:05d}",
        "channel_id": f"chan-{i % 4}",
        "author_name": authors[i % len(authors)],
        "content": f"Status update {i}: deployed build {1000 + i} to staging, "
        f"{(i * 37) % 100} tests passed, see ticket #{4000 + (i * 13) % 500}.",
        "created_at": f"2025-10-25T12:{(i // 60) % 60:02d}:{i % 60:02d}Z",
        "metadata": {"edited": i % 5 == 0, "reactions": (i * 3) % 7, "thread_id": None},
    }


LARGE_JSON = json.dumps({"event": "history", "data": [chat_message(i) for i in range(240)]})


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI entry point."""
    if scope["type"] == "http":
        await _http(receive, send)
    elif scope["type"] == "websocket":
        await _websocket(scope, receive, send)


async def _http(receive: Receive, send: Send) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _websocket(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
        else:
            await _command(scope, text, send)


async def _command(scope: Scope, text: str, send: Send) -> None:
    if text == "scope":
        reply = json.dumps(scope.get("extensions") or {})
    elif text == "large":
        reply = LARGE_JSON
    elif text.startswith("send-bytes:"):
        try:
            await send({"type": "websocket.send", "text": "x" * int(text.split(":")[1])})
            return
        except PayloadExceededError:
            reply = "refused"
    elif text == "wire-stats":
        reply = json.dumps(_wire_stats())
    else:
        reply = text
    await send({"type": "websocket.send", "text": reply})


def _wire_stats() -> dict[str, int]:
    from django.conf import settings

    if not settings.configured:
        return {}
    from reznet_ws.stats import get_recorder

    counters = get_recorder().counters
    return {key: counters[key] for key in ("wire_bytes_sent", "wire_bytes_received")}
