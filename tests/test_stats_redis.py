"""Stats on a real Redis through Django's RedisCache: several OS processes, crashes, an outage."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client, override_settings

from reznet_ws.stats import StatsRecorder, StatsUnavailable, get_recorder, get_stats
from reznet_ws.stats import recorder as recorder_module

from .conftest import free_port, require_or_skip
from .stats_worker import stats_settings

pytestmark = [pytest.mark.redis, pytest.mark.timeout(90)]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "stats_worker.py")


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A fresh cache KEY_PREFIX; its keys are deleted afterwards."""
    import redis

    name = f"reznet-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(autouse=True)
def recorder(monkeypatch: pytest.MonkeyPatch) -> StatsRecorder:
    """A fresh process recorder; the one other tests used stops flushing into this test's cache."""
    get_recorder().stop()
    fresh = StatsRecorder(autostart=False)
    monkeypatch.setattr(recorder_module, "_recorder", fresh)
    return fresh


@pytest.fixture
def on_redis(redis_url: str, prefix: str, recorder: StatsRecorder) -> Iterator[None]:
    with override_settings(**stats_settings(redis_url, prefix)):
        yield


def _start_workers(redis_url: str, prefix: str, n: int, *extra: str) -> list[subprocess.Popen[str]]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": ROOT}
    procs = [
        subprocess.Popen(
            [sys.executable, WORKER, redis_url, prefix, *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for _ in range(n)
    ]
    for proc in procs:  # every worker is set up before any starts counting
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    return procs


def _wait_for(predicate: Callable[[], bool], deadline: float = 30.0) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _reader() -> StatsRecorder:
    return StatsRecorder(autostart=False)


def test_four_processes_count_exactly(redis_url: str, prefix: str, on_redis: None) -> None:
    procs = _start_workers(redis_url, prefix, 4, "--messages", "1000")
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0 and out.strip() == "done"

    stats = get_stats(_reader())
    assert stats["total_messages"] == 4000
    assert stats["total_bytes_original"] == 4000 * 100
    assert stats["total_bytes_optimized"] == 4000 * 60
    assert stats["reduction_percentage"] == 40.0
    assert stats["avg_message_size"] == 60
    assert stats["compressed_messages"] == 400
    assert stats["errors"] == {"malformed_json": 40}
    assert stats["batches"] == {"count": 40, "messages": 160, "avg_messages_per_batch": 4.0}
    assert sum(e["messages"] for e in stats["events"].values()) == 4000
    assert stats["events"]["event0"]["messages"] == 4 * 334
    assert sum(p["messages"] for p in stats["series"]) == 4000
    assert stats["active_connections"] == 0


def test_gauges_of_a_crashed_process_expire(redis_url: str, prefix: str, on_redis: None) -> None:
    crashed = _start_workers(
        redis_url, prefix, 1, "--messages", "10", "--connections", "3", "--hold", "--ttl", "0.5"
    )[0]
    alive = _start_workers(
        redis_url, prefix, 1, "--messages", "10", "--connections", "2", "--hold", "--ttl", "0.5"
    )[0]
    try:
        for proc in (crashed, alive):
            assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        stats = get_stats(_reader())
        assert stats["active_connections"] == 5
        assert stats["connections"]["by_version"] == {"v2": 5}
        assert stats["connections"]["processes"] == 2

        crashed.send_signal(signal.SIGKILL)
        crashed.wait(timeout=10)
        # The survivor keeps its heartbeat; the dead process's gauges lapse with their TTL.
        assert _wait_for(lambda: get_stats(_reader())["active_connections"] == 2)
        stats = get_stats(_reader())
        assert stats["connections"]["processes"] == 1
        assert stats["total_messages"] == 20  # counts already flushed are kept
    finally:
        for proc in (crashed, alive):
            proc.kill()
            proc.communicate(timeout=10)


def test_clean_exit_withdraws_gauges_at_once(redis_url: str, prefix: str, on_redis: None) -> None:
    proc = _start_workers(redis_url, prefix, 1, "--messages", "5", "--connections", "4")[0]
    out, _ = proc.communicate(timeout=30)
    assert out.strip() == "done"
    stats = get_stats(_reader())
    assert stats["active_connections"] == 0
    assert stats["connections"]["opened_by_version"] == {"v2": 4}


def test_reset_on_redis_keeps_live_gauges(on_redis: None) -> None:
    recorder = _reader()
    recorder.connection_opened(1)
    for _ in range(3):
        recorder.record_message("message_new", 200, 100, False)
    assert get_stats(recorder)["total_messages"] == 3
    recorder.reset()
    stats = get_stats(recorder)
    assert stats["total_messages"] == 0
    assert stats["events"] == {}
    assert sum(p["messages"] for p in stats["series"]) == 0
    assert stats["active_connections"] == 1
    recorder.stop()  # withdraws this process's gauges
    assert get_stats(_reader())["active_connections"] == 0


# ------------------------------------------------------------------ outage


class RedisServer:
    """A redis-server of the test's own, on a free port, that the test can stop and restart."""

    def __init__(self, binary: str, tmp_path: Any) -> None:
        self.binary, self.dir, self.port = binary, str(tmp_path), free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        assert _wait_for(answers, deadline=10)
        client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def own_redis(tmp_path: Any) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    require_or_skip(binary is not None, "redis-server")
    assert binary is not None
    server = RedisServer(binary, tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.mark.django_db
def test_cache_outage_degrades_stats_not_delivery(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture, recorder: StatsRecorder
) -> None:
    caplog.set_level(logging.INFO, logger="reznet_ws.stats")
    with override_settings(
        **stats_settings(own_redis.url, "outage"), ROOT_URLCONF="tests.stats_urls"
    ):
        recorder.record_message("message_new", 100, 50, False)
        assert recorder.flush()
        assert Client().get("/api/websocket/health").status_code == 200

        own_redis.stop()
        # Recording stays in memory: nothing raises, the counts wait for the cache.
        for _ in range(1000):
            recorder.record_message("message_new", 100, 50, False)
        recorder.connection_opened(2)
        assert recorder.flush() is False
        assert recorder.flush() is False
        assert not recorder.available
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()
        with pytest.raises(StatsUnavailable):
            get_stats(recorder)

        response = Client().get("/api/websocket/health")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unhealthy"
        assert body["components"]["cache"] == {"status": "down"}
        assert body["components"]["channel_layer"] == {"status": "up"}

        own_redis.start()
        assert recorder.flush() is True
        assert "reachable again" in caplog.text
        stats = get_stats(recorder)
        # The restarted Redis is empty; everything counted during the outage arrived.
        assert stats["total_messages"] == 1000
        assert stats["active_connections"] == 1
        assert Client().get("/api/websocket/health").status_code == 200


@pytest.mark.django_db
def test_health_probes_a_redis_channel_layer(redis_url: str, recorder: StatsRecorder) -> None:
    layers = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": f"reznet-test-{uuid.uuid4().hex[:8]}"},
        }
    }
    with override_settings(CHANNEL_LAYERS=layers, ROOT_URLCONF="tests.stats_urls"):
        for _ in range(2):  # a second request reuses nothing from the first one's event loop
            response = Client().get("/api/websocket/health")
            assert response.status_code == 200
            assert response.json()["components"]["channel_layer"] == {"status": "up"}
