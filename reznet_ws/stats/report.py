"""The stats as the API, the admin page, the CLI and ``get_stats`` present them."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..conf import get_config
from .access import user_has_stats_permission
from .recorder import StatsRecorder, get_recorder
from .types import SERIES_FIELDS, Snapshot, StatsUnavailable

__all__ = [
    "aget_stats_payload",
    "build_stats",
    "get_stats",
    "get_stats_payload",
    "reduction_percentage",
    "reset_stats",
]

logger = logging.getLogger("reznet_ws.stats")

_SERIES_MINUTES = 60


def reduction_percentage(original: int, optimized: int) -> float:
    """Return how much smaller ``optimized`` is than ``original``, in percent (one decimal)."""
    return round((1 - optimized / original) * 100, 1) if original else 0.0


def _minute_iso(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _by_prefix(counters: Mapping[str, int], prefix: str) -> dict[str, int]:
    found = {k[len(prefix) :]: v for k, v in counters.items() if k.startswith(prefix) and v}
    return dict(sorted(found.items(), key=lambda kv: (-kv[1], kv[0])))


def _events(c: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    events = {}
    for name, messages in _by_prefix(c, "event:").items():
        original = c.get(f"event_original:{name}", 0)
        optimized = c.get(f"event_optimized:{name}", 0)
        events[name] = {
            "messages": messages,
            "bytes_original": original,
            "bytes_optimized": optimized,
            "reduction_percentage": reduction_percentage(original, optimized),
            "compressed_messages": c.get(f"event_compressed:{name}", 0),
        }
    return events


def _series(snapshot: Snapshot, minutes: Sequence[int]) -> list[dict[str, Any]]:
    points = []
    for minute in minutes:
        bucket = snapshot.minutes.get(minute, {})
        messages, original, optimized = (bucket.get(f, 0) for f in SERIES_FIELDS)
        points.append(
            {
                "minute": _minute_iso(minute),
                "messages": messages,
                "bytes_original": original,
                "bytes_optimized": optimized,
            }
        )
    return points


def _by_encoding(
    c: Mapping[str, int], messages: int, original: int, optimized: int
) -> dict[str, dict[str, int]]:
    # JSON (v1 and reznet.v2) is what the other encodings leave of the totals.
    packed = {
        name: {
            "messages": n,
            "bytes_original": c.get(f"encoding_original:{name}", 0),
            "bytes_sent": c.get(f"encoding_sent:{name}", 0),
        }
        for name, n in _by_prefix(c, "encoding_messages:").items()
    }
    rest = {
        "messages": messages - sum(e["messages"] for e in packed.values()),
        "bytes_original": original - sum(e["bytes_original"] for e in packed.values()),
        "bytes_sent": optimized - sum(e["bytes_sent"] for e in packed.values()),
    }
    return {"json": rest, **packed}


def _deltas(c: Mapping[str, int]) -> dict[str, Any]:
    # Keyed events (docs/deltas.md): delta and full frames, per event too.
    deltas, fulls = _by_prefix(c, "delta_frames:"), _by_prefix(c, "delta_full:")
    return {
        "delta_frames": c.get("delta_frames", 0),
        "full_frames": c.get("delta_full", 0),
        "bytes_saved": c.get("delta_bytes_saved", 0),
        "resyncs": c.get("delta_resync", 0),
        "evicted": c.get("delta_evicted", 0),
        "entity_refs": c.get("entity_refs", 0),
        "entity_defs": c.get("entity_defs", 0),
        "entity_bytes_saved": c.get("entity_bytes_saved", 0),
        "entity_evicted": c.get("entity_evicted", 0),
        "entity_resyncs": c.get("entity_resync", 0),
        "events": {
            name: {"delta_frames": deltas.get(name, 0), "full_frames": fulls.get(name, 0)}
            for name in sorted(set(deltas) | set(fulls))
        },
    }


def _process_streams() -> dict[str, int]:
    # A gauge of the process answering, not fleet-wide: its streams and their compressors.
    from ..delivery.streams import stream_stats

    figures = stream_stats()
    return {
        "streams": figures["streams"],
        "members": figures["stream_members"],
        "compressor_memory": figures["stream_memory"],
        "zstd_streams": figures["zstd_streams"],
        "zstd_memory": figures["zstd_memory"],
    }


def build_stats(snapshot: Snapshot, minutes: Sequence[int]) -> dict[str, Any]:
    """Turn the raw store contents into the public stats dict (JSON-native values only)."""
    c = snapshot.counters
    messages = c.get("total_messages", 0)
    original = c.get("total_bytes_original", 0)
    optimized = c.get("total_bytes_optimized", 0)
    by_version: Counter[str] = Counter()
    for gauges in snapshot.processes.values():
        by_version.update({k: int(v) for k, v in gauges.items()})
    active = sum(by_version.values())
    batches, batched = c.get("batches", 0), c.get("batched_messages", 0)
    return {
        "total_messages": messages,
        "total_bytes_original": original,
        "total_bytes_optimized": optimized,
        "reduction_percentage": reduction_percentage(original, optimized),
        "compressed_messages": c.get("compressed_messages", 0),
        "avg_message_size": round(optimized / messages) if messages else 0,
        "active_connections": active,
        "connections": {
            "active": active,
            "by_version": dict(sorted(by_version.items())),
            "opened_by_version": dict(sorted(_by_prefix(c, "opened:").items())),
            "processes": len(snapshot.processes),
        },
        "batches": {
            "count": batches,
            "messages": batched,
            "avg_messages_per_batch": round(batched / batches, 2) if batches else 0.0,
        },
        "events": _events(c),
        "errors": _by_prefix(c, "error:"),
        "fallbacks": _by_prefix(c, "fallback:"),
        "by_encoding": _by_encoding(c, messages, original, optimized),
        "wire": {
            "bytes_sent": c.get("wire_bytes_sent", 0),
            "bytes_received": c.get("wire_bytes_received", 0),
            "by_transport": {
                transport: {
                    "bytes_sent": c.get(f"wire_bytes_sent:{transport}", 0),
                    "bytes_received": c.get(f"wire_bytes_received:{transport}", 0),
                }
                for transport in ("deflate", "plain")
            },
        },
        "streams": {
            "frames": c.get("stream_frames", 0),
            "bytes_sent": c.get("stream_bytes", 0),
            "bytes_original": c.get("stream_original", 0),
            "resyncs": c.get("error:stream_resync", 0),
            "by_codec": {
                codec: {
                    "frames": c.get(f"stream_frames:{codec}", 0),
                    "bytes_sent": c.get(f"stream_bytes:{codec}", 0),
                }
                for codec in ("deflate", "zstd")
            },
            "process": _process_streams(),
        },
        "deltas": _deltas(c),
        "series": _series(snapshot, minutes),
        "since": snapshot.since,
        "enabled": bool(get_config()["STATS_ENABLED"]),
    }


def get_stats(recorder: StatsRecorder | None = None) -> dict[str, Any]:
    """Flush this process's counts, then return the fleet-wide stats.

    Raises :class:`StatsUnavailable` when the cache cannot be read.
    """
    recorder = recorder if recorder is not None else get_recorder()
    recorder.flush()
    now = int(recorder.clock() // 60)
    minutes = range(now - _SERIES_MINUTES + 1, now + 1)
    return build_stats(recorder.store.read(minutes), minutes)


def reset_stats(recorder: StatsRecorder | None = None) -> None:
    """Zero the shared counters (see :meth:`StatsRecorder.reset`)."""
    (recorder if recorder is not None else get_recorder()).reset()


def get_stats_payload(
    user: Any, has_permission: Callable[[Any], bool] = user_has_stats_permission
) -> dict[str, Any] | None:
    """Return the stats for the WebSocket ``get_stats`` event; None if ``user`` may not see them.

    Permission is ``has_permission(user)``: by default ``STATS_PERMISSION_CLASSES`` evaluated for
    ``user`` (staff by default). Blocking (cache I/O): call it from a thread (``sync_to_async``)
    or use :func:`aget_stats_payload`.
    """
    if not has_permission(user):
        return None
    try:
        return get_stats()
    except StatsUnavailable:
        return {"available": False, "detail": "The stats cache is unavailable."}


async def aget_stats_payload(
    user: Any, has_permission: Callable[[Any], bool] = user_has_stats_permission
) -> dict[str, Any] | None:
    """Async :func:`get_stats_payload`, run in Channels' database thread."""
    from channels.db import database_sync_to_async

    return await database_sync_to_async(get_stats_payload)(user, has_permission)
