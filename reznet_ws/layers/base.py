"""What the sending and receiving halves of the layer share: state, accounting, connections.

:class:`_LayerBase` declares the attributes that ``BatchingChannelLayer.__init__`` sets and holds
the counting and logging of failures (``.stats``, one log line per streak) and the reset of the
inner layer's idle connections after a connection error.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from typing import Any

from ..batching import Batch, BatchBuffer, Duplicates, FailureStreaks, Leftovers
from .inner import _RedisCoreLayer

logger = logging.getLogger("reznet_ws.layers")

Target = tuple[str, str]  # ("group", name) or ("channel", name)
Message = dict[str, Any]


class _LoopState:
    """What one event loop owns: its buffer, its drain tasks and their futures."""

    def __init__(self, buffer: BatchBuffer[Target]) -> None:
        self.buffer = buffer
        self.drainers: dict[Target, asyncio.Task[None]] = {}
        self.wakers: dict[Target, asyncio.Future[None]] = {}
        self.waiters: dict[Target, list[tuple[int, asyncio.Future[None]]]] = {}


class _LayerBase:
    """The state ``BatchingChannelLayer.__init__`` sets, and the accounting both halves use."""

    receive_retry_delay: float
    receive_retry_max_delay: float
    send_attempts: int
    send_retry_delay: float
    leftover_expiry: float
    log_interval: float

    inner: Any
    window: float
    max_batch: int
    max_buffer: int
    raise_errors: bool
    clock: Callable[[], float]
    stats: Counter[str]
    _lock: threading.Lock
    _failing: FailureStreaks
    _leftovers: Leftovers
    _duplicates: Duplicates
    _swept_at: float
    _uid: str
    _seqs: itertools.count[int]
    _memberships: dict[str, set[str]]
    _restore_pending: bool
    _send_failure_noted: bool
    _states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState]

    async def _reset_connections(self) -> None:
        """Called after a connection error: close the idle connections of the inner pools.

        After Redis restarted, the pool still holds idle connections to the old server, and
        redis-py's check when it hands one out does not catch every dead one. Only
        channels_redis's core layer exposes its pools publicly
        (``connection(index).connection_pool``); the pub/sub layer sends on one connection at a
        time, which the retry replaces.
        """
        if _RedisCoreLayer is None or not isinstance(self.inner, _RedisCoreLayer):
            return
        try:
            for index in range(self.inner.ring_size):
                pool = self.inner.connection(index).connection_pool
                await pool.disconnect(inuse_connections=False)
        except Exception:  # pragma: no cover - best effort: the retry reconnects anyway
            logger.debug("Could not reset the inner layer's idle connections", exc_info=True)

    # ------------------------------------------------------------------ accounting

    def _count(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self.stats[key] += amount

    def _waited(self, batch: Batch) -> None:
        """Keep the longest time a message spent in the buffer, in ``stats["max_wait_ms"]``."""
        waited = round((self.clock() - batch.since) * 1000)
        if waited > self.stats["max_wait_ms"]:
            with self._lock:
                self.stats["max_wait_ms"] = max(self.stats["max_wait_ms"], waited)

    def _failed(self, kind: str, messages: int, exc: BaseException | None) -> None:
        """Count a failure (``messages`` lost or dropped); log the first of a streak.

        Lost and dropped messages also go to :func:`reznet_ws.delivery.drops.report_drop` (one
        count per message, ``error:layer_send_failed`` / ``error:layer_dropped``); other failures
        count one ``error:layer_<kind>`` per failed operation.
        """
        with self._lock:
            self.stats[kind] += messages if kind == "dropped" else 1
            self.stats["lost"] += 0 if kind == "dropped" else messages
            log = self._failing.failed(kind, self.clock())
        if kind == "dropped":
            _report_drop("layer_dropped", messages, "the batching buffer is full")
        else:
            _record_error("layer_" + kind)
            _report_drop("layer_send_failed", messages, f"{kind.replace('_', ' ')}: {exc!r}")
        if log:
            logger.warning(
                "%s: %s (%r); further failures are counted in .stats until it recovers",
                type(self).__name__,
                kind.replace("_", " "),
                exc,
                exc_info=kind == "error",
            )

    def _recovered(self, kinds: tuple[str, ...]) -> None:
        """Called after a success while something was failing: end the streaks of ``kinds``."""
        with self._lock:
            ended = self._failing.succeeded(kinds)
        for kind, failures in ended.items():
            logger.info("%s: %s ended after %d failures", type(self).__name__, kind, failures)


# Accounting must never stop a drainer or a receive: the stats need Django settings, which the
# layer itself does not.
def _record_error(code: str) -> None:
    try:
        from ..stats import get_recorder

        get_recorder().record_error(code)
    except Exception:  # pragma: no cover - no Django settings, or stats unavailable
        logger.debug("Could not record error:%s", code, exc_info=True)


def _report_drop(code: str, messages: int, detail: str) -> None:
    if messages <= 0:
        return
    try:
        from ..delivery.drops import report_drop

        report_drop(code, messages, detail)
    except Exception:  # pragma: no cover - no Django settings, or stats unavailable
        logger.debug("Could not report %d drops as error:%s", messages, code, exc_info=True)
