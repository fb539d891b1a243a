"""WebSocket stats: counted in process on the message path, shared through a Django cache.

* :func:`get_recorder` returns the process-wide :class:`StatsRecorder` that the consumer mixin
  calls on every event (memory only, no I/O);
* a daemon thread flushes the counts to the ``STATS_CACHE_ALIAS`` cache (:class:`StatsStore`)
  every ``STATS_FLUSH_INTERVAL`` seconds and at exit;
* :func:`get_stats` reads them back for the API, the admin page and ``manage.py wsstats``.

See docs/stats.md.
"""

from __future__ import annotations

from .payload_log import log_payload
from .recorder import OTHER_EVENT, StatsRecorder, get_recorder
from .report import (
    aget_stats_payload,
    build_stats,
    get_stats,
    get_stats_payload,
    reduction_percentage,
    reset_stats,
)
from .store import Snapshot, StatsStore, StatsUnavailable

__all__ = [
    "OTHER_EVENT",
    "Snapshot",
    "StatsRecorder",
    "StatsStore",
    "StatsUnavailable",
    "aget_stats_payload",
    "build_stats",
    "get_recorder",
    "get_stats",
    "get_stats_payload",
    "log_payload",
    "reduction_percentage",
    "reset_stats",
]
