"""The example project's REST endpoint and activity feed, against real server processes.

Each server is ``daphne example_project.asgi:application`` on 127.0.0.1 with the example's own
settings and a SQLite file of the test's (migrated, with the demo login admin / admin). Clients
are real WebSocket clients: v2 ones decode frames with the Python codec and the map of their
``connection_established``, v1 ones read plain JSON. Posting through
``POST /api/chat/channels/<channel_id>/messages/`` must reach both kinds of client of the chat
consumer and of the sync activity consumer, once each, exactly like a message typed over a
WebSocket; on Redis, across two processes, and counted once per recipient.
"""

from __future__ import annotations

import base64
import contextlib
import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from reznet_ws.codec import SUBPROTOCOL, Codec, FieldMap

from .browser_support import ROOT, prepare_db
from .conftest import CLIENT_TIMEOUT, ServerProcess, free_port, ws_connect_sync

if TYPE_CHECKING:
    from tests.redis_server import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

STAFF = base64.b64encode(b"admin:admin").decode()  # made by `manage.py demo_setup`
MESSAGE_KEYS = {
    "message_id", "channel_id", "author_type", "author_name", "author_id", "content",
    "created_at", "updated_at",
}  # fmt: skip


# ----------------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("example-db") / "template.sqlite3"
    prepare_db(path)
    return path


@pytest.fixture
def db(template_db: Path, tmp_path: Path) -> Path:
    return Path(shutil.copyfile(template_db, tmp_path / "example.sqlite3"))


class Servers:
    """Example-project daphne processes of one test, stopped at teardown."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.running: list[ServerProcess] = []

    def env(self, redis_url: str = "") -> dict[str, str]:
        """The environment of an example-project process (a server or a command)."""
        return {
            "DJANGO_SETTINGS_MODULE": "example_project.settings",
            "DJANGO_SECRET_KEY": "example-api-tests-" + "k" * 40,
            "DJANGO_DEBUG": "",
            "EXAMPLE_DB": str(self.db),
            "REDIS_URL": redis_url,
        }

    def start(self, redis_url: str = "") -> ServerProcess:
        port = free_port()
        argv = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        server = ServerProcess(
            [*argv, "example_project.asgi:application"], port, env=self.env(redis_url)
        )
        self.running.append(server)
        return server


@pytest.fixture
def servers(db: Path) -> Iterator[Servers]:
    started = Servers(db)
    yield started
    for server in started.running:
        server.stop()


# ------------------------------------------------------------------------------------ HTTP


def request(
    server: ServerProcess,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    opener: urllib.request.OpenerDirector | None = None,
) -> tuple[int, Any]:
    """Send a GET (or a JSON POST when ``body`` is given); return the status and the JSON body."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}",
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
        method="GET" if body is None else "POST",
    )
    try:
        with (opener or urllib.request.build_opener()).open(
            req, timeout=CLIENT_TIMEOUT
        ) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def post(server: ServerProcess, channel: str, content: str, **kwargs: Any) -> dict[str, Any]:
    status, body = request(
        server, f"/api/chat/channels/{channel}/messages/", {"content": content}, **kwargs
    )
    assert status == 201, body
    return dict(body)


def event_counts(server: ServerProcess) -> dict[str, int]:
    """Messages counted per event name, fleet-wide, read through the stats API as staff."""
    status, stats = request(
        server, "/api/websocket/stats", headers={"Authorization": f"Basic {STAFF}"}
    )
    assert status == 200, stats
    return {name: figures["messages"] for name, figures in stats["events"].items()}


# ------------------------------------------------------------------------------- WebSockets


