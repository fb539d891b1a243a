"""The ``health`` endpoint's document: bounded probes of the stats cache and the channel layer.

Everybody gets a liveness answer built from this process's own state plus at most one cache
round trip; callers with ``STATS_PERMISSION_CLASSES`` get every component (docs/stats.md).

Probes that touch the network run on a daemon thread of their own (:class:`BoundedProbe`) and are
waited for at most ``timeout`` seconds, so a backend that stops answering (a paused Redis, a
half-open TCP connection) turns into ``degraded`` instead of a request that hangs.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from ..conf import get_config
from ..delivery import hub as fanout
from ..features import server_features
from ..stats import StatsUnavailable, get_recorder, get_stats

__all__ = [
    "PROBE_TIMEOUT",
    "BoundedProbe",
    "build_health",
    "cache_probe",
    "check_channel_layer",
    "get_features",
    "get_layer_problems",
    "stats_probe",
]

logger = logging.getLogger("reznet_ws.health")

#: Seconds a request waits for one probe. Two run one after the other at most (the cache, then
#: the stats for a detailed answer), so every answer comes within about a second.
PROBE_TIMEOUT = 0.5

_GROUP = "reznet_ws.health"
_DOWN = ("down", "timeout")

T = TypeVar("T")


class _Call(Generic[T]):
    """One run of a probe: when it started, and its outcome once ``done`` is set."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None
        self.reported = False


