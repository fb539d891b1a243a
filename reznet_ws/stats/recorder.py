"""The process-wide recorder: counts in memory on the message path, flushes in a thread.

Every ``record_*`` method is a few dictionary updates under a lock: no I/O, no await. The counts
are cumulative since the process started; a flush sends the difference from the last acknowledged
flush to the store as a numbered batch. A batch that is not acknowledged (an error, a timeout) is
sent again unchanged, with the same number, until it is; the store adds a number once, so a batch
that timed out but was applied anyway is not counted twice. Counts recorded meanwhile go into the
next batch.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ..conf import get_config
from .payload_log import log_payload
from .store import StatsStore, StatsUnavailable

__all__ = ["OTHER_EVENT", "StatsRecorder", "get_recorder"]

logger = logging.getLogger("reznet_ws.stats")

#: The event name that stands for all events past :attr:`StatsRecorder.max_events`.
OTHER_EVENT = "(other)"
_GAUGE_KEYS = ("active_connections", "connections:")


def _gauges(counters: Counter[str]) -> dict[str, int]:
    return {
        k.split(":", 1)[1]: v for k, v in counters.items() if k.startswith("connections:") and v
    }


def _new_process_id() -> str:
    # The random part keeps ids unique when PIDs are reused (containers all run as PID 1).
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class _Batch:
    """One numbered flush: its deltas, and the totals they bring the store up to."""

    sequence: int
    counters: dict[str, int]
    minutes: dict[int, tuple[int, ...]]
    totals: Counter[str]
    minute_totals: dict[int, list[int]]


class StatsRecorder:
    """Accumulates counters in process; a daemon thread flushes them every ``STATS_FLUSH_INTERVAL``.

    ``counters`` holds the cumulative counts of this process (flat names such as
    ``total_messages``, ``event:<name>``, ``error:<code>``, ``connections:v2``); ``minutes`` the
    per-minute ``[messages, original, optimized]`` of the last hour. Both are read under ``lock``.
    """

    #: Distinct event names tracked; later ones are counted as ``"(other)"``.
    max_events = 256
    #: Seconds a process's connection gauges survive without a heartbeat (after a crash).
    min_process_ttl = 10.0

    def __init__(self, store: StatsStore | None = None, *, autostart: bool = True) -> None:
        self.store = store if store is not None else StatsStore()
        self.autostart = autostart
        self.clock: Callable[[], float] = time.time
        self._init_state()
        _instances.add(self)

    def _init_state(self) -> None:
        self.lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self.process_id = _new_process_id()
        self.counters: Counter[str] = Counter()
        self.minutes: dict[int, list[int]] = {}
        self._events: set[str] = set()
        self._flushed: Counter[str] = Counter()
        self._flushed_minutes: dict[int, list[int]] = {}
        self._sequence = 0  # the number of the last batch taken
        self._in_flight: _Batch | None = None  # taken, not acknowledged yet
        self._published = False
        self._available = True
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ----------------------------------------------------------- hot path

    @staticmethod
    def enabled() -> bool:
        """Return ``STATS_ENABLED`` (read at call time)."""
        return bool(get_config()["STATS_ENABLED"])

    def record_message(
        self,
        event: str,
        original_bytes: int,
        optimized_bytes: int,
        compressed: bool,
        count: int = 1,
        log: bool = True,
    ) -> None:
        """Called once per event delivered (``count`` events of one encoding at once).

        With ``log`` (the default) it also writes the payload log line (see
        :func:`log_payload`); the consumer passes ``log=False`` and logs once per encoding
        instead, so a broadcast to many connections writes one line, not one per connection.
        """
        config = get_config()
        threshold = config["LOG_PAYLOAD_THRESHOLD"]
        if log and threshold is not None and original_bytes >= threshold:
            log_payload(event, original_bytes, optimized_bytes)
        if not config["STATS_ENABLED"]:
            return
        original, optimized = original_bytes * count, optimized_bytes * count
        minute = int(self.clock() // 60)
        with self.lock:
            if event not in self._events:
                if len(self._events) >= self.max_events:
                    event = OTHER_EVENT
                self._events.add(event)
            c = self.counters
            c["total_messages"] += count
            c["total_bytes_original"] += original
            c["total_bytes_optimized"] += optimized
            c[f"event:{event}"] += count
            c[f"event_original:{event}"] += original
            c[f"event_optimized:{event}"] += optimized
            if compressed:
                c["compressed_messages"] += count
                c[f"event_compressed:{event}"] += count
            bucket = self.minutes.get(minute)
            if bucket is None:
                bucket = self.minutes[minute] = [0, 0, 0]
            bucket[0] += count
            bucket[1] += original
            bucket[2] += optimized
        self._ensure_started()

    def _add(self, *pairs: tuple[str, int]) -> None:
        if not self.enabled():
            return
        with self.lock:
            for name, n in pairs:
                self.counters[name] += n
        self._ensure_started()

    def record_batch(self, size: int) -> None:
        """Called once per batch frame sent, with the number of events in it."""
        self._add(("batches", 1), ("batched_messages", size))

    def record_error(self, code: str) -> None:
        """Called once per rejected client message (``code`` as in docs/protocol.md)."""
        self._add((f"error:{code}", 1))

    def record_fallback(self, reason: str) -> None:
        """Called when a payload could not be optimized and went out in the plain encoding."""
        self._add((f"fallback:{reason}", 1))

    def connection_opened(self, version: int) -> None:
        """Called when a connection is accepted with protocol ``version`` (1 or 2)."""
        self._add(
            ("active_connections", 1), (f"connections:v{version}", 1), (f"opened:v{version}", 1)
        )

    def connection_closed(self, version: int) -> None:
        """Called when an accepted connection ends."""
        self._add(("active_connections", -1), (f"connections:v{version}", -1))

    def record_wire_bytes(self, sent: int, received: int) -> None:
        """Called by the server with the bytes a connection wrote to / read from the socket."""
        self._add(("wire_bytes_sent", sent), ("wire_bytes_received", received))

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

    def _diff(self) -> tuple[dict[str, int], dict[int, tuple[int, ...]]]:
        counters = {
            k: v - self._flushed[k]
            for k, v in self.counters.items()
            if v != self._flushed[k] and not k.startswith(_GAUGE_KEYS)
        }
        minutes = {}
        for minute, values in self.minutes.items():
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
            counters, minutes = self._diff()
            if not (counters or minutes):
                return None
            self._sequence += 1
            self._in_flight = _Batch(
                self._sequence,
                counters,
                minutes,
                self.counters.copy(),
                {m: list(v) for m, v in self.minutes.items()},
            )
            return self._in_flight

    def _send(self, batch: _Batch | None, heartbeat: bool) -> bool:
        gauges = self.gauges()
        process = None
        if heartbeat and (gauges or self._published):
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

    def _ensure_started(self) -> None:
        if self._thread is None and self.autostart:
            self.start()

    def start(self) -> None:
        """Start the flush thread (idempotent); called on the first record when ``autostart``."""
        with self._flush_lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="reznet_ws-stats-flush", daemon=True
            )
            self._thread.start()
        _register_atexit()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush()
            except Exception:  # never let a bug end counting silently
                logger.exception("Stats flush failed")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the flush thread, flush a last time and withdraw this process's gauges.

        Called at interpreter exit; safe to call more than once.
        """
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.flush(wait=timeout)  # a flush stuck on an unresponsive cache must not hang exit
        if self._published:
            try:
                self.store.drop_process(self.process_id)
                self._published = False
            except StatsUnavailable:
                pass  # the gauges expire with their TTL

    def _after_fork(self) -> None:
        # The child inherits the parent's counts (the parent flushes them) but not its thread.
        self._init_state()


_instances: weakref.WeakSet[StatsRecorder] = weakref.WeakSet()
_recorder: StatsRecorder | None = None
_recorder_lock = threading.Lock()
_atexit_registered = False


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        _atexit_registered = True
        atexit.register(_stop_all)


def _stop_all() -> None:
    for recorder in list(_instances):
        if recorder._thread is not None:
            recorder.stop(timeout=2.0)


def _after_fork_in_child() -> None:
    global _recorder_lock
    _recorder_lock = threading.Lock()
    for recorder in list(_instances):
        recorder._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def get_recorder() -> StatsRecorder:
    """Return the process-wide recorder, creating it on first use."""
    global _recorder
    if _recorder is None:
        with _recorder_lock:
            if _recorder is None:
                _recorder = StatsRecorder()
    return _recorder
