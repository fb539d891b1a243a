"""Prepared frames: a broadcast's complete WebSocket frames, built once, written to every member.

For each broadcast the hub makes one :class:`Broadcast`. The first member of each encoding (protocol
version, codec, gzip allowed or not) builds that encoding's frame: the RFC 6455 header and the
payload in one ``bytes`` object. Every other member of the same encoding gets the very same object,
so per member only the backpressure check and the write remain. Stats are tallied per encoding and
recorded once per broadcast by the hub.

Prepared frames need the server's transport: ``reznet-daphne`` and ``runserver`` (and daphne)
expose their WebSocket protocol, other servers take the ASGI ``send`` path. Connections that
negotiated permessage-deflate, or that have a batch pending, take the ordinary path too.
"""

from __future__ import annotations

import struct

from ..codec import Codec
from ..conf import get_config
from ..encoding import EncodedEvent

__all__ = ["Broadcast", "Frame", "ws_frame"]

#: ``(frame bytes, original v1 size, payload size, compressed)`` of one encoding.
Frame = tuple[bytes, int, int, bool]


def ws_frame(payload: bytes, binary: bool) -> bytes:
    """Return one unfragmented, unmasked server frame (RFC 6455 section 5.2) of ``payload``."""
    first = 0x82 if binary else 0x81  # FIN + binary / text opcode
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", first, 126, size) + payload
    return struct.pack("!BBQ", first, 127, size) + payload


class Broadcast:
    """One broadcast as the hub hands it to its members, with its frames built on demand."""

    __slots__ = ("_frames", "batch", "encoded", "optimize")

    def __init__(self, encoded: EncodedEvent, optimize: bool, batch: bool) -> None:
        self.encoded = encoded
        self.optimize = optimize
        self.batch = batch
        self._frames: dict[tuple[int, int, bool], Frame] = {}

    def frame(self, version: int, codec: Codec, allow_gzip: bool) -> Frame:
        """Return the frame of this broadcast for one encoding, built at most once."""
        key = (version, id(codec), allow_gzip)
        frame = self._frames.get(key)
        if frame is None:
            frame = self._frames[key] = self._build(version, codec, allow_gzip)
        return frame

    def _build(self, version: int, codec: Codec, allow_gzip: bool) -> Frame:
        encoded = self.encoded
        if version == 2 and self.optimize and get_config()["OPTIMIZE"]:
            if encoded.v2_data_text(codec) is not None:
                payload, compressed, size = encoded.v2_frame(codec, allow_gzip)
                raw = payload if isinstance(payload, bytes) else payload.encode("utf-8")
                binary = isinstance(payload, bytes)
                return ws_frame(raw, binary), encoded.v1_size(codec), size, compressed
        text = encoded.v1_text(codec)  # ASCII: json.dumps escapes the rest
        return ws_frame(text.encode("ascii"), False), len(text), len(text), False
