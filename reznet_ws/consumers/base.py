"""What the async and the sync consumer mixins share: hooks, lifetime, and the async internals.

The mixins are thin adapters: a connection's outbound pipeline is
:class:`~reznet_ws.delivery.connection.Connection`, its groups are the process's
:class:`~reznet_ws.delivery.hub.Hub`, its incoming frames go through
:class:`~reznet_ws.consumers.incoming.IncomingGate`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync

from ..codec import Codec, FieldMap
from ..codec.delta import accepts_delta, held_versions
from ..codec.entities import ENTITY_FEATURE_KEY
from ..conf import get_config
from ..delivery.connection import Connection
from ..delivery.drops import report_drop
from ..delivery.entities import new_table as new_entity_table
from ..delivery.hub import get_hub
from ..delivery.keyed import KeyedStreams
from ..delivery.process import track, untrack
from ..delivery.resilience import resilient_receive
from ..encoding import codec_for, default_field_map
from ..stats import get_recorder
from .incoming import Decoded, IncomingGate
from .negotiation import (
    client_map_hash,
    connection_features,
    connection_info,
    offered_encoding,
    offered_version,
    prepared_deflate,
    subprotocol_for,
    uses_deflate,
)

__all__ = ["CLOSE_TOO_MANY_ERRORS", "ConsumerBase"]

#: Close code sent after ``MAX_PROTOCOL_ERRORS`` bad messages on one connection.
CLOSE_TOO_MANY_ERRORS = 4008


class ConsumerBase:
    """Hooks and lifetime of a reznet consumer (use one of the mixins built on it)."""

    #: Negotiated protocol version of this connection (1 until ``accept()``).
    protocol_version: int = 1
    #: Clock of the incoming rate limit (a test seam).
    rate_limit_clock: Callable[[], float] = staticmethod(time.monotonic)

    _sync: bool
    scope: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connection: Connection | None = None
        self._sync_send: Callable[[Any], None] | None = None
        self._codec: Codec | None = None
        self._hub_groups: set[str] = set()
        self._gate: IncomingGate | None = None
        self._protocol_errors = 0
        self._cleaned_up = False
        self._reznet_loop: asyncio.AbstractEventLoop | None = None

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
        return offered_version(self.scope, bool(get_config()["OPTIMIZE"]))

    def get_encoding(self) -> str:
        """Return the encoding of a v2 connection, ``"json"`` or ``"msgpack"``.

        Called at ``accept()``; the default follows the subprotocols the client offered and the
        ``PREFER_MSGPACK`` setting (docs/protocol.md section 7).
        """
        return offered_encoding(self.scope, bool(get_config()["PREFER_MSGPACK"]))

    def get_subprotocol(self) -> str:
        """Return the subprotocol echoed to a v2 client (called at ``accept()``)."""
        return subprotocol_for(self.get_encoding())

    def uses_transport_compression(self) -> bool:
        """Return True when this connection negotiated permessage-deflate (no app-level gzip)."""
        return uses_deflate(self.scope)

    def get_features(self) -> dict[str, bool]:
        """Return the features announced in ``connection_established``."""
        return connection_features(self.protocol_version, self.uses_transport_compression())

    # --------------------------------------------------------------- lifetime

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the consumer; whatever ends it, leave every group and count the socket out."""
        self._reznet_loop = asyncio.get_running_loop()
        self._connection = Connection(send)
        if self._sync:
            self._sync_send = async_to_sync(self._connection.outbox.send)
        track(self)
        try:
            await super().__call__(scope, receive, send)  # type: ignore[misc]
        finally:
            await self._cleanup()

    @property
    def base_send(self) -> Any:
        """The ASGI send of this connection, through its outbox (order kept, never stalls)."""
        if self._connection is None:
            return None
        return self._sync_send if self._sync else self._connection.outbox.send

    @base_send.setter
    def base_send(self, send: Any) -> None:
        # Channels assigns the server's send here; __call__ already gave it to the connection.
        pass

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
        connection = self._connection
        return connection is not None and connection.accepted and not connection.closing

    async def _cleanup(self) -> None:
        # Called once in every exit path of the consumer (disconnect, exception, cancellation).
        if self._cleaned_up:
            return
        self._cleaned_up = True
        untrack(self)
        if self._connection is not None:
            self._connection.closed()
        try:
            await asyncio.shield(self._leave_all_groups())
        except asyncio.CancelledError:
            pass

    # --------------------------------------------------------- async internals

    def _conn(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("the consumer is not running")
        return self._connection

    async def _opened(self, version: int) -> None:
        # Called right after the handshake was accepted.
        self.protocol_version = version
        greeting = None
        if version == 2:
            encoding = self.get_encoding()
            self._conn().encoding = encoding
            features = self.get_features()
            if encoding != "json":  # MessagePack frames are never gzipped
                features["gzip_compression"] = False
            query = self.scope.get("query_string")
            if accepts_delta(query):  # keyed events, in either encoding (docs/deltas.md)
                self._conn().keyed = KeyedStreams.from_settings()
                self._conn().keyed_claims = held_versions(query)
                features["keyed_deltas"] = True
                entity_table = new_entity_table() if encoding == "json" else None
                if entity_table is not None:  # entity references (docs/protocol.md 3.4)
                    self._conn().entities = entity_table
                    announced: dict[str, Any] = features
                    announced[ENTITY_FEATURE_KEY] = entity_table.max_entries
            info = connection_info(
                self.get_codec().field_map,
                features,
                client_map_hash(self.scope),
                subprotocol_for(encoding),
            )
            greeting = ("connection_established", info)
        connection = self._conn()
        connection.deflate_prepared = prepared_deflate(self.scope)
        await connection.opened(
            version, self.get_codec(), self.uses_transport_compression(), greeting
        )

    async def close_connection(self, code: int) -> None:
        """Flush the pending batch and close with ``code`` (used at server shutdown)."""
        connection = self._conn()
        if not connection.closing:
            connection.closing = True
            if connection.accepted:
                await connection.flush_batch()
        await connection.outbox.send({"type": "websocket.close", "code": code})

    async def _join(self, group: str) -> None:
        if group in self._hub_groups:
            return
        self._hub_groups.add(group)
        await get_hub(self.channel_layer).join(group, self._conn())  # type: ignore[attr-defined]

    async def _leave(self, group: str) -> None:
        if group not in self._hub_groups:
            return
        self._hub_groups.discard(group)
        await get_hub(self.channel_layer).leave(group, self._conn())  # type: ignore[attr-defined]

    async def _leave_all_groups(self) -> None:
        for group in list(self._hub_groups):
            await self._leave(group)

    def _decode(self, text_data: str | None, bytes_data: bytes | None) -> Decoded:
        if self._gate is None:
            self._gate = IncomingGate(self.rate_limit_clock)
        return self._gate.decode(
            self.get_codec(),
            text_data,
            bytes_data,
            self.protocol_version == 2,
            self._conn().encoding,
        )

    async def _protocol_error(self, code: str, detail: str, count: int = 1) -> bool:
        """Count and answer a bad client message; return True when the connection must close."""
        report_drop(code, count, detail)
        self._protocol_errors += 1
        await self._conn().send_raw("error", {"code": code, "detail": detail})
        return self._protocol_errors >= get_config()["MAX_PROTOCOL_ERRORS"]

    async def _answer_stats(self) -> None:
        from ..stats.report import aget_stats_payload

        user = self.scope.get("user")
        payload = await aget_stats_payload(user) if user is not None else None
        if payload is None:
            get_recorder().record_error("forbidden")
            detail = {"code": "forbidden", "detail": "get_stats is for staff users"}
            await self._conn().send_raw("error", detail)
            return
        await self._conn().send_raw("stats_response", payload)
