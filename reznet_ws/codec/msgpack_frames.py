"""The MessagePack encoding of v2 (``reznet.v2.msgpack``, docs/protocol.md section 7).

The frames are the v2 frame objects of section 3, with DATA encoded as section 4 encodes it,
written as MessagePack instead of JSON and sent as binary WebSocket frames. A DATA value is packed
once per event; the frames around it are put together from bytes, as the JSON frames are from
text. What MessagePack cannot carry so that the receiver gets ``JSON.parse`` of the v1 text
(integers beyond 64 bits, lone surrogates, NaN and infinities, the key ``__proto__``) makes
:meth:`MsgpackCodec.encode_event_data` raise, and the caller sends the v1 text frame instead.

Needs the ``msgpack`` package (``pip install 'reznet-ws[msgpack]'``), imported on first use.
"""

from __future__ import annotations

import importlib
import math
import struct
import threading
import weakref
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from .errors import ProtocolError
from .frames import Codec
from .walk import make_sized_encoder

__all__ = [
    "ENCODINGS",
    "JSON",
    "MSGPACK",
    "MSGPACK_SUBPROTOCOL",
    "MsgpackCodec",
    "msgpack_available",
    "msgpack_codec",
    "require_msgpack",
]

#: The WebSocket subprotocol of the MessagePack encoding of v2.
MSGPACK_SUBPROTOCOL = "reznet.v2.msgpack"
#: Names of the encodings of a connection (``Connection.encoding``, stats, prepared frames).
JSON = "json"
MSGPACK = "msgpack"
ENCODINGS = (JSON, MSGPACK)

_module: ModuleType | None = None
_codecs: weakref.WeakKeyDictionary[Codec, MsgpackCodec] = weakref.WeakKeyDictionary()
_NoneType = type(None)
_PLAIN = frozenset({str, int, bool, _NoneType})
# A written key "__proto__" (fixstr of 9 bytes): @msgpack/msgpack refuses to decode it, so such
# data goes out as v1. The search may also hit a string holding these bytes: then v1 too.
_PROTO = b"\xa9__proto__"
# The first two bytes of a float64 that may be NaN or an infinity (exponent all ones).
_NONFINITE = (b"\xcb\x7f", b"\xcb\xff")
_GZIP_MAGIC = b"\x1f\x8b"
_V2 = b"\xa2_v\x02"
_EVENT_HEAD = b"\x83" + _V2 + b"\xa1e"
_RAW_HEAD = b"\x84" + _V2 + b"\xa1e"
_BATCH_HEAD = b"\x82" + _V2 + b"\xa1b"
_CONTENT_HEAD = b"\x82" + _V2 + b"\xa1c"
_EVENT_CACHE_SIZE = 1024


def msgpack_available() -> bool:
    """Return True when the ``msgpack`` package can be imported."""
    try:
        require_msgpack()
    except ImportError:
        return False
    return True


def require_msgpack() -> ModuleType:
    """Return the ``msgpack`` module; raises :class:`ImportError` naming the extra to install."""
    global _module
    if _module is None:
        try:
            _module = importlib.import_module("msgpack")
        except ImportError:
            raise ImportError(
                "the reznet.v2.msgpack encoding needs msgpack: pip install 'reznet-ws[msgpack]'"
            ) from None
    return _module


def msgpack_codec(codec: Codec) -> MsgpackCodec:
    """Return the MessagePack twin of ``codec`` (same field map and limits), built once."""
    twin = _codecs.get(codec)
    if twin is None:
        twin = _codecs[codec] = MsgpackCodec(codec)
    return twin


def _array_header(size: int) -> bytes:
    if size < 16:
        return bytes((0x90 | size,))
    if size < 1 << 16:
        return struct.pack(">BH", 0xDC, size)
    return struct.pack(">BI", 0xDD, size)


def _check_finite(value: object) -> None:
    # Only when the packed bytes may hold a NaN or an infinity: walk the floats.
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is float and not math.isfinite(item):  # type: ignore[arg-type]
            raise ValueError("NaN and infinities have no JSON value")
        if kind is dict:
            stack.extend(item.values())  # type: ignore[attr-defined]
        elif kind is list:
            stack.extend(item)  # type: ignore[arg-type]