class Client:
    """A WebSocket client of the example; ``next()`` returns its next ``(event, data)``."""

    def __init__(
        self, server: ServerProcess, path: str, *, v2: bool, stack: contextlib.ExitStack
    ) -> None:
        from websockets.typing import Origin, Subprotocol

        self.ws = stack.enter_context(
            ws_connect_sync(
                f"ws://127.0.0.1:{server.port}{path}",
                origin=Origin(f"http://127.0.0.1:{server.port}"),
                subprotocols=[Subprotocol(SUBPROTOCOL)] if v2 else None,
                compression=None,
            )
        )
        self.pending: deque[tuple[str, Any]] = deque()
        self.codec: Codec | None = None
        if v2:
            assert self.ws.subprotocol == SUBPROTOCOL
            hello = json.loads(self.ws.recv(timeout=CLIENT_TIMEOUT))
            assert hello["e"] == "connection_established"
            self.codec = Codec(FieldMap(hello["d"]["field_map"], hello["d"]["timestamp_fields"]))

    def next(self, timeout: float = CLIENT_TIMEOUT) -> tuple[str, Any]:
        while not self.pending:
            frame = self.ws.recv(timeout=timeout)
            plain = json.loads(frame) if isinstance(frame, str) else {}
            if self.codec is None or "_v" not in plain:  # v1, or v2's optimize=False
                assert isinstance(frame, str) and "_v" not in plain
                self.pending.append((plain["event"], plain["data"]))
            else:
                self.pending.extend(self.codec.decode_frame(frame))
        return self.pending.popleft()

    def expect(self, event: str) -> Any:
        """Return the data of the next event, which must be ``event``."""
        name, data = self.next()
        assert name == event, (name, data)
        return data

    def send(self, event: str, data: Any = None) -> None:
        self.ws.send(json.dumps({"event": event, "data": data}))


@pytest.fixture
def clients() -> Iterator[contextlib.ExitStack]:
    """Where the test's clients are opened; they are closed before its servers stop."""
    with contextlib.ExitStack() as stack:
        yield stack


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def same_message(body: dict[str, Any], event: dict[str, Any]) -> None:
    """The API's answer and the broadcast event describe the same message.

    The wire carries timestamps to the millisecond; the API answers with DRF's microseconds.
    """
    assert set(event) == MESSAGE_KEYS
    assert {k: v for k, v in body.items() if k not in ("created_at", "delivered")} == {
        k: v for k, v in event.items() if k != "created_at"
    }
    assert abs((instant(body["created_at"]) - instant(event["created_at"])).total_seconds()) < 1e-3


# ------------------------------------------------------------------------------------ tests


def test_a_post_reaches_v1_and_v2_clients_like_a_typed_message(
    servers: Servers, clients: contextlib.ExitStack
) -> None:
    server = servers.start()
    chat_v2 = Client(server, "/ws/chat/", v2=True, stack=clients)
    chat_v1 = Client(server, "/ws/chat/", v2=False, stack=clients)
    feed_v2 = Client(server, "/ws/activity/", v2=True, stack=clients)
    feed_v1 = Client(server, "/ws/activity/", v2=False, stack=clients)
    for feed in (feed_v2, feed_v1):
        assert feed.expect("activity_recent") == {"channel_id": None, "items": []}

    chat_v2.send("send_message", {"content": "typed in the page"})
    typed = chat_v2.expect("message_new")
    assert chat_v1.expect("message_new") == typed
    body = post(server, "general", "  posted through REST  ")
    assert body["delivered"] is True and body["content"] == "posted through REST"
    posted = chat_v2.expect("message_new")
    assert chat_v1.expect("message_new") == posted
    same_message(body, posted)
    # A posted message is a typed one in all but its text, its id and its author's id.
    assert set(posted) == set(typed) == MESSAGE_KEYS
    for key in ("channel_id", "author_type", "author_name", "updated_at"):
        assert posted[key] == typed[key]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", posted["created_at"])

    for feed in (feed_v2, feed_v1):
        first, second = feed.expect("activity_new"), feed.expect("activity_new")
        assert (first["message_id"], first["source"]) == (typed["message_id"], "websocket")
        assert (second["message_id"], second["source"]) == (posted["message_id"], "api")
        assert second["preview"] == "posted through REST" and second["channel_id"] == "general"
        assert second["created_at"] == posted["created_at"]


