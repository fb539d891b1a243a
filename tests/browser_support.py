"""Helpers of the browser tests: Chromium, example-project servers, a v1 client, wire decoding.

Playwright drives Debian's ``/usr/bin/chromium`` (``REZNET_CHROMIUM`` overrides the path); it
never downloads a browser of its own. Screenshots go to ``test-artifacts/``; with
``REZNET_DOCS_SCREENSHOTS=1`` they are copied to ``docs/img/`` too.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reznet_ws.codec import Codec, FieldMap
from reznet_ws.codec.entities import EntityTable, resolve_frame
from reznet_ws.codec.keyed_receiver import KeyedReceiver
from reznet_ws.codec.stream import StreamDecoder, is_stream_frame

from .conftest import CLIENT_TIMEOUT, ws_connect_sync

if TYPE_CHECKING:
    from playwright.sync_api import CDPSession, Page, Route, WebSocket

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
DOCS_IMG = ROOT / "docs" / "img"
CHROMIUM = os.environ.get("REZNET_CHROMIUM", "/usr/bin/chromium")
# Headless on a machine without internet: no sandbox (root in CI), no GPU, and none of
# Chromium's background connections, which would only fail.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1360, "height": 820}
#: Milliseconds Playwright waits for Chromium to start, for a page, for a selector: a bound on a
#: hang only (a busy machine starts a browser slowly), never a decision of a test.
PLAYWRIGHT_TIMEOUT_MS = 120_000
STATIC = ROOT / "reznet_ws" / "static" / "reznet_ws"


def chromium_available() -> bool:
    """Return True when the playwright package and the Chromium binary are both there."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return os.access(CHROMIUM, os.X_OK)


def server_env(db: Path) -> dict[str, str]:
    """Environment of an example-project process: its own SQLite file, embedded defaults.

    DEBUG is on, as under ``make run``: runserver serves the JS client's static files only then.
    """
    return {
        "DJANGO_DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "EXAMPLE_DB": str(db),
        "REDIS_URL": "",
    }


