"""Group streams: one compressed stream per group, shared by its members (docs/protocol.md, 3.3).

A stream frame is a binary frame::

    0xA5  varint stream  varint epoch  varint seq  deflate data     (the first frame of an epoch)
    0xA4  varint stream                varint seq  deflate data     (every other frame)

(``0xA7`` / ``0xA6`` mark the same frames of a zstd stream, :mod:`.stream_zstd`.)

``seq`` numbers the frames of a stream (0, 1, 2, ... across epochs); ``deflate data`` is the
output of one raw-deflate compressor per epoch for the frame's text followed by ``\\n``, ended with
a sync flush whose trailing ``00 00 ff ff`` is left out (as permessage-deflate does). A receiver
appends those four bytes, inflates with the stream's inflater (a fresh one at each epoch start)
and gets exactly one line: the text of the frame the connection would otherwise have received.

:class:`StreamEncoder` is the server's compressor, :class:`StreamDecoder` the receiver's (tests,
benchmarks, Python clients). Pure: no Django or Channels imports.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from .errors import ProtocolError

__all__ = [
    "EPOCH_START",
    "IN_EPOCH",
    "RESYNC_EVENT",
    "STREAM_FEATURE",
    "STREAM_ZSTD_FEATURE",
    "ZSTD_EPOCH_START",
    "ZSTD_IN_EPOCH",
    "StreamDecoder",
    "StreamEncoder",
    "StreamGap",
    "StreamHeader",
    "accepts_stream",
    "compressor_memory",
    "is_stream_frame",
    "parse_header",
    "read_varint",
    "stream_features",
    "varint",
]

#: First byte of a frame that starts an epoch (a fresh inflater) and of every other stream frame.
EPOCH_START = 0xA5
IN_EPOCH = 0xA4
#: The same two kinds of frame in a zstd stream.
ZSTD_EPOCH_START = 0xA7
ZSTD_IN_EPOCH = 0xA6
#: The ``reznet_features`` value announcing that the client inflates group streams.
STREAM_FEATURE = "stream"
#: Added to ``stream``: the client decodes zstd streams as well.
STREAM_ZSTD_FEATURE = "stream-zstd"
DEFLATE = "deflate"
ZSTD = "zstd"
# first byte: (codec, whether the frame starts an epoch)
_KINDS = {
    EPOCH_START: (DEFLATE, True),
    IN_EPOCH: (DEFLATE, False),
    ZSTD_EPOCH_START: (ZSTD, True),
    ZSTD_IN_EPOCH: (ZSTD, False),
}
#: The event a client sends to leave a stream it cannot decode: ``{"stream": ID}``.
RESYNC_EVENT = "reznet_stream_resync"
_TAIL = b"\x00\x00\xff\xff"
_NEWLINE = b"\n"


def stream_features(query_string: bytes | str | None) -> set[str]:
    """Return the names listed in the handshake's ``reznet_features`` query parameter."""
    raw = query_string or b""
    query = parse_qs(raw.decode("latin-1") if isinstance(raw, bytes) else raw)
    return {n.strip() for v in query.get("reznet_features", ()) for n in v.split(",")}


def accepts_stream(query_string: bytes | str | None) -> bool:
    """Return True when the handshake's query string lists ``stream`` in ``reznet_features``."""
    return STREAM_FEATURE in stream_features(query_string)


def compressor_memory(window_bits: int, mem_level: int) -> int:
    """Return zlib's documented memory use of one compressor, in bytes (zconf.h)."""
    return (1 << (window_bits + 2)) + (1 << (mem_level + 9)) + 6 * 1024


