"""The optimizing consumer mixin for sync consumers (``JsonWebsocketConsumer``).

Channels runs a sync consumer's handlers in a worker thread, so they can use the ORM directly.
The mixin keeps its delivery on the event loop: the hub hands broadcasts to a sync consumer's
connection without any thread hop, exactly as for an async one. What costs a hop is the
consumer's own calls: each ``send_event``, ``join_group`` or ``flush_batch`` from a handler is one
``async_to_sync`` round trip to the loop (as ``channel_layer.group_send`` is in plain Channels).

Usage::

    class FeedConsumer(OptimizedSyncConsumerMixin, JsonWebsocketConsumer):
        def connect(self):
            self.join_group("feed")
            self.accept()

        def receive_event(self, event, data):
            rows = list(Entry.objects.values("id", "title")[:20])
            self.send_event("entries", rows)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from asgiref.sync import async_to_sync
from channels.generic.websocket import JsonWebsocketConsumer

from ..codec.delta import check_key
from ..codec.errors import check_event_name
from ..delivery.keyed import resync
from ..delivery.sending import broadcast_sync
from ..encoding import EncodedEvent, broadcast_cache
from .base import CLOSE_TOO_MANY_ERRORS, ConsumerBase
from .incoming import IncomingGate, classify
from .mixin import _content_frames, _custom_encoder

__all__ = ["OptimizedSyncConsumerMixin", "OptimizedSyncJsonWebsocketConsumer"]


class OptimizedSyncConsumerMixin(ConsumerBase):
    """Mix into ``JsonWebsocketConsumer`` (before it) to speak the reznet v2 protocol."""

    def receive_event(self, event: str, data: Any) -> None:
        """Called (in a worker thread) for every client event, in plain form."""

    # ------------------------------------------------------------ connection

    def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        """Accept the socket, negotiating the protocol, and send ``connection_established``."""
        version = self.get_protocol_version()
        if version == 2:
            subprotocol = self.get_subprotocol()
        super().accept(subprotocol, headers)  # type: ignore[misc]
        async_to_sync(self._opened)(version)

    def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        """Flush queued events, then close the socket from the server end."""
        connection = self._connection
        if connection is not None and not connection.closing:
            connection.closing = True
            if connection.accepted:
                async_to_sync(connection.flush_batch)()
        super().close(code, reason)  # type: ignore[misc]

    def websocket_disconnect(self, message: Mapping[str, Any]) -> None:
        """Leave the hub groups, stop the batch timer, count the connection out."""
        async_to_sync(self._cleanup)()
        super().websocket_disconnect(message)  # type: ignore[misc]

    # --------------------------------------------------------------- sending

    def send_event(
        self,
        event: str,
        data: Any = None,
        *,
        optimize: bool = True,
        batch: bool = False,
        key: str | None = None,
    ) -> None:
        """Send one event to this connection in its negotiated protocol (see the async mixin)."""
        check_event_name(event)
        if key is not None:
            check_key(key)
        encoded = EncodedEvent(event, data)
        async_to_sync(self._conn().send_event)(encoded, optimize=optimize, batch=batch, key=key)

    #: Send ``send_json(content)`` as a content frame to clients that decode them (see the async
    #: mixin).
    optimize_send_json: bool = True

    def send_json(self, content: Any, close: bool | int = False) -> None:
        """Send ``content`` as Channels does, smaller on v2 connections that decode content frames.

        The same as the async mixin's ``send_json``: one ``async_to_sync`` round trip to the loop.
        """
        connection = self._connection
        if not self.optimize_send_json or connection is None or not connection.accepted:
            super().send_json(content, close)  # type: ignore[misc]
            return
        custom = _custom_encoder(type(self), JsonWebsocketConsumer)
        if not _content_frames(self.scope, connection):
            async_to_sync(connection.send_text)(self.encode_json(content))  # type: ignore[attr-defined]
        elif custom:
            text = self.encode_json(content)  # type: ignore[attr-defined]
            async_to_sync(connection.send_content)(json.loads(text), text)
        else:
            async_to_sync(connection.send_content)(content)
        if close:
            self.close(close)

    def broadcast(
        self,
        group: str,
        event: str,
        data: Any = None,
        *,
        optimize: bool = True,
        batch: bool = False,
        key: str | None = None,
    ) -> bool:
        """Send one event to every member of ``group``; False when the layer refused it."""
        layer = self.channel_layer  # type: ignore[attr-defined]
        return broadcast_sync(
            group, event, data, optimize=optimize, batch=batch, layer=layer, key=key
        )

    def flush_batch(self) -> None:
        """Send queued events now."""
        async_to_sync(self._conn().flush_batch)()

    def reznet_event(self, message: Mapping[str, Any]) -> None:
        """Channel-layer handler for broadcasts to groups joined with ``group_add``."""
        if message.get("group") in self._hub_groups:
            return
        encoded = broadcast_cache().get_or_create(message["id"], message["event"], message["v1"])
        async_to_sync(self._conn().send_event)(
            encoded, optimize=message["optimize"], batch=message["batch"], key=message.get("key")
        )

    # ------------------------------------------------------------ fast groups

    def join_group(self, group: str) -> None:
        """Join ``group`` through the process hub (before or after ``accept()``)."""
        async_to_sync(self._join)(group)

    def leave_group(self, group: str) -> None:
        """Leave a group joined with :meth:`join_group`."""
        async_to_sync(self._leave)(group)

    # -------------------------------------------------------------- receiving

    def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """Decode a client frame with every limit; bad input gets an ``error`` event."""
        decoded = self._decode(text_data, bytes_data)
        if decoded.error is not None:
            self.protocol_error(*decoded.error)
            return
        for content in decoded.contents:
            if self._conn().closing:
                return
            self.receive_json(content, **kwargs)
        if decoded.refused:
            total = len(decoded.contents) + decoded.refused
            detail = IncomingGate.refused_detail(decoded.refused, total)
            self.protocol_error("rate_limited", detail, count=decoded.refused)

    def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Dispatch a decoded message: ``get_stats`` is answered, events go to ``receive_event``."""
        if self._conn().keyed is not None and resync(self._conn(), content):
            return
        kind, name, data = classify(content)
        if kind == "error":
            self.protocol_error(name, data)
        elif kind == "stats":
            async_to_sync(self._answer_stats)()
        else:
            self.receive_event(name, data)

    def protocol_error(self, code: str, detail: str, *, count: int = 1) -> None:
        """Count a bad client message, answer it with an ``error`` event, close on abuse."""
        if async_to_sync(self._protocol_error)(code, detail, count):
            self.close(CLOSE_TOO_MANY_ERRORS)


class OptimizedSyncJsonWebsocketConsumer(OptimizedSyncConsumerMixin, JsonWebsocketConsumer):
    """A ready-made sync consumer: ``JsonWebsocketConsumer`` speaking the reznet protocol."""
