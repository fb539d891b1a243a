"""Stats on a real Redis through django-redis: its public raw client, the native Lua layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.test import override_settings

from reznet_ws.checks.stats import check_stats_layout
from reznet_ws.stats import StatsRecorder, StatsStore, get_stats

pytestmark = [pytest.mark.redis, pytest.mark.timeout(300), pytest.mark.usefixtures("recorder")]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# One OS process counting into the stats cache the settings (argv[1], JSON) describe.
WORKER = """
import json, sys
import django
from django.test.utils import override_settings

django.setup()
override_settings(**json.loads(sys.argv[1])).enable()
from reznet_ws.stats import get_recorder

print("ready", flush=True)
sys.stdin.readline()
recorder = get_recorder()
for i in range(int(sys.argv[2])):
    recorder.record_message(f"event{i % 3}", 100, 60, compressed=i % 10 == 0)
recorder.stop()
print("done", flush=True)
"""


def django_redis_settings(redis_url: str, key_prefix: str, **options: Any) -> dict[str, Any]:
    """Settings overrides that put the stats on a django-redis cache under ``key_prefix``."""
    return {
        "CACHES": {
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "stats": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": redis_url,
                "KEY_PREFIX": key_prefix,
                "OPTIONS": options,
            },
        },
        "REZNET_WS": {
            "STATS_CACHE_ALIAS": "stats",
            "STATS_KEY_PREFIX": "reznet_ws",
            "STATS_FLUSH_INTERVAL": 0.01,
        },
    }


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """A fresh cache KEY_PREFIX; its keys are deleted afterwards."""
    import redis

    name = f"reznet-test-{uuid.uuid4().hex[:12]}"
    yield name
    caches.close_all()
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def on_django_redis(redis_url: str, key_prefix: str) -> Iterator[dict[str, Any]]:
    settings = django_redis_settings(redis_url, key_prefix)
    with override_settings(**settings):
        yield settings


def test_django_redis_gets_the_native_layout(
    redis_url: str, key_prefix: str, on_django_redis: dict[str, Any]
) -> None:
    import redis

    store = StatsStore()
    assert store.get_layout().client is not None
    assert check_stats_layout() == []
    batch = ({"total_messages": 2}, {10: (2, 200, 80)})
    assert store.apply(*batch, None, ("p", 1)) is True
    assert store.apply(*batch, None, ("p", 1)) is False  # sent again after a failure: once
    assert store.apply({"total_messages": 1}, {}, ("p", {"v2": 3}, 60.0), ("p", 2)) is True
    snapshot = store.read([10])
    assert snapshot.counters == {"total_messages": 3}
    assert snapshot.minutes == {10: {"messages": 2, "original": 200, "optimized": 80}}
    assert snapshot.processes == {"p": {"v2": 3}}
    # The native hash, under django-redis's key function (prefix:version:key).
    client = redis.Redis.from_url(redis_url)
    assert client.hget(f"{key_prefix}:1:reznet_ws:counters", "total_messages") == b"3"
    client.close()


def test_two_processes_count_exactly_on_django_redis(
    redis_url: str, key_prefix: str, on_django_redis: dict[str, Any]
) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": ROOT}
    argv = [sys.executable, "-c", WORKER, json.dumps(on_django_redis), "1000"]
    procs = [
        subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    try:
        for proc in procs:  # both are set up before either starts counting
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0 and out.strip() == "done"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)

    stats = get_stats(StatsRecorder(autostart=False))
    assert stats["total_messages"] == 2000
    assert stats["total_bytes_original"] == 2000 * 100
    assert stats["compressed_messages"] == 200
    assert stats["events"]["event0"]["messages"] == 2 * 334
    assert sum(p["messages"] for p in stats["series"]) == 2000


def test_two_recorders_in_one_process_count_exactly(on_django_redis: dict[str, Any]) -> None:
    first, second = StatsRecorder(autostart=False), StatsRecorder(autostart=False)
    for i in range(50):
        first.record_message("a", 10, 5, False)
        second.record_message("a", 10, 5, False)
        if i % 10 == 0:
            assert first.flush() and second.flush()
    assert second.flush()  # get_stats flushes the recorder it is given: the first
    assert get_stats(first)["total_messages"] == 100
    assert get_stats(second)["events"]["a"]["messages"] == 100


def test_a_sharded_django_redis_uses_the_generic_layout(redis_url: str, key_prefix: str) -> None:
    settings = django_redis_settings(
        redis_url, key_prefix, CLIENT_CLASS="django_redis.client.ShardClient"
    )
    with override_settings(**settings):
        layout = StatsStore().get_layout()
        assert layout.client is None and layout.degraded and "sharding" in layout.reason
        [message] = check_stats_layout()
        assert message.id == "reznet_ws.W023"
