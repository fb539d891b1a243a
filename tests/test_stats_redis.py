"""Stats on a real Redis through Django's RedisCache: several OS processes, crashes, an outage.

The counting tests use a redis-server of their own: their counts are exact, and another test run
on the machine may empty the shared Redis's database meanwhile (Django's ``RedisCache.clear()`` is
a ``FLUSHDB``). Every wait is for a condition or an acknowledgement; the deadlines only bound a
hang.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import override_settings

from reznet_ws.stats import (
    StatsRecorder,
    StatsStore,
    StatsUnavailable,
    get_stats,
)

from .conftest import client_for
from .redis_server import RedisServer
from .stats_worker import stats_settings

pytestmark = [pytest.mark.redis, pytest.mark.timeout(300), pytest.mark.usefixtures("recorder")]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "stats_worker.py")
HEALTH = "/api/websocket/health"
#: Seconds any one wait may take: a bound on a hang only (a busy machine may be slow).
DEADLINE = 60.0


@pytest.fixture
def prefix() -> str:
    """A fresh cache KEY_PREFIX."""
    return f"reznet-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def on_redis(redis_server: RedisServer, prefix: str, recorder: StatsRecorder) -> Iterator[None]:
    """The stats on this test's own redis-server, under ``prefix``."""
    with override_settings(**stats_settings(redis_server.url, prefix)):
        yield


@pytest.fixture
def patient_health(monkeypatch: pytest.MonkeyPatch) -> None:
    """Health probes that wait as long as a busy machine needs.

    The view's default (half a second) would report a slow answer as ``timeout``, so
    ``degraded``; a probe of a stopped Redis fails at once whatever the bound.
    """
    from reznet_ws.api.views import HealthView

    monkeypatch.setattr(HealthView, "probe_timeout", DEADLINE)


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


def _wait_for(predicate: Callable[[], bool], deadline: float = DEADLINE) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)  # poll interval, not a wait for a condition
    return predicate()


def _reader() -> StatsRecorder:
    return StatsRecorder(autostart=False)


