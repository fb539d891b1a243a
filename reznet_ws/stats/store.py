"""The shared side of the stats: counters kept in one Django cache alias.

This is the only module of :mod:`reznet_ws.stats` that does I/O. The recorder calls
:meth:`StatsStore.apply` from its flush thread; the API, the admin page and the CLI call
:meth:`StatsStore.read`.

Two layouts, one interface:

* Django's ``RedisCache``: native Redis structures written in one ``MULTI``/``EXEC`` pipeline per
  flush (``HINCRBY`` on a counters hash, one hash per minute with a TTL, a TTL key per process for
  the connection gauges). Atomic and exact across any number of processes.
* any other cache: one key per counter, ``cache.incr`` (``cache.add`` on first use). Exact across
  processes when the backend's ``incr`` is atomic (Memcached); the list of counter names is kept in
  an index key that each flush repairs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol
from urllib.parse import quote

from django.core.cache import BaseCache, caches

from ..conf import get_setting

__all__ = ["SERIES_FIELDS", "SERIES_TTL", "Snapshot", "StatsStore", "StatsUnavailable"]

#: The values kept per minute, in this order.
SERIES_FIELDS = ("messages", "original", "optimized")
#: Seconds a per-minute bucket lives: the hour the page shows plus two minutes of slack.
SERIES_TTL = 62 * 60


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
    ) -> None: ...

    def read(self, minutes: Iterable[int]) -> Snapshot: ...

    def reset(self, minutes: Iterable[int]) -> None: ...

    def drop_process(self, process_id: str) -> None: ...

    def ping(self) -> None: ...


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


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
        cache = self.get_cache()
        if _is_django_redis_cache(cache):
            return _RedisBackend(cache, self.prefix)
        return _CacheBackend(cache, self.prefix)

    def apply(
        self,
        counters: Mapping[str, int],
        minutes: Mapping[int, tuple[int, ...]],
        process: tuple[str, Mapping[str, int], float] | None = None,
    ) -> None:
        """Add ``counters`` and per-minute ``minutes`` deltas; publish a process's gauges.

        ``process`` is ``(process_id, gauges, ttl)``: the gauges are stored under the process's
        own key for ``ttl`` seconds (all-zero gauges delete it). Raises :class:`StatsUnavailable`.
        """
        self._call("apply", counters, minutes, process)

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


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


class _RedisBackend:
    """Native Redis layout under Django's ``RedisCache`` (keys go through its ``make_key``)."""

    def __init__(self, cache: Any, prefix: str) -> None:
        self.cache = cache
        self.prefix = prefix

    def _key(self, *parts: str) -> str:
        return str(self.cache.make_and_validate_key(":".join((self.prefix, *parts))))

    def _client(self) -> Any:
        # Django's RedisCache exposes no pipeline; its client hands out redis-py clients.
        return self.cache._cache.get_client(write=True)

    def apply(
        self,
        counters: Mapping[str, int],
        minutes: Mapping[int, tuple[int, ...]],
        process: tuple[str, Mapping[str, int], float] | None,
    ) -> None:
        pipe = self._client().pipeline(transaction=True)
        counters_key = self._key("counters")
        for name, delta in counters.items():
            pipe.hincrby(counters_key, name, delta)
        for minute, values in minutes.items():
            key = self._key("minute", str(minute))
            for name, delta in zip(SERIES_FIELDS, values):
                if delta:
                    pipe.hincrby(key, name, delta)
            pipe.expire(key, SERIES_TTL)
        pipe.set(self._key("since"), _now_iso(), nx=True)
        if process is not None:
            self._publish(pipe, *process)
        pipe.execute()

    def _publish(self, pipe: Any, process_id: str, gauges: Mapping[str, int], ttl: float) -> None:
        key = self._key("proc", process_id)
        if any(gauges.values()):
            pipe.set(key, json.dumps(dict(gauges)), px=max(1, int(ttl * 1000)))
            pipe.sadd(self._key("procs"), process_id)
        else:
            pipe.delete(key)
            pipe.srem(self._key("procs"), process_id)

    def read(self, minutes: Iterable[int]) -> Snapshot:
        minutes = list(minutes)
        client = self._client()
        pipe = client.pipeline(transaction=False)
        pipe.hgetall(self._key("counters"))
        for minute in minutes:
            pipe.hgetall(self._key("minute", str(minute)))
        pipe.smembers(self._key("procs"))
        pipe.get(self._key("since"))
        counters, *buckets, members, since = pipe.execute()
        snapshot = Snapshot(
            counters={k.decode(): int(v) for k, v in counters.items()},
            minutes={
                m: {k.decode(): int(v) for k, v in b.items()}
                for m, b in zip(minutes, buckets)
                if b
            },
            since=since.decode() if since else None,
        )
        snapshot.processes = self._live_processes(client, sorted(m.decode() for m in members))
        return snapshot

    def _live_processes(self, client: Any, ids: list[str]) -> dict[str, dict[str, int]]:
        if not ids:
            return {}
        values = client.mget([self._key("proc", i) for i in ids])
        expired = [i for i, v in zip(ids, values) if v is None]
        if expired:  # their heartbeat lapsed: the process is gone (crashed or stopped)
            client.srem(self._key("procs"), *expired)
        return {i: json.loads(v) for i, v in zip(ids, values) if v is not None}

    def reset(self, minutes: Iterable[int]) -> None:
        pipe = self._client().pipeline(transaction=True)
        pipe.delete(self._key("counters"), *(self._key("minute", str(m)) for m in minutes))
        pipe.set(self._key("since"), _now_iso())
        pipe.execute()

    def drop_process(self, process_id: str) -> None:
        pipe = self._client().pipeline(transaction=True)
        self._publish(pipe, process_id, {}, 0)
        pipe.execute()

    def ping(self) -> None:
        self._client().ping()


