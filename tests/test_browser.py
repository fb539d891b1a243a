"""The JS client and the demo page in a real browser: headless Chromium against real servers.

Each server is the example project in its own process on 127.0.0.1 (``manage.py runserver`` as
``make run`` starts it, or ``reznet-daphne``) with its own SQLite file. The page exposes
``window.reznetSocket`` and ``window.reznetEvents`` (every server event it dispatched, decoded);
Playwright sees the raw frames beside it, and a CDP session the handshake headers.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from reznet_ws.codec import Codec, FieldMap

from .browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    VIEWPORT,
    Handshakes,
    V1Client,
    WireTap,
    chromium_available,
    decode_wire,
    prepare_db,
    reznet_daphne_argv,
    runserver_argv,
    save_screenshot,
    server_env,
    wire_size,
)
from .conftest import ServerProcess, free_port, require_or_skip

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

if chromium_available():
    from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

WAIT_MS = 60_000  # a bound on a hang only: a busy machine renders and relays slowly
EVENTS_JS = "JSON.stringify(window.reznetEvents)"
# True once the page dispatched `n` events `e` ({event, data}) for which `test` holds.
COUNT_JS = """([test, n]) =>
  (window.reznetEvents || []).filter(new Function("e", "return " + test)).length >= n"""


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_or_skip(chromium_available(), f"Chromium at {CHROMIUM} and the playwright package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(WAIT_MS)  # every wait, explicit or not, bounds a hang only
    yield context
    context.close()


class PageProblems:
    """Uncaught exceptions and console errors of a page: none may happen unless allowed."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.allowed = ["/favicon.ico"]  # Chromium asks for it; the admin has none

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.seen.append(f"uncaught: {error}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.seen.append(f"console: {message.text} ({message.location.get('url', '')})")

    def unexpected(self) -> list[str]:
        return [text for text in self.seen if not any(a in text for a in self.allowed)]


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


class Servers:
    """Example-project servers a test starts; stopped after the test's page is closed."""

    def __init__(self, template: Path, folder: Path) -> None:
        self.db = copy_db(template, folder)
        self.running: list[ServerProcess] = []

    def start(self, argv: list[str], port: int, *, movable: bool = True) -> ServerProcess:
        server = ServerProcess(argv, port, env=server_env(self.db), movable=movable)
        self.running.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.running:
            server.stop()


@pytest.fixture
def servers(demo_db: Path, tmp_path: Path) -> Iterator[Servers]:
    servers = Servers(demo_db, tmp_path)
    yield servers
    servers.stop_all()


@pytest.fixture
def page(context: BrowserContext, problems: PageProblems, servers: Servers) -> Iterator[Page]:
    """A page of its own; ``servers`` is torn down after it, so no socket sees its server die."""
    page = context.new_page()
    problems.watch(page)
    yield page
    page.close()
    assert problems.unexpected() == []


@pytest.fixture(scope="module")
def demo_db(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated example-project database with the demo login admin / admin (copied per server)."""
    path = tmp_path_factory.mktemp("demo-db") / "template.sqlite3"
    prepare_db(path)
    return path


def copy_db(template: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(template, folder / "db.sqlite3"))


@pytest.fixture(scope="module")
def chat_server(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``manage.py runserver`` without permessage-deflate, so the page sees gzip frames.

    Its batch window outlasts any answer (tests/chat_server_settings.py): the streamed chunks
    come in batch frames however slowly a busy machine runs the agent.
    """
    port = free_port()
    db = copy_db(demo_db, tmp_path_factory.mktemp("chat"))
    env = {**server_env(db), "DJANGO_SETTINGS_MODULE": "tests.chat_server_settings"}
    server = ServerProcess(runserver_argv(port, deflate=False), port, env=env)
    yield server
    server.stop()


def url(server: ServerProcess, path: str = "/") -> str:
    return f"http://127.0.0.1:{server.port}{path}"


# ------------------------------------------------------------------------------------ helpers


def events(page: Page) -> list[dict[str, Any]]:
    return json.loads(page.evaluate(EVENTS_JS))


def wait_events(page: Page, test: str, n: int = 1, timeout: int = WAIT_MS) -> None:
    """Wait until the page dispatched ``n`` events for which the JS expression ``test`` holds."""
    page.wait_for_function(COUNT_JS, arg=[test, n], timeout=timeout)


def wait_open(page: Page, protocol: str = "reznet.v2") -> None:
    page.wait_for_function(
        "p => window.reznetSocket && reznetSocket.readyState === 1 && reznetSocket.protocol === p",
        arg=protocol,
        timeout=WAIT_MS,
    )


def figure(page: Page, name: str) -> float:
    """A figure of the live panel (its ``data-value``)."""
    return float(page.get_attribute(f"#s-{name}", "data-value") or "nan")


def wait_panel(page: Page) -> None:
    """Wait until the panel counts every event the page dispatched."""
    page.wait_for_function(
        "() => Number(document.querySelector('#s-messages').dataset.value)"
        " === window.reznetEvents.length",
        timeout=WAIT_MS,
    )


def converse(page: Page) -> None:
    """Ask the agent (streamed answer), then request a workflow plan; wait until both are done."""
    page.click("#ask")
    wait_events(page, "e.event === 'message_new' && e.data.author_type === 'agent'")
    wait_events(page, "e.event === 'agent_status' && e.data.status === 'idle'")
    page.click("#plan")
    wait_events(page, "e.event === 'workflow_plan'")
    wait_events(page, "e.event === 'agent_status' && e.data.status === 'idle'", 2)
    wait_panel(page)


# -------------------------------------------------------------------------------------- tests


def test_page_offers_reznet_v2_gets_v2_and_switches_to_v1(
    page: Page, chat_server: ServerProcess
) -> None:
    handshakes = Handshakes(page.context.new_cdp_session(page))
    tap = WireTap(page)
    page.goto(url(chat_server))
    wait_events(page, "e.event === 'connection_established'")

    assert handshakes.requests[0]["sec-websocket-protocol"] == "reznet.v2"
    assert handshakes.responses[0]["sec-websocket-protocol"] == "reznet.v2"
    assert page.evaluate("reznetSocket.protocol") == "reznet.v2"
    hello = json.loads(tap.sockets[0].frames[0])
    assert hello["_v"] == 2 and hello["e"] == "connection_established" and hello["r"] == 1
    assert hello["d"]["version"] == 2 and hello["d"]["protocol"] == "reznet.v2"
    assert hello["d"]["features"]["field_abbreviation"] is True
    assert events(page) == [{"event": "connection_established", "data": hello["d"]}]
    assert page.text_content("#s-protocol") == "reznet.v2"

    # The switch reconnects without the subprotocol: the server speaks v1, plain JSON.
    page.click('[data-protocol="v1"]')
    wait_open(page, "")
    assert "sec-websocket-protocol" not in handshakes.requests[1]
    assert "reznet_map" not in tap.sockets[1].url
    assert page.url.endswith("?protocol=v1")
    converse(page)
    v1_frames = tap.sockets[1].frames
    assert all(isinstance(f, str) and "_v" not in json.loads(f) for f in v1_frames)
    assert events(page) == [json.loads(f) for f in v1_frames]
    # On v1 the panel's estimate of v1 bytes is the exact byte count received.
    assert figure(page, "v1bytes") == figure(page, "bytes") == sum(map(wire_size, v1_frames))
    assert figure(page, "saving") == 0
    save_screenshot(page, "chat-v1.png")


def test_browser_decodes_what_a_v1_client_receives(page: Page, chat_server: ServerProcess) -> None:
    with V1Client(chat_server.port) as legacy:  # in #general before the page acts
        tap = WireTap(page)
        page.goto(url(chat_server))
        wait_events(page, "e.event === 'connection_established'")
        converse(page)
        decoded = events(page)
        legacy_events = legacy.receive(len(decoded) - 1)

    hello, *rest = decoded
    assert [e["event"] for e in rest][:2] == ["message_new", "agent_status"]
    assert {"message_chunk", "workflow_plan"} <= {e["event"] for e in rest}
    # What the browser decoded is what a v1 client received, event for event.
    assert rest == legacy_events
    # ... and what the Python codec decodes from the frames on the wire.
    frames = tap.sockets[0].frames
    assert decode_wire(frames, hello["data"]) == decoded
    batches = [f for f in frames if isinstance(f, str) and "b" in json.loads(f)]
    gzipped = [f for f in frames if isinstance(f, bytes) and f[:2] == b"\x1f\x8b"]
    assert batches, "the streamed chunks arrive in batch frames"
    assert len(gzipped) == 1 and gzipped[0][:2] == b"\x1f\x8b"
    assert decode_wire(gzipped, hello["data"])[0]["event"] == "workflow_plan"
    # The live panel adds up the real wire, and the real v1 bytes of the same events.
    wait_panel(page)
    assert figure(page, "frames") == len(frames)
    assert figure(page, "bytes") == sum(map(wire_size, frames))
    assert figure(page, "v1bytes") == sum(map(wire_size, legacy.raw))
    assert figure(page, "bytes") < 0.5 * figure(page, "v1bytes")
    assert page.text_content("#s-kinds") == f"{len(batches)} / 1"
    plan = page.locator("li.plan")
    assert plan.locator(".tasks li").count() == 60
    assert "gzip frame" in (plan.locator(".wire-info").text_content() or "")
    assert page.locator("li.msg.agent:not(.streaming)").count() == 1
    save_screenshot(page, "chat.png")


DECODE_JS = """async ([b64, kind, fieldMap, timestampFields, max]) => {
  const { Decoder } = await import('/static/reznet_ws/reznet-ws.js');
  const decoder = new Decoder({ fieldMap, timestampFields, maxInflatedBytes: max });
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = kind === 'text' ? new TextDecoder().decode(bytes)
    : kind === 'blob' ? new Blob([bytes]) : kind === 'buffer' ? bytes.buffer : bytes;
  try {
    return JSON.stringify(await decoder.decodeMessage(data));
  } catch (error) {
    return JSON.stringify({ error: error.name, code: error.code });
  }
}"""

TRICKY = {
    "content": 'ünïcödé ✓ and an astral 𝄞, quotes " and \\ and a\nnewline',
    "created_at": "2025-10-25T12:00:00Z",
    "updated_at": "2025-10-25T14:00:00.123+02:00",
    "timestamp": "2025-10-25T12:00:00.123000Z",
    "metadata": {"c": "a key that is a short name", "~tilde": 1, "created_at": [1, 2]},
    "message_id": "00000000-0000-0000-0000-000000000000",
    "nested": [{"author_name": "@a", "created_at": "not a timestamp"}, None, True, 1.5],
}


def test_decoder_inflates_gzip_and_batch_frames_of_the_python_codec(
    page: Page, chat_server: ServerProcess
) -> None:
    """Frames made by the Python codec, decoded by the JS Decoder with DecompressionStream."""
    codec = Codec(FieldMap.default(), gzip_threshold=64)
    field_map = dict(codec.field_map.mapping)
    stamps = sorted(codec.field_map.timestamp_fields)
    items = [(f"event_{i}", {**TRICKY, "index": i}) for i in range(12)]
    batch = codec.batch_frame([(event, codec.encode_data(data)) for event, data in items])
    gzip_batch, compressed = codec.finalize(batch)
    gzip_event, compressed_too = codec.finalize(codec.encode_event("plan", TRICKY))
    assert compressed and compressed_too and isinstance(gzip_batch, bytes)
    expected = [{"event": e, "data": json.loads(json.dumps(d))} for e, d in items]
    page.goto(url(chat_server, "/admin/login/"))  # same origin, no socket

    def decode(frame: str | bytes, kind: str, cap: int = 1 << 24) -> dict[str, Any]:
        raw = frame.encode() if isinstance(frame, str) else frame
        arg = [base64.b64encode(raw).decode(), kind, field_map, stamps, cap]
        return json.loads(page.evaluate(DECODE_JS, arg))

    assert decode(batch, "text") == {"legacy": False, "events": expected}
    for kind in ("bytes", "buffer", "blob"):
        assert decode(gzip_batch, kind) == {"legacy": False, "events": expected}
    assert decode(gzip_event, "buffer") == {
        "legacy": False,
        "events": [{"event": "plan", "data": json.loads(json.dumps(TRICKY))}],
    }
    assert [(e["event"], e["data"]) for e in expected] == codec.decode_frame(gzip_batch)
    # The inflated-size cap and a corrupt member are errors, not crashes.
    assert decode(gzip_batch, "bytes", cap=100) == {
        "error": "ReznetProtocolError",
        "code": "too_large",
    }
    corrupt = gzip_batch[:-12] + bytes(12)
    assert decode(corrupt, "bytes") == {
        "error": "ReznetProtocolError",
        "code": "decompression_failed",
    }


def quickstart_html() -> str:
    """The page of docs/quickstart.md, step 5 (its only HTML sample)."""
    text = (ROOT / "docs" / "quickstart.md").read_text()
    [sample] = re.findall(r"^```html\n(.*?)^```", text, re.S | re.M)
    return sample


def test_the_quickstart_page_sample_chats(page: Page, chat_server: ServerProcess) -> None:
    """docs/quickstart.md's page, served at the example project's origin, talks to its consumer."""
    # Written into a page of the server's own (set_content keeps its URL), as if served there.
    page.goto(url(chat_server, "/admin/login/"))
    # Listening before the page exists: its socket may get its first frame before set_content
    # returns, and a listener added after that frame would wait for ever.
    frames: list[object] = []
    # (Playwright tags each handler, so a lambda, not the built-in frames.append.)
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: frames.append(frame)))
    page.set_content(f"<!doctype html><meta charset=utf-8>{quickstart_html()}")
    deadline = time.monotonic() + WAIT_MS / 1000
    while not frames:  # connection_established: the socket is open
        assert time.monotonic() < deadline, "the sample's socket never received a frame"
        page.wait_for_timeout(50)  # lets Playwright dispatch the frame events
    page.fill("input[name=content]", "hello from the docs")
    page.click("#composer button")
    item = page.locator("#messages li")
    item.wait_for(timeout=WAIT_MS)
    text = item.text_content() or ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z hello from the docs", text), (
        text
    )


