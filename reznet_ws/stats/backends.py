"""The two layouts of the stats in a cache (see :mod:`reznet_ws.stats.store`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from django.core.cache import BaseCache

from .store import SERIES_FIELDS, SERIES_TTL, Snapshot, now_iso

__all__ = ["CacheBackend", "RedisBackend"]


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


class RedisBackend:
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
            for name, delta in zip(SERIES_FIELDS, values, strict=True):
                if delta:
                    pipe.hincrby(key, name, delta)
            pipe.expire(key, SERIES_TTL)
        pipe.set(self._key("since"), now_iso(), nx=True)
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
                for m, b in zip(minutes, buckets, strict=True)
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
        expired = [i for i, v in zip(ids, values, strict=True) if v is None]
        if expired:  # their heartbeat lapsed: the process is gone (crashed or stopped)
            client.srem(self._key("procs"), *expired)
        return {i: json.loads(v) for i, v in zip(ids, values, strict=True) if v is not None}

    def reset(self, minutes: Iterable[int]) -> None:
        pipe = self._client().pipeline(transaction=True)
        pipe.delete(self._key("counters"), *(self._key("minute", str(m)) for m in minutes))
        pipe.set(self._key("since"), now_iso())
        pipe.execute()

    def drop_process(self, process_id: str) -> None:
        pipe = self._client().pipeline(transaction=True)
        self._publish(pipe, process_id, {}, 0)
        pipe.execute()

    def ping(self) -> None:
        self._client().ping()


class CacheBackend:
    """One key per counter through the plain cache API (``incr`` / ``add``)."""

    def __init__(self, cache: BaseCache, prefix: str, names: set[str]) -> None:
        self.cache = cache
        self.prefix = prefix
        self.names = names

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
        # get-then-set: a process whose names were lost in a race adds them back on its next flush.
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
        self.names.update(counters)
        if self.names:
            self._index_add("fields", self.names)
        for minute, values in minutes.items():
            for name, delta in zip(SERIES_FIELDS, values, strict=True):
                if delta:
                    self._incr(self._key("m", str(minute), name), delta, SERIES_TTL)
        self.cache.add(self._key("since"), now_iso(), None)
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
        self.names.clear()
        self.cache.set(self._key("since"), now_iso(), None)

    def drop_process(self, process_id: str) -> None:
        self._publish(process_id, {}, 0)

    def ping(self) -> None:
        self.cache.get(self._key("ping"))
