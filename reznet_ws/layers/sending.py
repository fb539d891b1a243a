"""The sending half of the layer: queue per target, drain on time, hand on, retry.

``send`` / ``group_send`` queue a snapshot of the message in this event loop's
:class:`~reznet_ws.batching.BatchBuffer`; one drain task per target sleeps until the batch is due
and hands it to the inner layer as one envelope, retrying a connection error with the same
envelope id.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from asgiref.sync import AsyncToSync
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer

from ..batching import URGENT_KEY, Batch, BatchBuffer, pack
from .base import Message, Target, _LayerBase, _LoopState
from .inner import UNAVAILABLE_ERRORS, _error_kind

# A batch due within this many seconds goes now, and timers are set this much early: event-loop
# timers fire up to a millisecond or two late (selectors round waits up to whole milliseconds),
# and a batch sent a millisecond early costs nothing.
_EARLY = 0.001
_DELIVERY_FAILURES = ("unavailable", "channel_full", "error", "cancelled")


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Sending(_LayerBase):
    """``send``, ``group_send`` and ``drain`` of :class:`~reznet_ws.layers.BatchingChannelLayer`."""

    # ------------------------------------------------------------------ hooks

    def is_urgent(self, message: Mapping[str, Any]) -> bool:
        """Called on every send: True sends ``message`` (after those queued before it) at once."""
        return bool(message.get(URGENT_KEY))

    def is_transient_loop(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Called on every send: True when ``loop`` exists only for this call.

        That is ``async_to_sync`` from plain sync code (a view, a worker thread), which runs the
        call in a new loop and closes it on return: nothing may stay buffered there, so the
        message goes straight to the inner layer.
        """
        return loop in getattr(AsyncToSync, "loop_thread_executors", ())

    # ------------------------------------------------------------------ sending

    async def send(self, channel: str, message: Message) -> None:
        """Queue ``message`` for ``channel``; returns at once (see :meth:`group_send`)."""
        if not isinstance(message, dict):
            raise TypeError("message is not a dict")
        if "__asgi_channel__" in message:
            raise ValueError("message must not contain the reserved key __asgi_channel__")
        if isinstance(self.inner, BaseChannelLayer):
            self.inner.require_valid_channel_name(channel)
        await self._submit(("channel", channel), message)

    async def group_send(self, group: str, message: Message) -> None:
        """Queue ``message`` for ``group``.

        Returns at once, unless the message is urgent, completes a batch (``max_batch`` queued
        for the target) or runs in a transient loop: then it returns once the message was handed
        to the inner layer. Never raises a delivery failure unless ``raise_errors`` is set:
        failures are counted in :attr:`stats` and logged.
        """
        if not isinstance(message, dict):
            raise TypeError("message is not a dict")
        if isinstance(self.inner, BaseChannelLayer):
            self.inner.require_valid_group_name(group)
        await self._submit(("group", group), message)

    async def _submit(self, target: Target, message: Message) -> None:
        loop = asyncio.get_running_loop()
        self._count("messages")
        if self.is_transient_loop(loop):
            # Concurrent calls may share this loop: each call is a stream of its own.
            error = await self._deliver(target, [message], uuid.uuid4().hex[:16])
            if error is not None and self.raise_errors:
                raise error
            return
        state = self._state(loop)
        urgent = self.is_urgent(message)
        # A snapshot, as the inner layers take one (they serialize or deepcopy on send).
        seq = state.buffer.add(target, copy.deepcopy(message), self.clock(), urgent=urgent)
        if seq is None:
            self._failed("dropped", 1, None)
            if self.raise_errors:
                raise ChannelFull(f"reznet_ws batching buffer full ({self.max_buffer} messages)")
            return
        if self._failing:
            self._recovered(("dropped",))
        self._schedule(state, target)
        if urgent or state.buffer.queued(target) % self.max_batch == 0:
            # Urgent, or this message completed a batch: wait until it is handed on. That paces a
            # producer as an unwrapped layer does, once per batch instead of once per message.
            await self._waiter(state, target, seq)

    async def drain(self) -> None:
        """Hand everything this event loop has buffered to the inner layer; return when done."""
        state = self._states.get(asyncio.get_running_loop())
        if state is None:
            return
        waiters = []
        for target in state.buffer.keys():
            seq = state.buffer.force(target)
            if seq is not None:
                self._schedule(state, target)
                waiters.append(self._waiter(state, target, seq))
        results = await asyncio.gather(*waiters, return_exceptions=True)
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            raise errors[0]

    def _state(self, loop: asyncio.AbstractEventLoop) -> _LoopState:
        state = self._states.get(loop)
        if state is None:
            with self._lock:
                state = self._states.get(loop)
                if state is None:
                    buffer: BatchBuffer[Target] = BatchBuffer(
                        self.window, self.max_batch, self.max_buffer
                    )
                    state = self._states[loop] = _LoopState(buffer)
        return state

    def _schedule(self, state: _LoopState, target: Target) -> None:
        if target not in state.drainers:
            state.drainers[target] = asyncio.ensure_future(self._drain(state, target))
        elif state.buffer.delay(target, self.clock()) == 0.0 and target in state.wakers:
            _wake(state.wakers[target])

    async def _drain(self, state: _LoopState, target: Target) -> None:
        """One task per target with queued messages: sleeps until due, delivers, repeats."""
        buffer, batch = state.buffer, None
        stream = self._stream(asyncio.get_running_loop(), target)
        try:
            while (delay := buffer.delay(target, self.clock())) is not None:
                if delay > _EARLY:
                    await self._sleep(state, target, delay - _EARLY)
                    continue
                batch = buffer.take(target)
                if batch is not None:
                    self._waited(batch)
                    await self._hand_on(state, target, batch, stream)
                    batch = None
        except asyncio.CancelledError:
            # The loop is closing (asyncio.run and asgiref cancel leftover tasks): hand on what is
            # still queued rather than lose it. The batch in flight may or may not have reached
            # the inner layer: it is counted lost, never sent twice.
            if batch is not None:
                self._failed("cancelled", len(batch.messages), None)
                self._done(state, target, batch, None)
            while (batch := buffer.take(target)) is not None:
                await self._hand_on(state, target, batch, stream)
            raise
        finally:
            state.drainers.pop(target, None)

    async def _hand_on(self, state: _LoopState, target: Target, batch: Batch, stream: str) -> None:
        self._done(state, target, batch, await self._deliver(target, batch.messages, stream))

    async def _sleep(self, state: _LoopState, target: Target, delay: float) -> None:
        loop = asyncio.get_running_loop()
        waker = state.wakers[target] = loop.create_future()
        handle = loop.call_later(delay, _wake, waker)
        try:
            await waker
        finally:
            handle.cancel()
            state.wakers.pop(target, None)

    def _stream(self, loop: asyncio.AbstractEventLoop, target: Target) -> str:
        """The id of the stream of envelopes that ``loop``'s drainer sends to ``target``.

        The drainer hands them on one at a time, which is what :class:`Duplicates` relies on.
        """
        key = f"{self._uid}|{id(loop)}|{target[0]}|{target[1]}".encode()
        return hashlib.blake2b(key, digest_size=8).hexdigest()

    async def _deliver(
        self, target: Target, messages: list[Message], stream: str
    ) -> BaseException | None:
        """Hand ``messages`` to the inner layer as one envelope; return the failure, if any.

        A connection error or timeout may come after the inner layer delivered the envelope, so
        it is retried with the same id (up to :attr:`send_attempts`): receivers skip a copy.
        """
        kind, name = target
        send = self.inner.group_send if kind == "group" else self.inner.send
        envelope = pack(messages, stream, next(self._seqs))
        shape = "envelopes" if len(messages) > 1 else "singles"
        for attempt in range(1, self.send_attempts + 1):
            # Counted before the inner send: a receiver in this loop may run before it returns.
            self._count("delivered", len(messages))
            self._count(shape)
            try:
                await send(name, envelope)
            except Exception as exc:
                self._count("delivered", -len(messages))
                self._count(shape, -1)
                if attempt < self.send_attempts and isinstance(exc, UNAVAILABLE_ERRORS):
                    self._count("retried")
                    await self._reset_connections()
                    await asyncio.sleep(self.send_retry_delay * 2 ** (attempt - 1))
                    continue
                self._note_send(exc)
                self._failed(_error_kind(exc), len(messages), exc)
                return exc
            break
        if self._send_failure_noted:
            self._note_send(None)
        if self._failing:
            self._recovered(_DELIVERY_FAILURES)
        return None

    def _note_send(self, exc: BaseException | None) -> None:
        """Tell :func:`reznet_ws.delivery.hub.layer_problems` a send failed (or works again)."""
        self._send_failure_noted = exc is not None
        try:
            from ..delivery.process import note_send_failure, note_send_success
        except ImportError:  # pragma: no cover - fanout needs Django, the layer does not
            return
        if exc is None:
            note_send_success(self)
        else:
            note_send_failure(self, exc)

    def _waiter(self, state: _LoopState, target: Target, seq: int) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        state.waiters.setdefault(target, []).append((seq, future))
        return future

    def _done(
        self, state: _LoopState, target: Target, batch: Batch, error: BaseException | None
    ) -> None:
        state.buffer.done(target, batch.last_seq)
        waiters = state.waiters.pop(target, [])
        for seq, future in waiters:
            if seq > batch.last_seq:
                state.waiters.setdefault(target, []).append((seq, future))
            elif not future.done():
                if error is not None and self.raise_errors:
                    future.set_exception(error)
                else:
                    future.set_result(None)
