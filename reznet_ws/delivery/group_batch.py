"""Batched broadcasts (``broadcast(..., batch=True)``): one timer per hub, each frame built once.

A batched broadcast still waits in each member's own batch (so a member's later sends keep their
order behind it, and its own batched events share the frame), but the hub does not give every
member a timer of its own: :class:`GroupFlusher` keeps one timer for all the members with a batch
due, at the earliest ``BATCH_WINDOW`` deadline among them, and flushes them together. Members of
the same group then hold the same events, so :class:`SharedFlush` builds each distinct batch frame
once (per codec and permessage-deflate choice) and hands the same bytes to every such member, as
prepared frames do for single broadcasts; stats are recorded once per distinct frame with the
number of members that got it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from typing import TYPE_CHECKING, Any

from ..stats import get_recorder

if TYPE_CHECKING:
    from .batch_send import BatchingMixin as Connection

__all__ = ["GroupFlusher", "SharedFlush"]

logger = logging.getLogger("reznet_ws.delivery")


class SharedFlush:
    """What one group flush builds once and counts once: frames by content, stats by value."""

    def __init__(self) -> None:
        #: (codec id, deflate params, event ids) -> (payload, compressed, size, wire frame)
        self.frames: dict[tuple[Any, ...], tuple[str | bytes, bool, int, bytes | None]] = {}
        #: (event, original v1 size, sent bytes, compressed) -> how many times it was sent
        self.messages: Counter[tuple[str, int, int, bool]] = Counter()
        #: events per batch frame -> how many such frames were sent
        self.batches: Counter[int] = Counter()

    def record(self) -> None:
        """Record what the flush sent: one stats call per distinct (event, sizes), not per
        member."""
        recorder = get_recorder()
        for (event, original, size, compressed), count in self.messages.items():
            recorder.record_message(event, original, size, compressed, count, log=False)
        for events, count in self.batches.items():
            for _ in range(count):
                recorder.record_batch(events)


class GroupFlusher:
    """One timer for every member of a hub whose batch of broadcasts is due."""

    #: Deadlines closer than this (seconds) to the one already set share its timer.
    coalesce = 0.001

    def __init__(self) -> None:
        self._due: dict[Connection, None] = {}  # insertion-ordered set
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = math.inf
        self._flushes: set[asyncio.Task[None]] = set()
        #: Timers started so far (a test seam: one per window, not one per member).
        self.timers_started = 0

    def add(self, member: Connection, delay: float) -> None:
        """Called by a member that queued a broadcast: flush it within ``delay`` seconds."""
        self._due[member] = None
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        if when < self._deadline - self.coalesce:
            if self._timer is not None:
                self._timer.cancel()
            self._deadline = when
            self._timer = loop.call_at(when, self._fire)
            self.timers_started += 1

    def pending(self) -> int:
        """Return how many members wait for the next flush."""
        return len(self._due)

    def _fire(self) -> None:
        due, self._due = list(self._due), {}
        self._timer, self._deadline = None, math.inf
        task = asyncio.ensure_future(self.flush(due))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def flush(self, members: list[Connection]) -> None:
        """Flush the batch of each of ``members``, building each distinct frame once."""
        shared = SharedFlush()
        for member in members:
            try:
                await member.flush_batch(push=True, shared=shared)
            except Exception:
                logger.exception("Flushing the batch of one member failed")
        shared.record()