def test_the_sync_activity_consumer_answers_its_orm_query(
    servers: Servers, clients: contextlib.ExitStack
) -> None:
    server = servers.start()
    staff = {"headers": {"Authorization": f"Basic {STAFF}"}}
    posted = [
        post(server, "general", "one"),
        post(server, "engineering", "two", **staff),
        post(server, "engineering", "three"),
    ]
    assert [m["author_name"] for m in posted] == ["@guest", "@admin", "@guest"]

    # On connect: the latest messages of every channel, newest first, from the database.
    feed = Client(server, "/ws/activity/", v2=True, stack=clients)
    recent = feed.expect("activity_recent")
    assert recent["channel_id"] is None
    assert [i["message_id"] for i in recent["items"]] == [m["message_id"] for m in posted[::-1]]
    assert {i["source"] for i in recent["items"]} == {"api"}

    # On request: one channel, a limit; an unknown channel means every channel.
    feed.send("recent", {"channel_id": "engineering", "limit": 1})
    answer = feed.expect("activity_recent")
    assert answer["channel_id"] == "engineering"
    assert [i["preview"] for i in answer["items"]] == ["three"]
    feed.send("recent", {"channel_id": "nowhere", "limit": "all"})
    assert feed.expect("activity_recent") == recent
    feed.send("subscribe", {})
    assert feed.expect("unknown_event") == {"event": "subscribe"}

    # The REST endpoint reads the same rows; it refuses what the demo does not have.
    status, listed = request(server, "/api/chat/channels/engineering/messages/")
    assert status == 200
    assert [m["content"] for m in listed] == ["three", "two"]
    assert listed[1] == {k: v for k, v in posted[1].items() if k != "delivered"}
    assert request(server, "/api/chat/channels/nowhere/messages/", {"content": "x"})[0] == 404
    status, problem = request(server, "/api/chat/channels/general/messages/", {"content": " "})
    assert status == 400 and "content" in problem


def test_a_session_post_needs_the_csrf_token(servers: Servers) -> None:
    """Logged in through the admin's form, the page's way: DRF checks the CSRF token."""
    server = servers.start()
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login = f"http://127.0.0.1:{server.port}/admin/login/?next=/admin/"
    with browser.open(login, timeout=CLIENT_TIMEOUT) as page:
        form = page.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert token is not None
    fields = {"csrfmiddlewaretoken": token.group(1), "username": "admin", "password": "admin"}
    with browser.open(
        urllib.request.Request(
            login,
            data=urllib.parse.urlencode(fields).encode(),
            headers={"Referer": login},
        ),
        timeout=CLIENT_TIMEOUT,
    ) as done:
        assert done.url.endswith("/admin/")
    cookies = {cookie.name: cookie.value for cookie in jar}
    assert "sessionid" in cookies

    status, refused = request(
        server, "/api/chat/channels/general/messages/", {"content": "forged"}, opener=browser
    )
    assert status == 403 and "CSRF" in refused["detail"]
    headers = {"X-CSRFToken": cookies["csrftoken"], "Referer": login}
    body = post(server, "general", "from my session", headers=headers, opener=browser)
    assert body["author_name"] == "@admin" and body["delivered"] is True


@pytest.mark.redis
def test_two_processes_on_redis_deliver_once_and_count_once_per_recipient(
    servers: Servers, clients: contextlib.ExitStack, redis_server: RedisServer
) -> None:
    first, second = servers.start(redis_server.url), servers.start(redis_server.url)
    chat_v2 = Client(first, "/ws/chat/", v2=True, stack=clients)
    chat_v1 = Client(second, "/ws/chat/", v2=False, stack=clients)
    feed = Client(second, "/ws/activity/", v2=True, stack=clients)
    assert feed.expect("activity_recent")["items"] == []

    # Each post is the next event of every client: nothing arrives twice, nothing is missing.
    for server, content in ((first, "posted to the first"), (second, "posted to the second")):
        body = post(server, "general", content)
        assert body["delivered"] is True
        for chat in (chat_v2, chat_v1):
            same_message(body, chat.expect("message_new"))
        assert feed.expect("activity_new")["message_id"] == body["message_id"]

    # A management command is one more process: it stores and broadcasts through Redis too.
    done = subprocess.run(
        [sys.executable, "manage.py", "chat_post", "general", "from a command"],
        cwd=ROOT,
        env={**os.environ, **servers.env(redis_server.url)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "in memory" not in done.stderr
    for chat in (chat_v2, chat_v1):
        assert chat.expect("message_new")["content"] == "from a command"
    assert feed.expect("activity_new")["source"] == "command"

    # Each process counts what it delivered; the stats API adds the processes up (Redis).
    # A process flushes its counts when it answers the stats API, so both are asked, until
    # their deliveries are all counted (a delivery is counted just after its frame is written).
    # The deadline bounds a hang only: the assert below then says what is missing.
    deadline = time.monotonic() + CLIENT_TIMEOUT
    while True:
        event_counts(second)
        counts = event_counts(first)
        counted = counts.get("message_new", 0) >= 6 and counts.get("activity_new", 0) >= 3
        if counted or time.monotonic() > deadline:
            break
    # 3 messages x 2 chat clients, 3 messages x 1 feed: once per recipient.
    assert (counts.get("message_new"), counts.get("activity_new")) == (6, 3)
