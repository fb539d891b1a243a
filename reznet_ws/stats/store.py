"""The shared side of the stats: counters kept in one Django cache alias.

With :mod:`.backends`, the only code of :mod:`reznet_ws.stats` that does I/O. The recorder calls
:meth:`StatsStore.apply` from its flush thread; the API, the admin page and the CLI call
:meth:`StatsStore.read`.

Two layouts (in :mod:`.backends`), one interface:

* Django's ``RedisCache``: native Redis structures written by one Lua script per flush
  (``HINCRBY`` on a counters hash, one hash per minute with a TTL, a TTL key per process for
  the connection gauges). Atomic and exact across any number of processes.
* any other cache: one key per counter, ``cache.incr`` (``cache.add`` on first use). Exact across
  processes when the backend's ``incr`` is atomic (Memcached); the list of counter names is kept in
  an index key that each process repairs on its next flush if a concurrent update lost its names.

A flush carries a sequence number of its process, so that a flush sent again after a failure is
not counted twice (:meth:`StatsStore.apply`). On Redis the check and the update are one atomic
script; on other caches the store keeps a per-process cursor of the increments done, and only an
increment whose own reply was lost can be repeated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from django.core.cache import BaseCache, caches

from ..conf import get_setting

__all__ = [
    "SEQUENCE_TTL",
    "SERIES_FIELDS",
    "SERIES_TTL",
    "Snapshot",
    "StatsStore",
    "StatsUnavailable",
]

#: The values kept per minute, in this order.
SERIES_FIELDS = ("messages", "original", "optimized")
#: Seconds a per-minute bucket lives: the hour the page shows plus two minutes of slack.
SERIES_TTL = 62 * 60
#: Seconds the store remembers a process's last applied flush: longer than any stall or outage
#: after which a flush held up in the cache could still be applied next to its retry.
SEQUENCE_TTL = 24 * 60 * 60


class StatsUnavailable(Exception):
    """The stats cache could not be reached (or answered with an error)."""


@dataclass
class Snapshot:
    """Raw contents of the store, as :meth:`StatsStore.read` returns them."""

    counters: dict[str, int] = field(default_factory=dict)
    minutes: dict[int, dict[str, int]] = field(default_factory=dict)
    processes: dict[str, dict[str, int]] = field(default_factory=dict)
    since: str | None = None


class _Backend(Protocol):
    def apply(
        self,
        counters: Mapping[str, int],
        minutes: Mapping[int, tuple[int, ...]],
        process: tuple[str, Mapping[str, int], float] | None,
        sequence: tuple[str, int] | None,
    ) -> bool: ...

    def read(self, minutes: Iterable[int]) -> Snapshot: ...

    def reset(self, minutes: Iterable[int]) -> None: ...

    def drop_process(self, process_id: str) -> None: ...

    def ping(self) -> None: ...


def now_iso() -> str:
    """Return the current UTC time as ``2025-11-04T12:00:00Z``."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class StatsStore:
    """Reads and writes the shared counters through the cache alias ``STATS_CACHE_ALIAS``.

    The alias and the key prefix are read on every call (so ``override_settings`` works) unless
    given here; ``cache`` may be set to a cache object directly (a test seam).
    """

    def __init__(
        self, alias: str | None = None, prefix: str | None = None, cache: BaseCache | None = None
    ) -> None:
        self._alias = alias
        self._prefix = prefix
        self.cache = cache
        # Counter names this store has written (generic caches re-add them to a damaged index).
        self._names: set[str] = set()

    @property
    def alias(self) -> str:
        """The cache alias in use."""
        return self._alias or str(get_setting("STATS_CACHE_ALIAS"))

    @property
    def prefix(self) -> str:
        """The first segment of every key (``STATS_KEY_PREFIX``)."""
        return self._prefix or str(get_setting("STATS_KEY_PREFIX"))

    def get_cache(self) -> BaseCache:
        """Return the cache object (``caches[alias]``, per thread, as Django hands it out)."""
        return self.cache if self.cache is not None else caches[self.alias]

    def get_backend(self) -> _Backend:
        """Return the layout for the current cache: native Redis or the generic cache API."""
        from .backends import CacheBackend, RedisBackend

        cache = self.get_cache()
        if _is_django_redis_cache(cache):
            return RedisBackend(cache, self.prefix)
        return CacheBackend(cache, self.prefix, self._names)

    def apply(
        self,
        counters: Mapping[str, int],
        minutes: Mapping[int, tuple[int, ...]],
        process: tuple[str, Mapping[str, int], float] | None = None,
        sequence: tuple[str, int] | None = None,
    ) -> bool:
        """Add ``counters`` and per-minute ``minutes`` deltas; publish a process's gauges.

        ``process`` is ``(process_id, gauges, ttl)``: the gauges are stored under the process's
        own key for ``ttl`` seconds (all-zero gauges delete it). ``sequence`` is
        ``(process_id, number)``: the deltas are added only if that process's last applied
        number is lower, so sending the same deltas again with the same number after a failure
        counts them once; an equal number still refreshes the gauges, a lower one changes
        nothing. Returns whether the deltas were added now (False: they had been already).
        Raises :class:`StatsUnavailable`.
        """
        return bool(self._call("apply", counters, minutes, process, sequence))

    def read(self, minutes: Iterable[int]) -> Snapshot:
        """Return the counters, the given minute buckets and the live processes' gauges."""
        return self._call("read", list(minutes))  # type: ignore[no-any-return]

    def reset(self, minutes: Iterable[int]) -> None:
        """Zero the counters and the given minute buckets (the gauges are live state: kept)."""
        self._call("reset", list(minutes))

    def drop_process(self, process_id: str) -> None:
        """Remove a process's gauges (called when its recorder stops)."""
        self._call("drop_process", process_id)

    def ping(self) -> None:
        """Raise :class:`StatsUnavailable` unless the cache answers."""
        self._call("ping")

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.get_backend(), method)(*args)
        except StatsUnavailable:
            raise
        except Exception as exc:  # any client error means "unavailable" to the callers
            raise StatsUnavailable(f"{type(exc).__name__}: {exc}") from exc


def _is_django_redis_cache(cache: BaseCache) -> bool:
    try:
        from django.core.cache.backends.redis import RedisCache
    except ImportError:  # pragma: no cover - Django < 4.0
        return False
    return isinstance(cache, RedisCache)
