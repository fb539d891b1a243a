"""zstd group streams in Chromium: the JS client, given fzstd as its ``zstd`` option, asks for
zstd streams, joins mid-stream, crosses epochs and survives a resync.

The same server as tests/test_browser_stream.py (``STREAM_EPOCH_SECONDS=0``). The page imports
fzstd's ES module, served from ``node_modules`` (``npm ci``) so nothing is fetched from outside;
a Python client beside it, asking for zstd streams too, shouts and is a second stream member.
"""

from __future__ import annotations

import json

import pytest

from reznet_ws.codec.stream import parse_header

from .browser_support import CHROMIUM, ROOT, chromium_available, local_page
from .conftest import CLIENT_TIMEOUT, ServerProcess, require_or_skip, ws_connect_sync
from .stream_support import stream_server
from .test_browser_stream import frames_of, join_mid_stream_and_resync

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]
__all__ = ["stream_server"]  # the fixture

FZSTD = ROOT / "node_modules" / "fzstd" / "esm" / "index.mjs"

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


def test_chromium_decodes_zstd_streams_across_epochs_and_a_resync(
    stream_server: ServerProcess,
) -> None:
    require_or_skip(chromium_available(), f"Chromium at {CHROMIUM} and the playwright package")
    require_or_skip(FZSTD.exists(), "node_modules/fzstd (npm ci)")
    url = f"ws://127.0.0.1:{stream_server.port}/ws/room/"
    with local_page(stream_server.port, {"/fzstd.mjs": FZSTD}) as local:
        page = local.page
        query = "?reznet_features=stream,stream-zstd"
        with ws_connect_sync(url + query, subprotocols=["reznet.v2"]) as sender:
            sender.recv(timeout=CLIENT_TIMEOUT)  # connection_established

            def shout(n: int) -> None:
                sender.send(json.dumps({"event": "shout", "data": {"n": n, "pad": 200}}))

            join_mid_stream_and_resync(page, SETUP_JS, url, shout)
            assert "stream-zstd" in page.evaluate("window.sockets.a.socket._conn.url")
            assert local.problems == []
        a_frames, b_frames = frames_of(local, "a"), frames_of(local, "b")

    binary_a = [bytes(f) for f in a_frames if isinstance(f, bytes)]
    assert {f[0] for f in binary_a} <= {0xA6, 0xA7}  # zstd frames only
    assert len(binary_a) >= 5 and sum(f[0] == 0xA7 for f in binary_a) >= 3
    header = parse_header(bytes(b_frames[1]))  # type: ignore[arg-type]
    assert header.codec == "zstd" and header.epoch == 1
