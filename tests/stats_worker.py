"""A separate OS process that records stats into a Redis cache (for tests/test_stats_redis.py).

Usage::

    DJANGO_SETTINGS_MODULE=tests.settings python tests/stats_worker.py REDIS_URL PREFIX \\
        --messages 1000 [--connections 3] [--hold] [--ttl 1.0]

It prints ``ready`` and waits for a line on stdin (so that all workers start together), records
with the process-wide recorder (its flush thread running every 10 ms meanwhile), then either
stops the recorder and prints ``done`` or, with ``--hold``, flushes, prints ``held`` and waits to
be killed (a crashed process). ``done`` and ``held`` are acknowledgements: they are printed only
once the store has taken every count, so the test may read the store right after them. A worker
whose counts could not be flushed prints ``unflushed`` with what is left, and exits with 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reznet_ws.stats import StatsRecorder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Seconds a worker keeps retrying a flush the store did not acknowledge: a bound on a hang only.
FLUSH_DEADLINE = 60.0

__all__ = ["stats_settings"]


def stats_settings(redis_url: str, prefix: str) -> dict[str, Any]:
    """Return the settings overrides that point the stats at Redis under ``prefix``."""
    return {
        "CACHES": {
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "stats": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis_url,
                "KEY_PREFIX": prefix,
            },
        },
        "REZNET_WS": {
            "STATS_CACHE_ALIAS": "stats",
            "STATS_KEY_PREFIX": "reznet_ws",
            "STATS_FLUSH_INTERVAL": 0.01,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("redis_url")
    parser.add_argument("prefix")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=0)
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("--ttl", type=float, default=None)
    args = parser.parse_args()

    sys.path.insert(0, ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.test.utils import override_settings

    django.setup()
    override_settings(**stats_settings(args.redis_url, args.prefix)).enable()

    from reznet_ws.stats import StatsRecorder, get_recorder

    if args.ttl is not None:
        StatsRecorder.min_process_ttl = args.ttl
    print("ready", flush=True)
    sys.stdin.readline()

    recorder = get_recorder()
    for _ in range(args.connections):
        recorder.connection_opened(2)
    for i in range(args.messages):
        recorder.record_message(f"event{i % 3}", 100, 60, compressed=i % 10 == 0)
        if i % 100 == 0:
            recorder.record_error("malformed_json")
            recorder.record_batch(4)
    if args.hold:
        _flush_all(recorder)
        print("held", flush=True)
        while True:
            time.sleep(60)
    _flush_all(recorder)
    recorder.stop()  # nothing left to flush: it withdraws this process's gauges
    print("done", flush=True)


def _flush_all(recorder: StatsRecorder) -> None:
    """Return once the store acknowledged every count; exit with 1 past ``FLUSH_DEADLINE``.

    ``flush()`` returns False when the store did not acknowledge the batch (an error); the
    recorder sends the same numbered batch again on the next call, which the store adds once.
    """
    deadline = time.monotonic() + FLUSH_DEADLINE
    while not (recorder.flush() and recorder.pending() == ({}, {})):
        if time.monotonic() > deadline:
            print(f"unflushed {recorder.pending()}", flush=True)
            sys.exit(1)
        time.sleep(0.01)  # between two attempts, not a wait for a condition


if __name__ == "__main__":
    main()
