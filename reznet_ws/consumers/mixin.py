"""The optimizing consumer mixin for async consumers (``AsyncJsonWebsocketConsumer``).

Usage::

    class ChatConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
        async def connect(self):
            await self.join_group("chat")
            await self.accept()

        async def receive_event(self, event, data):
            await self.broadcast("chat", "message_new", data)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from ..codec.content import accepts_content
from ..codec.delta import check_key
from ..codec.errors import RESERVED_EVENTS, check_event_name
from ..conf import get_config
from ..delivery.connection import Connection
from ..delivery.keyed import resync
from ..delivery.sending import broadcast
from ..delivery.streams import handle_resync, stream_codec
from ..encoding import EncodedEvent, broadcast_cache
from .base import CLOSE_TOO_MANY_ERRORS, ConsumerBase
from .incoming import IncomingGate, classify

__all__ = ["OptimizedConsumerMixin", "OptimizedJsonWebsocketConsumer"]


class OptimizedConsumerMixin(ConsumerBase):
    """Mix into ``AsyncJsonWebsocketConsumer`` (before it) to speak the reznet v2 protocol.

    Clients that offer the ``reznet.v2`` subprotocol get optimized frames; all others get
    exactly what a plain ``AsyncJsonWebsocketConsumer`` would send (v1).
    """

    #: Send ``send_json(content)`` as a content frame to clients that decode them (False: the
    #: plain Channels text on every connection, uncounted).
    optimize_send_json: bool = True

    async def receive_event(self, event: str, data: Any) -> None:
        """Called for every client event, in plain form, whatever protocol it arrived in."""

    # ------------------------------------------------------------ connection

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        """Accept the socket, negotiating the protocol, and send ``connection_established``."""
        version = self.get_protocol_version()
        if version == 2:
            subprotocol = self.get_subprotocol()
            codec = stream_codec(self.scope)
            self._conn().stream_mode = codec is not None
            self._conn().stream_codec = codec or "deflate"
        await super().accept(subprotocol, headers)  # type: ignore[misc]
        await self._opened(version)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        """Flush queued events, then close the socket from the server end."""
        connection = self._connection
        if connection is not None and not connection.closing:
            connection.closing = True
            if connection.accepted:
                await connection.flush_batch()
        await super().close(code, reason)  # type: ignore[misc]

    async def websocket_disconnect(self, message: Mapping[str, Any]) -> None:
        """Leave the hub groups, stop the batch timer, count the connection out."""
        await self._cleanup()
        await super().websocket_disconnect(message)  # type: ignore[misc]

    # --------------------------------------------------------------- sending

    async def send_event(
        self,
        event: str,
        data: Any = None,
        *,
        optimize: bool = True,
        batch: bool = False,
        key: str | None = None,
    ) -> None:
        """Send one event to this connection in its negotiated protocol.

        ``batch=True`` queues it for up to ``BATCH_WINDOW`` seconds or ``BATCH_SIZE`` events.
        ``key`` makes it a keyed event: clients that negotiated deltas get only what changed
        since the last event of that key (docs/deltas.md); keyed events are never batched.
        """
        if type(event) is not str or event in RESERVED_EVENTS:
            check_event_name(event)
        if key is not None:
            check_key(key)
        connection = self._connection
        if connection is None:
            connection = self._conn()  # raises
        if key is None and optimize and not batch:
            lean = connection.lean_frame(event, data)
            if lean is not None:  # the common case, in as few steps as it takes
                frame, original, sent = lean
                await connection.outbox.send({"type": "websocket.send", "text": frame})
                connection.sent_lean(event, original, sent)
                return
        # Not the common case (or its encoding failed): the general path, encoded once more.
        encoded = EncodedEvent(event, data)
        await connection.send_event(encoded, optimize=optimize, batch=batch, key=key)

    async def send_json(self, content: Any, close: bool | int = False) -> None:
        """Send ``content`` as Channels does, smaller on v2 connections that decode content frames.

        There it goes out as a content frame (``{"_v":2,"c":DATA}``) whose decoded value is the
        parse of ``encode_json(content)``; everywhere else as ``encode_json(content)`` itself.
        Counted in the stats under ``(send_json)``. ``close`` closes afterwards, as in Channels.
        """
        connection = self._connection
        if not self.optimize_send_json or connection is None or not connection.accepted:
            await super().send_json(content, close)  # type: ignore[misc]
            return
        custom = _custom_encoder(type(self), AsyncJsonWebsocketConsumer)
        if not _content_frames(self.scope, connection):
            await connection.send_text(await self.encode_json(content))  # type: ignore[attr-defined]
        elif custom:
            text = await self.encode_json(content)  # type: ignore[attr-defined]
            await connection.send_content(json.loads(text), text)
        else:
            await connection.send_content(content)
        if close:
            await self.close(close)

    async def broadcast(
        self,
        group: str,
        event: str,
        data: Any = None,
        *,
        optimize: bool = True,
        batch: bool = False,
        key: str | None = None,
    ) -> bool:
        """Send one event to every member of ``group``, each in its own protocol version.

        The event is encoded once per process and protocol version, not once per member.
        Returns False, after counting ``error:broadcast_failed``, when the channel layer could
        not take it (see :func:`reznet_ws.broadcast`). ``key``: a keyed event (docs/deltas.md).
        """
        layer = self.channel_layer  # type: ignore[attr-defined]
        return await broadcast(
            group, event, data, optimize=optimize, batch=batch, layer=layer, key=key
        )

    async def flush_batch(self) -> None:
        """Send queued events now, as one batch frame (or one event frame for a single event)."""
        await self._conn().flush_batch()

    async def reznet_event(self, message: Mapping[str, Any]) -> None:
        """Channel-layer handler for :meth:`broadcast` to groups joined with ``group_add``.

        Groups joined with :meth:`join_group` are served by the process hub instead; a message
        for such a group arriving here too (joined both ways) is ignored, so nothing is doubled.
        """
        if message.get("group") in self._hub_groups:
            return
        encoded = broadcast_cache().get_or_create(message["id"], message["event"], message["v1"])
        await self._conn().send_event(
            encoded, optimize=message["optimize"], batch=message["batch"], key=message.get("key")
        )

    # ------------------------------------------------------------ fast groups

    async def join_group(self, group: str) -> None:
        """Join ``group`` for :meth:`broadcast` through the process hub (the fast path).

        Works before or after ``accept()``. The hub joins the channel-layer group once per
        process and delivers each broadcast to its local members without a per-member queue,
        task or thread hop. Handler-type messages (``group_send`` with your own ``type``) need
        ``channel_layer.group_add``.
        """
        await self._join(group)

    async def leave_group(self, group: str) -> None:
        """Leave a group joined with :meth:`join_group`."""
        await self._leave(group)

    # -------------------------------------------------------------- receiving

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """Decode a client frame with every limit; bad input gets an ``error`` event.

        A frame of more than ``MAX_BATCH_EVENTS`` events is refused whole; events over the
        connection's ``INCOMING_RATE`` are not dispatched (one ``rate_limited`` error a frame).
        """
        decoded = self._decode(text_data, bytes_data)
        if decoded.error is not None:
            await self.protocol_error(*decoded.error)
            return
        for content in decoded.contents:
            if self._conn().closing:  # an earlier event of this frame closed the connection
                return
            await self.receive_json(content, **kwargs)
        if decoded.refused:
            total = len(decoded.contents) + decoded.refused
            detail = IncomingGate.refused_detail(decoded.refused, total)
            await self.protocol_error("rate_limited", detail, count=decoded.refused)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Dispatch a decoded message: ``get_stats`` is answered, events go to ``receive_event``.

        A message that is not an object, or has no string ``event``, gets an ``error`` event.
        """
        if self._conn().keyed is not None and resync(self._conn(), content):
            return
        layer = self.channel_layer  # type: ignore[attr-defined]
        if self._conn().stream_mode and handle_resync(layer, self._conn(), content):
            return
        kind, name, data = classify(content)
        if kind == "error":
            await self.protocol_error(name, data)
        elif kind == "stats":
            await self._answer_stats()
        else:
            await self.receive_event(name, data)

    async def protocol_error(self, code: str, detail: str, *, count: int = 1) -> None:
        """Count a bad client message, answer it with an ``error`` event, close on abuse.

        ``count`` is the number of events refused with it (the ``rate_limited`` ones of a
        frame). After ``MAX_PROTOCOL_ERRORS`` bad messages the connection is closed with 4008.
        """
        if await self._protocol_error(code, detail, count):
            await self.close(CLOSE_TOO_MANY_ERRORS)


def _custom_encoder(cls: type, base: type) -> bool:
    """Return True when ``cls`` replaces Channels' ``encode_json`` (``json.dumps(content)``)."""
    func = getattr(cls.encode_json, "__func__", None)  # type: ignore[attr-defined]
    return func is None or func is not base.encode_json.__func__  # type: ignore[attr-defined]


def _content_frames(scope: Mapping[str, Any], connection: Connection) -> bool:
    """Return True when ``send_json`` content goes out as content frames on ``connection``."""
    if connection.version != 2 or not get_config()["OPTIMIZE"]:
        return False
    if connection.content_frames is None:
        connection.content_frames = accepts_content(scope.get("query_string"))
    return connection.content_frames


class OptimizedJsonWebsocketConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    """A ready-made consumer: ``AsyncJsonWebsocketConsumer`` speaking the reznet protocol."""