def test_reload_uses_the_cached_field_map(page: Page, chat_server: ServerProcess) -> None:
    tap = WireTap(page)
    page.goto(url(chat_server))
    wait_events(page, "e.event === 'connection_established'")
    first = json.loads(tap.sockets[0].frames[0])["d"]
    assert "reznet_map" not in tap.sockets[0].url
    assert first["field_map"] and first["timestamp_fields"]

    page.reload()
    wait_events(page, "e.event === 'connection_established'")
    reloaded = urlsplit(tap.sockets[1].url)
    assert reloaded.path == "/ws/chat/"
    assert parse_qs(reloaded.query)["reznet_map"] == [first["map_hash"]]
    second = json.loads(tap.sockets[1].frames[0])["d"]
    assert second["map_hash"] == first["map_hash"]
    assert "field_map" not in second and "timestamp_fields" not in second
    assert page.text_content("#s-map") == f"cached ({first['map_hash']})"
    # The cached map decodes this connection's frames.
    page.click("#ask")
    wait_events(page, "e.event === 'message_new' && e.data.author_type === 'agent'")
    decoded = events(page)
    assert decode_wire(tap.sockets[1].frames[1:], first) == decoded[1:]
    answer = next(e["data"] for e in decoded if e["event"] == "message_new")
    assert answer["content"].startswith("@orchestrator") and answer["created_at"].endswith("Z")


