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

The class keeps this pipeline, the connection's lifetime and the plain path of a broadcast; its
other halves have their own modules: the consumer's common event (:mod:`.lean_send`), the
application's ``send_json`` content (:mod:`.content_send`), batching (:mod:`.batch_send`), and
a broadcast's branches for group streams, keyed events and entity references
(:mod:`.feature_delivery`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ..batching import BatchBuffer
from ..codec import Codec
from ..codec.entities import EntityTable
from ..codec.msgpack_frames import JSON, MSGPACK
from ..conf import get_config
from ..encoding import EncodedEvent
from ..stats import get_recorder
from . import entities, feature_delivery, keyed, msgpack_send
from .batch_send import BatchingMixin
from .content_send import ContentSendMixin
from .drops import report_drop, report_fault
from .keyed import KeyedStreams
from .lean_send import LeanSendMixin
from .outbox import Outbox, Send
from .prepared import Broadcast, DeflateParams

__all__ = ["CLOSE_TOO_SLOW", "Connection", "Tally"]

logger = logging.getLogger("reznet_ws.delivery")

#: Close code sent to a client that could not keep up: ``FANOUT_MAX_DROPS`` broadcasts in a row
#: were dropped because more than ``FANOUT_MAX_BACKLOG`` bytes waited for its socket.
CLOSE_TOO_SLOW = 4009

#: Deliveries of one broadcast counted by (original bytes, sent bytes, compressed).
Tally = Counter[tuple[int, int, bool]]

#: The reasons of ``send_json`` fallbacks logged so far: each is logged once per process.
_fallbacks_logged: set[str] = set()


class Connection(LeanSendMixin, ContentSendMixin, BatchingMixin):
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

    @staticmethod
    def _report_fallback(exc: BaseException) -> None:
        # Called by send_content for content the strict encoding refused.
        reason = type(exc).__name__
        get_recorder().record_fallback(reason)
        if reason not in _fallbacks_logged:
            _fallbacks_logged.add(reason)
            logger.warning("send_json content sent in the plain encoding (%s: %s)", reason, exc)

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
            written = feature_delivery.deliver_stream(self, broadcast, tally)
            if written is not None:
                return written
        if broadcast.keyed is not None or broadcast.batch or self.entities is not None:
            written = feature_delivery.deliver_features(self, broadcast, tally)
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

    async def deliver_async(self, broadcast: Broadcast, tally: Tally | None = None) -> None:
        """The awaited path of a broadcast :meth:`deliver` could not write at once."""
        if broadcast.stream is not None or broadcast.keyed is not None or self.entities is not None:
            if await feature_delivery.deliver_async(self, broadcast, tally):
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
