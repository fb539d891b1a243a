"""``send_json`` content frames in a real browser: headless Chromium, the JS client, real daphne.

A plain-Channels-style consumer (``group_send`` to a ``chat.message`` handler that calls
``send_json``) with the mixin inherited, async and sync, serves three clients of one page: the
JS client with its defaults (content frames), the JS client with ``contentFrames: false`` and
with ``legacy: true`` (both get Channels' text). All three must hand the application the same
value; only the first one's frame is smaller. The daphne process serves the page, the client
module of this checkout and the WebSockets.

This module is also the server's ASGI app (``daphne tests.test_browser_send_json:application``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from .browser_support import CHROMIUM, CHROMIUM_ARGS, ROOT, WireTap, chromium_available, wire_size
from .conftest import ServerProcess, free_port, require_or_skip

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

if chromium_available():
    from playwright.sync_api import Browser, Page, sync_playwright

WAIT_MS = 60_000  # a bound on a hang only: a busy machine renders and relays slowly
CLIENT_JS = ROOT / "reznet_ws" / "static" / "reznet_ws" / "reznet-ws.js"
MESSAGE = {
    "message_id": "7f1c2a9e-4b7d-4c1e-9a51-3f2e8d6b0c11",
    "channel_id": "general",
    "author_name": "Zoë Example",
    "content": "Déploiement terminé 🚀, latency is down",
    "created_at": "2025-10-25T12:00:00.123Z",
    "updated_at": None,
    "metadata": {"client": "web", "edited": False, "tokens": 17, "ratio": 0.25},
}
# The three clients of the page, in the order they connect.
CLIENTS = {
    "content": "{}",
    "no_content": "{contentFrames: false, deltas: false, streams: false}",
    "legacy": "{legacy: true}",
}
PAGE = """<!doctype html><meta charset="utf-8"><title>send_json</title>
<script type="module">
import { ReznetSocket } from "/reznet-ws.js";
window.seen = {};
window.connect = (name, path, options) => new Promise((resolve) => {
  const socket = new ReznetSocket(`ws://${location.host}${path}`, { storage: null, ...options });
  window.seen[name] = [];
  socket.on("*", (data, event) => window.seen[name].push({ event, data }));
  socket.on("message_new", (data) => window.seen[name].push({ handler: "message_new", data }));
  socket.once("open", () => resolve(socket.protocol));
  window[name] = socket;
});
window.ready = true;
</script>"""


# ------------------------------------------------------------------------- the server's app


def _consumers() -> dict[str, Any]:
    from asgiref.sync import async_to_sync
    from channels.generic.websocket import AsyncJsonWebsocketConsumer, JsonWebsocketConsumer

    from reznet_ws.consumers import OptimizedConsumerMixin, OptimizedSyncConsumerMixin

    class AsyncChat(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):  # type: ignore[misc]
        async def connect(self) -> None:
            await self.channel_layer.group_add("send-json-async", self.channel_name)
            await self.accept()

        async def receive_event(self, event: str, data: Any) -> None:
            if event == "say":
                message = {"type": "chat.message", "message": data}
                await self.channel_layer.group_send("send-json-async", message)
            elif event == "envelope":
                await self.send_json({"event": "message_new", "data": data})

        async def chat_message(self, event: dict[str, Any]) -> None:
            await self.send_json({"type": "chat.message", "message": event["message"]})

    class SyncChat(OptimizedSyncConsumerMixin, JsonWebsocketConsumer):  # type: ignore[misc]
        def connect(self) -> None:
            async_to_sync(self.channel_layer.group_add)("send-json-sync", self.channel_name)
            self.accept()

        def receive_event(self, event: str, data: Any) -> None:
            if event == "say":
                message = {"type": "chat.message", "message": data}
                async_to_sync(self.channel_layer.group_send)("send-json-sync", message)
            elif event == "envelope":
                self.send_json({"event": "message_new", "data": data})

        def chat_message(self, event: dict[str, Any]) -> None:
            self.send_json({"type": "chat.message", "message": event["message"]})

    return {"async": AsyncChat, "sync": SyncChat}


@functools.cache
def _application() -> Any:
    import django

    django.setup()
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path

    consumers = _consumers()
    routes = [path(f"ws/{kind}/", consumer.as_asgi()) for kind, consumer in consumers.items()]
    return ProtocolTypeRouter({"http": _http, "websocket": URLRouter(routes)})


async def _http(scope: Any, receive: Any, send: Any) -> None:
    # The page, and the client module as the checkout has it.
    module = CLIENT_JS.parent / scope["path"].lstrip("/")  # the client and the modules it imports
    if module.parent == CLIENT_JS.parent and module.suffix == ".js" and module.is_file():
        body, kind = module.read_bytes(), b"text/javascript; charset=utf-8"
    else:
        body, kind = PAGE.encode(), b"text/html; charset=utf-8"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def application(scope: Any, receive: Any, send: Any) -> None:
    """The ASGI app the daphne process of these tests serves."""
    await _application()(scope, receive, send)


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_or_skip(chromium_available(), f"Chromium at {CHROMIUM} and the playwright package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    port = free_port()
    argv = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "REZNET_TEST_LAYER_URL": ""}
    process = ServerProcess([*argv, "tests.test_browser_send_json:application"], port, env=env)
    yield process
    process.stop()


@pytest.fixture
def page(browser: Browser, server: ServerProcess) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)  # every wait, explicit or not, bounds a hang only
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(f"http://127.0.0.1:{server.port}/")
    page.wait_for_function("window.ready === true", timeout=WAIT_MS)
    yield page
    context.close()
    assert problems == [], problems


# -------------------------------------------------------------------------------------- tests


def connect_all(page: Page, kind: str) -> WireTap:
    tap = WireTap(page)
    protocols = {}
    for name, options in CLIENTS.items():
        protocols[name] = page.evaluate(
            f"() => window.connect({json.dumps(name)}, '/ws/{kind}/', {options})"
        )
    assert protocols == {"content": "reznet.v2", "no_content": "reznet.v2", "legacy": ""}
    assert tap.sockets[0].url.endswith("?reznet_features=content%2Cdelta%2Cstream")
    assert "reznet_features" not in tap.sockets[1].url + tap.sockets[2].url
    # v2 sockets first get connection_established: wait for it, then start from a clean slate.
    page.wait_for_function(
        "window.seen.content.length >= 1 && window.seen.no_content.length >= 1", timeout=WAIT_MS
    )
    page.evaluate("() => { for (const name in window.seen) window.seen[name] = []; }")
    for socket in tap.sockets:
        socket.frames.clear()
    return tap


def wait_seen(page: Page, count: int) -> dict[str, list[dict[str, Any]]]:
    names = json.dumps(list(CLIENTS))
    page.wait_for_function(
        f"{names}.every((name) => window.seen[name].length >= {count})", timeout=WAIT_MS
    )
    seen: dict[str, list[dict[str, Any]]] = page.evaluate("window.seen")
    return seen


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_group_send_handler_send_json_reaches_every_client_alike(page: Page, kind: str) -> None:
    tap = connect_all(page, kind)
    page.evaluate(f"() => window.content.send('say', {json.dumps(MESSAGE)})")
    seen = wait_seen(page, 1)

    expected = json.loads(json.dumps({"type": "chat.message", "message": MESSAGE}))
    for name in CLIENTS:
        assert seen[name] == [{"event": None, "data": expected}], name
    content, no_content, legacy = (socket.frames for socket in tap.sockets)
    assert len(content) == len(no_content) == len(legacy) == 1
    plain = json.dumps(expected)
    assert no_content == [plain] and legacy == [plain]
    assert isinstance(content[0], str) and content[0].startswith('{"_v":2,"c":{')
    assert wire_size(content[0]) < 0.8 * wire_size(plain)


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_an_event_envelope_reaches_the_event_handlers(page: Page, kind: str) -> None:
    tap = connect_all(page, kind)
    for name in CLIENTS:
        page.evaluate(f"() => window.{name}.send('envelope', {json.dumps(MESSAGE)})")
    seen = wait_seen(page, 2)

    expected = json.loads(json.dumps(MESSAGE))
    for name in CLIENTS:
        assert {"handler": "message_new", "data": expected} in seen[name], name
        assert {"event": "message_new", "data": expected} in seen[name], name
    frame = tap.sockets[0].frames[0]
    assert isinstance(frame, str) and frame.startswith('{"_v":2,"c":{"event":"message_new"')