def test_client_reconnects_after_the_server_restarts(
    page: Page, problems: PageProblems, servers: Servers
) -> None:
    port = free_port()
    server = servers.start(runserver_argv(port, deflate=False), port)
    port = server.port  # where it listens (it moves if its first port was taken)
    tap = WireTap(page)
    page.goto(f"http://127.0.0.1:{port}/")
    wait_events(page, "e.event === 'connection_established'")
    page.click('[data-channel="engineering"]')
    wait_events(page, "e.event === 'joined' && e.data.channel_id === 'engineering'")

    server.stop()
    page.wait_for_function("document.querySelector('#conn').dataset.state === 'retry'")
    # The page reconnects to the same port: the server may not move (it fails if that is taken).
    servers.start(runserver_argv(port, deflate=False), port, movable=False)
    wait_events(page, "e.event === 'connection_established'", 2)
    # The page rejoins its channel on the new connection, and chat works again.
    wait_events(page, "e.event === 'joined' && e.data.channel_id === 'engineering'", 2)
    page.fill("#content", "back after a restart")
    page.click("#composer button[type=submit]")
    wait_events(page, "e.event === 'message_new' && e.data.content === 'back after a restart'")

    assert len(tap.sockets) >= 2
    assert "reznet_map=" in tap.sockets[-1].url  # the cached map survives the restart
    assert events(page)[-1]["data"]["channel_id"] == "engineering"
    assert page.locator('.messages[data-channel="engineering"] li.msg').count() == 1
    assert page.get_attribute("#conn", "data-state") == "open"
    # Chromium logs the attempts that failed while the server was down; nothing else.
    problems.allowed.append("WebSocket connection to")


