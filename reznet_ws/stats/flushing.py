"""The flushing half of :class:`~reznet_ws.stats.StatsRecorder`: numbered batches to the store.

A flush sends the difference from the last acknowledged flush to the store as a numbered batch
(:class:`_Batch`). A batch that is not acknowledged (an error, a timeout) is sent again
unchanged, with the same number, until it is; the store adds a number once, so a batch that timed
out but was applied anyway is not counted twice. Counts recorded meanwhile go into the next batch.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ..conf import get_config
from .store import StatsStore, StatsUnavailable

logger = logging.getLogger("reznet_ws.stats")

_GAUGE_KEYS = ("active_connections", "connections:")


def _gauges(counters: Counter[str]) -> dict[str, int]:
    return {
        k.split(":", 1)[1]: v for k, v in counters.items() if k.startswith("connections:") and v
    }


@dataclass(frozen=True)
class _Batch:
    """One numbered flush: its deltas, and the totals they bring the store up to."""

    sequence: int
    counters: dict[str, int]
    minutes: dict[int, tuple[int, ...]]
    totals: Counter[str]
    minute_totals: dict[int, list[int]]


class _Flushing:
    """Taking, sending and acknowledging batches; the state is set by ``StatsRecorder``."""

    min_process_ttl: float
    store: StatsStore
    clock: Callable[[], float]
    lock: threading.RLock
    _flush_lock: threading.Lock
    process_id: str
    counters: Counter[str]
    minutes: dict[int, list[int]]
    _flushed: Counter[str]
    _flushed_minutes: dict[int, list[int]]
    _sequence: int
    _in_flight: _Batch | None
    _published: bool
    _available: bool
    _stop: threading.Event

    # -------------------------------------------------------------- flushing

    @property
    def flush_interval(self) -> float:
        """Seconds between flushes (``STATS_FLUSH_INTERVAL``)."""
        return float(get_config()["STATS_FLUSH_INTERVAL"])

    @property
    def process_ttl(self) -> float:
        """Seconds this process's gauges outlive its last heartbeat."""
        return max(self.min_process_ttl, 5 * self.flush_interval)

    @property
    def available(self) -> bool:
        """False after a failed flush, until one succeeds."""
        return self._available

    def gauges(self) -> dict[str, int]:
        """Return this process's open connections per protocol version (``{"v2": 3}``)."""
        with self.lock:
            return _gauges(self.counters)

    def pending(self) -> tuple[dict[str, int], dict[int, tuple[int, ...]]]:
        """Return the counter and per-minute deltas not yet flushed."""
        with self.lock:
            return self._diff()

    def _diff(
        self, totals: Counter[str] | None = None, minute_totals: dict[int, list[int]] | None = None
    ) -> tuple[dict[str, int], dict[int, tuple[int, ...]]]:
        # The deltas of ``totals`` (default: the counters now) since the last acknowledged flush.
        counters = {
            k: v - self._flushed[k]
            for k, v in (self.counters if totals is None else totals).items()
            if v != self._flushed[k] and not k.startswith(_GAUGE_KEYS)
        }
        minutes = {}
        for minute, values in (self.minutes if minute_totals is None else minute_totals).items():
            done = self._flushed_minutes.get(minute, (0, 0, 0))
            delta = tuple(a - b for a, b in zip(values, done, strict=True))
            if any(delta):
                minutes[minute] = delta
        return counters, minutes

    def _mark_flushed(self, counters: Counter[str], minutes: dict[int, list[int]]) -> None:
        # Called under ``lock``. Minutes past the hour are in the store (or too old to show).
        self._flushed = counters
        horizon = int(self.clock() // 60) - 61
        self._flushed_minutes = {m: v for m, v in minutes.items() if m >= horizon}
        for m in [m for m in self.minutes if m < horizon]:
            del self.minutes[m]

    def flush(self, wait: float = -1) -> bool:
        """Send what was counted since the last flush to the store; return False on failure.

        Called by the flush thread, at exit and by :func:`~reznet_ws.stats.get_stats` before it
        reads. Never raises: a failure is logged once and retried by the next flush. ``wait``
        bounds the wait for a flush already running (seconds; -1: no bound).
        """
        if not self._flush_lock.acquire(timeout=wait):
            return False
        try:
            return self._flush()
        finally:
            self._flush_lock.release()

    def _flush(self) -> bool:
        # Called with ``_flush_lock`` held. A batch not acknowledged goes first, unchanged; once
        # it is in, what was counted since it was taken follows under the next number.
        retried = self._in_flight is not None
        if not self._send(self._in_flight or self._take_batch(), heartbeat=True):
            return False
        return self._send(self._take_batch(), heartbeat=False) if retried else True

    def _take_batch(self) -> _Batch | None:
        with self.lock:
            # One read of the counters (a read folds the messages logged meanwhile): the batch's
            # deltas and the totals it marks flushed must be of the same messages.
            totals = self.counters.copy()
            minute_totals = {m: list(v) for m, v in self.minutes.items()}
            counters, minutes = self._diff(totals, minute_totals)
            if not (counters or minutes):
                return None
            self._sequence += 1
            self._in_flight = _Batch(self._sequence, counters, minutes, totals, minute_totals)
            return self._in_flight

    def _send(self, batch: _Batch | None, heartbeat: bool) -> bool:
        gauges = self.gauges()
        process = None
        # No heartbeat once stopped: a flush after stop() must not publish the gauges it withdrew.
        if heartbeat and (gauges or self._published) and not self._stop.is_set():
            process = (self.process_id, gauges, self.process_ttl)
        if batch is None and process is None:
            return True
        # Gauges alone go under the last acknowledged number: the store refreshes them only.
        sequence = (self.process_id, batch.sequence if batch else self._sequence)
        try:
            applied = self.store.apply(
                batch.counters if batch else {}, batch.minutes if batch else {}, process, sequence
            )
        except StatsUnavailable as exc:
            self._set_available(False, exc)
            return False
        if batch is not None and not applied:
            logger.debug("Stats flush %s had been applied already; not counted again.", sequence)
        if process is not None:
            self._published = bool(gauges)
        if batch is not None:
            with self.lock:
                self._mark_flushed(batch.totals, batch.minute_totals)
                self._in_flight = None
        self._set_available(True)
        return True

    def discard_pending(self) -> None:
        """Forget what was counted since the last flush (a batch not acknowledged included)."""
        with self._flush_lock, self.lock:
            self._in_flight = None
            self._mark_flushed(self.counters.copy(), {m: list(v) for m, v in self.minutes.items()})

    def reset(self) -> None:
        """Zero the shared counters and forget this process's unflushed counts.

        Raises :class:`~reznet_ws.stats.StatsUnavailable` when the cache is down. Open connections
        are live state and stay counted.
        """
        with self._flush_lock:
            with self.lock:
                counters = self.counters.copy()
                minutes = {m: list(v) for m, v in self.minutes.items()}
            now = int(self.clock() // 60)
            self.store.reset(range(now - 61, now + 1))
            with self.lock:
                self._in_flight = None
                self._mark_flushed(counters, minutes)

    def _set_available(self, available: bool, exc: Exception | None = None) -> None:
        if available == self._available:
            return
        self._available = available
        alias = self.store.alias
        if available:
            logger.info("Stats cache %r is reachable again; flushed the pending counts.", alias)
        else:
            logger.warning(
                "Stats cache %r is unavailable (%s); counting continues in process and is "
                "flushed when it is back.",
                alias,
                exc,
            )
