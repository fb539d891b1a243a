"""Group streams in Chromium: the JS client joins mid-stream, crosses epochs, survives a resync.

``reznet-daphne`` (permessage-deflate on, which Chromium negotiates) serves tests/hub_app.py with
``STREAM_EPOCH_SECONDS=0``, so a waiting member moves into the stream at the next broadcast. The
page loads the JS client from disk (through Playwright's router) and keeps every event it
dispatched; a Python client beside it shouts and is a second stream member.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from reznet_ws.codec.stream import parse_header

from .browser_support import (
    CHROMIUM,
    CLIENT_TIMEOUT,
    Handshakes,
    LocalPage,
    chromium_available,
    local_page,
)
from .conftest import ServerProcess, require_or_skip
from .stream_support import stream_server

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]
__all__ = ["join_mid_stream_and_resync", "stream_server"]

if chromium_available():
    from playwright.sync_api import Page

#: Milliseconds the page may take to reach a state: a bound on a hang only (a busy machine).
WAIT_MS = 60_000

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


def _said(page: Page, name: str) -> list[int]:
    return list(page.evaluate(f"window.sockets[{name!r}].said"))


def _wait_said(page: Page, name: str, n: int) -> None:
    page.wait_for_function(f"window.sockets[{name!r}].said.includes({n})", timeout=WAIT_MS)


def join_mid_stream_and_resync(
    page: Page, setup_js: str, url: str, shout: Callable[[int], None]
) -> None:
    """Page sockets a (from the start) and b (mid-stream) see 8 shouts; a resyncs after a gap.

    ``setup_js`` opens a named socket as SETUP_JS does; ``shout`` sends a broadcast of ``n``
    from a client beside the page (a member of the same stream).
    """
    page.evaluate(setup_js, ["a", f"{url}?tab=a"])
    page.wait_for_function("window.sockets.a.open", timeout=WAIT_MS)
    for n in (1, 2, 3):
        shout(n)
    _wait_said(page, "a", 3)

    # b joins mid-stream: ordinary frames at once, then the stream from the next epoch
    page.evaluate(setup_js, ["b", f"{url}?tab=b"])
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


def frames_of(local: LocalPage, tab: str) -> list[str | bytes]:
    """The frames the page's socket opened with ``?tab=<tab>`` received."""
    return next(s.frames for s in local.tap.sockets if f"tab={tab}" in s.url)


def test_chromium_joins_mid_stream_crosses_epochs_and_resyncs(
    stream_server: ServerProcess,
) -> None:
    require_or_skip(chromium_available(), f"Chromium at {CHROMIUM} and the playwright package")
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{stream_server.port}/ws/room/"
    with local_page(stream_server.port) as local:
        page = local.page
        handshakes = Handshakes(page.context.new_cdp_session(page))
        with connect(
            f"{url}?reznet_features=stream",
            subprotocols=["reznet.v2"],  # type: ignore[list-item]
            open_timeout=CLIENT_TIMEOUT,
            ping_interval=None,  # keepalive is not the subject; a busy machine may answer late
        ) as sender:
            sender.recv(timeout=CLIENT_TIMEOUT)  # connection_established

            def shout(n: int) -> None:
                sender.send(json.dumps({"event": "shout", "data": {"n": n, "pad": 200}}))

            join_mid_stream_and_resync(page, SETUP_JS, url, shout)
            handshake = page.evaluate("window.sockets.a.socket.url")
            assert "reznet_features=" in page.evaluate("window.sockets.a.socket._conn.url")
            assert handshake.endswith("tab=a")
            assert local.problems == []
            # the stream frames reached Chromium over permessage-deflate connections
            assert all(
                "permessage-deflate" in r.get("sec-websocket-extensions", "")
                for r in handshakes.responses
            )
            assert len(handshakes.responses) == 2

        a_frames, b_frames = frames_of(local, "a"), frames_of(local, "b")
    binary_a = [bytes(f) for f in a_frames if isinstance(f, bytes)]
    epochs = [f for f in binary_a if f[0] == 0xA5]
    assert len(binary_a) >= 6 and len(epochs) >= 3  # epoch 0, b's epoch, a's resync epoch
    # b joined mid-stream: with STREAM_EPOCH_SECONDS=0 its first broadcast starts epoch 1 for it
    assert parse_header(bytes(b_frames[1])).epoch == 1  # type: ignore[arg-type]