def _stats_when(predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Return the first stats read for which ``predicate`` holds; fail with the last one read."""
    last: dict[str, Any] = {}

    def holds() -> bool:
        nonlocal last
        last = get_stats(_reader())
        return predicate(last)

    assert _wait_for(holds), last
    return last


def _gauges(stats: dict[str, Any]) -> tuple[int, dict[str, int], int]:
    connections = stats["connections"]
    return stats["active_connections"], connections["by_version"], connections["processes"]


def _flushed(recorder: StatsRecorder) -> bool:
    """Flush until the store acknowledges, as the flush thread would; False past the deadline.

    A healthy Redis may answer a busy machine later than the stall tests' short socket timeout:
    that flush fails and the next one sends the same numbered batch again, which the store adds
    once (what these tests check). Only a flush to a frozen or dead Redis must fail.
    """
    return _wait_for(recorder.flush)


def test_four_processes_count_exactly(
    redis_server: RedisServer, prefix: str, on_redis: None
) -> None:
    procs = _start_workers(redis_server.url, prefix, 4, "--messages", "1000")
    for proc in procs:
        out, _ = proc.communicate(timeout=DEADLINE)
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


def test_gauges_of_a_crashed_process_expire(
    redis_server: RedisServer, prefix: str, on_redis: None
) -> None:
    # Gauges live 1 s past their process's last heartbeat (one every 10 ms). A pause of a busy
    # machine may let them lapse for a moment: the next heartbeat puts them back, so the test
    # waits for each state it asserts rather than reading once.
    hold = ("--messages", "10", "--hold", "--ttl", "1")
    crashed = _start_workers(redis_server.url, prefix, 1, *hold, "--connections", "3")[0]
    alive = _start_workers(redis_server.url, prefix, 1, *hold, "--connections", "2")[0]
    try:
        for proc in (crashed, alive):  # "held": the store acknowledged every count
            assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        assert get_stats(_reader())["total_messages"] == 20
        _stats_when(lambda stats: _gauges(stats) == (5, {"v2": 5}, 2))

        crashed.send_signal(signal.SIGKILL)
        crashed.wait(timeout=DEADLINE)
        # The survivor keeps its heartbeat; the dead process's gauges lapse with their TTL.
        stats = _stats_when(lambda stats: _gauges(stats) == (2, {"v2": 2}, 1))
        assert stats["total_messages"] == 20  # counts already flushed are kept
    finally:
        for proc in (crashed, alive):
            proc.kill()
            proc.communicate(timeout=DEADLINE)


def test_clean_exit_withdraws_gauges_at_once(
    redis_server: RedisServer, prefix: str, on_redis: None
) -> None:
    proc = _start_workers(redis_server.url, prefix, 1, "--messages", "5", "--connections", "4")[0]
    out, _ = proc.communicate(timeout=DEADLINE)
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


@pytest.mark.django_db
def test_cache_outage_degrades_stats_not_delivery(
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
    recorder: StatsRecorder,
    users: dict[str, Any],
    patient_health: None,
) -> None:
    caplog.set_level(logging.INFO, logger="reznet_ws.stats")
    anonymous, staff = client_for(None), client_for(users["staff"])
    with override_settings(**stats_settings(redis_server.url, "outage")):
        recorder.record_message("message_new", 100, 50, False)
        assert recorder.flush()
        assert anonymous.get(HEALTH).json() == {"status": "healthy"}

        redis_server.stop()
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

        # Delivery goes on, so the process still answers 200; the details are staff-only.
        response = anonymous.get(HEALTH)
        assert response.status_code == 200
        assert response.json() == {"status": "degraded"}
        body = staff.get(HEALTH).json()
        assert body["status"] == "degraded"
        assert body["components"]["cache"]["status"] == "down"
        assert body["components"]["channel_layer"] == {"status": "up"}

        redis_server.start()
        assert recorder.flush() is True
        assert "reachable again" in caplog.text
        stats = get_stats(recorder)
        # The restarted Redis is empty; everything counted during the outage arrived.
        assert stats["total_messages"] == 1000
        assert stats["active_connections"] == 1
        assert anonymous.get(HEALTH).json() == {"status": "healthy"}


@pytest.mark.django_db
def test_health_probes_a_redis_channel_layer(
    redis_url: str, recorder: StatsRecorder, users: dict[str, Any], patient_health: None
) -> None:
    layers = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": f"reznet-test-{uuid.uuid4().hex[:8]}"},
        }
    }
    staff = client_for(users["staff"])  # the components are for the stats permission only
    with override_settings(CHANNEL_LAYERS=layers):
        for _ in range(2):  # a second request reuses nothing from the first one's event loop
            response = staff.get(HEALTH)
            assert response.status_code == 200
            assert response.json()["components"]["channel_layer"] == {"status": "up"}


# ------------------------------------------------------------------ stalls


def _stall_settings(url: str, prefix: str) -> dict[str, Any]:
    """Stats on ``url`` with short socket timeouts, so that a flush to a frozen Redis fails.

    A flush to the Redis while it runs is retried until acknowledged (:func:`_flushed`): on a busy
    machine it may take longer than these timeouts.
    """
    settings = stats_settings(url, prefix)
    settings["CACHES"]["stats"]["OPTIONS"] = {"socket_timeout": 0.3, "socket_connect_timeout": 0.3}
    return settings


def _stored_messages(server: RedisServer, prefix: str) -> int:
    with server.client() as client:
        return int(client.hget(f"{prefix}:1:reznet_ws:counters", "total_messages") or 0)


def test_a_flush_that_timed_out_in_a_stall_is_counted_once(
    redis_server: RedisServer, recorder: StatsRecorder
) -> None:
    with override_settings(**_stall_settings(redis_server.url, "stall")):
        recorder.record_message("message_new", 100, 50, False, count=100)
        assert _flushed(recorder)
        recorder.record_message("message_new", 100, 50, False, count=50)
        redis_server.pause()
        # The flush times out; its command waits, unread, in the frozen server's socket.
        assert recorder.flush() is False
        recorder.record_message("message_new", 100, 50, False, count=7)
        redis_server.resume()
        # Redis runs the flush the recorder gave up on: re-sending it must not count it again.
        assert _wait_for(lambda: _stored_messages(redis_server, "stall") == 150)
        assert _flushed(recorder)
        assert _stored_messages(redis_server, "stall") == 157
        stats = get_stats(_reader())
        assert stats["total_messages"] == 157
        assert stats["events"]["message_new"]["bytes_original"] == 157 * 100
        assert sum(p["messages"] for p in stats["series"]) == 157


def test_a_batch_sent_again_after_a_restart_with_data_is_counted_once(
    redis_server: RedisServer, recorder: StatsRecorder
) -> None:
    with override_settings(**_stall_settings(redis_server.url, "restart")):
        recorder.connection_opened(2)
        assert _flushed(recorder)  # (Redis now has the flush script: a stalled call can run)
        recorder.record_message("message_new", 100, 50, False, count=20)
        redis_server.pause()
        assert recorder.flush() is False
        redis_server.resume()
        assert _wait_for(lambda: _stored_messages(redis_server, "restart") == 20)
        # Saved, stopped and started again on the same port: the batch numbers were kept too.
        redis_server.restart(keep_data=True)
        assert _stored_messages(redis_server, "restart") == 20
        recorder.record_message("message_new", 100, 50, False, count=3)
        assert _flushed(recorder)
        stats = get_stats(_reader())
        assert stats["total_messages"] == 23
        assert stats["active_connections"] == 1


def test_a_batch_in_flight_reaches_a_redis_that_crashed_and_came_back_empty(
    redis_server: RedisServer, recorder: StatsRecorder
) -> None:
    with override_settings(**_stall_settings(redis_server.url, "crash")):
        recorder.record_message("message_new", 100, 50, False, count=10)
        assert _flushed(recorder)
        recorder.record_message("message_new", 100, 50, False, count=5)
        redis_server.kill()
        assert recorder.flush() is False
        redis_server.restart(keep_data=False)
        assert _flushed(recorder)
        # The crash took the first 10 (and the batch numbers) with it; the batch in flight landed.
        assert _stored_messages(redis_server, "crash") == 5


def test_redis_store_adds_each_numbered_batch_once(redis_server: RedisServer) -> None:
    with override_settings(**stats_settings(redis_server.url, "seq")):
        store = StatsStore(alias="stats")
        batch = ({"a": 2, "b": 1}, {10: (1, 50, 20)})
        assert store.apply(*batch, None, ("p", 1)) is True
        assert store.apply(*batch, None, ("p", 1)) is False  # sent again: already in
        assert store.apply({"a": 5}, {}, None, ("p", 2)) is True
        assert store.apply(*batch, None, ("p", 1)) is False  # late: a later batch is in
        assert store.apply({"a": 7}, {}, None, ("q", 1)) is True  # numbers are per process
        assert store.apply({"a": 1}, {}, None, None) is True  # unnumbered: always added
        # Gauges alone go under the last number: refreshed, nothing added.
        assert store.apply({}, {}, ("p", {"v2": 1}, 60.0), ("p", 2)) is False
        snapshot = store.read([10])
        assert snapshot.counters == {"a": 15, "b": 1}
        assert snapshot.minutes == {10: {"messages": 1, "original": 50, "optimized": 20}}
        assert snapshot.processes == {"p": {"v2": 1}}
        assert snapshot.since is not None
        store.apply({}, {}, ("p", {"v2": 0}, 60.0), ("p", 2))
        assert store.read([]).processes == {}


def test_django_redis_cache_gets_the_native_layout_without_a_check(on_redis: None) -> None:
    from reznet_ws.checks.stats import check_stats_layout

    layout = StatsStore().get_layout()
    assert layout.client is not None and not layout.degraded
    assert check_stats_layout() == []