def test_admin_metrics_page_renders_its_chart_after_login(page: Page, servers: Servers) -> None:
    """``make run``'s server (runserver with permessage-deflate): chat, log in, read the metrics."""
    port = free_port()
    port = servers.start(runserver_argv(port, deflate=True), port).port  # it may have moved
    page.goto(f"http://127.0.0.1:{port}/")
    wait_events(page, "e.event === 'connection_established'")
    converse(page)

    page.goto(f"http://127.0.0.1:{port}/admin/reznet_ws/metrics/")
    assert "/admin/login/" in page.url  # staff only
    page.fill("#id_username", "admin")
    page.fill("#id_password", "admin")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/reznet_ws/metrics/", timeout=WAIT_MS)
    # Stats reach the cache within STATS_FLUSH_INTERVAL (1 s): reload until they show (the
    # deadline bounds a hang only; a busy machine may take many flush intervals).
    deadline = time.monotonic() + WAIT_MS / 1000
    while "workflow_plan" not in (page.text_content(".reznet-ws-tables") or ""):
        assert time.monotonic() < deadline, "the chat's stats never reached the metrics page"
        page.wait_for_timeout(500)
        page.reload()
    chart = page.locator("svg.reznet-ws-chart")
    assert chart.is_visible()
    original = chart.locator("polyline.original").get_attribute("points") or ""
    optimized = chart.locator("polyline.optimized").get_attribute("points") or ""
    assert len(original.split()) == len(optimized.split()) >= 2
    # The plot is not flat: the minute with the chat is above the baseline.
    assert len({point.split(",")[1] for point in optimized.split()}) > 1
    assert "no messages in the last hour" not in (page.text_content(".reznet-ws-legend") or "")
    assert "workflow_plan" in (page.text_content(".reznet-ws-tables") or "")
    save_screenshot(page, "admin-metrics.png")

    page.goto(f"http://127.0.0.1:{port}/admin/")
    assert page.locator("a", has_text="WebSocket metrics").count() >= 1


