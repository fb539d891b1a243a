"""Short full collections on a server that holds many long-lived connections (``gc.freeze``).

Every WebSocket keeps a few hundred Python objects alive for as long as it is open (Twisted's
transport, autobahn's state, the consumer, its tasks). CPython's cyclic collector examines all of
them in each full (generation 2) collection: measured with 10,000 connections in one
``reznet-daphne`` process, a full collection paused the event loop for 0.8-1.8 s, about every
20 s, and every broadcast waiting behind it missed its latency target.

:class:`GcFreezePolicy` moves the objects that exist once a process holds many connections into
the permanent generation (:func:`gc.freeze`), which full collections skip: measured on the same
run, 6-14 ms instead. It freezes again whenever the open connections grew by a quarter since, and
unfreezes when they fell to half (the objects of closed connections that sit in reference cycles
are only reclaimed once unfrozen, so the memory they can hold is bounded by the connections
closed since the last freeze). No Twisted here: ``reznet-daphne`` calls :meth:`tick` from its
periodic timeout check.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

__all__ = ["GcFreezePolicy"]

logger = logging.getLogger("reznet_ws.server")


class GcFreezePolicy:
    """Decides when to :func:`gc.freeze` and :func:`gc.unfreeze` from the open connections."""

    #: Freeze again once the open connections grew by this share since the last freeze.
    growth = 0.25
    #: Unfreeze once they fell to this share of what they were at the last freeze.
    shrink = 0.5
    #: The collector module (a test seam).
    gc: Any = gc

    def __init__(self, threshold: int) -> None:
        #: Open connections from which the policy freezes (0: never).
        self.threshold = threshold
        #: Open connections at the last freeze; None while nothing is frozen.
        self.frozen_at: int | None = None

    def tick(self, connections: int) -> str | None:
        """Called now and then with the open connections; returns what it did, if anything.

        ``"freeze"``, ``"unfreeze"`` or None.
        """
        if not self.threshold:
            return None
        frozen_at = self.frozen_at
        if frozen_at is None:
            if connections < self.threshold:
                return None
        elif connections <= frozen_at * self.shrink:
            self.gc.unfreeze()
            self.frozen_at = None
            logger.info("gc: unfroze at %d connections (%d at the freeze)", connections, frozen_at)
            return "unfreeze"
        elif connections < frozen_at * (1 + self.growth):
            return None
        self.gc.collect(1)  # the young garbage goes first; a full collection is what we avoid
        self.gc.freeze()
        self.frozen_at = connections
        logger.info(
            "gc: froze %d objects at %d open connections", self.gc.get_freeze_count(), connections
        )
        return "freeze"
