"""Every message not delivered is counted and logged: the one place drops are reported.

A drop increments ``error:<code>`` in the stats (one count per undelivered message) and logs a
WARNING, at most once per ``interval`` seconds per code, with the number of drops since the last
line, so a burst of thousands of drops writes one line, not thousands.

Codes (docs/fanout.md lists them with what the client sees):

- ``slow_client_drop``: a member's socket buffered more than ``FANOUT_MAX_BACKLOG`` bytes.
- ``slow_client_closed``: a member missed ``FANOUT_MAX_DROPS`` broadcasts in a row and was closed
  with 4009 (a fault: one per connection, not per message).
- ``undeliverable_on_close``: the connection closed with events still queued for it.
- ``broadcast_failed``: ``broadcast()`` could not hand the event to the channel layer.
- ``layer_unavailable``: the channel layer could not be reached (a fault, not a message).
- ``discarded_on_close``: frames still in the server's write buffer, dropped by ``reznet-daphne``
  so that a close reaches a slow client (one per frame).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["DropReporter", "report_drop", "report_fault"]

logger = logging.getLogger("reznet_ws.delivery.drops")


class DropReporter:
    """Counts drops in the stats and logs them rate-limited at WARNING."""

    #: Seconds between two log lines of one code.
    interval = 30.0
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._pending: dict[str, int] = {}

    def report(self, code: str, count: int, detail: str) -> None:
        """Record ``count`` undelivered messages (or faults) under ``error:<code>``."""
        if count <= 0:
            return
        from ..stats import get_recorder

        recorder = get_recorder()
        for _ in range(count):
            recorder.record_error(code)
        self._log(code, count, detail)

    def _log(self, code: str, count: int, detail: str) -> None:
        now = self.clock()
        with self._lock:
            total = self._pending.get(code, 0) + count
            last = self._last.get(code)
            if last is not None and now - last < self.interval:
                self._pending[code] = total
                return
            self._last[code] = now
            self._pending[code] = 0
        logger.warning(
            "%s: %d (%s; counted as error:%s)", _TITLES.get(code, code), total, detail, code
        )


_TITLES = {
    "slow_client_drop": "Broadcasts dropped for slow clients",
    "undeliverable_on_close": "Events undeliverable because their connection closed",
    "broadcast_failed": "Broadcasts that could not reach the channel layer",
    "broadcast_missed": "Broadcasts that never reached a member's process",
    "layer_unavailable": "Channel-layer faults",
    "slow_client_closed": "Slow clients closed with 4009",
    "discarded_on_close": "Frames discarded to let a close reach a slow client",
}

_reporter = DropReporter()


def report_drop(code: str, count: int = 1, detail: str = "") -> None:
    """Count ``count`` messages not delivered for reason ``code`` and log it (rate-limited)."""
    _reporter.report(code, count, detail)


def report_fault(code: str, detail: str) -> None:
    """Count one fault (no message lost by itself) and log it (rate-limited)."""
    _reporter.report(code, 1, detail)
