"""The two layouts of the stats in a cache (see :mod:`reznet_ws.stats.store`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from django.core.cache import BaseCache

from .types import SEQUENCE_TTL, SERIES_FIELDS, SERIES_TTL, Snapshot, now_iso

__all__ = ["CacheBackend", "RedisBackend"]


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


# One flush, atomically. Returns 1 if the deltas were added, 0 if this sequence number had been
# applied already (only the gauges are refreshed), -1 if a later one has (nothing changes).
# KEYS: sequence, counters, since, proc, procs, then one hash per minute.
# ARGV: sequence number ("" for none), sequence TTL, now, series TTL, gauges mode ("" keep,
# "drop", "set"), gauges JSON, gauges TTL (ms), process id, number of counters, then the
# counters as name/delta pairs, then three deltas per minute.
_APPLY_LUA = (
    "local fields = {"
    + ", ".join(f"'{f}'" for f in SERIES_FIELDS)
    + "}\n"
    + """
local seq = tonumber(ARGV[1])
local fresh = true
if seq then
  local last = tonumber(redis.call('GET', KEYS[1]) or '0')
  if seq < last then return -1 end
  fresh = seq > last
  if fresh then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  else
    redis.call('EXPIRE', KEYS[1], ARGV[2])
  end
end
local i = 10
if fresh then
  for _ = 1, tonumber(ARGV[9]) do
    redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
    i = i + 2
  end
  for k = 6, #KEYS do
    for f = 1, #fields do
      if ARGV[i] ~= '0' then redis.call('HINCRBY', KEYS[k], fields[f], ARGV[i]) end
      i = i + 1
    end
    redis.call('EXPIRE', KEYS[k], ARGV[4])
  end
end
redis.call('SET', KEYS[3], ARGV[3], 'NX')
if ARGV[5] == 'set' then
  redis.call('SET', KEYS[4], ARGV[6], 'PX', ARGV[7])
  redis.call('SADD', KEYS[5], ARGV[8])
elseif ARGV[5] == 'drop' then
  redis.call('DEL', KEYS[4])
  redis.call('SREM', KEYS[5], ARGV[8])
end
if fresh then return 1 end
return 0
"""
)


class RedisBackend:
    """Native Redis layout under a Redis cache (keys go through the cache's ``make_key``).

    ``client`` is the cache's redis-py client (:meth:`StatsStore.get_layout` finds it).
    """

    def __init__(self, cache: Any, prefix: str, client: Any) -> None:
        self.cache = cache
        self.prefix = prefix
        self.client = client

    def _key(self, *parts: str) -> str:
        return str(self.cache.make_and_validate_key(":".join((self.prefix, *parts))))

    def apply(
        self,
        counters: Mapping[str, int],
        minutes: Mapping[int, tuple[int, ...]],
        process: tuple[str, Mapping[str, int], float] | None,
        sequence: tuple[str, int] | None,
    ) -> bool:
        process_id, gauges, ttl = process if process is not None else ("", {}, 0.0)
        mode = "" if process is None else "set" if any(gauges.values()) else "drop"
        keys = [
            self._key("seq", sequence[0] if sequence is not None else process_id),
            *(self._key(k) for k in ("counters", "since")),
            *(self._key("proc", process_id), self._key("procs")),
            *(self._key("minute", str(m)) for m in minutes),
        ]
        args: list[Any] = [
            *(sequence[1] if sequence is not None else "", SEQUENCE_TTL, now_iso(), SERIES_TTL),
            *(mode, json.dumps(dict(gauges)), max(1, int(ttl * 1000)), process_id, len(counters)),
        ]
        for name, delta in counters.items():
            args += (name, delta)
        for values in minutes.values():
            args += values
        client = self.client
        return int(client.register_script(_APPLY_LUA)(keys=keys, args=args, client=client)) == 1

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
        client = self.client
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
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self._key("counters"), *(self._key("minute", str(m)) for m in minutes))
        pipe.set(self._key("since"), now_iso())
        pipe.execute()

    def drop_process(self, process_id: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        self._publish(pipe, process_id, {}, 0)
        pipe.execute()

    def ping(self) -> None:
        self.client.ping()


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
        sequence: tuple[str, int] | None,
    ) -> bool:
        steps: list[tuple[str, int, int | None]] = [
            (self._key("c", name), delta, None) for name, delta in counters.items()
        ]
        for minute, values in minutes.items():
            for name, delta in zip(SERIES_FIELDS, values, strict=True):
                if delta:
                    steps.append((self._key("m", str(minute), name), delta, SERIES_TTL))
        start = self._first_step(sequence)
        if start is None:
            return False  # a later flush of this process is in: this one is stale
        self.names.update(counters)
        if self.names:
            self._index_add("fields", self.names)
        for number, (key, delta, timeout) in enumerate(steps[start:], start + 1):
            self._incr(key, delta, timeout)
            if sequence is not None:  # the cursor: a retry resumes after this increment
                self.cache.set(self._key("seq", sequence[0]), [sequence[1], number], SEQUENCE_TTL)
        if sequence is not None and start >= len(steps):  # nothing to add: keep the cursor alive
            self.cache.set(self._key("seq", sequence[0]), [sequence[1], start], SEQUENCE_TTL)
        self.cache.add(self._key("since"), now_iso(), None)
        if process is not None:
            self._publish(*process)
        return start < len(steps)

    def _first_step(self, sequence: tuple[str, int] | None) -> int | None:
        """Return how many increments of this flush are in already (None: it is stale)."""
        if sequence is None:
            return 0
        last, done = self.cache.get(self._key("seq", sequence[0])) or (0, 0)
        if sequence[1] < last:
            return None
        return int(done) if sequence[1] == last else 0

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