def varint(value: int) -> bytes:
    """Return ``value`` (>= 0) as an unsigned LEB128 varint."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_TRUNCATED = ("invalid_frame", "truncated stream frame header")


def read_varint(data: bytes, pos: int, error: tuple[str, str] = _TRUNCATED) -> tuple[int, int]:
    """Return ``(value, position after it)`` of the varint at ``pos``; :class:`ProtocolError`
    ``error`` (code, detail) when it is cut short or longer than 50 bits."""
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 49:
            raise ProtocolError(*error)
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


@dataclass(frozen=True)
class StreamHeader:
    """The header of one stream frame; ``epoch`` is None for frames inside an epoch."""

    stream: int
    epoch: int | None
    seq: int
    offset: int  # where the compressed data starts
    codec: str = DEFLATE  # "deflate" or "zstd"


def is_stream_frame(data: bytes) -> bool:
    """Return True when a binary frame is a stream frame (gzip members start with 0x1f)."""
    return len(data) > 0 and data[0] in _KINDS


def parse_header(data: bytes) -> StreamHeader:
    """Return the header of a stream frame; ProtocolError ``invalid_frame`` when malformed."""
    if not is_stream_frame(data):
        raise ProtocolError("invalid_frame", "not a stream frame")
    codec, starts = _KINDS[data[0]]
    stream, pos = read_varint(data, 1)
    epoch = None
    if starts:
        epoch, pos = read_varint(data, pos)
    seq, pos = read_varint(data, pos)
    return StreamHeader(stream, epoch, seq, pos, codec)


class StreamEncoder:
    """The compressor of one group stream: call :meth:`encode` once per message, in order."""

    #: The codec's name and its two first bytes (epoch start, in an epoch).
    codec = DEFLATE
    kinds = (EPOCH_START, IN_EPOCH)
    #: Ends each message: a newline (JSON lines); ``b""`` for messages that come length-prefixed
    #: (reznet.v2.msgpack streams, :mod:`.msgpack_stream`).
    terminator = _NEWLINE

    def __init__(self, stream: int, window_bits: int = 15, mem_level: int = 8, level: int = 6):
        self.stream = stream
        self.window_bits, self.mem_level, self.level = window_bits, mem_level, level
        self.epoch = -1
        self.seq = 0
        #: Messages and text bytes compressed in the current epoch.
        self.epoch_messages = self.epoch_bytes = 0
        self._packer: Any = None

    def start_epoch(self) -> None:
        """Begin a new epoch: the next frame is an epoch start, compressed by a fresh compressor."""
        self.epoch += 1
        self.epoch_messages = self.epoch_bytes = 0
        self._packer = self._new_packer()

    def _new_packer(self) -> Any:
        return zlib.compressobj(self.level, zlib.DEFLATED, -self.window_bits, self.mem_level)

    def _compress(self, data: bytes) -> bytes:
        out: bytes = self._packer.compress(data) + self._packer.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4] if out.endswith(_TAIL) else out

    @property
    def started(self) -> bool:
        """True once an epoch has begun."""
        return self._packer is not None

    def encode(self, text: bytes) -> bytes:
        """Return the stream frame of ``text`` (UTF-8 without a raw newline); advances ``seq``."""
        if self._packer is None:
            self.start_epoch()
        assert self._packer is not None
        first = self.epoch_messages == 0
        data = self._compress(text + self.terminator)
        if first:
            header = bytes((self.kinds[0],)) + varint(self.stream) + varint(self.epoch)
        else:
            header = bytes((self.kinds[1],)) + varint(self.stream)
        frame = header + varint(self.seq) + data
        self.seq += 1
        self.epoch_messages += 1
        self.epoch_bytes += len(text)
        return frame

    def memory(self) -> int:
        """Bytes of zlib state held now (0 between epochs of a released stream)."""
        return compressor_memory(self.window_bits, self.mem_level) if self._packer else 0

    def release(self) -> None:
        """Drop the compressor (nobody decodes the stream); the next frame starts an epoch."""
        self._packer = None


class StreamGap(ProtocolError):
    """A stream frame that does not follow the last one decoded (code ``stream_gap``).

    A receiver-side code only: the server never sends it in an ``error`` event.
    """

    def __init__(self, detail: str) -> None:
        Exception.__init__(self, f"stream_gap: {detail}")
        self.code = "stream_gap"
        self.detail = detail


class _DeflateInflater:
    """One epoch's raw inflater: ``inflate`` returns a frame's output, at most ``max_size + 1``."""

    def __init__(self) -> None:
        self._inflater = zlib.decompressobj(-15)

    def inflate(self, data: bytes, max_size: int) -> bytes:
        try:
            out = self._inflater.decompress(data + _TAIL, max_size + 2)
        except zlib.error as exc:
            raise ProtocolError("decompression_failed", str(exc)) from None
        if len(out) > max_size + 1 or self._inflater.unconsumed_tail:
            raise ProtocolError("too_large", f"a stream message exceeds {max_size} bytes")
        return out


def _new_inflater(codec: str) -> Any:
    if codec == ZSTD:
        from .stream_zstd import ZstdInflater, zstd_available

        if not zstd_available():
            raise ProtocolError("decompression_failed", "zstd streams need zstandard")
        return ZstdInflater()
    return _DeflateInflater()


@dataclass
class _Inflating:
    inflater: Any
    next_seq: int
    codec: str = DEFLATE


class StreamDecoder:
    """A receiver's state for every stream of one connection.

    :meth:`decode` returns the text of a stream frame. A frame that does not follow the previous
    one of its stream (a gap), that does not inflate, or that inflates past ``max_size`` raises
    :class:`ProtocolError` and breaks its stream: every later frame of that stream raises
    ``stream_gap`` until the next epoch start. Nothing is ever decoded out of order.
    """

    def __init__(self, max_size: int = 1 << 20) -> None:
        self.max_size = max_size
        self._streams: dict[int, _Inflating] = {}

    def decode(self, data: bytes) -> str:
        """Return the text carried by the stream frame ``data``."""
        header = parse_header(data)
        state = self._streams.get(header.stream)
        if header.epoch is not None:
            state = self._streams[header.stream] = _Inflating(None, header.seq)
            state.inflater = _new_inflater(header.codec)
            state.codec = header.codec
        if (
            state is None
            or state.inflater is None
            or header.seq != state.next_seq
            or header.codec != state.codec
        ):
            self._streams[header.stream] = _Inflating(None, 0)
            raise StreamGap(f"stream {header.stream}: frame {header.seq} does not follow")
        try:
            text = self._one_line(state.inflater.inflate(data[header.offset :], self.max_size))
        except ProtocolError:
            state.inflater = None
            raise
        state.next_seq += 1
        return text

    def _one_line(self, out: bytes) -> str:
        if not out.endswith(_NEWLINE) or out.count(_NEWLINE) != 1:
            raise ProtocolError("decompression_failed", "a stream frame is not one message")
        try:
            return out[:-1].decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("malformed_json", "a stream message is not UTF-8") from None

    def broken(self) -> list[int]:
        """Return the ids of the streams waiting for an epoch start after an error."""
        return [s for s, state in self._streams.items() if state.inflater is None]

    def forget(self, streams: Iterable[int]) -> None:
        """Drop the state of ``streams`` (the connection left their groups)."""
        for stream in streams:
            self._streams.pop(stream, None)
