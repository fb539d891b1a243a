"""The receiving half of the layer: unpack envelopes, skip duplicates, survive outages.

``receive`` returns the messages of a batch envelope one by one (the rest waits in
:class:`~reznet_ws.batching.Leftovers`), skips a sender's retried copy, and while the inner layer
is unreachable waits and retries, then restores the group memberships added through this layer.
"""

from __future__ import annotations

import asyncio

from ..batching import envelope_id, unpack
from .base import Message, _LayerBase, _report_drop
from .inner import UNAVAILABLE_ERRORS


class _Receiving(_LayerBase):
    """``receive`` and the group memberships of :class:`~reznet_ws.layers.BatchingChannelLayer`."""

    # ------------------------------------------------------------------ receiving

    async def receive(self, channel: str) -> Message:
        """Return the next message for ``channel``, unpacking batch envelopes in order.

        While the inner layer is unreachable this waits and retries (counted, logged once)
        instead of raising, unless ``raise_errors`` is set.
        """
        leftovers = self._leftovers
        message = leftovers.pop(channel)
        while message is None:
            received = await self._receive_inner(channel)
            now = self.clock()
            if now - self._swept_at > self.leftover_expiry:
                self._swept_at = now
                expired = leftovers.sweep()
                self._duplicates.sweep()
                if expired:
                    self._count("expired", expired)
                    _report_drop("layer_expired", expired, "unreturned rest of batch envelopes")
            batch = unpack(received)
            if batch is None:
                if channel not in leftovers:
                    return received
                batch = [received]
            elif self._is_duplicate(channel, received):
                continue
            else:
                self._count("unpacked")
            if len(batch) == 1 and channel not in leftovers:
                return batch[0]
            leftovers.push(channel, batch)
            message = leftovers.pop(channel)
        return message

    def _is_duplicate(self, channel: str, envelope: Message) -> bool:
        """True when ``channel`` already got this envelope (a sender's retry); counted."""
        key = envelope_id(envelope)
        if key is None or not self._duplicates.seen(channel, *key):
            return False
        self._count("duplicates")
        return True

    async def _receive_inner(self, channel: str) -> Message:
        delay = self.receive_retry_delay
        while True:
            try:
                if self._restore_pending:
                    await self._restore()
                message: Message = await self.inner.receive(channel)
            except UNAVAILABLE_ERRORS as exc:
                # The server may have restarted without its data: restore before receiving again.
                self._restore_pending = True
                await self._reset_connections()
                if self.raise_errors:
                    raise
                self._failed("receive_unavailable", 0, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.receive_retry_max_delay)
                continue
            if self._failing:
                self._recovered(("receive_unavailable",))
            return message

    async def group_add(self, group: str, channel: str) -> None:
        await self.inner.group_add(group, channel)
        with self._lock:
            self._memberships.setdefault(group, set()).add(channel)

    async def group_discard(self, group: str, channel: str) -> None:
        with self._lock:
            channels = self._memberships.get(group)
            if channels is not None:
                channels.discard(channel)
                if not channels:
                    del self._memberships[group]
        await self.inner.group_discard(group, channel)

    async def restore_memberships(self) -> int:
        """Re-add every membership added through this layer and not discarded; return how many.

        Called by :meth:`receive` once the inner layer answers again after being unreachable:
        a Redis that restarted without its data has forgotten the groups. Raises what the
        inner ``group_add`` raises.
        """
        with self._lock:
            memberships = [(g, c) for g, channels in self._memberships.items() for c in channels]
        restored = 0
        for group, channel in memberships:
            if channel in self._memberships.get(group, ()):  # not discarded meanwhile
                await self.inner.group_add(group, channel)
                restored += 1
        return restored

    async def _restore(self) -> None:
        self._restore_pending = False
        try:
            restored = await self.restore_memberships()
        except BaseException:
            self._restore_pending = True
            raise
        self._count("restored", restored)
