"""Limits on a connection's incoming events: pure Python, no Django (docs/protocol.md, 5).

The consumer keeps one :class:`IncomingLimits` per connection and asks it, for every client
frame, how many of the frame's events may be dispatched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from .codec.errors import ProtocolError

__all__ = ["IncomingLimits", "TokenBucket"]


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` of them held; the bucket starts full.

    ``clock`` returns seconds (monotonic) and is read on every :meth:`take`: it is the test
    seam, so tests drive time instead of sleeping.
    """

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not rate > 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, not {rate}, {burst}")
        self.rate = float(rate)
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self._stamp = clock()

    def take(self, n: int = 1) -> int:
        """Take up to ``n`` tokens; return how many were granted (0 to ``n``)."""
        now = self.clock()
        if now > self._stamp:  # a clock that steps back grants nothing extra
            self.tokens = min(float(self.burst), self.tokens + (now - self._stamp) * self.rate)
            self._stamp = now
        granted = min(n, int(self.tokens))
        self.tokens -= granted
        return granted


class IncomingLimits:
    """The limits of one connection: events per frame and, unless ``rate`` is None, a rate."""

    def __init__(
        self,
        max_batch_events: int,
        rate: float | None,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_batch_events = max_batch_events
        self.bucket = TokenBucket(rate, burst, clock) if rate is not None else None

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], clock: Callable[[], float] = time.monotonic
    ) -> IncomingLimits:
        """Return the limits of ``MAX_BATCH_EVENTS``, ``INCOMING_RATE``, ``INCOMING_BURST``."""
        return cls(
            config["MAX_BATCH_EVENTS"], config["INCOMING_RATE"], config["INCOMING_BURST"], clock
        )

    def admit(self, count: int) -> int:
        """Called once per client frame holding ``count`` events; return how many may go on.

        The first ones of the frame go on, the rest are over the rate. Raises
        :class:`ProtocolError` ``batch_too_large`` (nothing may go on, no token is taken) for a
        frame of more than ``max_batch_events`` events.
        """
        if count > self.max_batch_events:
            raise ProtocolError(
                "batch_too_large",
                f"{count} events in one frame, more than {self.max_batch_events}",
            )
        return count if self.bucket is None else self.bucket.take(count)
