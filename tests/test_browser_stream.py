"""Group streams in Chromium: the JS client joins mid-stream, crosses epochs, survives a resync.

``reznet-daphne`` (permessage-deflate on, which Chromium negotiates) serves tests/hub_app.py with
``STREAM_EPOCH_SECONDS=0``, so a waiting member moves into the stream at the next broadcast. The
page loads the JS client from disk (through Playwright's router) and keeps every event it
dispatched; a Python client beside it shouts and is a second stream member.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from reznet_ws.codec.stream import parse_header

from .browser_support import CHROMIUM, CHROMIUM_ARGS, ROOT, Handshakes, chromium_available
from .conftest import ServerProcess, free_port, require_or_skip

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]

if chromium_available():
    from playwright.sync_api import Page, Route, sync_playwright

STATIC = ROOT / "reznet_ws" / "static" / "reznet_ws"
WAIT_MS = 20_000

# Sockets named by the test: each keeps the n of every `said` event and every error code.
SETUP_JS = """async ([name, url]) => {
  const { ReznetSocket } = await import("/reznet-ws.js");
  window.sockets ??= {};
  const socket = new ReznetSocket(url, { storage: null, reconnect: false });
  const state = { socket, said: [], errors: [], open: false };
  socket.on("said", (data) => state.said.push(data.n));
  socket.on("error", (error) => state.errors.push(error.code ?? String(error)));
  socket.on("connection_established", () => { state.open = true; });
  window.sockets[name] = state;
}"""


def _serve(route: Route) -> None:
    path = "/" + route.request.url.split("/", 3)[3]
    if path == "/":
        route.fulfill(body="<!doctype html><meta charset=utf-8><title>streams</title>")
        return
    file = STATIC / path.lstrip("/")
    if file.parent != STATIC or not file.exists():
        route.fulfill(status=404, body="")
        return
    route.fulfill(body=file.read_text(encoding="utf-8"), content_type="text/javascript")


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    port = free_port()
    process = ServerProcess(
        [
            "-m",
            "reznet_ws.server.cli",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "tests.hub_app:application",
        ],
        port,
        env={
            "DJANGO_SETTINGS_MODULE": "tests.hub_settings",
            "REZNET_WS_JSON": json.dumps({"STREAM_EPOCH_SECONDS": 0}),
        },
    )
    yield process
    process.stop()


def _said(page: Page, name: str) -> list[int]:
    return list(page.evaluate(f"window.sockets[{name!r}].said"))


def _wait_said(page: Page, name: str, n: int) -> None:
    page.wait_for_function(f"window.sockets[{name!r}].said.includes({n})", timeout=WAIT_MS)


def test_chromium_joins_mid_stream_crosses_epochs_and_resyncs(server: ServerProcess) -> None:
    require_or_skip(chromium_available(), f"Chromium at {CHROMIUM} and the playwright package")
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{server.port}/ws/room/"
    frames: dict[str, list[Any]] = {}
    with sync_playwright() as playwright:
        # Playwright answers the page's HTTP requests, so Chromium cannot tell the page is
        # local and would refuse its sockets to 127.0.0.1 (Local Network Access).
        args = [*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page()
        handshakes = Handshakes(page.context.new_cdp_session(page))
        # The page's origin is the server's (Chromium blocks a public origin's sockets to
        # 127.0.0.1); Playwright answers its HTTP requests, daphne only sees the WebSockets.
        origin = f"http://127.0.0.1:{server.port}"
        page.route(f"{origin}/**", _serve)
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
        page.on(
            "websocket",
            lambda ws: ws.on(
                "framereceived", lambda payload: frames.setdefault(ws.url, []).append(payload)
            ),
        )
        page.goto(f"{origin}/")
        with connect(f"{url}?reznet_features=stream", subprotocols=["reznet.v2"]) as sender:  # type: ignore[list-item]
            sender.recv()  # connection_established

            def shout(n: int) -> None:
                sender.send(json.dumps({"event": "shout", "data": {"n": n, "pad": 200}}))

            page.evaluate(SETUP_JS, ["a", f"{url}?tab=a"])
            page.wait_for_function("window.sockets.a.open", timeout=WAIT_MS)
            for n in (1, 2, 3):
                shout(n)
            _wait_said(page, "a", 3)

            # b joins mid-stream: ordinary frames at once, then the stream from the next epoch
            page.evaluate(SETUP_JS, ["b", f"{url}?tab=b"])
            page.wait_for_function("window.sockets.b.open", timeout=WAIT_MS)
            for n in (4, 5):
                shout(n)
            _wait_said(page, "b", 5)
            _wait_said(page, "a", 5)

            # a's inflater is knocked out of step: the next frame is refused (a detected gap), the
            # client asks for a resync, and the next broadcast takes it back into the stream
            page.evaluate(
                "() => { const s = window.sockets.a.socket._conn.streams;"
                " for (const state of s._streams.values()) state.nextSeq += 1; }"
            )
            shout(6)
            page.wait_for_function("window.sockets.a.errors.length > 0", timeout=WAIT_MS)
            _wait_said(page, "b", 6)
            page.evaluate("window.sockets.a.socket.send('shout', {n: 7, pad: 200})")
            _wait_said(page, "a", 7)
            shout(8)
            _wait_said(page, "a", 8)
            _wait_said(page, "b", 8)

            assert _said(page, "a") == [1, 2, 3, 4, 5, 7, 8]
            assert page.evaluate("window.sockets.a.errors") == ["stream_gap"]
            assert _said(page, "b") == [4, 5, 6, 7, 8]
            assert page.evaluate("window.sockets.b.errors") == []
            handshake = page.evaluate("window.sockets.a.socket.url")
            assert "reznet_features=" in page.evaluate("window.sockets.a.socket._conn.url")
            assert handshake.endswith("tab=a")
            assert problems == []
            # the stream frames reached Chromium over permessage-deflate connections
            assert all(
                "permessage-deflate" in r.get("sec-websocket-extensions", "")
                for r in handshakes.responses
            )
            assert len(handshakes.responses) == 2
        browser.close()

    a_frames = next(f for u, f in frames.items() if "tab=a" in u)
    b_frames = next(f for u, f in frames.items() if "tab=b" in u)
    binary_a = [bytes(f) for f in a_frames if isinstance(f, bytes)]
    epochs = [f for f in binary_a if f[0] == 0xA5]
    assert len(binary_a) >= 6 and len(epochs) >= 3  # epoch 0, b's epoch, a's resync epoch
    # b joined mid-stream: with STREAM_EPOCH_SECONDS=0 its first broadcast starts epoch 1 for it
    assert parse_header(bytes(b_frames[1])).epoch == 1
