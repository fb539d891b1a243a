"""The layer class: its settings, its construction, and what it forwards to the inner layer.

Sending lives in :mod:`reznet_ws.layers.sending`, receiving in :mod:`reznet_ws.layers.receiving`;
this module puts the two halves together.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Mapping
from typing import Any

from channels.layers import BaseChannelLayer

from ..batching import BatchBuffer, Duplicates, FailureStreaks, Leftovers
from .base import _LoopState
from .inner import _InnerLayers
from .receiving import _Receiving
from .sending import _Sending

__all__ = ["BatchingChannelLayer"]


class BatchingChannelLayer(_Sending, _Receiving, BaseChannelLayer):
    """Wraps ``inner`` (a ``{"BACKEND", "CONFIG"}`` dict or a layer) and batches its sends."""

    #: Seconds a receive waits before retrying an unreachable inner layer (doubles up to the max).
    receive_retry_delay = 0.05
    receive_retry_max_delay = 1.0
    #: Attempts to hand one batch on when the inner layer is unreachable (connection error or
    #: timeout), the first included; the waits between them start here and double.
    send_attempts = 3
    send_retry_delay = 0.05
    #: The unreturned rest of a batch, for a channel that stopped receiving, is discarded after
    #: one to two times this many seconds (a consumer that closed mid-batch must not leak).
    leftover_expiry = 60.0
    #: A failure kind is logged when its streak starts, but not more often than this (seconds).
    log_interval = 60.0

    # BaseChannelLayer.__init__ is not called on purpose: capacity, expiry and the other settings
    # belong to the inner layer and are read from it through __getattr__.
    def __init__(
        self,
        inner: Mapping[str, Any] | Any,
        window: float = 0.05,
        max_batch: int = 10,
        max_buffer: int = 10_000,
        raise_errors: bool = False,
    ) -> None:
        BatchBuffer(window, max_batch, max_buffer)  # validates, raising ValueError
        self.inner: Any = (
            _InnerLayers(inner).make_backend("inner") if isinstance(inner, Mapping) else inner
        )
        self.window, self.max_batch, self.max_buffer = window, max_batch, max_buffer
        self.raise_errors = raise_errors
        self.clock = time.monotonic
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._failing = FailureStreaks(self.log_interval)
        self._leftovers = Leftovers()
        self._duplicates = Duplicates()
        self._swept_at = 0.0
        # Envelope ids: a stream per (this layer, event loop, target), seqs from one counter.
        self._uid = uuid.uuid4().hex
        self._seqs = itertools.count(1)
        # group -> channels added through this layer, re-added after the inner layer was
        # unreachable (a Redis restarted without its data has forgotten them).
        self._memberships: dict[str, set[str]] = {}
        self._restore_pending = False
        self._send_failure_noted = False
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(inner={self.inner!r}, window={self.window}, "
            f"max_batch={self.max_batch}, max_buffer={self.max_buffer})"
        )

    @property
    def extensions(self) -> list[str]:
        return list(getattr(self.inner, "extensions", []))

    def get_capacity(self, channel: str) -> int:
        return int(self.inner.get_capacity(channel))

    async def new_channel(self, *args: Any, **kwargs: Any) -> str:
        return str(await self.inner.new_channel(*args, **kwargs))

    async def flush(self) -> None:
        """Deliver this loop's buffer, then flush the inner layer (which empties it)."""
        await self.drain()
        self._leftovers, self._duplicates = Leftovers(), Duplicates()
        await self.inner.flush()

    async def close(self) -> None:
        """Deliver this loop's buffer, then close the inner layer if it can be closed."""
        await self.drain()
        if hasattr(self.inner, "close"):
            await self.inner.close()

    async def close_pools(self) -> None:
        """Deliver this loop's buffer, then close the inner layer's connection pools."""
        await self.drain()
        if hasattr(self.inner, "close_pools"):
            await self.inner.close_pools()