class BoundedProbe(Generic[T]):
    """Runs ``check`` on a daemon thread of its own, one call at a time, waiting a bounded time.

    A request that arrives while a call is in flight shares that call's answer instead of starting
    another, so a hung backend holds one call per process, never one per request, and concurrent
    requests cost one round trip. The thread is long-lived: it keeps its per-thread Django cache
    (and so its open connection) from one call to the next, and is started again after a fork.
    """

    clock: Callable[[], float] = time.monotonic

    def __init__(self, name: str, check: Callable[[], T]) -> None:
        self.name = name
        self.check = check
        self._lock = threading.Lock()
        self._call: _Call[T] | None = None
        self._calls: queue.SimpleQueue[_Call[T]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    @property
    def in_flight(self) -> bool:
        """Whether a call has started and not returned yet (it may have been abandoned)."""
        call = self._call
        return call is not None and not call.done.is_set()

    def start(self) -> _Call[T]:
        """Return the call in flight, or start one (called before :meth:`result`)."""
        with self._lock:
            if self._call is not None and not self._call.done.is_set():
                return self._call
            self._call = _Call(self.clock())
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name=f"reznet_ws.health.{self.name}", daemon=True
                )
                self._thread.start()
            self._calls.put(self._call)
            return self._call

    def result(self, call: _Call[T], timeout: float) -> T:
        """Return ``call``'s answer, waiting until ``timeout`` seconds after it started.

        Raises :class:`TimeoutError` when it has not answered by then (the call goes on in the
        background and the next request shares it), or what ``check`` raised.
        """
        if not call.done.wait(max(0.0, call.started + timeout - self.clock())):
            with self._lock:
                report, call.reported = not call.reported, True
            if report:  # once per stuck call, not once per request that finds it stuck
                logger.warning(
                    "Health probe %r gave no answer within %s s; reporting it as timed out.",
                    self.name,
                    timeout,
                )
            raise TimeoutError(f"no answer within {timeout} s")
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[return-value]  # set whenever error is None

    def __call__(self, timeout: float) -> T:
        """Start (or join) a call and return its answer; see :meth:`result`."""
        return self.result(self.start(), timeout)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no call is in flight; return False if ``timeout`` passed first."""
        call = self._call
        return call is None or call.done.wait(timeout)

    def _work(self) -> None:
        while True:
            call = self._calls.get()
            try:
                call.result = self.check()
            except BaseException as exc:  # handed to the waiting request, which re-raises it
                call.error = exc
            finally:
                call.done.set()


def _ping_cache() -> dict[str, str]:
    try:
        get_recorder().store.ping()
    except StatsUnavailable as exc:
        return {"status": "down", "detail": str(exc)}
    return {"status": "up"}


#: One cache round trip: ``PING`` on Redis, a ``get`` on other caches.
cache_probe: BoundedProbe[dict[str, str]] = BoundedProbe("cache", _ping_cache)
#: The fleet-wide stats, for the detailed answer.
stats_probe: BoundedProbe[dict[str, Any]] = BoundedProbe("stats", get_stats)


def get_features() -> dict[str, bool]:
    """Return the features this server has switched on (settings, not one connection's)."""
    return server_features()


def get_layer_problems() -> dict[str, str]:
    """Return this process's channel-layer failures: layer label -> what is wrong (no I/O).

    Empty when every hub of the process reaches its layer
    (:func:`reznet_ws.delivery.hub.layer_problems`).
    """
    return dict(fanout.layer_problems())


def check_channel_layer(timeout: float = PROBE_TIMEOUT) -> str:
    """Return ``"up"``, ``"down"``, ``"timeout"`` or ``"not_configured"`` for the default layer.

    The probe is a ``group_add`` / ``group_discard`` round trip, which touches the layer's backend
    (Redis for channels_redis) without leaving a message behind.
    """
    try:
        layer = get_channel_layer()
    except Exception:  # InvalidChannelLayerError, a backend that cannot be built
        return "down"
    if layer is None:
        return "not_configured"
    try:
        async_to_sync(_probe)(layer, timeout)
    except TimeoutError:
        return "timeout"
    except Exception:
        return "down"
    return "up"


async def _probe(layer: Any, timeout: float) -> None:
    async def round_trip() -> None:
        channel = await layer.new_channel("reznet_ws.health.")
        if "groups" in getattr(layer, "extensions", ()):
            await layer.group_add(_GROUP, channel)
            await layer.group_discard(_GROUP, channel)

    await asyncio.wait_for(round_trip(), timeout)


def _layer_component(
    problems: Mapping[str, str], probe: bool, timeout: float
) -> tuple[dict[str, str], bool]:
    """Return the channel layer's component and whether this process can serve at all."""
    try:
        layer = get_channel_layer()
    except Exception as exc:  # InvalidChannelLayerError: no consumer can join a group
        return {"status": "down", "detail": f"cannot be built: {type(exc).__name__}"}, False
    if layer is None:
        return {"status": "not_configured"}, True
    if problems:
        detail = "; ".join(f"{label}: {what}" for label, what in sorted(problems.items()))
        return {"status": "down", "detail": detail}, True
    state = check_channel_layer(timeout) if probe else "up"
    if state in _DOWN:
        return {"status": state, "detail": "group_add/group_discard round trip failed"}, True
    return {"status": state}, True


def _cache_component(call: _Call[dict[str, str]] | None, timeout: float) -> dict[str, str]:
    if call is None:
        return {"status": "disabled"}
    try:
        return dict(cache_probe.result(call, timeout))
    except TimeoutError as exc:
        return {"status": "timeout", "detail": str(exc)}


def build_health(
    *, detailed: bool, problems: Mapping[str, str], timeout: float = PROBE_TIMEOUT
) -> dict[str, Any]:
    """Return the health document: ``status``, plus every component when ``detailed``.

    ``status`` is ``healthy``, ``degraded`` (a component is down or timed out) or ``unhealthy``
    (the configured channel layer cannot be built: this process cannot serve). ``problems`` are
    this process's hub failures (:func:`get_layer_problems`). The liveness answer makes one cache
    round trip; the detailed one also probes the channel layer (while the cache probe runs) and
    reads the stats.
    """
    call = cache_probe.start() if get_config()["STATS_ENABLED"] else None
    layer, serving = _layer_component(problems, probe=detailed, timeout=timeout)
    cache = _cache_component(call, timeout)
    details: dict[str, Any] = {}
    if detailed:
        details = {"active_connections": None, "features": get_features(), "performance": None}
        if cache["status"] == "up":
            _add_stats(details, cache, timeout)
        details["components"] = {"cache": cache, "channel_layer": layer}
    if not serving:
        status = "unhealthy"
    elif cache["status"] in _DOWN or layer["status"] in _DOWN:
        status = "degraded"
    else:
        status = "healthy"
    return {"status": status, **details}


def _add_stats(details: dict[str, Any], cache: dict[str, str], timeout: float) -> None:
    try:
        stats = stats_probe(timeout)
    except TimeoutError as exc:
        cache.update(status="timeout", detail=f"stats read: {exc}")
        return
    except StatsUnavailable as exc:
        cache.update(status="down", detail=str(exc))
        return
    details["active_connections"] = stats["active_connections"]
    details["performance"] = {
        "total_messages": stats["total_messages"],
        "reduction_percentage": stats["reduction_percentage"],
    }