def test_browser_negotiates_permessage_deflate_with_reznet_daphne(
    page: Page, servers: Servers
) -> None:
    port = free_port()
    port = servers.start(reznet_daphne_argv(port), port).port  # it may have moved
    handshakes = Handshakes(page.context.new_cdp_session(page))
    tap = WireTap(page)
    page.goto(f"http://127.0.0.1:{port}/")
    wait_events(page, "e.event === 'connection_established'")
    assert "permessage-deflate" in handshakes.requests[0]["sec-websocket-extensions"]
    assert handshakes.responses[0]["sec-websocket-extensions"].startswith("permessage-deflate")
    extensions = page.evaluate(
        """url => new Promise((resolve, reject) => {
             const ws = new WebSocket(url, ['reznet.v2']);
             ws.onopen = () => { resolve(ws.extensions); ws.close(); };
             ws.onerror = () => reject(new Error('no connection'));
           })""",
        f"ws://127.0.0.1:{port}/ws/chat/",
    )
    assert extensions.startswith("permessage-deflate")
    hello = events(page)[0]["data"]
    assert hello["features"]["permessage_deflate"] is True
    assert hello["features"]["gzip_compression"] is False
    page.wait_for_function("document.querySelector('#s-deflate').textContent === 'on'")

    converse(page)
    frames = tap.sockets[0].frames
    # Transport compression replaces app-level gzip: the plan arrives as a text frame.
    assert all(isinstance(frame, str) for frame in frames)
    assert decode_wire(frames, hello) == events(page)
    assert any(e["event"] == "workflow_plan" for e in events(page))


# ------------------------------------------------------------------------- reserved names


@pytest.fixture
def limits_server() -> Iterator[ServerProcess]:
    """daphne serving tests.limits_app: its consumer, the client module and a page using it."""
    port = free_port()
    server = ServerProcess(
        ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "tests.limits_app:application"],
        port,
        env={"DJANGO_SETTINGS_MODULE": "tests.limits_settings"},
    )
    yield server
    server.stop()


