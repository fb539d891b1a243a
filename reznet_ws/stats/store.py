"""The shared side of the stats: counters kept in one Django cache alias.

With :mod:`.backends`, the only code of :mod:`reznet_ws.stats` that does I/O. The recorder calls
:meth:`StatsStore.apply` from its flush thread; the API, the admin page and the CLI call
:meth:`StatsStore.read`.

Two layouts (in :mod:`.backends`), one interface:

* Django's ``RedisCache`` and django-redis's: native Redis structures written by one Lua script
  per flush (``HINCRBY`` on a counters hash, one hash per minute with a TTL, a TTL key per
  process for the connection gauges). Atomic and exact across any number of processes.
* any other cache (or a Redis cache whose client cannot be had: :meth:`StatsStore.get_layout`):
  one key per counter, ``cache.incr`` (``cache.add`` on first use). Exact across processes when
  the backend's ``incr`` is atomic (Memcached); the list of counter names is kept in an index key
  that each process repairs on its next flush if a concurrent update lost its names.

A flush carries a sequence number of its process, so that a flush sent again after a failure is
not counted twice (:meth:`StatsStore.apply`). On Redis the check and the update are one atomic
script; on other caches the store keeps a per-process cursor of the increments done, and only an
increment whose own reply was lost can be repeated.

The native layout needs the cache's redis-py client. django-redis hands it out publicly
(``django_redis.get_redis_connection(alias)``); Django's ``RedisCache`` does not, so
:func:`django_redis_cache_client` reaches it through ``cache._cache.get_client()`` on the Django
releases it was written for (:data:`TESTED_DJANGO_RELEASES`) and otherwise returns None: the store
then uses the generic layout, logs a warning once, and the system check ``reznet_ws.W023`` says so.
On a Redis cache the generic layout's keys get their own prefix (``<STATS_KEY_PREFIX>:generic``):
the two layouts use some key names for values of different types, and processes of both kinds
may share the cache during a rolling upgrade.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import django
from django.core.cache import BaseCache, caches

from ..conf import get_config
from .backends import CacheBackend, RedisBackend
from .types import (
    SEQUENCE_TTL,
    SERIES_FIELDS,
    SERIES_TTL,
    Backend,
    Snapshot,
    StatsUnavailable,
)

__all__ = [
    "SEQUENCE_TTL",
    "SERIES_FIELDS",
    "SERIES_TTL",
    "TESTED_DJANGO_RELEASES",
    "Layout",
    "Snapshot",
    "StatsStore",
    "StatsUnavailable",
    "django_redis_cache_client",
]

logger = logging.getLogger("reznet_ws.stats")

#: Django feature releases whose ``RedisCache`` internals (``_cache.get_client()``) reznet-ws
#: was written and tested for; on any other release the stats use the generic layout.
TESTED_DJANGO_RELEASES = frozenset({(5, 2), (6, 0)})
#: Last segment of the generic layout's key prefix on a Redis cache it falls back on.
GENERIC_SUFFIX = "generic"


@dataclass(frozen=True)
class Layout:
    """Which layout a cache gets, as :meth:`StatsStore.get_layout` decides it."""

    #: The redis-py client of the native layout; None: the generic layout (one key per counter).
    client: Any = None
    #: Why the generic layout is used (empty for the native one).
    reason: str = ""
    #: True when the cache is a Redis cache that the native layout could not use.
    degraded: bool = False


class StatsStore:
    """Reads and writes the shared counters through the cache alias ``STATS_CACHE_ALIAS``.

    The alias and the key prefix are read on every call (so ``override_settings`` works) unless
    given here; ``cache`` may be set to a cache object directly (a test seam; a django-redis
    cache still gets its client through the alias). ``django_release`` is the ``(major, minor)``
    compared with :data:`TESTED_DJANGO_RELEASES` (None: the installed Django; a test seam).
    """

    django_release: tuple[int, int] | None = None

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
        return self._alias or str(get_config()["STATS_CACHE_ALIAS"])

    @property
    def prefix(self) -> str:
        """The first segment of every key (``STATS_KEY_PREFIX``)."""
        return self._prefix or str(get_config()["STATS_KEY_PREFIX"])

    def get_cache(self) -> BaseCache:
        """Return the cache object (``caches[alias]``, per thread, as Django hands it out)."""
        return self.cache if self.cache is not None else caches[self.alias]

    def get_layout(self) -> Layout:
        """Return the layout for the current cache, with the redis-py client of a native one.

        Called on every store call and by the system check ``reznet_ws.W023`` / ``I020``.
        Building a client does not connect; a malformed ``LOCATION`` raises.
        """
        cache = self.get_cache()
        dotted = f"{type(cache).__module__}.{type(cache).__qualname__}"
        if _is_django_redis_package_cache(cache):
            from django_redis import get_redis_connection

            try:
                return Layout(client=get_redis_connection(self.alias, write=True))
            except NotImplementedError:  # ShardClient: one client per key, no Lua across them
                reason = "its django-redis client class has no single raw client (sharding)"
                return Layout(reason=reason, degraded=True)
        if not _is_django_builtin_redis_cache(cache):
            return Layout(reason=f"{dotted} is neither Django's RedisCache nor django-redis's")
        release = self.django_release or (django.VERSION[0], django.VERSION[1])
        client = django_redis_cache_client(cache, release)
        if client is not None:
            return Layout(client=client)
        if release in TESTED_DJANGO_RELEASES:
            reason = "its RedisCache has no _cache.get_client() (a subclass, or changed internals)"
        else:
            reason = (
                f"Django {release[0]}.{release[1]} is not a release whose RedisCache internals "
                f"reznet-ws knows (tested: {_releases()})"
            )
        return Layout(reason=reason, degraded=True)

    def get_backend(self) -> Backend:
        """Return the layout for the current cache: native Redis or the generic cache API."""
        layout = self.get_layout()
        if layout.client is not None:
            return RedisBackend(self.get_cache(), self.prefix, layout.client)
        if layout.degraded:  # apart from the native keys, whose types differ (a rolling upgrade)
            _warn_generic(self.alias, layout.reason)
            return CacheBackend(self.get_cache(), f"{self.prefix}:{GENERIC_SUFFIX}", self._names)
        return CacheBackend(self.get_cache(), self.prefix, self._names)

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


def django_redis_cache_client(cache: Any, release: tuple[int, int]) -> Any:
    """Return the redis-py client of Django's ``RedisCache`` ``cache``, or None if unknown.

    The one place that knows Django's private ``RedisCache._cache`` (a ``RedisCacheClient`` whose
    ``get_client(write=True)`` builds a client on its connection pool, without connecting).
    None when ``release`` is not in :data:`TESTED_DJANGO_RELEASES` or the attribute is gone.
    """
    if release not in TESTED_DJANGO_RELEASES:
        return None
    get_client = getattr(getattr(cache, "_cache", None), "get_client", None)
    return get_client(write=True) if callable(get_client) else None


def _is_django_builtin_redis_cache(cache: BaseCache) -> bool:
    from django.core.cache.backends.redis import RedisCache

    return isinstance(cache, RedisCache)


def _is_django_redis_package_cache(cache: BaseCache) -> bool:
    try:
        from django_redis.cache import RedisCache
    except ImportError:  # django-redis is optional
        return False
    return isinstance(cache, RedisCache)


def _releases() -> str:
    return ", ".join(f"{major}.{minor}" for major, minor in sorted(TESTED_DJANGO_RELEASES))


@functools.cache
def _warn_generic(alias: str, reason: str) -> None:
    # Once per process and reason: the store decides the layout on every call.
    logger.warning(
        "The stats cache %r is a Redis cache, but %s: the stats use the generic layout "
        "(one key per counter, not one atomic script per flush). See reznet_ws.W023.",
        alias,
        reason,
    )