def prepare_db(db: Path) -> None:
    """Create the example project's database at ``db``: ``migrate`` and ``demo_setup``."""
    env = {**os.environ, **server_env(db)}
    for command in (["migrate", "--noinput"], ["demo_setup"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {command[0]} failed:\n{done.stdout}\n{done.stderr}")


def runserver_argv(port: int, *, deflate: bool) -> list[str]:
    """``manage.py runserver`` as ``make run`` starts it (reznet's, so daphne + deflate)."""
    argv = ["manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    return argv if deflate else [*argv, "--no-permessage-deflate"]


def reznet_daphne_argv(port: int) -> list[str]:
    """The ``reznet-daphne`` console script serving the example project and its static files."""
    script = Path(sys.executable).with_name("reznet-daphne")
    command = [str(script)] if script.exists() else ["-m", "reznet_ws.server.cli"]
    return [*command, "-b", "127.0.0.1", "-p", str(port), "tests.browser_asgi:application"]


def save_screenshot(page: Page, name: str) -> Path:
    """Save a screenshot of ``page`` as ``test-artifacts/<name>`` (and in docs/img on request)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    if os.environ.get("REZNET_DOCS_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(exist_ok=True)
        shutil.copyfile(path, DOCS_IMG / name)
    return path


def wire_size(payload: str | bytes) -> int:
    """Bytes of a WebSocket message as the JS client counts them (UTF-8 for text)."""
    return len(payload.encode("utf-8")) if isinstance(payload, str) else len(payload)


@dataclass
class TappedSocket:
    """One WebSocket of a page with the frames it received, as Playwright saw them."""

    url: str
    frames: list[str | bytes] = field(default_factory=list)


class WireTap:
    """Records every WebSocket a page opens and the frames it receives (before the page's JS)."""

    def __init__(self, page: Page) -> None:
        self.sockets: list[TappedSocket] = []
        page.on("websocket", self._opened)

    def _opened(self, ws: WebSocket) -> None:
        tapped = TappedSocket(ws.url)
        ws.on("framereceived", lambda payload: tapped.frames.append(payload))
        self.sockets.append(tapped)


class Handshakes:
    """The WebSocket handshakes of a page, with the headers Chromium sent and received (CDP)."""

    def __init__(self, cdp: CDPSession) -> None:
        self.requests: list[dict[str, str]] = []
        self.responses: list[dict[str, str]] = []
        cdp.on(
            "Network.webSocketWillSendHandshakeRequest",
            lambda p: self.requests.append(_lower(p["request"]["headers"])),
        )
        cdp.on(
            "Network.webSocketHandshakeResponseReceived",
            lambda p: self.responses.append(_lower(p["response"]["headers"])),
        )
        cdp.send("Network.enable")


@dataclass
class LocalPage:
    """A Chromium page served by Playwright at a server's origin, with its sockets' frames."""

    page: Page
    tap: WireTap
    problems: list[str]


@contextlib.contextmanager
def local_page(port: int, mounts: dict[str, Path] | None = None) -> Iterator[LocalPage]:
    """Open a blank page at ``http://127.0.0.1:<port>/`` that can import the JS client's files.

    Playwright answers the page's HTTP requests (daphne only sees the WebSockets): ``/`` is an
    empty page, ``/<name>`` a file of the JS client, and each of ``mounts`` maps a URL (a folder
    when it ends with ``/``) to a file or folder on disk. The origin is the server's because
    Chromium blocks a public origin's sockets to 127.0.0.1; as the page is not served by it,
    Local Network Access checks are turned off too. Uncaught page errors go to ``problems``.
    """
    from playwright.sync_api import sync_playwright

    def serve(route: Route) -> None:
        path = "/" + route.request.url.split("/", 3)[3]
        if path == "/":
            route.fulfill(body="<!doctype html><meta charset=utf-8><title>reznet-ws</title>")
            return
        file, ok = STATIC / path.lstrip("/"), False
        for url, place in (mounts or {}).items():
            if url.endswith("/") and path.startswith(url):
                file = (place / path.removeprefix(url)).resolve()
                ok = file.is_relative_to(place.resolve()) and file.is_file()
                break
            if path == url:
                file, ok = place, True
                break
        else:
            ok = file.parent == STATIC and file.exists()
        if not ok:
            route.fulfill(status=404, body="")
            return
        route.fulfill(body=file.read_text(encoding="utf-8"), content_type="text/javascript")

    with sync_playwright() as playwright:
        args = [*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"]
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=args, timeout=PLAYWRIGHT_TIMEOUT_MS
        )
        page = browser.new_page()
        page.set_default_timeout(PLAYWRIGHT_TIMEOUT_MS)
        origin = f"http://127.0.0.1:{port}"
        page.route(f"{origin}/**", serve)
        local = LocalPage(page, WireTap(page), [])
        page.on("pageerror", lambda error: local.problems.append(f"uncaught: {error}"))
        page.goto(f"{origin}/")
        yield local
        browser.close()


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def decode_wire(frames: list[str | bytes], hello: dict[str, Any]) -> list[dict[str, Any]]:
    """Decode received frames with the Python codec and the map of ``connection_established``."""
    codec = Codec(FieldMap(hello["field_map"], hello["timestamp_fields"]))
    keyed = KeyedReceiver(codec)  # keyed and delta frames (protocol 3.2), as the client does
    entities = EntityTable(hello.get("features", {}).get("entity_refs", 256))  # protocol 3.4
    streams = StreamDecoder()  # group-stream frames (protocol 3.3)
    out = []
    for frame in frames:
        if isinstance(frame, bytes) and is_stream_frame(frame):
            frame = streams.decode(frame)
        if isinstance(frame, bytes) and frame[:2] == b"\x1f\x8b":
            frame = gzip.decompress(frame).decode("utf-8")
        parsed = json.loads(frame) if isinstance(frame, str) else None
        if isinstance(parsed, dict) and "k" in parsed:
            event, data, _ = keyed.receive(parsed) or ("(gap)", None, None)
            out.append({"event": event, "data": data})
        elif isinstance(parsed, dict) and "t" in parsed and "e" in parsed:
            value = resolve_frame(parsed, entities)
            out.append({"event": parsed["e"], "data": codec.decode_data(value)})
        else:
            out += [{"event": e, "data": d} for e, d in codec.decode_frame(frame)]
    return out


class V1Client:
    """A plain WebSocket client (no subprotocol, no compression): what a legacy client gets."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.raw: list[str] = []
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> V1Client:
        self.ws = self._stack.enter_context(
            ws_connect_sync(
                f"ws://127.0.0.1:{self.port}/ws/chat/",
                origin=f"http://127.0.0.1:{self.port}",
                compression=None,
            )
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def receive(self, count: int, timeout: float = CLIENT_TIMEOUT) -> list[dict[str, Any]]:
        """Receive ``count`` more frames; return every event received so far."""
        for _ in range(count):
            frame = self.ws.recv(timeout=timeout)
            assert isinstance(frame, str), "v1 frames are text"
            self.raw.append(frame)
        return [json.loads(frame) for frame in self.raw]