class MsgpackCodec:
    """Frames of the MessagePack encoding for one :class:`~reznet_ws.codec.Codec`.

    Holds no state but caches, so one instance serves every connection of that codec, in every
    thread (each thread packs with its own reusable packer, several times faster than ``packb``).
    """

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self._msgpack = require_msgpack()
        self._encode_value = make_sized_encoder(codec.field_map, codec.default)
        self._events: dict[str, bytes] = {}
        self._local = threading.local()

    # -- server to client -------------------------------------------------------------------

    def encode_data(self, data: object) -> bytes:
        """Return the packed DATA of ``data`` (protocol sections 4 and 7).

        Raises :class:`ValueError` for what MessagePack cannot carry losslessly (NaN,
        infinities, integers beyond 64 bits, lone surrogates, a key ``__proto__``),
        :class:`TypeError` for values ``default`` cannot convert and :class:`RecursionError`
        for data nested too deeply; callers then send v1.
        """
        tally = [0, 0, 0, 0]
        value = self._encode_value(data, tally)
        packed = self._pack(value)
        # A NaN or an infinity is always packed as cb 7f.. or cb ff..: only then look closer.
        if _NONFINITE[0] in packed or _NONFINITE[1] in packed:
            _check_finite(value)
        if _PROTO in packed:
            raise ValueError("a key __proto__ is sent in the plain encoding")
        return packed

    def encode_event_data(self, event: str, data: object) -> bytes:
        """Return :meth:`encode_data` of ``data`` after checking that ``event`` can be packed."""
        self._event(event)
        return self.encode_data(data)

    def event_frame(self, event: str, data: bytes) -> bytes:
        """Return the event frame ``{"_v":2,"e":event,"d":DATA}`` around packed ``data``."""
        return b"".join((_EVENT_HEAD, self._event(event), b"\xa1d", data))

    def batch_frame(self, items: Sequence[tuple[str, bytes]]) -> bytes:
        """Return the batch frame of ``items``, pairs of (event, packed DATA)."""
        parts = [_BATCH_HEAD, _array_header(len(items))]
        for event, data in items:
            parts += (b"\x92", self._event(event), data)
        return b"".join(parts)

    def content_frame(self, data: bytes) -> bytes:
        """Return the content frame ``{"_v":2,"c":DATA}`` around packed ``data``."""
        return _CONTENT_HEAD + data

    def raw_frame(self, event: str, data: object) -> str | bytes:
        """Return the raw frame of a control event: packed, or the JSON text one.

        ``data`` is first made the JSON value v1 would deliver; when MessagePack cannot carry
        it losslessly, the JSON raw frame (a text frame) is returned instead.
        """
        text = self.codec.raw_frame(event, data)
        try:
            value = self.codec.decode_frame(text)[0][1]
            packed = self._pack(value)
            if _PROTO in packed:
                return text
            return b"".join((_RAW_HEAD, self._event(event), b"\xa1r\x01\xa1d", packed))
        except (ValueError, TypeError, ProtocolError):
            return text

    def pack_json(self, value: object) -> bytes:
        """Return a parsed JSON value packed; :class:`ValueError` when the receiver would not
        get that value (integers beyond 64 bits, lone surrogates, a key ``__proto__``)."""
        packed = self._pack(value)
        if _PROTO in packed:
            raise ValueError("a key __proto__ is sent in the plain encoding")
        return packed

    def _pack(self, value: object) -> bytes:
        try:
            pack = self._local.pack
        except AttributeError:
            pack = self._local.pack = self._msgpack.Packer(use_bin_type=True).pack
        try:
            packed: bytes = pack(value)  # the packer resets itself when packing fails
        except OverflowError as exc:  # an integer beyond 64 bits
            raise ValueError(str(exc)) from None
        return packed

    def _event(self, event: str) -> bytes:
        packed = self._events.get(event)
        if packed is None:
            if not isinstance(event, str):
                raise TypeError(f"an event name must be a str, not {type(event).__name__}")
            packed = self._pack(str.__str__(event))
            if len(self._events) < _EVENT_CACHE_SIZE:
                self._events[event] = packed
        return packed

    # -- client to server -------------------------------------------------------------------

    def parse_incoming(self, data: bytes) -> list[dict[str, object]]:
        """Return the plain messages of one binary client message on a msgpack connection.

        The bytes are one MessagePack map: a v2 frame, decoded as its JSON form is, or a plain
        ``{"event", "data"}`` message. Raises :class:`ProtocolError` (``too_large``,
        ``malformed_json``, ``invalid_number``, ``too_deep``, ``not_an_object``, and the frame
        errors of section 3).
        """
        codec = self.codec
        if len(data) > codec.max_message_bytes:
            raise ProtocolError("too_large", f"frame exceeds {codec.max_message_bytes} bytes")
        obj = self.unpack(data, codec.max_depth)
        if type(obj) is not dict:
            raise ProtocolError("not_an_object", f"expected a map, got {type(obj).__name__}")
        if "_v" in obj:
            return codec._decode_v2(obj)
        return [obj]

    def unpack(self, data: bytes, max_depth: int) -> object:
        """Return the JSON value of MessagePack ``data``, refusing what JSON has no value for.

        Raises :class:`ProtocolError`: ``malformed_json`` (not one MessagePack value, invalid
        UTF-8, binary or extension values, keys that are not strings), ``invalid_number`` (NaN
        or infinities), ``too_deep`` (more than ``max_depth`` levels).
        """
        msgpack = self._msgpack
        try:
            obj = msgpack.unpackb(data, raw=False, strict_map_key=True, timestamp=0)
        except msgpack.exceptions.StackError:
            raise ProtocolError("too_deep", f"nesting deeper than {max_depth} levels") from None
        except (ValueError, TypeError) as exc:  # ExtraData, FormatError, bad UTF-8, bad keys
            raise ProtocolError("malformed_json", f"not MessagePack: {str(exc)[:80]}") from None
        _check_json_value(obj, max_depth)
        return obj

    # -- as a client decodes ----------------------------------------------------------------

    def decode_frame(self, frame: str | bytes) -> list[tuple[str, Any]]:
        """Return the ``(event, data)`` pairs of a server frame on a msgpack connection.

        Text frames (v1, or a JSON raw frame) and gzip members are decoded as JSON frames.
        """
        if isinstance(frame, str) or bytes(frame[:2]) == _GZIP_MAGIC:
            return self.codec.decode_frame(frame)
        obj = self.unpack(bytes(frame), 1 << 30)  # a client trusts the server's depth
        if type(obj) is not dict or "_v" not in obj:
            raise ProtocolError("invalid_frame", 'a binary frame must be a v2 frame with "_v"')
        return [(str(item["event"]), item["data"]) for item in self.codec._decode_v2(obj)]

    def decode_content_frame(self, frame: bytes) -> object:
        """Return the content of a packed content frame, as a client decodes it."""
        obj = self.unpack(bytes(frame), 1 << 30)
        if type(obj) is not dict or "_v" not in obj or "c" not in obj:
            raise ProtocolError("invalid_frame", 'a content frame has "_v" and "c"')
        if "e" in obj or "b" in obj:
            raise ProtocolError("invalid_frame", 'a content frame has neither "e" nor "b"')
        if obj["_v"] != 2 or type(obj["_v"]) not in (int, float):
            raise ProtocolError("unknown_version", "unsupported _v")
        try:
            return self.codec.decode_data(obj["c"])
        except ValueError as exc:
            raise ProtocolError("invalid_frame", str(exc)) from None


def _check_json_value(value: object, max_depth: int) -> None:
    # Iterative, so hostile nesting costs no Python recursion.
    stack: list[tuple[object, int]] = [(value, 1)]
    plain = _PLAIN
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind in plain:
            continue
        if kind is float:
            if not math.isfinite(item):  # type: ignore[arg-type]
                raise ProtocolError("invalid_number", "NaN and infinities are not JSON numbers")
            continue
        if kind is not dict and kind is not list:
            raise ProtocolError("malformed_json", f"{kind.__name__} values have no JSON form")
        if depth > max_depth:
            raise ProtocolError("too_deep", f"nesting deeper than {max_depth} levels")
        if kind is dict:
            for key, child in item.items():  # type: ignore[attr-defined]
                if type(key) is not str:
                    raise ProtocolError("malformed_json", "map keys must be strings")
                stack.append((child, depth + 1))
        else:
            stack.extend((child, depth + 1) for child in item)  # type: ignore[attr-defined]
