"""Prepared frames: a broadcast's complete WebSocket frames, built once, written to every member.

For each broadcast the hub makes one :class:`Broadcast`. The first member of each encoding (protocol
version, codec, gzip allowed or not) builds that encoding's frame: the RFC 6455 header and the
payload in one ``bytes`` object. Every other member of the same encoding gets the very same object,
so per member only the backpressure check and the write remain. Stats are tallied per encoding and
recorded once per broadcast by the hub.

Prepared frames need the server's transport: ``reznet-daphne`` and ``runserver`` (and daphne)
expose their WebSocket protocol, other servers take the ASGI ``send`` path. Connections that
negotiated permessage-deflate without server context takeover get the broadcast compressed once
(:meth:`Broadcast.deflated`); with context takeover, or with a batch pending, they take the
ordinary path.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from ..codec import Codec
from ..codec.compression import deflate_message
from ..codec.msgpack_frames import JSON, MSGPACK
from ..conf import get_config
from ..encoding import EncodedEvent
from . import msgpack_send

if TYPE_CHECKING:
    from .group_batch import GroupFlusher
    from .streams import GroupStreams

__all__ = ["Broadcast", "DeflateParams", "Frame", "ws_frame"]

#: ``(frame bytes, original v1 size, payload size, compressed)`` of one encoding.
Frame = tuple[bytes, int, int, bool]


#: ``(level, window bits, memory level)`` of connections whose broadcasts are deflated once.
DeflateParams = tuple[int, int, int]


def ws_frame(payload: bytes, binary: bool, rsv1: bool = False) -> bytes:
    """Return one unfragmented, unmasked server frame (RFC 6455 section 5.2) of ``payload``.

    ``rsv1`` marks a permessage-deflate compressed message (RFC 7692, 6).
    """
    first = (0x82 if binary else 0x81) | (0x40 if rsv1 else 0)  # FIN + opcode (+ RSV1)
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", first, 126, size) + payload
    return struct.pack("!BBQ", first, 127, size) + payload


class Broadcast:
    """One broadcast as the hub hands it to its members, with its frames built on demand."""

    __slots__ = (
        "_deflated",
        "_frames",
        "batch",
        "encoded",
        "entities",
        "flusher",
        "group",
        "keyed",
        "optimize",
        "stream",
    )

    def __init__(self, encoded: EncodedEvent, optimize: bool, batch: bool) -> None:
        self.encoded = encoded
        self.optimize = optimize
        self.batch = batch
        #: A keyed broadcast's per-process state (:class:`~.keyed.GroupKeyed`), else None.
        self.keyed: Any = None
        #: Entity references of this broadcast (:class:`~.entities.BroadcastEntities`), if any.
        self.entities: Any = None
        self._frames: dict[tuple[int, int, bool, str], Frame] = {}
        self._deflated: dict[tuple[int, int, DeflateParams], Frame] = {}
        #: The hub's :class:`~reznet_ws.delivery.group_batch.GroupFlusher` for a batched
        #: broadcast (one timer for all members), else None.
        self.flusher: GroupFlusher | None = None
        #: The group and its streams (:class:`~reznet_ws.delivery.streams.GroupStreams`), set by
        #: the hub when stream members may get this broadcast as a group-stream frame.
        self.group = ""
        self.stream: GroupStreams | None = None

    def frame(self, version: int, codec: Codec, allow_gzip: bool, encoding: str = JSON) -> Frame:
        """Return the frame of this broadcast for one encoding, built at most once.

        ``encoding`` is the connection's (``"json"``, or ``"msgpack"`` for binary MessagePack
        frames, :mod:`.msgpack_send`).
        """
        key = (version, id(codec), allow_gzip, encoding)
        frame = self._frames.get(key)
        if frame is None:
            if encoding == MSGPACK and version == 2:
                frame = msgpack_send.prepared_frame(self.encoded, codec, self.optimize)
            else:
                frame = self._build(version, codec, allow_gzip)
            self._frames[key] = frame
        return frame

    def deflated(self, version: int, codec: Codec, params: DeflateParams) -> Frame:
        """Return the frame of this broadcast for permessage-deflate connections without server
        context takeover: the message compressed once, sent with RSV1 to each of them."""
        key = (version, id(codec), params)
        frame = self._deflated.get(key)
        if frame is None:
            raw, binary, original, size, _ = self._payload(version, codec, False)
            packed = deflate_message(raw, *params)
            frame = self._deflated[key] = (ws_frame(packed, binary, True), original, size, False)
        return frame

    def _build(self, version: int, codec: Codec, allow_gzip: bool) -> Frame:
        raw, binary, original, size, compressed = self._payload(version, codec, allow_gzip)
        return ws_frame(raw, binary), original, size, compressed

    def _payload(
        self, version: int, codec: Codec, allow_gzip: bool
    ) -> tuple[bytes, bool, int, int, bool]:
        # (payload bytes, binary, original v1 size, payload size, gzip-compressed)
        encoded = self.encoded
        if version == 2 and self.optimize and get_config()["OPTIMIZE"]:
            if encoded.v2_data_text(codec) is not None:
                payload, compressed, size = encoded.v2_frame(codec, allow_gzip)
                raw = payload if isinstance(payload, bytes) else payload.encode("utf-8")
                binary = isinstance(payload, bytes)
                return raw, binary, encoded.v1_size(codec), size, compressed
        text = encoded.v1_text(codec)  # ASCII: json.dumps escapes the rest
        return text.encode("ascii"), False, len(text), len(text), False
