"""zstd group streams in Chromium: the JS client, given fzstd as its ``zstd`` option, asks for
zstd streams, joins mid-stream, crosses epochs and survives a resync.

The same server as tests/test_browser_stream.py (``STREAM_EPOCH_SECONDS=0``). The page imports
fzstd's ES module, served from ``node_modules`` (``npm ci``) so nothing is fetched from outside;
a Python client beside it, asking for zstd streams too, shouts and is a second stream member.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from reznet_ws.codec.stream import parse_header

from .browser_support import CHROMIUM, CHROMIUM_ARGS, ROOT, chromium_available
from .conftest import ServerProcess, require_or_skip
from .test_browser_stream import _said, _serve, _wait_said, server

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]
__all__ = ["server"]  # the fixture, shared with the deflate test

if chromium_available():
    from playwright.sync_api import Route, sync_playwright

FZSTD = ROOT / "node_modules" / "fzstd" / "esm" / "index.mjs"
WAIT_MS = 20_000

SETUP_JS = """async ([name, url]) => {
  const { ReznetSocket } = await import("/reznet-ws.js");
  const fzstd = await import("/fzstd.mjs");
  window.sockets ??= {};
  const zstd = (ondata) => new fzstd.Decompress(ondata);
  const socket = new ReznetSocket(url, { storage: null, reconnect: false, zstd });
  const state = { socket, said: [], errors: [], open: false };
  socket.on("said", (data) => state.said.push(data.n));
  socket.on("error", (error) => state.errors.push(error.code ?? String(error)));
  socket.on("connection_established", () => { state.open = true; });
  window.sockets[name] = state;
}"""


def _serve_with_fzstd(route: Route) -> None:
    if route.request.url.endswith("/fzstd.mjs"):
        route.fulfill(body=FZSTD.read_text(encoding="utf-8"), content_type="text/javascript")
    else:
        _serve(route)


def test_chromium_decodes_zstd_streams_across_epochs_and_a_resync(server: ServerProcess) -> None:
    require_or_skip(chromium_available(), f"Chromium at {CHROMIUM} and the playwright package")
    require_or_skip(FZSTD.exists(), "node_modules/fzstd (npm ci)")
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{server.port}/ws/room/"
    frames: dict[str, list[Any]] = {}
    with sync_playwright() as playwright:
        args = [*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page()
        origin = f"http://127.0.0.1:{server.port}"
        page.route(f"{origin}/**", _serve_with_fzstd)
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
        page.on(
            "websocket",
            lambda ws: ws.on(
                "framereceived", lambda payload: frames.setdefault(ws.url, []).append(payload)
            ),
        )
        page.goto(f"{origin}/")
        query = "?reznet_features=stream,stream-zstd"
        with connect(url + query, subprotocols=["reznet.v2"]) as sender:  # type: ignore[list-item]
            sender.recv()  # connection_established

            def shout(n: int) -> None:
                sender.send(json.dumps({"event": "shout", "data": {"n": n, "pad": 200}}))

            page.evaluate(SETUP_JS, ["a", f"{url}?tab=a"])
            page.wait_for_function("window.sockets.a.open", timeout=WAIT_MS)
            for n in (1, 2, 3):
                shout(n)
            _wait_said(page, "a", 3)

            page.evaluate(SETUP_JS, ["b", f"{url}?tab=b"])
            page.wait_for_function("window.sockets.b.open", timeout=WAIT_MS)
            for n in (4, 5):
                shout(n)
            _wait_said(page, "b", 5)
            _wait_said(page, "a", 5)

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
            assert "stream-zstd" in page.evaluate("window.sockets.a.socket._conn.url")
            assert problems == []
        browser.close()

    a_frames = next(f for u, f in frames.items() if "tab=a" in u)
    binary_a = [bytes(f) for f in a_frames if isinstance(f, bytes)]
    assert {f[0] for f in binary_a} <= {0xA6, 0xA7}  # zstd frames only
    assert len(binary_a) >= 5 and sum(f[0] == 0xA7 for f in binary_a) >= 3
    b_frames = next(f for u, f in frames.items() if "tab=b" in u)
    header = parse_header(bytes(b_frames[1]))
    assert header.codec == "zstd" and header.epoch == 1
