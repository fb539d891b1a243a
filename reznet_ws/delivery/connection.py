"""One WebSocket's outbound pipeline: encode once, frame, hand to the outbox, record once.

Every event a connection sends, its application's own (``send_event``) or a broadcast handed over
by the hub (:meth:`Connection.deliver`), goes down :meth:`Connection.send_event`, except
that a broadcast whose frame can be written as prepared skips it (:mod:`.prepared`):

1. v1, or an event that could not be optimized: the v1 text (built once per event);
2. v2: the encoded data (built once per event and codec), then either queued in the batch
   (:class:`~reznet_ws.batching.BatchBuffer` policy: ``BATCH_SIZE`` events or ``BATCH_WINDOW``
   seconds) or framed at once (the frame is built once per event and shared by every member);
3. the frame goes to the :class:`~reznet_ws.delivery.outbox.Outbox` (``push`` for the hub: never
   waits on the socket; ``send`` for the application: awaited until written);
4. stats: one record per frame, or, for a broadcast, counted into the hub's tally, which records
   each encoding of the broadcast once with its recipient count.

The application's ``send_json(content)`` goes down :meth:`Connection.send_content` (a content
frame, for clients that decode them) or :meth:`Connection.send_text` (its v1 text): after any
queued batch, counted under the event name ``(send_json)``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ..batching import BatchBuffer
from ..codec import Codec
from ..codec.content import CONTENT_EVENT, content_frame, encode_content, encode_v1_content
from ..codec.entities import EntityTable
from ..codec.msgpack_frames import JSON, MSGPACK
from ..conf import get_config
from ..encoding import EncodedEvent
from ..stats import get_recorder, log_payload
from . import entities, keyed, keyed_groups, msgpack_send
from .batch_send import BatchingMixin
from .drops import report_drop, report_fault
from .keyed import KeyedStreams
from .outbox import Outbox, Send
from .prepared import Broadcast, DeflateParams

__all__ = ["CLOSE_TOO_SLOW", "Connection", "Tally"]

logger = logging.getLogger("reznet_ws.delivery")

#: Close code sent to a client that could not keep up: ``FANOUT_MAX_DROPS`` broadcasts in a row
#: were dropped because more than ``FANOUT_MAX_BACKLOG`` bytes waited for its socket.
CLOSE_TOO_SLOW = 4009

#: Deliveries of one broadcast counted by (original bytes, sent bytes, compressed).
Tally = Counter[tuple[int, int, bool]]


class Connection(BatchingMixin):
    """The outbound state of one WebSocket, shared by its consumer and the hub."""

    def __init__(self, send: Send) -> None:
        self.outbox = Outbox(send)
        self.codec: Codec | None = None
        self.version = 1
        self.deflate = False
        #: ``"msgpack"`` on ``reznet.v2.msgpack`` connections (:mod:`.msgpack_send`), else
        #: ``"json"``.
        self.encoding = JSON
        #: What this connection sent in its encoding, not yet recorded (:mod:`.msgpack_send`).
        self.encoding_counts: list[float] = [0, 0, 0, 0.0]
        #: Set when the connection's permessage-deflate has no server context takeover: its
        #: broadcasts are compressed once per broadcast and sent prepared (:mod:`.prepared`).
        self.deflate_prepared: DeflateParams | None = None
        self.accepted = False
        self.closing = False
        self._waiting: list[Broadcast] = []
        self._batch: BatchBuffer[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._flush: asyncio.Future[None] | None = None
        self._slow_drops = 0
        self._slow_close: asyncio.Future[None] | None = None
        #: Whether the client decodes content frames (``reznet_features=content``); None until
        #: the consumer first asks.
        self.content_frames: bool | None = None
        #: Whether broadcasts may come as group-stream frames (``reznet_features=stream``).
        self.stream_mode = False
        #: The codec of its group streams: ``"deflate"``, or ``"zstd"`` (``stream-zstd``).
        self.stream_codec = "deflate"
        #: The epoch of each group stream this connection is in (see :mod:`.streams`).
        self.stream_epochs: dict[int, int] = {}
        #: Keyed events: this connection's own streams (None: it did not negotiate ``delta``)
        #: and, per key, the (stream, version) of the last keyed frame sent (see :mod:`.keyed`).
        self.keyed: KeyedStreams | None = None
        self.keyed_seen: dict[str, tuple[str, int]] = {}
        #: Versions the client said it holds when it connected: key -> (epoch, version).
        self.keyed_claims: dict[str, tuple[str, int]] = {}
        #: Entity references: what the client holds (None: no ``delta`` or no ``ENTITIES``).
        self.entities: EntityTable | None = None

    # ------------------------------------------------------------- lifetime

    async def opened(
        self,
        version: int,
        codec: Codec,
        deflate: bool,
        greeting: tuple[str, Any] | None = None,
    ) -> None:
        """Called once the handshake is accepted; sends ``greeting`` (a control event) first."""
        self.version, self.codec, self.deflate = version, codec, deflate
        self.accepted = True
        get_recorder().connection_opened(version)
        if greeting is not None:
            await self.send_raw(*greeting)
        waiting, self._waiting = self._waiting, []
        for broadcast in waiting:  # broadcasts that waited for the handshake
            if not self.deliver(broadcast):
                await self.deliver_async(broadcast)

    def closed(self) -> None:
        """Called once when the connection is gone: what is still queued cannot be delivered."""
        self.closing = True
        self._cancel_timer()
        queued = len(self._waiting) + (self._batch.size if self._batch is not None else 0)
        self._waiting.clear()
        self._batch = None
        report_drop("undeliverable_on_close", queued, "queued for a connection that closed")
        self.outbox.close()
        msgpack_send.record_counts(self)
        if self.accepted:
            self.accepted = False
            get_recorder().connection_closed(self.version)

    # --------------------------------------------------------------- sending

    def lean_frame(self, event: str, data: Any) -> tuple[str, int, int] | None:
        """Return ``(frame, original size, sent size)`` of an event that takes the common path.

        The common path: an unkeyed, unbatched, optimized event small enough not to be gzipped,
        to a JSON v2 connection with no batch waiting. It is encoded here, once, without the
        caches broadcasts need; the caller sends ``frame`` with :attr:`outbox` and then calls
        :meth:`sent_lean`. Anything else (None) goes through :meth:`send_new`.
        """
        codec = self.codec
        if (
            codec is None
            or self.version != 2
            or self.encoding != JSON
            or self._batch is not None
            or self.entities is not None
            or not get_config()["OPTIMIZE"]
        ):
            return None
        try:
            lean = codec.encode_event_measured(event, data)
        except (ValueError, TypeError, RecursionError):
            return None  # send_event counts the fallback and sends the plain encoding
        if lean[2] >= codec.gzip_threshold:  # may be worth gzipping
            return None
        return lean

    def sent_lean(self, event: str, frame: str, original: int, sent: int) -> None:
        """Count a frame of :meth:`lean_frame` once it is sent (and log its payload)."""
        config = get_config()
        if config["STATS_ENABLED"]:
            get_recorder().record_sent(event, original, sent)
        threshold = config["LOG_PAYLOAD_THRESHOLD"]
        if threshold is not None and original >= threshold:
            log_payload(event, original, sent)

    async def send_new(
        self, event: str, data: Any, *, optimize: bool, batch: bool, key: str | None
    ) -> None:
        """Called by the consumer's ``send_event``: one new event to this connection."""
        if optimize and not batch and key is None:
            lean = self.lean_frame(event, data)
            if lean is not None:
                await self.outbox.send({"type": "websocket.send", "text": lean[0]})
                self.sent_lean(event, *lean)
                return
        encoded = EncodedEvent(event, data)
        await self.send_event(encoded, optimize=optimize, batch=batch, key=key)

    async def send_event(
        self,
        encoded: EncodedEvent,
        *,
        optimize: bool = True,
        batch: bool = False,
        tally: Tally | None = None,
        push: bool = False,
        key: str | None = None,
    ) -> None:
        """Send one event in this connection's protocol (see the module docstring).

        With ``key``, on a connection that negotiated deltas, it goes as a keyed frame (never
        batched); every other connection gets the plain event.
        """
        if self.encoding == MSGPACK and self.version == 2 and (key is None or self.keyed is None):
            await msgpack_send.send_event(
                self, encoded, optimize=optimize, batch=batch, tally=tally, push=push
            )
            return
        codec = self._codec()
        data_text = None
        if self.version == 2 and optimize and get_config()["OPTIMIZE"]:
            data_text = encoded.v2_data_text(codec)  # None: could not be optimized
        if key is not None and self.keyed is not None and data_text is not None:
            await keyed.send_keyed(self, encoded, key, data_text, push)
            return
        if self.entities is not None and data_text is not None and key is None:
            if await entities.send(self, encoded, data_text, push, tally):  # references (3.4)
                return
        if data_text is None:
            await self.flush_batch(push=push)
            text = encoded.v1_text(codec)
            await self._write(text, push)
            size = len(text)  # v1 text is ASCII (json.dumps escapes the rest)
            self._count(encoded.event, size, size, False, tally)
            return
        if batch:
            await self._queue(encoded, data_text, push)
            return
        if self._batch is not None:  # nothing can be queued (or timed) before the first batch
            await self.flush_batch(push=push)
        payload, compressed, size = encoded.v2_frame(codec, not self.deflate)
        await self._write(payload, push)
        self._count(encoded.event, encoded.v1_size(codec), size, compressed, tally)

    async def send_content(self, content: Any, v1_text: str | None = None) -> None:
        """Send ``send_json`` content as a content frame (v2 clients that decode them).

        ``v1_text`` is the consumer's own ``encode_json`` text when it overrides it (``content``
        is then that text parsed); None means ``json.dumps(content)``. Content the strict
        encoding refuses (NaN, a ``datetime``, too deep) goes out as that v1 text instead,
        counted as a fallback; what ``json.dumps`` refuses raises, as in plain Channels.
        """
        if self.encoding == MSGPACK:
            await msgpack_send.send_content(self, content, v1_text)
            return
        codec = self._codec()
        try:
            data_text, original = encode_content(codec, content)
        except (ValueError, TypeError, RecursionError) as exc:
            text = encode_v1_content(content) if v1_text is None else v1_text  # may raise, as v1
            _report_fallback(exc)
            await self.send_text(text)
            return
        await self.flush_batch()
        payload, compressed = codec.finalize(content_frame(data_text), allow_gzip=not self.deflate)
        await self._write(payload, False)
        if original is None or v1_text is not None:
            original = len(encode_v1_content(content) if v1_text is None else v1_text)
        get_recorder().record_message(CONTENT_EVENT, original, _size(payload), compressed)

    async def send_text(self, text: str) -> None:
        """Send ``send_json``'s v1 text as it is (after any queued batch), counted as content."""
        await self.flush_batch()
        await self._write(text, False)
        size = _size(text)
        get_recorder().record_message(CONTENT_EVENT, size, size, False)

    async def send_raw(self, event: str, data: Any) -> None:
        """Send a control event (``connection_established``, ``error``, ``stats_response``)."""
        codec = self._codec()
        if self.version == 2 and self.encoding == MSGPACK:
            await self._write(msgpack_send.raw_frame(codec, event, data), False)
        elif self.version == 2:
            await self._write(codec.raw_frame(event, data), False)
        else:
            await self._write(codec.encode_v1(event, data), False)

    async def _write(self, payload: str | bytes, push: bool) -> None:
        message: Mapping[str, Any] = (
            {"type": "websocket.send", "bytes": payload}
            if isinstance(payload, bytes)
            else {"type": "websocket.send", "text": payload}
        )
        if push:
            await self.outbox.push(message)
        else:
            await self.outbox.send(message)

    def _codec(self) -> Codec:
        if self.codec is None:
            raise RuntimeError("send before accept(): the connection has no protocol yet")
        return self.codec

    @staticmethod
    def _count(event: str, original: int, size: int, compressed: bool, tally: Tally | None) -> None:
        if tally is None:
            get_recorder().record_message(event, original, size, compressed, log=False)
        else:
            tally[original, size, compressed] += 1

    # ----------------------------------------------------- broadcasts (the hub)

    def deliver(self, broadcast: Broadcast, tally: Tally | None = None) -> bool:
        """Called by the hub for each broadcast to a group this connection joined.

        Never waits on the socket, and returns False only when the broadcast needs
        :meth:`deliver_async` (batching, permessage-deflate, a server without prepared
        frames). Before the handshake the broadcast waits (at most ``FANOUT_MAX_DROPS`` of
        them) and goes out right after ``connection_established``. A member whose unsent data
        exceeds ``FANOUT_MAX_BACKLOG`` bytes misses it (``slow_client_drop``); after
        ``FANOUT_MAX_DROPS`` misses in a row it is closed with 4009, so one slow or dead client
        never grows memory without bound.
        """
        if self.closing:
            return True
        config = get_config()
        if not self.accepted:
            if len(self._waiting) >= config["FANOUT_MAX_DROPS"]:
                report_drop("slow_client_drop", 1, "too many broadcasts before accept()")
            else:
                self._waiting.append(broadcast)
            return True
        if self.outbox.backlog() > config["FANOUT_MAX_BACKLOG"]:
            report_drop("slow_client_drop", 1, "a member's socket did not keep up")
            if broadcast.stream is not None:
                broadcast.stream.missed(self, broadcast)  # it cannot follow the stream now
            self._slow_drops += 1
            if self._slow_drops >= config["FANOUT_MAX_DROPS"]:
                self.closing = True
                self._slow_close = asyncio.ensure_future(self._close_too_slow())
            return True
        self._slow_drops = 0
        if broadcast.stream is not None and self.stream_mode:
            written = self._deliver_stream(broadcast, tally)
            if written is not None:
                return written
        if broadcast.keyed is not None and self.keyed is not None and self.codec is not None:
            if self._batch_pending() or self.deflate:
                return False
            written = keyed_groups.deliver(self, broadcast, tally)
            if written is not None:
                return written
        if broadcast.batch and broadcast.flusher is not None and self._queue_broadcast(broadcast):
            return True
        if self.entities is not None and broadcast.keyed is None and self.codec is not None:
            written = entities.deliver(self, broadcast, tally)
            if written is not None:
                return written
        if broadcast.batch or self.codec is None or self._batch_pending():
            return False
        if not self.deflate:
            frame = broadcast.frame(self.version, self.codec, True, self.encoding)
            data, original, size, compressed = frame
        elif self.deflate_prepared is not None and self.encoding == JSON:
            prepared = broadcast.deflated(self.version, self.codec, self.deflate_prepared)
            data, original, size, compressed = prepared
        else:
            return False  # context takeover: this connection's own compressor must see it
        if not self.outbox.write_frame(data):
            return False
        self._count(broadcast.encoded.event, original, size, compressed, tally)
        if self.encoding == MSGPACK:
            msgpack_send.count(self, 1, original, size)
        return True

    def _deliver_stream(self, broadcast: Broadcast, tally: Tally | None) -> bool | None:
        # None: not a stream frame for this member; False: deliver_async decides and writes.
        stream, outbox = broadcast.stream, self.outbox
        assert stream is not None
        if not outbox.direct or (self._batch is not None and self._batch.size > 0):
            return False
        frame = stream.frame_for(self, broadcast)
        if frame is None:
            return None
        if not outbox.write_frame(frame[0]):
            return False
        if tally is None:
            self._count(broadcast.encoded.event, frame[2], len(frame[1]), True, None)
        else:
            tally[frame[2], len(frame[1]), True] += 1
        if self.encoding == MSGPACK:  # bytes per encoding: a msgpack stream's frames too
            msgpack_send.count(self, 1, frame[2], len(frame[1]))
        return True

    async def deliver_async(self, broadcast: Broadcast, tally: Tally | None = None) -> None:
        """The awaited path of a broadcast :meth:`deliver` could not write at once."""
        stream = broadcast.stream
        if stream is not None and self.stream_mode:
            frame = stream.frame_for(self, broadcast)
            if frame is not None:
                await self.flush_batch(push=True)
                await self._write(frame[1], True)
                self._count(broadcast.encoded.event, frame[2], len(frame[1]), True, tally)
                if self.encoding == MSGPACK:  # bytes per encoding (msgpack_send)
                    msgpack_send.count(self, 1, frame[2], len(frame[1]))
                return
        if broadcast.keyed is not None and self.keyed is not None:
            if await keyed_groups.deliver_async(self, broadcast, tally):
                return
        if self.entities is not None and broadcast.keyed is None and self.codec is not None:
            if await entities.deliver_async(self, broadcast, tally):
                return
        await self.send_event(
            broadcast.encoded,
            optimize=broadcast.optimize,
            batch=broadcast.batch,
            tally=tally,
            push=True,
        )

    async def _close_too_slow(self) -> None:
        # Its own task: on servers where a send can wait for the socket, closing a client that
        # does not read must not hold up the hub. What was queued for it is dropped and counted.
        report_fault("slow_client_closed", f"closed with {CLOSE_TOO_SLOW}")
        self.outbox.discard("slow_client_drop")
        try:
            await self.outbox.send({"type": "websocket.close", "code": CLOSE_TOO_SLOW})
        except Exception as exc:  # the connection went away meanwhile
            logger.debug("Closing a slow client failed: %r", exc)


_fallbacks_logged: set[str] = set()


def _size(payload: str | bytes) -> int:
    if isinstance(payload, bytes) or payload.isascii():
        return len(payload)
    return len(payload.encode("utf-8"))


def _report_fallback(exc: BaseException) -> None:
    reason = type(exc).__name__
    get_recorder().record_fallback(reason)
    if reason not in _fallbacks_logged:
        _fallbacks_logged.add(reason)
        logger.warning("send_json content sent in the plain encoding (%s: %s)", reason, exc)