class _CacheBackend:
    """One key per counter through the plain cache API (``incr`` / ``add``)."""

    def __init__(self, cache: BaseCache, prefix: str) -> None:
        self.cache = cache
        self.prefix = prefix

    def _key(self, *parts: str) -> str:
        # Names come from event names and error codes: quote them so Memcached accepts the key.
        return ":".join((self.prefix, *(quote(p, safe="") for p in parts)))

    def _incr(self, key: str, delta: int, timeout: float | None) -> None:
        try:
            self.cache.incr(key, delta)
        except ValueError:  # missing: create it, unless another process just did
            if not self.cache.add(key, delta, timeout):
                self.cache.incr(key, delta)

    def _index_add(self, name: str, values: Iterable[str]) -> None:
        # Best effort (get-then-set): repaired by the next flush of any process that lost a race.
        key = self._key(name)
        known = set(self.cache.get(key) or ())
        missing = set(values) - known
        if missing:
            self.cache.set(key, sorted(known | missing), None)

    def apply(
        self,
        counters: Mapping[str, int],
        minutes: Mapping[int, tuple[int, ...]],
        process: tuple[str, Mapping[str, int], float] | None,
    ) -> None:
        for name, delta in counters.items():
            self._incr(self._key("c", name), delta, None)
        if counters:
            self._index_add("fields", counters)
        for minute, values in minutes.items():
            for name, delta in zip(SERIES_FIELDS, values):
                if delta:
                    self._incr(self._key("m", str(minute), name), delta, SERIES_TTL)
        self.cache.add(self._key("since"), _now_iso(), None)
        if process is not None:
            self._publish(*process)

    def _publish(self, process_id: str, gauges: Mapping[str, int], ttl: float) -> None:
        if any(gauges.values()):
            self.cache.set(self._key("proc", process_id), dict(gauges), ttl)
            self._index_add("procs", [process_id])
        else:
            self.cache.delete(self._key("proc", process_id))

    def read(self, minutes: Iterable[int]) -> Snapshot:
        names = list(self.cache.get(self._key("fields")) or ())
        values = self.cache.get_many([self._key("c", n) for n in names])
        snapshot = Snapshot(
            counters={n: _int(values.get(self._key("c", n))) for n in names},
            since=self.cache.get(self._key("since")),
        )
        keys = {(m, f): self._key("m", str(m), f) for m in minutes for f in SERIES_FIELDS}
        found = self.cache.get_many(list(keys.values()))
        for (minute, name), key in keys.items():
            if key in found:
                snapshot.minutes.setdefault(minute, {})[name] = _int(found[key])
        snapshot.processes = self._live_processes()
        return snapshot

    def _live_processes(self) -> dict[str, dict[str, int]]:
        ids = list(self.cache.get(self._key("procs")) or ())
        found = self.cache.get_many([self._key("proc", i) for i in ids])
        live = {i: found[self._key("proc", i)] for i in ids if self._key("proc", i) in found}
        if len(live) != len(ids):
            self.cache.set(self._key("procs"), sorted(live), None)
        return live

    def reset(self, minutes: Iterable[int]) -> None:
        names = list(self.cache.get(self._key("fields")) or ())
        keys = [self._key("c", n) for n in names]
        keys += [self._key("m", str(m), f) for m in minutes for f in SERIES_FIELDS]
        self.cache.delete_many([*keys, self._key("fields")])
        self.cache.set(self._key("since"), _now_iso(), None)

    def drop_process(self, process_id: str) -> None:
        self._publish(process_id, {}, 0)

    def ping(self) -> None:
        self.cache.get(self._key("ping"))
