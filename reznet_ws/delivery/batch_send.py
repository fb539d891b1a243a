"""The batching half of :class:`~reznet_ws.delivery.connection.Connection`.

Events sent with ``batch=True`` wait in the connection's :class:`~reznet_ws.batching.BatchBuffer`
and leave as one batch frame after ``BATCH_WINDOW`` seconds or ``BATCH_SIZE`` events, and before
anything the connection sends unbatched, so order is kept. The application's own batched events
start a timer of the connection; batched broadcasts are timed by the hub's
:class:`~reznet_ws.delivery.group_batch.GroupFlusher` instead (one timer for all members), which
flushes them with a :class:`~reznet_ws.delivery.group_batch.SharedFlush` so that each distinct
frame is built once.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from ..batching import BatchBuffer
from ..codec import Codec
from ..codec.compression import deflate_message
from ..codec.msgpack_frames import JSON, MSGPACK
from ..conf import get_config
from ..encoding import EncodedEvent
from ..stats import get_recorder
from . import msgpack_send
from .drops import report_drop
from .group_batch import SharedFlush
from .prepared import Broadcast, DeflateParams, ws_frame

if TYPE_CHECKING:
    from ..codec.entities import EntityTable
    from .connection import Connection
    from .outbox import Outbox

__all__ = ["BatchingMixin"]


class BatchingMixin:
    """Queues, times and flushes a connection's batched events (see the module docstring)."""

    # The connection's state this half reads and writes (set in Connection.__init__).
    outbox: Outbox
    codec: Codec | None
    version: int
    encoding: str
    deflate: bool
    deflate_prepared: DeflateParams | None
    entities: EntityTable | None
    _batch: BatchBuffer[None] | None
    _timer: asyncio.TimerHandle | None
    _flush: asyncio.Future[None] | None

    def _codec(self) -> Codec:
        raise NotImplementedError

    async def _write(self, payload: str | bytes, push: bool) -> None:
        raise NotImplementedError

    async def _queue(self, encoded: EncodedEvent, data_text: str | bytes, push: bool) -> None:
        config = get_config()
        if self._batch is None:
            size = config["BATCH_SIZE"]
            self._batch = BatchBuffer(config["BATCH_WINDOW"], size, 10 * size)
        loop = asyncio.get_running_loop()
        if self._batch.add(None, {"encoded": encoded, "text": data_text}, loop.time()) is None:
            report_drop("batch_full", 1, "the connection's batch was full")
            return
        delay = self._batch.delay(None, loop.time())
        if delay == 0.0:
            await self.flush_batch(push=push)
        elif self._timer is None and delay is not None:
            self._timer = loop.call_later(delay, self._on_timer)

    def _queue_broadcast(self, broadcast: Broadcast) -> bool:
        # A batched broadcast into this member's batch, timed by the hub's GroupFlusher (one timer
        # for all members): JSON v2 members whose events take the plain batch path only.
        codec, flusher = self.codec, broadcast.flusher
        if codec is None or flusher is None or self.version != 2 or self.encoding != JSON:
            return False
        if self.entities is not None or broadcast.keyed is not None or not broadcast.optimize:
            return False
        config = get_config()
        encoded = broadcast.encoded
        data_text = encoded.v2_data_text(codec) if config["OPTIMIZE"] else None
        if data_text is None:
            return False
        if self._batch is None:
            size = config["BATCH_SIZE"]
            self._batch = BatchBuffer(config["BATCH_WINDOW"], size, 10 * size)
        now = asyncio.get_running_loop().time()
        if self._batch.add(None, {"encoded": encoded, "text": data_text}, now) is None:
            report_drop("batch_full", 1, "the connection's batch was full")
            return True
        delay = self._batch.delay(None, now)
        flusher.add(self, 0.0 if delay is None else delay)
        return True

    def _on_timer(self) -> None:
        self._timer = None
        self._flush = asyncio.ensure_future(self.flush_batch(push=True))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def flush_batch(self, push: bool = False, shared: SharedFlush | None = None) -> None:
        """Send queued events now, as one batch frame (or one event frame for a single event).

        ``shared``: the hub's group flush (:mod:`.group_batch`), which builds each distinct
        frame once for all the members it flushes and records their stats once.
        """
        self._cancel_timer()
        batch = self._batch.take(None) if self._batch is not None else None
        if batch is None:
            return
        assert self._batch is not None
        self._batch.done(None, batch.last_seq)
        codec = self._codec()
        items: list[tuple[EncodedEvent, Any]] = [(m["encoded"], m["text"]) for m in batch.messages]
        if shared is not None and self.encoding == JSON:
            await self._flush_shared(codec, items, shared)
            return
        payload: str | bytes
        if self.encoding == MSGPACK:
            payload, compressed = (
                msgpack_send.batch_payload(cast("Connection", self), codec, items),
                False,
            )
        else:
            if len(items) == 1:
                frame = codec.event_frame(items[0][0].event, items[0][1])
            else:
                frame = codec.batch_frame([(encoded.event, text) for encoded, text in items])
                get_recorder().record_batch(len(items))
            payload, compressed = codec.finalize(frame, allow_gzip=not self.deflate)
        await self._write(payload, push)
        if isinstance(payload, bytes):
            size = len(payload)
        else:
            size = len(payload) if payload.isascii() else len(payload.encode("utf-8"))
        recorder = get_recorder()
        share, rest = divmod(size, len(items))
        for i, (encoded, _) in enumerate(items):
            recorder.record_message(
                encoded.event,
                encoded.v1_size(codec),
                share + (rest if i == 0 else 0),
                compressed,
                log=False,
            )

    async def _flush_shared(
        self, codec: Codec, items: list[tuple[EncodedEvent, Any]], shared: SharedFlush
    ) -> None:
        # The same events in the same codec and compression make the same frame: built once.
        params = self.deflate_prepared if self.deflate else None
        key = (id(codec), self.deflate, params, tuple(id(encoded) for encoded, _ in items))
        built = shared.frames.get(key)
        if built is None:
            if len(items) == 1:
                frame = codec.event_frame(items[0][0].event, items[0][1])
            else:
                frame = codec.batch_frame([(encoded.event, text) for encoded, text in items])
            payload, compressed = codec.finalize(frame, allow_gzip=not self.deflate)
            raw = payload if isinstance(payload, bytes) else payload.encode("utf-8")
            binary = isinstance(payload, bytes)
            wire = None
            if not self.deflate:
                wire = ws_frame(raw, binary)
            elif params is not None:
                wire = ws_frame(deflate_message(raw, *params), binary, True)
            built = shared.frames[key] = (payload, compressed, len(raw), wire)
        payload, compressed, size, wire = built
        if wire is None or not self.outbox.write_frame(wire):
            await self._write(payload, True)
        if len(items) > 1:
            shared.batches[len(items)] += 1
        share, rest = divmod(size, len(items))
        for i, (encoded, _) in enumerate(items):
            sent = share + (rest if i == 0 else 0)
            shared.messages[encoded.event, encoded.v1_size(codec), sent, compressed] += 1

    def _batch_pending(self) -> bool:
        return self._batch is not None and self._batch.size > 0
