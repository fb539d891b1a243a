"""``BatchingChannelLayer``: a Channels layer that batches the sends of any other layer.

Configured where Channels users configure layers::

    CHANNEL_LAYERS = {"default": {
        "BACKEND": "reznet_ws.layers.BatchingChannelLayer",
        "CONFIG": {
            "inner": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {...}},
            "window": 0.05, "max_batch": 10, "max_buffer": 10_000, "raise_errors": False,
        },
    }}

``send`` and ``group_send`` queue the message per target and return; the target's queue goes to
the inner layer as one batch envelope after ``window`` seconds, at ``max_batch`` messages, on an
urgent message, on :meth:`drain`, :meth:`flush` and close; a batch that failed with a connection
error is retried with the same envelope id. :meth:`receive` unpacks envelopes, skips the copies of
one it already returned, and returns their messages one by one, so plain Channels consumers work
unchanged. The buffer and its
policy live in :mod:`reznet_ws.batching`; this module is the asyncio adapter. docs/batching-layer.md
describes the guarantees.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import logging
import threading
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Mapping
from typing import Any

from asgiref.sync import AsyncToSync
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, ChannelLayerManager

from .batching import (
    URGENT_KEY,
    Batch,
    BatchBuffer,
    Duplicates,
    FailureStreaks,
    Leftovers,
    envelope_id,
    pack,
    unpack,
)

try:
    from redis.exceptions import ConnectionError as _RedisConnectionError
    from redis.exceptions import TimeoutError as _RedisTimeoutError

    _REDIS_ERRORS: tuple[type[BaseException], ...] = (_RedisConnectionError, _RedisTimeoutError)
except ImportError:  # pragma: no cover - redis is an optional extra
    _REDIS_ERRORS = ()

try:
    from channels_redis.core import RedisChannelLayer as _RedisCoreLayer
except ImportError:  # pragma: no cover - channels_redis is an optional extra
    _RedisCoreLayer = None  # type: ignore[assignment,misc]

__all__ = ["UNAVAILABLE_ERRORS", "BatchingChannelLayer"]

logger = logging.getLogger("reznet_ws.layers")

#: Exceptions that mean "the inner layer's server cannot be reached right now".
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (OSError, *_REDIS_ERRORS)

# A batch due within this many seconds goes now, and timers are set this much early: event-loop
# timers fire up to a millisecond or two late (selectors round waits up to whole milliseconds),
# and a batch sent a millisecond early costs nothing.
_EARLY = 0.001
_DELIVERY_FAILURES = ("unavailable", "channel_full", "error", "cancelled")

Target = tuple[str, str]  # ("group", name) or ("channel", name)
Message = dict[str, Any]


class _InnerLayers(ChannelLayerManager):
    """Channels' own layer factory, reading one ``{"BACKEND", "CONFIG"}`` dict."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__()
        self._inner_configs = {"inner": config}

    @property
    def configs(self) -> dict[str, Mapping[str, Any]]:
        return self._inner_configs


class _LoopState:
    """What one event loop owns: its buffer, its drain tasks and their futures."""

    def __init__(self, buffer: BatchBuffer[Target]) -> None:
        self.buffer = buffer
        self.drainers: dict[Target, asyncio.Task[None]] = {}
        self.wakers: dict[Target, asyncio.Future[None]] = {}
        self.waiters: dict[Target, list[tuple[int, asyncio.Future[None]]]] = {}


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, ChannelFull):
        return "channel_full"
    return "unavailable" if isinstance(exc, UNAVAILABLE_ERRORS) else "error"


class BatchingChannelLayer(BaseChannelLayer):
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

    async def _reset_connections(self) -> None:
        """Called after a connection error: close the idle connections of the inner pools.

        After Redis restarted, the pool still holds idle connections to the old server, and
        redis-py's check when it hands one out does not catch every dead one. Only
        channels_redis's core layer exposes its pools publicly
        (``connection(index).connection_pool``); the pub/sub layer sends on one connection at a
        time, which the retry replaces.
        """
        if _RedisCoreLayer is None or not isinstance(self.inner, _RedisCoreLayer):
            return
        try:
            for index in range(self.inner.ring_size):
                pool = self.inner.connection(index).connection_pool
                await pool.disconnect(inuse_connections=False)
        except Exception:  # pragma: no cover - best effort: the retry reconnects anyway
            logger.debug("Could not reset the inner layer's idle connections", exc_info=True)

    def _note_send(self, exc: BaseException | None) -> None:
        """Tell :func:`reznet_ws.delivery.hub.layer_problems` a send failed (or works again)."""
        self._send_failure_noted = exc is not None
        try:
            from .delivery.hub import note_send_failure, note_send_success
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

    # ------------------------------------------------------------------ forwarded

    async def new_channel(self, *args: Any, **kwargs: Any) -> str:
        return str(await self.inner.new_channel(*args, **kwargs))

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

    # ------------------------------------------------------------------ accounting

    def _count(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self.stats[key] += amount

    def _waited(self, batch: Batch) -> None:
        """Keep the longest time a message spent in the buffer, in ``stats["max_wait_ms"]``."""
        waited = round((self.clock() - batch.since) * 1000)
        if waited > self.stats["max_wait_ms"]:
            with self._lock:
                self.stats["max_wait_ms"] = max(self.stats["max_wait_ms"], waited)

    def _failed(self, kind: str, messages: int, exc: BaseException | None) -> None:
        """Count a failure (``messages`` lost or dropped); log the first of a streak.

        Lost and dropped messages also go to :func:`reznet_ws.delivery.drops.report_drop` (one
        count per message, ``error:layer_send_failed`` / ``error:layer_dropped``); other failures
        count one ``error:layer_<kind>`` per failed operation.
        """
        with self._lock:
            self.stats[kind] += messages if kind == "dropped" else 1
            self.stats["lost"] += 0 if kind == "dropped" else messages
            log = self._failing.failed(kind, self.clock())
        if kind == "dropped":
            _report_drop("layer_dropped", messages, "the batching buffer is full")
        else:
            _record_error("layer_" + kind)
            _report_drop("layer_send_failed", messages, f"{kind.replace('_', ' ')}: {exc!r}")
        if log:
            logger.warning(
                "%s: %s (%r); further failures are counted in .stats until it recovers",
                type(self).__name__,
                kind.replace("_", " "),
                exc,
                exc_info=kind == "error",
            )

    def _recovered(self, kinds: tuple[str, ...]) -> None:
        """Called after a success while something was failing: end the streaks of ``kinds``."""
        with self._lock:
            ended = self._failing.succeeded(kinds)
        for kind, failures in ended.items():
            logger.info("%s: %s ended after %d failures", type(self).__name__, kind, failures)


# Accounting must never stop a drainer or a receive: the stats need Django settings, which the
# layer itself does not.
def _record_error(code: str) -> None:
    try:
        from .stats import get_recorder

        get_recorder().record_error(code)
    except Exception:  # pragma: no cover - no Django settings, or stats unavailable
        logger.debug("Could not record error:%s", code, exc_info=True)


def _report_drop(code: str, messages: int, detail: str) -> None:
    if messages <= 0:
        return
    try:
        from .delivery.drops import report_drop

        report_drop(code, messages, detail)
    except Exception:  # pragma: no cover - no Django settings, or stats unavailable
        logger.debug("Could not report %d drops as error:%s", messages, code, exc_info=True)
