"""reznet.v2.msgpack in Chromium: the demo page with ``?protocol=msgpack`` chats as JSON does.

The page loads @msgpack/msgpack as an ES module from a CDN URL; the test serves that URL from
``node_modules`` (``npm ci``), so nothing is fetched from outside.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest

from reznet_ws.codec import Codec, FieldMap
from reznet_ws.codec.keyed_receiver import KeyedReceiver
from reznet_ws.codec.msgpack_frames import msgpack_codec

from .browser_support import ROOT, Handshakes, V1Client, WireTap, chromium_available, wire_size
from .conftest import ServerProcess, require_or_skip
from .test_browser import (  # noqa: F401  (fixtures)
    browser,
    chat_server,
    context,
    converse,
    demo_db,
    events,
    figure,
    page,
    problems,
    servers,
    url,
    wait_events,
    wait_open,
)

if chromium_available():
    from playwright.sync_api import BrowserContext, Page, Route

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

CDN = "https://cdn.jsdelivr.net/npm/@msgpack/msgpack@3.1.3/"
PACKAGE = ROOT / "node_modules" / "@msgpack" / "msgpack"


def serve_codec(context: BrowserContext) -> None:  # noqa: F811
    """Answer the page's CDN requests for @msgpack/msgpack from node_modules."""
    require_or_skip(PACKAGE.is_dir(), "node_modules/@msgpack/msgpack (npm ci)")

    def fulfil(route: Route) -> None:
        path = (PACKAGE / route.request.url.removeprefix(CDN)).resolve()
        assert path.is_relative_to(PACKAGE.resolve())
        route.fulfill(body=path.read_bytes(), content_type="text/javascript")

    context.route(CDN + "**", fulfil)


def json_page_beside(context: BrowserContext, chat_server: ServerProcess) -> Page:  # noqa: F811
    """Serve the codec to ``context``; return a reznet.v2 (JSON) page of it, open on the chat."""
    serve_codec(context)
    json_page = context.new_page()
    json_page.goto(url(chat_server))
    wait_events(json_page, "e.event === 'connection_established'")
    return json_page


def decode(frames: list[str | bytes], hello: dict[str, Any]) -> list[dict[str, Any]]:
    codec = Codec(FieldMap(hello["field_map"], hello["timestamp_fields"]))
    packed, keyed = msgpack_codec(codec), KeyedReceiver(codec)
    out = []
    for frame in frames:
        obj = msgpack.unpackb(frame) if isinstance(frame, bytes) else json.loads(frame)
        if isinstance(obj, dict) and "k" in obj:  # a keyed frame (full or delta), packed
            got = keyed.receive(obj)
            out += [] if got is None else [{"event": got[0], "data": got[1]}]
        else:
            out += [{"event": e, "data": d} for e, d in packed.decode_frame(frame)]
    return out


def test_msgpack_page_chats_like_a_json_page_and_a_v1_client(
    page: Page,  # noqa: F811
    context: BrowserContext,  # noqa: F811
    chat_server: ServerProcess,  # noqa: F811
) -> None:
    json_page = json_page_beside(context, chat_server)
    with V1Client(chat_server.port) as legacy:
        handshakes = Handshakes(page.context.new_cdp_session(page))
        tap = WireTap(page)
        page.goto(url(chat_server, "/?protocol=msgpack"))
        wait_open(page, "reznet.v2.msgpack")
        wait_events(page, "e.event === 'connection_established'")
        converse(page)
        decoded = events(page)
        legacy_events = legacy.receive(len(decoded) - 1)

    assert handshakes.requests[0]["sec-websocket-protocol"] == "reznet.v2.msgpack"
    assert handshakes.responses[0]["sec-websocket-protocol"] == "reznet.v2.msgpack"
    hello, *rest = decoded
    assert hello["data"]["protocol"] == "reznet.v2.msgpack"
    assert {"message_new", "agent_status", "message_chunk", "workflow_plan"} <= {
        e["event"] for e in rest
    }
    # The same events as a v1 client and as a reznet.v2 (JSON) page in the same channel.
    assert rest == legacy_events
    wait_events(json_page, "true", len(decoded))
    assert events(json_page)[1:] == rest
    # On the wire: binary MessagePack frames, which the Python codec decodes to the same.
    frames = tap.sockets[0].frames
    binary = [f for f in frames if isinstance(f, bytes)]
    assert len(binary) == len(frames), "every frame of this conversation is MessagePack"
    assert all(isinstance(msgpack.unpackb(f), dict) for f in binary)
    json_hello = events(json_page)[0]["data"]  # the msgpack page had the map cached
    assert decode(frames, json_hello) == decoded
    assert hello["data"]["map_hash"] == json_hello["map_hash"]
    assert hello["data"]["features"]["gzip_compression"] is False
    assert any("b" in msgpack.unpackb(f) for f in binary), "the streamed chunks come in batches"
    assert any("x" in msgpack.unpackb(f) for f in binary), "plan updates come as packed deltas"
    assert figure(page, "bytes") == sum(map(wire_size, frames))
    json_page.close()


def test_optimized_frames_the_page_sends_are_msgpack(
    page: Page,  # noqa: F811
    context: BrowserContext,  # noqa: F811
    chat_server: ServerProcess,  # noqa: F811
) -> None:
    json_page = json_page_beside(context, chat_server)
    with page.expect_websocket() as opened:
        page.goto(url(chat_server, "/?protocol=msgpack"))
    ws = opened.value
    wait_open(page, "reznet.v2.msgpack")
    wait_events(page, "e.event === 'connection_established'")

    def is_message(payload: str | bytes) -> bool:
        return isinstance(payload, bytes) and msgpack.unpackb(payload).get("e") == "send_message"

    with ws.expect_event("framesent", predicate=is_message) as sent:
        page.evaluate(
            "reznetSocket.send('send_message', {content: 'packed ✓ 𝄞', channel_id: 'general'},"
            " {optimize: true})"
        )
    frame = msgpack.unpackb(sent.value)
    assert frame["_v"] == 2 and frame["d"]["c"] == "packed ✓ 𝄞"  # abbreviated, as in JSON v2
    # The server decoded it: both pages get the message, the same.
    test = "e.event === 'message_new' && e.data.content === 'packed ✓ 𝄞'"
    wait_events(page, test)
    wait_events(json_page, test)
    mine = [e for e in events(page) if e["event"] == "message_new"]
    theirs = [e for e in events(json_page) if e["event"] == "message_new"]
    assert mine[-1] == theirs[-1]
    assert json.loads(json.dumps(mine[-1]))["data"]["author_name"]
    json_page.close()
