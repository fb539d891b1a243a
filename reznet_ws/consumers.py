"""The optimizing consumer mixin: a thin Channels adapter over :mod:`reznet_ws.codec`.

Usage::

    class ChatConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
        async def connect(self):
            await self.accept()
            await self.channel_layer.group_add("chat", self.channel_name)

        async def receive_event(self, event, data):
            await self.broadcast("chat", "message_new", data)
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .codec import SUBPROTOCOL, Codec, FieldMap, ProtocolError
from .codec.errors import check_event_name
from .conf import get_config
from .drops import report_drop, report_fault
from .encoding import EncodedEvent, broadcast_cache, codec_for, default_field_map
from .fanout import (
    _live,
    ensure_hub_capacity,
    get_hub,
    note_send_failure,
    note_send_success,
)
from .limits import IncomingLimits
from .outbox import Outbox
from .resilience import resilient_receive
from .stats import get_recorder

__all__ = [
    "CLOSE_TOO_MANY_ERRORS",
    "CLOSE_TOO_SLOW",
    "OptimizedConsumerMixin",
    "OptimizedJsonWebsocketConsumer",
]

logger = logging.getLogger("reznet_ws.consumers")

#: Close code sent after ``MAX_PROTOCOL_ERRORS`` bad messages on one connection.
CLOSE_TOO_MANY_ERRORS = 4008
#: Close code sent to a client that could not keep up: ``FANOUT_MAX_DROPS`` broadcasts in a row
#: were dropped because its socket's write buffer held more than ``FANOUT_MAX_BACKLOG`` bytes.
CLOSE_TOO_SLOW = 4009
#: Channel-layer message type of :meth:`OptimizedConsumerMixin.broadcast`.
BROADCAST_TYPE = "reznet.event"
_DEFLATE_SCOPE_KEY = "reznet.permessage_deflate"

#: Deliveries of one broadcast counted by (original bytes, sent bytes, compressed).
Tally = Counter[tuple[int, int, bool]]


def _count(event: str, original: int, size: int, compressed: bool, tally: Tally | None) -> None:
    if tally is None:
        get_recorder().record_message(event, original, size, compressed, log=False)
    else:
        tally[original, size, compressed] += 1


class OptimizedConsumerMixin:
    """Mix into ``AsyncJsonWebsocketConsumer`` (before it) to speak the reznet v2 protocol.

    Clients that offer the ``reznet.v2`` subprotocol get optimized frames; all others get
    exactly what a plain ``AsyncJsonWebsocketConsumer`` would send (v1).
    """

    #: Negotiated protocol version of this connection (1 until ``accept()``).
    protocol_version: int = 1
    #: Clock of the incoming rate limit (a test seam).
    rate_limit_clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batch: list[tuple[EncodedEvent, str]] = []
        self._batch_timer: asyncio.TimerHandle | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._accepted = False
        self._closing = False
        self._protocol_errors = 0
        self._codec: Codec | None = None
        self._deflate = False
        self._hub_groups: set[str] = set()
        self._dropped_in_a_row = 0
        self._outbox: Outbox | None = None
        self._before_accept: list[tuple[EncodedEvent, bool, bool]] = []
        self._reznet_loop: asyncio.AbstractEventLoop | None = None
        self._cleaned_up = False
        self._pushing = False
        self._slow_close: asyncio.Future[None] | None = None
        self._incoming_limits: IncomingLimits | None = None

    # ------------------------------------------------ the consumer's lifetime

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the consumer; whatever ends it, leave every group and count the socket out."""
        self._reznet_loop = asyncio.get_running_loop()
        _live.add(self)
        try:
            await super().__call__(scope, receive, send)  # type: ignore[misc]
        finally:
            await self._cleanup()

    @property
    def base_send(self) -> Any:
        """The ASGI send of this connection, through its :class:`~reznet_ws.outbox.Outbox`."""
        if self._outbox is None:
            return None
        # While the hub delivers a broadcast, sends hand over without waiting on the socket.
        return self._outbox.push if self._pushing else self._outbox.send

    @base_send.setter
    def base_send(self, send: Any) -> None:
        # Channels assigns the server's send here in __call__: every message goes through one
        # outbox, which keeps order and lets the hub deliver without waiting on this socket.
        self._outbox = Outbox(send)

    @property
    def channel_receive(self) -> Any:
        """Receive from this consumer's own channel, riding out channel-layer outages."""
        return self._channel_receive

    @channel_receive.setter
    def channel_receive(self, receive: Any) -> None:
        # Plain Channels lets a layer error end the consumer (the client sees 1011); retrying
        # with backoff keeps the WebSocket open through a Redis outage.
        layer = self.channel_layer  # type: ignore[attr-defined]
        self._channel_receive = functools.partial(resilient_receive, receive, layer)

    def is_open(self) -> bool:
        """Return True between ``accept()`` and the start of closing."""
        return self._accepted and not self._closing

    async def _cleanup(self) -> None:
        # Called once in every exit path of the consumer (disconnect, exception, cancellation).
        if self._cleaned_up:
            return
        self._cleaned_up = True
        self._closing = True
        _live.discard(self)
        self._cancel_batch_timer()
        undelivered = len(self._batch) + len(self._before_accept)
        self._batch.clear()
        self._before_accept.clear()
        report_drop("undeliverable_on_close", undelivered, "queued for a connection that closed")
        if self._outbox is not None:
            self._outbox.close()
        if self._accepted:
            self._accepted = False
            get_recorder().connection_closed(self.protocol_version)
        try:
            await asyncio.shield(self._leave_all_groups())
        except asyncio.CancelledError:
            pass

    # ------------------------------------------------------------------ hooks

    def get_field_map(self) -> FieldMap:
        """Return the field map of this connection; called once per connection.

        The default reads ``FIELD_MAP`` / ``EXTRA_FIELDS`` / ``TIMESTAMP_FIELDS`` /
        ``EXTRA_TIMESTAMP_FIELDS`` from ``settings.REZNET_WS``.
        """
        return default_field_map()

    def get_codec(self) -> Codec:
        """Return the codec of this connection (shared by all connections with the same map)."""
        if self._codec is None:
            self._codec = codec_for(self.get_field_map())
        return self._codec

    def get_protocol_version(self) -> int:
        """Return 2 when the client offered ``reznet.v2`` and optimization is on, else 1."""
        offered = self.scope.get("subprotocols") or []  # type: ignore[attr-defined]
        return 2 if get_config()["OPTIMIZE"] and SUBPROTOCOL in offered else 1

    def uses_transport_compression(self) -> bool:
        """Return True when this connection negotiated permessage-deflate (no app-level gzip)."""
        extensions = self.scope.get("extensions") or {}  # type: ignore[attr-defined]
        return _DEFLATE_SCOPE_KEY in extensions

    def get_features(self) -> dict[str, bool]:
        """Return the features announced in ``connection_established``."""
        v2 = self.protocol_version == 2
        deflate = self.uses_transport_compression()
        return {
            "payload_optimization": v2,
            "field_abbreviation": v2,
            "timestamps": v2,
            "gzip_compression": v2 and not deflate,
            "message_batching": v2,
            "permessage_deflate": deflate,
        }

    async def receive_event(self, event: str, data: Any) -> None:
        """Called for every client event, in plain form, whatever protocol it arrived in."""

    # ------------------------------------------------------------ connection

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        """Accept the socket, negotiating the protocol, and send ``connection_established``."""
        self.protocol_version = self.get_protocol_version()
        if self.protocol_version == 2:
            subprotocol = SUBPROTOCOL
        await super().accept(subprotocol, headers)  # type: ignore[misc]
        self._accepted = True
        self._deflate = self.uses_transport_compression()
        get_recorder().connection_opened(self.protocol_version)
        if self.protocol_version == 2:
            await self._send_raw("connection_established", self._connection_info())
        # Broadcasts to groups joined before accept() waited for the handshake.
        waiting, self._before_accept = self._before_accept, []
        for encoded, optimize, batch in waiting:
            await self.deliver_broadcast(encoded, optimize=optimize, batch=batch)

    def _connection_info(self) -> dict[str, Any]:
        field_map = self.get_codec().field_map
        info: dict[str, Any] = {
            "version": 2,
            "protocol": SUBPROTOCOL,
            "features": self.get_features(),
            "map_hash": field_map.hash,
        }
        if self._client_map_hash() != field_map.hash:
            info["field_map"] = dict(field_map.mapping)
            info["timestamp_fields"] = sorted(field_map.timestamp_fields)
        return info

    def _client_map_hash(self) -> str | None:
        raw = self.scope.get("query_string", b"")  # type: ignore[attr-defined]
        query = parse_qs(raw.decode("latin-1") if isinstance(raw, bytes) else raw)
        values = query.get("reznet_map")
        return values[-1] if values else None

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        """Flush queued events, then close the socket from the server end."""
        if not self._closing:
            self._closing = True
            await self.flush_batch()
        await super().close(code, reason)  # type: ignore[misc]

    async def websocket_disconnect(self, message: Mapping[str, Any]) -> None:
        """Leave the hub groups, stop the batch timer, count the connection out."""
        await self._cleanup()
        await super().websocket_disconnect(message)  # type: ignore[misc]

    # --------------------------------------------------------------- sending

    async def send_event(
        self, event: str, data: Any = None, *, optimize: bool = True, batch: bool = False
    ) -> None:
        """Send one event to this connection in its negotiated protocol.

        ``batch=True`` queues it for up to ``BATCH_WINDOW`` seconds or ``BATCH_SIZE`` events.
        """
        check_event_name(event)
        await self._deliver(EncodedEvent(event, data), optimize=optimize, batch=batch)

    async def broadcast(
        self,
        group: str,
        event: str,
        data: Any = None,
        *,
        optimize: bool = True,
        batch: bool = False,
    ) -> bool:
        """Send one event to every member of ``group``, each in its own protocol version.

        The event is encoded once per process and protocol version, not once per member.
        Returns False, after counting ``error:broadcast_failed``, when the channel layer could
        not take the event (Redis unreachable): the consumer keeps running, and later
        broadcasts go out as soon as the layer is back.
        """
        check_event_name(event)
        encoded = EncodedEvent(event, data)
        message_id = uuid.uuid4().hex
        v1_text = encoded.v1_text(self.get_codec())
        broadcast_cache().put(message_id, encoded)
        layer = self.channel_layer  # type: ignore[attr-defined]
        ensure_hub_capacity(layer)
        try:
            await layer.group_send(
                group,
                {
                    "type": BROADCAST_TYPE,
                    "group": group,
                    "id": message_id,
                    "event": event,
                    "v1": v1_text,
                    "optimize": optimize,
                    "batch": batch,
                },
            )
        except Exception as exc:
            note_send_failure(layer, exc)
            report_drop("broadcast_failed", 1, f"{event!r} to {group!r}: {exc!r}")
            return False
        note_send_success(layer)
        return True

    async def reznet_event(self, message: Mapping[str, Any]) -> None:
        """Channel-layer handler for :meth:`broadcast` to groups joined with ``group_add``.

        Groups joined with :meth:`join_group` are served by the process hub instead; a message
        for such a group arriving here too (joined both ways) is ignored, so nothing is doubled.
        """
        if message.get("group") in self._hub_groups:
            return
        encoded = broadcast_cache().get_or_create(message["id"], message["event"], message["v1"])
        await self._deliver(encoded, optimize=message["optimize"], batch=message["batch"])

    # ------------------------------------------------------------ fast groups

    async def join_group(self, group: str) -> None:
        """Join ``group`` for :meth:`broadcast` through the process hub (the fast path).

        The hub joins the channel-layer group once per process and delivers each broadcast to
        its local members without a per-member queue, task or thread hop. Handler-type
        messages (``group_send`` with your own ``type``) need ``channel_layer.group_add``.
        """
        if group in self._hub_groups:
            return
        self._hub_groups.add(group)
        await get_hub(self.channel_layer).join(group, self)  # type: ignore[attr-defined]

    async def leave_group(self, group: str) -> None:
        """Leave a group joined with :meth:`join_group`."""
        if group not in self._hub_groups:
            return
        self._hub_groups.discard(group)
        await get_hub(self.channel_layer).leave(group, self)  # type: ignore[attr-defined]

    async def _leave_all_groups(self) -> None:
        for group in list(self._hub_groups):
            await self.leave_group(group)

    async def deliver_broadcast(
        self, encoded: EncodedEvent, *, optimize: bool, batch: bool, tally: Tally | None = None
    ) -> None:
        """Called by the hub for each broadcast to a group this connection joined.

        With ``tally``, unbatched deliveries are counted into it (the hub records the whole
        broadcast in the stats at once) instead of one stats call per recipient.

        Never waits on this connection's socket (see :mod:`reznet_ws.outbox`). Before
        ``accept()`` the event waits and goes out right after ``connection_established``.
        A client whose unsent data exceeds ``FANOUT_MAX_BACKLOG`` bytes misses the event
        (counted as ``slow_client_drop``); after ``FANOUT_MAX_DROPS`` misses in a row it is
        closed with code 4009, so one slow or dead client never grows memory without bound.
        """
        if self._closing or self._outbox is None:
            return
        config = get_config()
        if not self._accepted:
            if len(self._before_accept) >= config["FANOUT_MAX_DROPS"]:
                report_drop("slow_client_drop", 1, "too many broadcasts before accept()")
                return
            self._before_accept.append((encoded, optimize, batch))
            return
        if self._outbox.backlog() > config["FANOUT_MAX_BACKLOG"]:
            report_drop("slow_client_drop", 1, "a member's socket did not keep up")
            self._dropped_in_a_row += 1
            if self._dropped_in_a_row >= config["FANOUT_MAX_DROPS"]:
                self._closing = True
                self._slow_close = asyncio.ensure_future(self._close_too_slow())
            return
        self._dropped_in_a_row = 0
        self._pushing = True
        try:
            await self._deliver(encoded, optimize=optimize, batch=batch, tally=tally)
        finally:
            self._pushing = False

    async def _close_too_slow(self) -> None:
        # Its own task: on servers where a send can wait for the socket, closing a client that
        # does not read must not hold up the hub. What was queued for it is dropped and counted.
        assert self._outbox is not None
        report_fault("slow_client_closed", f"closed with {CLOSE_TOO_SLOW}")
        self._outbox.discard("slow_client_drop")
        try:
            await super().close(CLOSE_TOO_SLOW)  # type: ignore[misc]
        except Exception as exc:  # the connection went away meanwhile
            logger.debug("Closing a slow client failed: %r", exc)

    async def _deliver(
        self, encoded: EncodedEvent, *, optimize: bool, batch: bool, tally: Tally | None = None
    ) -> None:
        codec = self.get_codec()
        if self.protocol_version != 2 or not optimize or not get_config()["OPTIMIZE"]:
            await self.flush_batch()
            await self._send_v1(encoded, codec, tally)
            return
        data_text = encoded.v2_data_text(codec)
        if data_text is None:  # could not be optimized: plain encoding, never dropped
            await self.flush_batch()
            await self._send_v1(encoded, codec, tally)
            return
        if batch:
            self._batch.append((encoded, data_text))
            if len(self._batch) >= get_config()["BATCH_SIZE"]:
                await self.flush_batch()
            elif self._batch_timer is None:
                loop = asyncio.get_running_loop()
                self._batch_timer = loop.call_later(
                    get_config()["BATCH_WINDOW"], self._on_batch_timer
                )
            return
        if self._batch:
            await self.flush_batch()
        payload, compressed, size = encoded.v2_frame(codec, not self._deflate)
        if compressed:
            await self.send(bytes_data=payload)  # type: ignore[attr-defined]
        else:
            await self.send(text_data=payload)  # type: ignore[attr-defined]
        _count(encoded.event, encoded.v1_size(codec), size, compressed, tally)

    async def _send_v1(self, encoded: EncodedEvent, codec: Codec, tally: Tally | None) -> None:
        text = encoded.v1_text(codec)
        await self.send(text_data=text)  # type: ignore[attr-defined]
        size = len(text)  # v1 text is ASCII (json.dumps escapes the rest)
        _count(encoded.event, size, size, False, tally)

    async def _send_frame(self, codec: Codec, frame: str, events: list[EncodedEvent]) -> None:
        payload, compressed = codec.finalize(frame, allow_gzip=not self._deflate)
        if isinstance(payload, bytes):
            await self.send(bytes_data=payload)  # type: ignore[attr-defined]
            size = len(payload)
        else:
            await self.send(text_data=payload)  # type: ignore[attr-defined]
            size = len(payload) if payload.isascii() else len(payload.encode("utf-8"))
        recorder = get_recorder()
        share, rest = divmod(size, len(events))
        for i, encoded in enumerate(events):
            original = encoded.v1_size(codec)
            recorder.record_message(
                encoded.event, original, share + (rest if i == 0 else 0), compressed, log=False
            )

    async def _send_raw(self, event: str, data: Any) -> None:
        codec = self.get_codec()
        if self.protocol_version == 2:
            await self.send(text_data=codec.raw_frame(event, data))  # type: ignore[attr-defined]
        else:
            await self.send(text_data=codec.encode_v1(event, data))  # type: ignore[attr-defined]

    # -------------------------------------------------------------- batching

    def _on_batch_timer(self) -> None:
        self._batch_timer = None
        self._flush_task = asyncio.ensure_future(self.flush_batch())

    def _cancel_batch_timer(self) -> None:
        if self._batch_timer is not None:
            self._batch_timer.cancel()
            self._batch_timer = None

    async def flush_batch(self) -> None:
        """Send queued events now, as one batch frame (or one event frame for a single event)."""
        self._cancel_batch_timer()
        if not self._batch:
            return
        items, self._batch = self._batch, []
        codec = self.get_codec()
        if len(items) == 1:
            frame = codec.event_frame(items[0][0].event, items[0][1])
        else:
            frame = codec.batch_frame([(encoded.event, text) for encoded, text in items])
            get_recorder().record_batch(len(items))
        await self._send_frame(codec, frame, [encoded for encoded, _ in items])

    # -------------------------------------------------------------- receiving

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """Decode a client frame with every limit; bad input gets an ``error`` event.

        A frame of more than ``MAX_BATCH_EVENTS`` events is refused whole; events over the
        connection's ``INCOMING_RATE`` are not dispatched (one ``rate_limited`` error a frame).
        """
        limits = self._incoming_limits
        if limits is None:
            limits = self._incoming_limits = IncomingLimits.from_config(
                get_config(), self.rate_limit_clock
            )
        try:
            contents = self.get_codec().parse_incoming(
                text_data, bytes_data, v2=self.protocol_version == 2
            )
            admitted = limits.admit(len(contents))
        except ProtocolError as exc:
            await self.protocol_error(exc.code, exc.detail)
            return
        for content in contents[:admitted]:
            if self._closing:  # an earlier event of this frame closed the connection
                return
            await self.receive_json(content, **kwargs)  # type: ignore[attr-defined]
        dropped = len(contents) - admitted
        if dropped:
            rate = get_config()["INCOMING_RATE"]
            detail = f"{dropped} of {len(contents)} events over {rate} a second were dropped"
            await self.protocol_error("rate_limited", detail, count=dropped)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Dispatch a decoded message: ``get_stats`` is answered, events go to ``receive_event``.

        A message that is not an object, or has no string ``event``, gets an ``error`` event.
        """
        if not isinstance(content, dict):
            await self.protocol_error("not_an_object", "a message must be a JSON object")
            return
        event = content.get("event")
        if not isinstance(event, str):
            await self.protocol_error("missing_event", 'a message needs a string "event"')
            return
        if event == "get_stats":
            await self._answer_stats()
            return
        await self.receive_event(event, content.get("data"))

    async def protocol_error(self, code: str, detail: str, *, count: int = 1) -> None:
        """Count a bad client message, answer it with an ``error`` event, close on abuse.

        ``count`` is the number of events refused with it (the ``rate_limited`` ones of a
        frame). After ``MAX_PROTOCOL_ERRORS`` bad messages the connection is closed with 4008.
        """
        report_drop(code, count, detail)
        self._protocol_errors += 1
        await self._send_raw("error", {"code": code, "detail": detail})
        if self._protocol_errors >= get_config()["MAX_PROTOCOL_ERRORS"]:
            await self.close(CLOSE_TOO_MANY_ERRORS)

    async def _answer_stats(self) -> None:
        from .stats.report import aget_stats_payload

        user = self.scope.get("user")  # type: ignore[attr-defined]
        payload = await aget_stats_payload(user) if user is not None else None
        if payload is None:
            get_recorder().record_error("forbidden")
            await self._send_raw(
                "error", {"code": "forbidden", "detail": "get_stats is for staff users"}
            )
            return
        await self._send_raw("stats_response", payload)


class OptimizedJsonWebsocketConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    """A ready-made consumer: ``AsyncJsonWebsocketConsumer`` speaking the reznet protocol."""
