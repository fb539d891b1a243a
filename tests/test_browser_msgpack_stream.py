"""Group streams for reznet.v2.msgpack in Chromium: a stream of binary frames, epochs, a resync.

``reznet-daphne`` serves tests/hub_app.py with ``STREAM_EPOCH_SECONDS=0``. The page loads the JS
client from disk and @msgpack/msgpack from ``node_modules`` (``npm ci``) through Playwright's
router; a Python client beside it, also on ``reznet.v2.msgpack``, shouts and is the second member
of the room's MessagePack stream (a stream needs two members of one field map and encoding).
"""

from __future__ import annotations

import json

import msgpack
import pytest

from reznet_ws.codec import Codec, FieldMap
from reznet_ws.codec.msgpack_frames import MSGPACK_SUBPROTOCOL, msgpack_codec
from reznet_ws.codec.msgpack_stream import MsgpackStreamDecoder
from reznet_ws.codec.stream import is_stream_frame

from .browser_support import CHROMIUM, ROOT, chromium_available, local_page
from .conftest import CLIENT_TIMEOUT, ServerProcess, require_or_skip, ws_connect_sync
from .stream_support import stream_server

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]
__all__ = ["stream_server"]  # the fixture

MSGPACK_ESM = ROOT / "node_modules" / "@msgpack" / "msgpack" / "dist.esm"
WAIT_MS = 60_000  # a bound on a hang only: a busy machine renders and relays slowly

SETUP_JS = """async (url) => {
  const { ReznetSocket } = await import("/reznet-ws.js");
  const codec = await import("/msgpack/index.mjs");
  const socket = new ReznetSocket(url, {
    storage: null, reconnect: false, msgpack: { encode: codec.encode, decode: codec.decode },
    protocols: ["reznet.v2.msgpack"],
  });
  window.page = { socket, said: [], errors: [], open: false };
  socket.on("said", (data) => window.page.said.push(data.n));
  socket.on("error", (error) => window.page.errors.push(error.code ?? String(error)));
  socket.on("connection_established", () => { window.page.open = true; });
}"""


def test_chromium_decodes_a_messagepack_group_stream(stream_server: ServerProcess) -> None:
    require_or_skip(chromium_available(), f"Chromium at {CHROMIUM} and the playwright package")
    require_or_skip(MSGPACK_ESM.is_dir(), "node_modules/@msgpack/msgpack (npm ci)")
    url = f"ws://127.0.0.1:{stream_server.port}/ws/room/"
    sender_got: list[int] = []
    with local_page(stream_server.port, {"/msgpack/": MSGPACK_ESM}) as local:
        page, problems = local.page, local.problems
        query = "?reznet_features=stream"
        with ws_connect_sync(url + query, subprotocols=[MSGPACK_SUBPROTOCOL]) as sender:
            hello = msgpack.unpackb(sender.recv(timeout=CLIENT_TIMEOUT))
            assert hello["e"] == "connection_established"
            fields = FieldMap(hello["d"]["field_map"], hello["d"]["timestamp_fields"])
            packed, decoder = msgpack_codec(Codec(fields)), MsgpackStreamDecoder()
            page.evaluate(SETUP_JS, url)
            page.wait_for_function("window.page.open", timeout=WAIT_MS)
            assert page.evaluate("window.page.socket._conn.ws.protocol") == MSGPACK_SUBPROTOCOL

            def shout(n: int) -> None:
                sender.send(json.dumps({"event": "shout", "data": {"n": n, "pad": 300}}))
                frame = sender.recv(timeout=CLIENT_TIMEOUT)
                assert isinstance(frame, bytes)
                message = decoder.decode_message(frame) if is_stream_frame(frame) else frame
                [(_, data)] = packed.decode_frame(message)
                sender_got.append(data["n"])

            for n in (1, 2, 3, 4):
                shout(n)
            page.wait_for_function("window.page.said.includes(4)", timeout=WAIT_MS)
            # The page's inflater is knocked out of step: the next frame is refused (a detected
            # gap), it asks for a resync, and a later broadcast takes it back into the stream.
            page.evaluate(
                "() => { const s = window.page.socket._conn.streams;"
                " for (const state of s._streams.values()) state.nextSeq += 1; }"
            )
            shout(5)
            page.wait_for_function("window.page.errors.length > 0", timeout=WAIT_MS)
            for n in (6, 7):
                shout(n)
            page.wait_for_function("window.page.said.includes(7)", timeout=WAIT_MS)
            assert page.evaluate("window.page.said") == [1, 2, 3, 4, 6, 7]
            assert page.evaluate("window.page.errors") == ["stream_gap"]
            assert problems == []
        frames = [f for socket in local.tap.sockets for f in socket.frames]

    assert sender_got == [1, 2, 3, 4, 5, 6, 7]
    binary = [bytes(f) for f in frames if isinstance(f, bytes)]
    assert len(binary) == len(frames), "every frame on a msgpack connection is binary here"
    streamed = [f for f in binary if is_stream_frame(f)]
    # the first broadcast counts the members; the resync costs one ordinary frame at most
    assert len(streamed) >= 5 and sum(f[0] == 0xA5 for f in streamed) >= 2
