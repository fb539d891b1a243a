"""The process-wide recorder: counts in memory on the message path, flushes in a thread.

Every ``record_*`` method is a few dictionary updates under a lock: no I/O, no await. The counts
are cumulative since the process started; a flush sends the difference from the last acknowledged
flush to the store as a numbered batch. A batch that is not acknowledged (an error, a timeout) is
sent again unchanged, with the same number, until it is; the store adds a number once, so a batch
that timed out but was applied anyway is not counted twice. Counts recorded meanwhile go into the
next batch.

The flushing itself (batches, acknowledgement, retries) is in :mod:`.flushing`, and the named
counters of each feature (batches, streams, deltas, entities, connections...) in :mod:`.counting`;
this module holds the counting on the message path, the flush thread and the process-wide
instance.
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

from ..conf import get_config
from .counting import _Counting, _storable
from .flushing import _Batch, _Flushing
from .payload_log import log_payload
from .store import StatsStore, StatsUnavailable

__all__ = ["OTHER_EVENT", "StatsRecorder", "get_recorder"]

logger = logging.getLogger("reznet_ws.stats")

#: Messages :meth:`StatsRecorder.record_sent` logs before folding them into the counters.
_LOG_FOLD = 1024

#: The event name that stands for all events past :attr:`StatsRecorder.max_events`.
OTHER_EVENT = "(other)"


def _new_process_id() -> str:
    # The random part keeps ids unique when PIDs are reused (containers all run as PID 1).
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class StatsRecorder(_Counting, _Flushing):
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
        # Reentrant: reading ``counters`` folds the pending message counts under it.
        self.lock = threading.RLock()
        self._flush_lock = threading.Lock()
        self.process_id = _new_process_id()
        self._counters: Counter[str] = Counter()
        #: Event name -> ``[messages, original, optimized, compressed]`` recorded since the last
        #: read of ``counters``: a message costs four list additions, not ten counter updates.
        self._pending: dict[str, list[int]] = {}
        #: ``(event, original, optimized)`` of the messages :meth:`record_sent` took, folded into
        #: ``_pending`` and the current minute when counters are read (each flush) or when it
        #: holds ``_LOG_FOLD`` of them. Appending is atomic, so it needs no lock.
        self._log: list[tuple[str, int, int]] = []
        self.minutes: dict[int, list[int]] = {}
        #: Event name -> its four counter names (built once per name, not once per message).
        self._events: dict[str, tuple[str, str, str, str]] = {}
        self._flushed: Counter[str] = Counter()
        self._flushed_minutes: dict[int, list[int]] = {}
        self._sequence = 0  # the number of the last batch taken
        self._in_flight: _Batch | None = None  # taken, not acknowledged yet
        self._published = False
        self._available = True
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def counters(self) -> Counter[str]:
        """The cumulative counts of this process; message counts are folded in when read."""
        if self._pending or self._log:
            with self.lock:
                self._fold_log()
                self._fold()
        return self._counters

    @counters.setter
    def counters(self, counters: Counter[str]) -> None:
        self._counters = counters

    def _fold(self) -> None:
        # Called under ``lock``: adds the pending message counts to the named counters.
        c = self._counters
        for event, (count, original, optimized, compressed) in self._pending.items():
            keys = self._events.get(event) or self._event_keys(event)
            c["total_messages"] += count
            c["total_bytes_original"] += original
            c["total_bytes_optimized"] += optimized
            c[keys[0]] += count
            c[keys[1]] += original
            c[keys[2]] += optimized
            if compressed:
                c["compressed_messages"] += compressed
                c[keys[3]] += compressed
        self._pending.clear()

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
            if self._log:  # first the messages logged before this one, in their order
                self._fold_log()
            slot = self._pending.get(event)
            if slot is None:
                if len(self._pending) >= self.max_events:
                    self._fold()
                slot = self._pending[event] = [0, 0, 0, 0]
            slot[0] += count
            slot[1] += original
            slot[2] += optimized
            if compressed:
                slot[3] += count
            bucket = self.minutes.get(minute)
            if bucket is None:
                bucket = self.minutes[minute] = [0, 0, 0]
            bucket[0] += count
            bucket[1] += original
            bucket[2] += optimized
        self._ensure_started()

    def record_sent(self, event: str, original_bytes: int, optimized_bytes: int) -> None:
        """``record_message(event, original, optimized, False, log=False)`` for one message,
        cheaper: for the callers that have checked ``STATS_ENABLED`` and logged the payload.

        The message is appended to a log, folded when the counters are read (every flush, so
        every ``STATS_FLUSH_INTERVAL``) or every ``_LOG_FOLD`` messages; its per-minute bucket
        is the minute of that fold, at most one flush interval late.
        """
        log = self._log
        log.append((event, original_bytes, optimized_bytes))
        if len(log) >= _LOG_FOLD:
            with self.lock:
                self._fold_log()
        if self._thread is None:
            self._ensure_started()

    def _fold_log(self) -> None:
        # Called under ``lock``. Messages appended meanwhile (by another thread) stay in the log.
        log = self._log
        taken = len(log)
        if not taken:
            return
        items = log[:taken]
        del log[:taken]
        pending = self._pending
        original_sum = optimized_sum = 0
        for event, original, optimized in items:
            slot = pending.get(event)
            if slot is None:
                if len(pending) >= self.max_events:
                    self._fold()
                slot = pending[event] = [0, 0, 0, 0]
            slot[0] += 1
            slot[1] += original
            slot[2] += optimized
            original_sum += original
            optimized_sum += optimized
        minute = int(self.clock() // 60)
        bucket = self.minutes.get(minute)
        if bucket is None:
            bucket = self.minutes[minute] = [0, 0, 0]
        bucket[0] += taken
        bucket[1] += original_sum
        bucket[2] += optimized_sum

    def _event_keys(self, event: str) -> tuple[str, str, str, str]:
        # Called under ``lock`` for a name not seen yet; past ``max_events`` it counts as
        # ``(other)``.
        if len(self._events) >= self.max_events:
            event = OTHER_EVENT
            known = self._events.get(event)
            if known is not None:
                return known
        name = _storable(event)
        keys = (
            f"event:{name}",
            f"event_original:{name}",
            f"event_optimized:{name}",
            f"event_compressed:{name}",
        )
        self._events[event] = keys
        return keys

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