def test_control_events_count_only_in_raw_frames(
    context: BrowserContext, problems: PageProblems, limits_server: ServerProcess
) -> None:
    """Frames posing as connection_established or error do not steer the client in Chromium."""
    page = context.new_page()
    problems.watch(page)
    tap = WireTap(page)
    page.goto(url(limits_server))
    wait_events(page, "e.event === 'connection_established'")
    hello = events(page)[0]["data"]
    field_map = page.evaluate("reznetSocket.decoder.fieldMap")
    assert field_map == hello["field_map"]

    page.evaluate("reznetSocket.send('spoof', null)")
    wait_events(page, "e.event === 'after_spoof'")
    # The spoofs went over the wire as ordinary (not raw) frames ...
    spoofs = [json.loads(f) for f in tap.sockets[0].frames[1:4]]
    assert [(s["e"], "r" in s) for s in spoofs] == [
        ("connection_established", False),
        ("connection_established", False),
        ("error", False),
    ]
    # ... reached the `*` handlers only: no second greeting, no server error, no 4000 close.
    assert [e["event"] for e in events(page)] == ["connection_established", "after_spoof"]
    everything = json.loads(page.evaluate("JSON.stringify(window.reznetAll)"))
    assert [e["event"] for e in everything] == [
        "connection_established",
        "connection_established",
        "connection_established",
        "error",
        "after_spoof",
    ]
    assert page.evaluate("reznetSocket.decoder.fieldMap") == field_map
    assert events(page)[1]["data"] == {"content": "decoded with the server's map"}
    assert page.evaluate("reznetSocket.readyState") == 1
    assert page.evaluate("window.reznetClose === undefined")

    # The server itself refuses to send an application event under a control name.
    for name in ("connection_established", "error"):
        page.evaluate("name => reznetSocket.send('reserved', { name })", name)
        wait_events(page, f"e.event === 'refused' && e.data.name === {json.dumps(name)}")
    refused = [e["data"] for e in events(page) if e["event"] == "refused"]
    assert refused == [
        {"name": name, "send_event": "ReservedEventError", "broadcast": "ReservedEventError"}
        for name in ("connection_established", "error")
    ]
    page.close()
    assert problems.unexpected() == []


# ------------------------------------------------------------ the REST API and the activity feed


def post_message(server: ServerProcess, channel: str, content: str) -> dict[str, Any]:
    """``POST /api/chat/channels/<channel>/messages/`` from Python, as another service would."""
    import urllib.request

    request = urllib.request.Request(
        url(server, f"/api/chat/channels/{channel}/messages/"),
        data=json.dumps({"content": content}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WAIT_MS / 1000) as response:
        assert response.status == 201
        return dict(json.loads(response.read()))


def test_a_message_posted_through_rest_appears_in_the_page_and_its_activity_feed(
    page: Page, chat_server: ServerProcess, problems: PageProblems
) -> None:
    """The REST view broadcasts with ``broadcast_sync()``: the page shows the message over its
    WebSocket like a typed one, and the activity panel (the sync consumer) lists it."""
    page.goto(url(chat_server))
    wait_events(page, "e.event === 'connection_established'")
    page.click("#activity-panel summary")
    page.wait_for_function(
        "(window.reznetActivity || []).some(e => e.event === 'activity_recent')", timeout=WAIT_MS
    )

    sent = post_message(chat_server, "general", "posted from Python")
    wait_events(page, "e.event === 'message_new' && e.data.content === 'posted from Python'")
    page.fill("#content", "posted from the page")
    page.click("#post-api")  # fetch() with the page's CSRF token
    wait_events(page, "e.event === 'message_new' && e.data.content === 'posted from the page'")
    page.fill("#content", "typed in the page")
    page.click("#composer button[type=submit]")
    wait_events(page, "e.event === 'message_new' && e.data.content === 'typed in the page'")

    posted, clicked, typed = [e["data"] for e in events(page) if e["event"] == "message_new"][-3:]
    assert posted["message_id"] == sent["message_id"]
    assert set(posted) == set(clicked) == set(typed)
    assert posted["author_name"] == clicked["author_name"] == typed["author_name"] == "@guest"
    # Rendered by the same code: one message item each, in order.
    texts = page.locator('.messages[data-channel="general"] li.msg .text').all_text_contents()
    assert texts[-3:] == ["posted from Python", "posted from the page", "typed in the page"]
    assert page.locator("#content").input_value() == ""

    for message, source in ((posted, "api"), (clicked, "api"), (typed, "websocket")):
        item = page.locator(f'#activity li[data-mid="{message["message_id"]}"]')
        item.wait_for(timeout=WAIT_MS)
        assert item.get_attribute("data-source") == source
        assert message["content"] in (item.text_content() or "")
    newest = page.locator("#activity li").first.get_attribute("data-mid")
    assert newest == typed["message_id"]
    save_screenshot(page, "chat-activity.png")

    # A message the API refuses (over 4,000 characters) is said so and put back in the field.
    problems.allowed.append("status of 400")  # Chromium logs the refused fetch()
    too_long = "x" * 4001
    page.fill("#content", too_long)
    page.click("#post-api")
    refusal = page.locator('.messages[data-channel="general"] li.system', has_text="HTTP 400")
    refusal.wait_for(timeout=WAIT_MS)
    assert page.locator("#content").input_value() == too_long
