"""Shared fixtures: a real Redis (never skipped on CI), free ports, server processes, a fresh
stats recorder, the users of the permission matrices."""

from __future__ import annotations

import functools
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hypothesis
import pytest

if TYPE_CHECKING:
    from websockets.asyncio.client import connect as AsyncConnect
    from websockets.sync.client import ClientConnection as SyncConnection

    from reznet_ws.stats import StatsRecorder
    from tests.redis_server import RedisServer

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Every property test runs without Hypothesis's 200 ms deadline per example, and without its
# "data generation is slow" check: a busy machine (a GC pause, a starved CPU) trips both, and
# neither is what a test checks. Loaded here, before any test module builds its settings, so
# a test's own @settings inherits it and no test can forget it.
hypothesis.settings.register_profile(
    "reznet", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("reznet")


def _redis_answers(url: str) -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        # Generous: a Redis shared with other test runs may be slow to answer on a busy machine.
        client = redis.Redis.from_url(url, socket_connect_timeout=10, socket_timeout=10)
        with client:
            return bool(client.ping())
    except Exception:
        return False


def require_or_skip(available: bool, what: str) -> None:
    """Skip when ``what`` is missing locally; fail on CI, where everything must run."""
    if available:
        return
    if ON_CI:
        pytest.fail(f"{what} is required on CI (CI=true) but is not available")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the real Redis the tests use (127.0.0.1:6379 or $REDIS_URL)."""
    require_or_skip(_redis_answers(REDIS_URL), f"Redis at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
def make_redis_server(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """A factory of started redis-servers of the test's own (see tests/redis_server.py).

    Each call takes ``RedisServer``'s keyword arguments (``appendonly``, ``extra_args``) and
    returns a server answering PING; all of them are stopped at teardown.
    """
    from tests.redis_server import RedisServer, redis_server_available

    require_or_skip(redis_server_available(), "the redis-server binary")
    servers: list[RedisServer] = []

    def make(**kwargs: Any) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(servers)}", **kwargs)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def redis_server(make_redis_server: Callable[..., RedisServer]) -> RedisServer:
    """A started redis-server of the test's own, nothing persisted, stopped at teardown."""
    return make_redis_server()


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def port() -> Iterator[int]:
    yield free_port()


#: Starts of a server process whose port was taken between ``free_port()`` and its listening.
_START_ATTEMPTS = 5


#: Seconds Channels' test communicators wait by default (theirs is 1 s, which a busy machine can
#: exceed between two steps of a healthy test). Explicit timeouts are left as they are.
COMMUNICATOR_TIMEOUT = 30.0


def _patient_communicators() -> None:
    from asgiref.testing import ApplicationCommunicator
    from channels.testing import WebsocketCommunicator

    waits = {
        WebsocketCommunicator: ("connect", "receive_from", "receive_json_from", "disconnect"),
        ApplicationCommunicator: ("receive_output", "wait"),
    }
    for cls, names in waits.items():
        for name in names:
            original = cls.__dict__[name]

            def patient(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
                if not args and "timeout" not in kwargs:
                    kwargs["timeout"] = COMMUNICATOR_TIMEOUT
                return __original(self, *args, **kwargs)

            functools.update_wrapper(patient, original)
            setattr(cls, name, patient)


_patient_communicators()


#: Seconds a daphne-based server under test waits for the application to accept a WebSocket.
#: daphne rejects a handshake the application has not answered within 5 s with HTTP 403; a fresh
#: process on a busy machine (importing Django, connecting to Redis) can take longer than that.
HANDSHAKE_TIMEOUT = "120"


#: Seconds a WebSocket client of the tests waits to connect or for a frame: a bound on a hang.
CLIENT_TIMEOUT = 60.0


def _patient_client(kwargs: dict[str, Any]) -> dict[str, Any]:
    # websockets' defaults (open_timeout=10, a ping every 20 s answered within 20 s) fail a
    # healthy connection to a just-started server on a busy machine; keepalive is no test's
    # subject. A test's own values win.
    return {"open_timeout": CLIENT_TIMEOUT, "ping_interval": None, **kwargs}


def ws_connect(uri: str, **kwargs: Any) -> AsyncConnect:
    """``websockets.asyncio.client.connect(uri, **kwargs)`` waiting as long as a busy machine
    needs for the handshake, sending no keepalive pings (``async with`` it, or await it)."""
    from websockets.asyncio.client import connect

    return connect(uri, **_patient_client(kwargs))


def ws_connect_sync(uri: str, **kwargs: Any) -> SyncConnection:
    """``websockets.sync.client.connect(uri, **kwargs)``, as patient as :func:`ws_connect`."""
    from websockets.sync.client import connect

    return connect(uri, **_patient_client(kwargs))


def patient_handshakes(argv: list[str]) -> list[str]:
    """Return ``argv`` of a daphne, reznet-daphne or ``runserver`` process with
    :data:`HANDSHAKE_TIMEOUT` (unless it sets its own); other servers' argv unchanged."""
    if "runserver" in argv:
        flag = "--websocket_handshake_timeout"
    elif any(
        arg in ("daphne", "reznet_ws.server.cli") or arg.endswith("reznet-daphne") for arg in argv
    ):
        flag = "--websocket_connect_timeout"
    else:
        return argv
    return argv if flag in argv else [*argv, flag, HANDSHAKE_TIMEOUT]


class ServerProcess:
    """A real server process (daphne, reznet-daphne, uvicorn, runserver) on 127.0.0.1.

    The constructor returns once the process listens. ``port`` comes from :func:`free_port`, and
    another process may take it before the server listens: a server that exits with "address
    already in use" is started again on another free port (every argument equal to the port or
    ending in ``:<port>`` is rewritten), so callers read the port from :attr:`port`. With
    ``movable=False`` (a restart that clients expect on the same port) it raises instead.
    """

    #: Seconds a server has to start listening: only a bound on a hang (a busy machine starts
    #: Django, Twisted and the app slowly), never a decision of a test.
    start_timeout = 120.0

    def __init__(
        self,
        argv: list[str],
        port: int,
        env: dict[str, str] | None = None,
        *,
        movable: bool = True,
    ) -> None:
        self.port = port
        self._argv = patient_handshakes(list(argv))
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        for attempt in range(1, _START_ATTEMPTS + 1):
            self._spawn()
            try:
                self.wait_ready(self.start_timeout)
                return
            except RuntimeError as error:
                in_use = "address already in use" in self.output().lower()
                if in_use and not movable:
                    # Fail now: clients waiting on this port would otherwise wait for ever.
                    raise RuntimeError(
                        f"port {port} is taken by another process, and this server may not "
                        "move to another port (movable=False)"
                    ) from error
                if attempt == _START_ATTEMPTS or not in_use:
                    raise
            self._move_to(free_port())

    def _spawn(self) -> None:
        import subprocess
        import sys
        import tempfile

        self._final_output: str | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="server-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [sys.executable, *self._argv],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=self._env,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )

    def _move_to(self, port: int) -> None:
        old, new = str(self.port), str(port)
        self._argv = [
            new if arg == old else arg[: -len(old)] + new if arg.endswith(f":{old}") else arg
            for arg in self._argv
        ]
        self.port = port

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Return once this process accepts connections on :attr:`port`; raise if it exits."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                output = self.output()
                self.stop()
                raise RuntimeError(f"server exited early:\n{output}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5):
                    pass
            except OSError:
                time.sleep(0.1)  # poll interval, not a wait for a condition
                continue
            if self.proc.poll() is None:  # the listener is not a process that exited since
                return
        output = self.output()
        self.stop()
        raise RuntimeError(f"server did not listen on {self.port} in {timeout} s:\n{output}")

    def output(self) -> str:
        """Return what the server printed (kept after ``stop()``, which deletes the log file)."""
        if self._final_output is not None:
            return self._final_output
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def stop(self) -> None:
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self.log.close()
        if self._final_output is None:
            self._final_output = self.output()
            os.unlink(self.log.name)


def app_server_argv(port: int) -> list[str]:
    """Arguments of a daphne process serving the test suite's ASGI app (tests/asgi.py)."""
    return ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "tests.asgi:application"]


@pytest.fixture
def app_server() -> Iterator[ServerProcess]:
    """The test suite's own app under a real daphne process on 127.0.0.1 (in-memory layer)."""
    port = free_port()
    server = ServerProcess(
        app_server_argv(port),
        port,
        env={"DJANGO_SETTINGS_MODULE": "tests.settings", "REZNET_TEST_LAYER_URL": ""},
    )
    yield server
    server.stop()


@pytest.fixture
def users(django_user_model: Any) -> dict[str, Any]:
    """The three users of the permission matrices: anonymous, authenticated, staff."""
    return {
        "anonymous": None,
        "user": django_user_model.objects.create_user("user"),
        "staff": django_user_model.objects.create_user("staff", is_staff=True),
    }


def client_for(user: Any, **kwargs: Any) -> Any:
    """Return a Django test client logged in as ``user`` (anonymous for None)."""
    from django.test import Client

    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def recorder_config() -> dict[str, object]:
    """``REZNET_WS`` keys the ``recorder`` fixture sets besides its key prefix.

    A test module overrides this fixture to count with other options (``STATS_PROMETHEUS``...).
    """
    return {}


@pytest.fixture
def recorder(
    monkeypatch: pytest.MonkeyPatch, recorder_config: dict[str, object]
) -> Iterator[StatsRecorder]:
    """A fresh process recorder, not started, counting under a cache key prefix of this test's own.

    The process recorder other tests used is stopped first: its flush thread would otherwise
    write into this test's cache. Modules whose every test counts use it with
    ``pytestmark = pytest.mark.usefixtures("recorder")``.
    """
    from django.test import override_settings

    from reznet_ws.stats import StatsRecorder, get_recorder
    from reznet_ws.stats import recorder as recorder_module

    get_recorder().stop()
    fresh = StatsRecorder(autostart=False)
    monkeypatch.setattr(recorder_module, "_recorder", fresh)
    config = {"STATS_KEY_PREFIX": f"t-{uuid.uuid4().hex[:10]}", **recorder_config}
    with override_settings(REZNET_WS=config):
        yield fresh
